"""`docusign-input demo`: the first command a newcomer runs.

Starts the embedded simulator with a throwaway key, points the real `run --follow` at it as a
child process (exactly what Vector or Fluent Bit would run), and shows the events arriving. No
DocuSign account, no network beyond loopback.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from .report import Reporter

__all__ = ["run_demo"]


def run_demo(args: argparse.Namespace, reporter: Reporter) -> int:
    from .simulator import Simulator, SimulatorConfig

    with tempfile.TemporaryDirectory(prefix="docusign-input-demo-") as tmp:
        workdir = Path(tmp)
        config = SimulatorConfig(seed=7, backlog=args.backlog, backlog_days=1.0, rate_limits=True)
        with Simulator(config) as sim:
            key_file = sim.write_private_key(workdir / "demo-key.pem")
            env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUSIGN_")}
            env.update(sim.env(key_file))
            checkpoint = workdir / "checkpoint.json"
            command = [
                sys.executable,
                "-m",
                "docusign_input",
                "run",
                "--follow",
                "--backfill-start",
                "earliest",
                "--checkpoint",
                str(checkpoint),
                "--poll-interval",
                "2",
            ]
            say = sys.stderr.write
            say(f"demo: DocuSign simulator at {sim.base_url} with {args.backlog} events waiting\n")
            say(f"demo: running {' '.join(['docusign-input'] + command[3:])}\n")
            say(
                f"demo: {args.events_per_minute:g} new events a minute for {args.seconds:g} s; "
                "events on stdout, diagnostics on stderr\n\n"
            )
            sim.set_event_rate(args.events_per_minute)
            child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE)
            assert child.stdout is not None
            lines = _Relay(child.stdout)
            lines.start()
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline and child.poll() is None:
                time.sleep(0.1)
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
            code = child.wait(timeout=10)
            lines.join(timeout=5)
            status = subprocess.run(
                [sys.executable, "-m", "docusign_input", "status", "--checkpoint", str(checkpoint)],
                env=env,
                capture_output=True,
                text=True,
            )
            delivered = lines.count
            ingested = len(sim.event_ids())
            waiting = ingested - delivered
            say(
                f"\ndemo: {delivered} events delivered of {ingested} ingested by the simulator; "
                f"the connector exited {code} after SIGTERM\n"
            )
            if waiting > 0:
                say(
                    f"demo: the other {waiting} arrived after the connector's last poll (every "
                    "2 s); in a real deployment the next poll or run fetches them from where the "
                    "checkpoint stopped\n"
                )
            say(status.stdout)
            say(
                "\nNext: `docusign-input simulate` keeps a simulator running for your own "
                "pipeline; see the README for Vector and Fluent Bit.\n"
            )
            return 0 if code == 0 else code


class _Relay(threading.Thread):
    """Copies the child's event lines to our stdout, counting them."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.count = 0

    def run(self) -> None:
        out = sys.stdout.buffer
        for line in self.stream:
            self.count += 1
            out.write(line)
            out.flush()
