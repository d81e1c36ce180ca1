"""Running the installed `docusign-input` against a simulator: shared by e2e and reliability tests.

A module of its own rather than conftest.py: several conftest files exist, and importing one
by name picks whichever pytest loaded last.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

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
        return json.loads(self.checkpoint.read_text())


def lines_of(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.decode("utf-8").splitlines()]
