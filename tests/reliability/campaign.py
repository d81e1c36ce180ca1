"""Shared pieces of the reliability campaigns: sizes, the test-only hook directory, a runner that
keeps every byte a command produced, and the secrets scanner."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Iterable

from connector_support import Connector, connector_command, lines_of  # noqa: F401

HERE = Path(__file__).resolve().parent
HOOKS = HERE / "hooks"
#: DOCUSIGN_RELIABILITY_FULL=1 runs the campaigns at the size the brief asks for; CI runs them
#: reduced, with the same fixed seeds.
FULL = os.environ.get("DOCUSIGN_RELIABILITY_FULL") == "1"
SEED = int(os.environ.get("DOCUSIGN_RELIABILITY_SEED", "20261127"))


def hook_env(hook: str = "", jitter: str = "") -> dict[str, str]:
    """Environment that loads tests/reliability/hooks/sitecustomize.py in the connector."""
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(HOOKS), os.environ.get("PYTHONPATH")]))}
    if hook:
        env["RELIABILITY_HOOK"] = hook
    if jitter:
        env["RELIABILITY_JITTER"] = jitter
    return env


def record(campaign: str, **figures: Any) -> None:
    """Print a campaign's figures (-s shows them); append them to $DOCUSIGN_RELIABILITY_FIGURES."""
    line = json.dumps({"campaign": campaign, **figures}, sort_keys=True)
    print(line)
    target = os.environ.get("DOCUSIGN_RELIABILITY_FIGURES")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def ids_of(stdout: bytes) -> tuple[list[str], int]:
    """eventIds of the complete lines, and how many partial (unterminated) trailing bytes."""
    *complete, tail = stdout.split(b"\n")
    return [json.loads(line)["eventId"] for line in complete], len(tail)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.decode("utf-8").strip().splitlines()
    assert lines, "a non-zero exit must say why on stderr"
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    errors = [line for line in lines if " error: " in line or '"level":"error"' in line]
    assert len(errors) == 1, lines
    return errors[0]


def wait_for(predicate, timeout_s: float = 15.0, step_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return False


class SecretScanner:
    """Collects every text a campaign produced and checks none holds a secret."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, bytes]] = []

    def add(self, label: str, data: bytes | str) -> None:
        self.texts.append((label, data.encode("utf-8") if isinstance(data, str) else data))

    def add_proc(self, label: str, proc: subprocess.CompletedProcess) -> None:
        self.add(label + " stdout", proc.stdout)
        self.add(label + " stderr", proc.stderr)

    def add_files(self, paths: Iterable[Path], label: str = "") -> None:
        for path in paths:
            if path.is_file():
                self.add(f"{label}{path}", path.read_bytes())

    def leaks(self, secrets: dict[str, str], allowed: dict[str, list[str]] | None = None) -> list:
        """(secret name, text label) for each text holding a secret, except the texts whose
        label ``allowed[name]`` lists exactly (e.g. the consent URL on `consent-url`'s stdout)."""
        allowed = allowed or {}
        found = []
        for name, value in secrets.items():
            needle = value.encode("utf-8")
            for label, data in self.texts:
                if label not in allowed.get(name, []) and needle in data:
                    found.append((name, label))
        return found


