"""Ours against the bare loop in interleaved pairs (ours, bare, ours, bare...) on one simulator.

On a shared 2-core machine a full run's medians move by ±20 %; pairs run back to back see the same
load, so the per-pair ratios and the CPU seconds (less noisy than wall time) are the steadier way
to judge a change to the hot path.

usage: python bench/pairs.py [--events 200000] [--pairs 4]

"Ours" is the `docusign-input` installed beside the interpreter that runs this script, so the
default install (`pip install .`, the README's command) is measured by running the script with
that install's interpreter:

    python3 -m venv /tmp/default && /tmp/default/bin/pip install . pytest
    /tmp/default/bin/python bench/pairs.py   # pytest: the harness imports the simulator's fixtures
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import drain_bare, drain_ours, product_command, product_interpreter  # noqa: E402

from docusign_input.simulator import Simulator, SimulatorConfig  # noqa: E402


def measured_install() -> str:
    """Which program is measured and which JSON codec it runs with (not the harness's own)."""
    probe = subprocess.run(
        [product_interpreter(), "-I", "-c",
         "import docusign_input.codec as c; print(c.BACKEND, c.__file__)"],
        capture_output=True, text=True, cwd="/",
    )
    codec = probe.stdout.strip() or probe.stderr.strip()[-200:]
    return f"{' '.join(product_command())} (codec {codec})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--pairs", type=int, default=4)
    args = parser.parse_args()
    config = SimulatorConfig(seed=1, backlog=args.events, backlog_days=1, rate_limits=False)
    rates: dict[str, list[float]] = {"ours": [], "bare": []}
    cpu: dict[str, list[float]] = {"ours": [], "bare": []}
    with Simulator(config) as sim:
        for _ in range(args.pairs):
            for name, drain in (("ours", drain_ours), ("bare", drain_bare)):
                with tempfile.TemporaryDirectory(prefix="pairs-") as tmp:
                    done = drain(sim, Path(tmp))
                if done.events != args.events:
                    raise SystemExit(f"{name} delivered {done.events} of {args.events} events")
                rates[name].append(done.events / done.wall_s)
                cpu[name].append(done.cpu_s)
    pairs = [o / b for o, b in zip(rates["ours"], rates["bare"])]
    ours, bare = statistics.median(rates["ours"]), statistics.median(rates["bare"])
    print(f"ours: {measured_install()}")
    print(f"{args.events:,} events, {args.pairs} pairs")
    print(f"events/s: ours {ours:,.0f}, bare {bare:,.0f}; ours / bare {ours / bare:.2f}")
    print(f"per pair: {', '.join(f'{r:.2f}' for r in pairs)}")
    ours_cpu, bare_cpu = statistics.median(cpu["ours"]), statistics.median(cpu["bare"])
    print(f"CPU s: ours {ours_cpu:.2f}, bare {bare_cpu:.2f}; bare / ours {bare_cpu / ours_cpu:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
