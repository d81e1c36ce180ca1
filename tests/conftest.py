"""Shared fixtures: the embedded simulator and a way to run the installed command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from docusign_input.simulator.testing import simulator, simulator_factory  # noqa: F401

REPO = Path(__file__).resolve().parent.parent


def connector_command() -> list[str]:
    """The installed console script when there is one (what users run), else the module."""
    script = shutil.which("docusign-input", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "docusign_input"]


class Connector:
    """Runs `docusign-input` as a subprocess against a simulator, with a private checkpoint."""

    def __init__(self, sim: Any, workdir: Path) -> None:
        self.sim = sim
        self.workdir = workdir
        self.key_file = sim.write_private_key(workdir / "key.pem")
        self.checkpoint = workdir / "state" / "checkpoint.json"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUSIGN_")}
        self.env.update(sim.env(self.key_file))
        self.env["DOCUSIGN_CHECKPOINT"] = str(self.checkpoint)
        self.env["XDG_STATE_HOME"] = str(workdir / "xdg")

    def run(
        self, *args: str, env: dict | None = None, timeout: float = 60, **kw: Any
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            connector_command() + list(args),
            env={**self.env, **(env or {})},
            capture_output=True,
            timeout=timeout,
            **kw,
        )

    def popen(self, *args: str, env: dict | None = None, **kw: Any) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(
            connector_command() + list(args), env={**self.env, **(env or {})}, **kw
        )

    def saved(self) -> dict:
        import json

        return json.loads(self.checkpoint.read_text())


@pytest.fixture
def connector(simulator, tmp_path) -> Connector:  # noqa: F811
    return Connector(simulator, tmp_path)


def lines_of(stdout: bytes) -> list[dict]:
    import json

    return [json.loads(line) for line in stdout.decode("utf-8").splitlines()]
