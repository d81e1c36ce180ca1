"""Files in the repository cite only what is in the repository: a user's clone has no contract
file outside it and no shared checkout beside it, so the configs, examples and docs point at the
README and docs/contract.md, and every repository path they name exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# spelt in two pieces so that this file does not contain what it looks for
OUTSIDE = ("interface" + ".md", "../" + "shared")
EXEMPT = {".ci/run"}  # CI lays the shared checkout beside the clone and may name it
CITED_PATH = re.compile(
    r"(?<![\w/.-])((?:docs|examples|vector|fluent-bit|bench)/[\w./-]*[\w-]"
    r"\.(?:md|yaml|conf|sh|service|env|py))\b"
)


def _tracked_text_files() -> list[Path]:
    try:
        names = subprocess.run(
            ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = []
    for name in names:
        path = REPO / name
        if name in EXEMPT or not path.is_file() or path.suffix == ".json":
            continue
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        files.append(path)
    return files


def test_no_file_cites_what_a_clone_does_not_have():
    offenders = [
        f"{p.relative_to(REPO)}: {needle}"
        for p in _tracked_text_files()
        for needle in OUTSIDE
        if needle in p.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_every_repository_path_named_in_configs_examples_and_docs_exists():
    missing = []
    for path in _tracked_text_files():
        rel = path.relative_to(REPO)
        if rel.parts[0] not in {"docs", "examples", "vector", "fluent-bit", "README.md"}:
            continue
        for cited in CITED_PATH.findall(path.read_text(encoding="utf-8")):
            if not (REPO / cited).exists() and not (path.parent / cited).exists():
                missing.append(f"{rel}: {cited}")
    assert missing == []


def test_the_contract_is_in_the_repository_and_the_readme_links_it():
    assert (REPO / "docs" / "contract.md").is_file()
    assert "(docs/contract.md)" in (REPO / "README.md").read_text(encoding="utf-8")
