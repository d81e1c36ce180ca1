"""Every command line a pipeline config runs is one our CLI accepts, with the meaning intended."""

from __future__ import annotations

import shlex

import pytest
import yaml
from pipeline_support import (
    EXAMPLES_DIR,
    FLUENT_BIT_CONFIGS,
    VECTOR_CONFIGS,
    load_fluent_bit,
)


def _parser():
    try:
        from docusign_input.cli import build_parser
    except ImportError as exc:
        pytest.skip(f"docusign_input.cli.build_parser() is not available yet: {exc}")
    return build_parser()


def _command_lines():
    """(where, argv after the program name) for every connector invocation we ship."""
    lines = []
    for path in VECTOR_CONFIGS:
        for source in yaml.safe_load(path.read_text(encoding="utf-8"))["sources"].values():
            lines.append((path.name, source["command"]))
    for path in FLUENT_BIT_CONFIGS:
        for inp in load_fluent_bit(path).inputs:
            if inp["name"] == "exec":
                argv = shlex.split(inp["command"])
                assert argv[0] == "exec", "Fluent Bit runs the command via /bin/sh -c: exec it"
                lines.append((path.name, argv[1:]))
    unit = EXAMPLES_DIR / "systemd" / "docusign-input.service"
    if unit.is_file():
        for line in unit.read_text(encoding="utf-8").splitlines():
            if line.startswith("ExecStart="):
                lines.append((unit.name, shlex.split(line.split("=", 1)[1])))
    manifest = EXAMPLES_DIR / "kubernetes" / "docusign-input.yaml"
    if manifest.is_file():
        for doc in yaml.safe_load_all(manifest.read_text(encoding="utf-8")):
            if doc and doc.get("kind") == "Deployment":
                for c in doc["spec"]["template"]["spec"]["containers"]:
                    if c["name"] == "connector":
                        lines.append((manifest.name, c["command"]))
    return lines


COMMAND_LINES = _command_lines()


@pytest.mark.parametrize("where,argv", COMMAND_LINES, ids=[w for w, _ in COMMAND_LINES])
def test_command_line_is_valid_for_the_cli(where, argv):
    assert argv[0].endswith("/docusign-input") and argv[0].startswith("/")
    parser = _parser()
    try:
        ns = parser.parse_args(argv[1:])
    except SystemExit as exc:  # argparse reports usage errors by exiting 2
        pytest.fail(f"{where}: {' '.join(argv)} is refused by the CLI (exit {exc.code})")
    values = vars(ns)
    assert values.get("checkpoint") == argv[argv.index("--checkpoint") + 1]
    assert bool(values.get("follow")) == ("--follow" in argv)
    if "--output" in argv:
        assert values.get("output") == argv[argv.index("--output") + 1]


def test_fluent_bit_interval_commands_exit_after_one_sync_and_follow_ones_do_not():
    for path in FLUENT_BIT_CONFIGS:
        for inp in load_fluent_bit(path).inputs:
            if inp["name"] == "exec":
                assert ("--follow" in shlex.split(inp["command"])) == path.stem.endswith(
                    "-follow"), path.name
