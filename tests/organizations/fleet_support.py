"""Many simulated organizations and the installed command running them (--organizations)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from connector_support import connector_command

from docusign_input.simulator import Simulator


class FleetConnector:
    """`docusign-input ... --organizations FILE --state-dir DIR` against one simulator."""

    def __init__(self, sim: Simulator, workdir: Path) -> None:
        self.sim = sim
        self.workdir = workdir
        self.file = workdir / "organizations.toml"
        self.state = workdir / "state"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUSIGN_")}
        self.env["XDG_STATE_HOME"] = str(workdir / "xdg")
        self.env["DOCUSIGN_BACKFILL_START"] = ""

    def write(self, extra: str = "") -> Path:
        self.sim.organizations_file(self.file, self.workdir / "keys")
        if extra:
            with open(self.file, "a", encoding="utf-8") as out:
                out.write(extra)
        return self.file

    def args(self, command: str, *more: str) -> list[str]:
        return [*connector_command(), command, "--organizations", str(self.file),
                "--state-dir", str(self.state), *more]

    def run(self, command: str, *more: str, env: dict | None = None, timeout: float = 90,
            **kw: Any) -> subprocess.CompletedProcess:
        return subprocess.run(self.args(command, *more), env={**self.env, **(env or {})},
                              capture_output=True, timeout=timeout, **kw)

    def popen(self, command: str, *more: str, env: dict | None = None,
              **kw: Any) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(self.args(command, *more), env={**self.env, **(env or {})}, **kw)

    def checkpoint(self, name: str) -> dict:
        return json.loads((self.state / f"{name}.json").read_text())


def with_backfill(text: str) -> str:
    return text.replace('environment = "development"\n',
                        'environment = "development"\nbackfill_start = "earliest"\n', 1)


def events_by_organization(stdout: bytes) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in stdout.decode("utf-8").splitlines():
        event = json.loads(line)
        found.setdefault(event["docusign_input"]["organization"], []).append(event["eventId"])
    return found
