"""`--format ecs` and `--format ocsf` against `--format raw`, interleaved, on one simulator.

The goal (issue 12): each normalized format drains at least half the events per second of raw in
the same run. Triples run back to back (raw, ecs, ocsf, raw, ...) so each ratio compares drains
under the same machine load; the report gives the median events/s, the median of the per-triple
ratios, and CPU seconds (steadier than wall time on a shared machine).

usage: python bench/formats.py [--events 100000] [--triples 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pairs import measured_install  # noqa: E402
from run import drain_ours  # noqa: E402

from docusign_input.simulator import Simulator, SimulatorConfig  # noqa: E402

FORMATS = ("raw", "ecs", "ocsf")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--triples", type=int, default=3)
    args = parser.parse_args()
    config = SimulatorConfig(seed=1, backlog=args.events, backlog_days=1, rate_limits=False)
    rates: dict[str, list[float]] = {f: [] for f in FORMATS}
    cpu: dict[str, list[float]] = {f: [] for f in FORMATS}
    with Simulator(config) as sim:
        for _ in range(args.triples):
            for fmt in FORMATS:
                with tempfile.TemporaryDirectory(prefix="formats-") as tmp:
                    done = drain_ours(sim, Path(tmp), event_format=fmt)
                if done.events != args.events:
                    raise SystemExit(f"{fmt} delivered {done.events} of {args.events} events")
                rates[fmt].append(done.events / done.wall_s)
                cpu[fmt].append(done.cpu_s)
    print(f"measured: {measured_install()}")
    print(f"{args.events:,} events, {args.triples} triples (raw, ecs, ocsf back to back)")
    print(
        "| format | events/s (median) | CPU s (median) | ratio to raw, per triple | median "
        "| goal ≥ 0.5 |"
    )
    print("|---|---|---|---|---|---|")
    for fmt in FORMATS:
        ratios = [r / raw for r, raw in zip(rates[fmt], rates["raw"])]
        median = statistics.median(ratios)
        verdict = "" if fmt == "raw" else ("met" if median >= 0.5 else "missed")
        print(
            f"| {fmt} | {statistics.median(rates[fmt]):,.0f} | {statistics.median(cpu[fmt]):.2f} "
            f"| {', '.join(f'{r:.2f}' for r in ratios)} | {median:.2f} | {verdict} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
