"""Every command line a pipeline config runs is one our CLI accepts, with the meaning intended."""

from __future__ import annotations

import shlex

import pytest
import yaml
from pipeline_support import (
    EXAMPLES_DIR,
    FLUENT_BIT_CONFIGS,
    VECTOR_CONFIGS,
    connector_command,
    load_fluent_bit,
)


def _parser():
    try:
        from docusign_input.cli import build_parser
    except ImportError as exc:
        pytest.skip(f"docusign_input.cli.build_parser() is not available yet: {exc}")
    return build_parser()


def _env_file(path):
    """KEY=VALUE lines of a systemd EnvironmentFile (comments and blanks skipped)."""
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.lstrip().startswith("#"))


def _command_lines():
    """(where, argv after any `env`, the environment it sets) for every connector invocation
    we ship: shipper configs, the systemd unit, the Kubernetes manifest, the compose files."""
    lines = []
    for path in VECTOR_CONFIGS:
        for source in yaml.safe_load(path.read_text(encoding="utf-8"))["sources"].values():
            lines.append((path.name, source["command"], source.get("environment", {})))
    for path in FLUENT_BIT_CONFIGS:
        for inp in load_fluent_bit(path).inputs:
            if inp["name"] == "exec":
                argv, _stderr = connector_command(inp["command"])
                assert argv[0] == "exec", "Fluent Bit runs the command via /bin/sh -c: exec it"
                argv, env = argv[1:], {}
                if argv[0] == "env":
                    argv = argv[1:]
                    while "=" in argv[0]:
                        key, value = argv.pop(0).split("=", 1)
                        env[key] = value
                lines.append((path.name, argv, env))
    unit = EXAMPLES_DIR / "systemd" / "docusign-input.service"
    if unit.is_file():
        env = {}
        for line in unit.read_text(encoding="utf-8").splitlines():
            if line.startswith("EnvironmentFile="):
                env.update(_env_file(EXAMPLES_DIR / "systemd" / "docusign-input.env"))
        for line in unit.read_text(encoding="utf-8").splitlines():
            if line.startswith("ExecStart="):
                lines.append((unit.name, shlex.split(line.split("=", 1)[1]), env))
    manifest = EXAMPLES_DIR / "kubernetes" / "docusign-input.yaml"
    if manifest.is_file():
        for doc in yaml.safe_load_all(manifest.read_text(encoding="utf-8")):
            if doc and doc.get("kind") == "Deployment":
                for c in doc["spec"]["template"]["spec"]["containers"]:
                    if c["name"] == "connector":
                        env = {e["name"]: e.get("value") for e in c["env"]}
                        lines.append((manifest.name, c["command"], env))
    for compose in sorted(EXAMPLES_DIR.glob("*/compose.yaml")):
        services = yaml.safe_load(compose.read_text(encoding="utf-8"))["services"]
        connector = services["connector"]
        argv = ["/usr/local/bin/" + connector["command"][0], *connector["command"][1:]]
        lines.append((f"{compose.parent.name}/compose.yaml", argv, connector["environment"]))
    return lines


COMMAND_LINES = _command_lines()


@pytest.mark.parametrize("where,argv,env", COMMAND_LINES, ids=[w for w, _, _ in COMMAND_LINES])
def test_command_line_is_valid_for_the_cli(where, argv, env):
    assert argv[0].endswith("/docusign-input") and argv[0].startswith("/")
    parser = _parser()
    try:
        ns = parser.parse_args(argv[1:])
    except SystemExit as exc:  # argparse reports usage errors by exiting 2
        pytest.fail(f"{where}: {' '.join(argv)} is refused by the CLI (exit {exc.code})")
    values = vars(ns)
    assert bool(values.get("follow")) == ("--follow" in argv)
    if "--output" in argv:
        assert values.get("output") == argv[argv.index("--output") + 1]


@pytest.mark.parametrize("where,argv,env", COMMAND_LINES, ids=[w for w, _, _ in COMMAND_LINES])
def test_the_checkpoint_is_passed_as_DOCUSIGN_CHECKPOINT(where, argv, env):
    """Not as --checkpoint: `check`, `status` and `checkpoint show` run in the same environment
    then find the same checkpoint without the path typed again."""
    assert "--checkpoint" not in argv, where
    checkpoint = env.get("DOCUSIGN_CHECKPOINT", "")
    assert checkpoint.startswith("/var/lib/") and checkpoint.endswith(".json"), where


def test_fluent_bit_interval_commands_exit_after_one_sync_and_follow_ones_do_not():
    for path in FLUENT_BIT_CONFIGS:
        for inp in load_fluent_bit(path).inputs:
            if inp["name"] == "exec":
                assert ("--follow" in shlex.split(inp["command"])) == path.stem.endswith(
                    "-follow"), path.name
