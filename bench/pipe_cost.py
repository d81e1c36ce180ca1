"""What waiting for the reader to empty the pipe costs: drain N events into `| wc -l` with this
tree and with an older revision (default: the commit before the wait was added), alternating,
median of --runs.

usage: python bench/pipe_cost.py [--events 100000] [--runs 3] [--against REV]
The older revision is checked out with `git worktree` into a temporary directory and put first on
PYTHONPATH; both run on the same interpreter against the same simulator.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docusign_input.simulator import Simulator, SimulatorConfig  # noqa: E402

BEFORE_THE_WAIT = "442d4ff~1"


def drain(sim: Simulator, key: Path, checkpoint: str, pythonpath: str | None, events: int) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUSIGN_")}
    env.update(sim.env(key))
    env["DOCUSIGN_CHECKPOINT"] = checkpoint
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    command = (
        f"{sys.executable} -m docusign_input run --backfill-start earliest --page-size 2000 | wc -l"
    )
    started = time.perf_counter()
    done = subprocess.run(command, shell=True, env=env, capture_output=True, check=True)
    elapsed = time.perf_counter() - started
    if int(done.stdout) != events:
        raise SystemExit(f"expected {events} lines, got {done.stdout!r}: {done.stderr[-300:]!r}")
    return events / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--against", default=BEFORE_THE_WAIT)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"this tree": [], args.against: []}
    config = SimulatorConfig(seed=1, backlog=args.events, backlog_days=1, rate_limits=False)
    with tempfile.TemporaryDirectory(prefix="pipe-cost-") as tmp:
        old = Path(tmp) / "old"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old), args.against],
            check=True,
        )
        try:
            with Simulator(config) as sim:
                key = sim.write_private_key(Path(tmp) / "key.pem")
                for run in range(args.runs):
                    for name, path in (("this tree", None), (args.against, str(old))):
                        checkpoint = f"{tmp}/{run}-{len(rates[name])}-{name}/checkpoint.json"
                        rates[name].append(drain(sim, key, checkpoint, path, args.events))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)])
    for name, values in rates.items():
        runs = [round(v) for v in values]
        print(f"{name:>12}: median {statistics.median(values):,.0f} ev/s  runs {runs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
