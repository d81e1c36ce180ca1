"""Soak: `run --follow` for a long time against a busy organization (issue 17).

The simulator's busy profile ingests N events a second (each stamped up to five minutes before
its ingestion), answers in about 0.3 s, shortens a fifth of the backlog pages, and fails 5 % of
the Monitor requests (half HTTP 503, half a connection reset before any answer). The connector
runs `run --follow` with the default poll interval and page size, its stdout read here line by
line. Measured, over the time events are ingested:

- Monitor requests per hour, against the budget `3600/T × (1 + N × T / P)` (docs/contract.md,
  "The stream's head and the request budget") and against DocuSign's 3,000 an hour;
- delivery lag, from an event's ingestion in the simulator to its line on the connector's
  stdout: median and 99th percentile;
- the connector's CPU seconds and RSS after its first sync and when ingestion ends;
- events lost (ingested, never delivered once ingestion stopped and the connector caught up) and
  repeated (delivered more than once): both must be 0.

usage:
  python bench/soak.py --rate 20 --minutes 30 --out bench/out/soak-20.json
  python bench/soak.py --quick                 # CI: 1, 20 and 100 events/s at once, ~1 minute
  python bench/soak.py --report bench/out/soak-1.json bench/out/soak-20.json ...
      # writes the soak block of bench/results.md (between <!-- soak:begin/end --> marks)

Exit 1 when an event is lost or repeated, or the connector does not stop with exit 0.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import connector_env, cpu_ticks, product_command  # noqa: E402

from docusign_input.simulator import Fault, Simulator, SimulatorConfig  # noqa: E402

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results.md"
BEGIN, END = "<!-- soak:begin -->", "<!-- soak:end -->"
DOCUSIGN_HOURLY = 3000
PAGE_SIZE = 2000
TICK_S = os.sysconf("SC_CLK_TCK")


def budget_per_hour(rate: float, poll_s: float, page_size: int = PAGE_SIZE) -> float:
    """The contract's request budget at the head: 1 + N × T / P requests per poll interval."""
    return 3600.0 / poll_s * (1 + rate * poll_s / page_size)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def first_sync_done(checkpoint: Path) -> bool:
    try:
        return bool(json.loads(checkpoint.read_text()).get("health", {}).get("last_sync"))
    except (OSError, ValueError):
        return False


class Reader(threading.Thread):
    """Reads the connector's stdout: each event's first arrival time, and repeats."""

    def __init__(self, stream: Any) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.arrived: dict[str, float] = {}
        self.repeated = 0

    def run(self) -> None:
        for line in self.stream:
            now = time.time()
            event_id = json.loads(line)["eventId"]
            if event_id in self.arrived:
                self.repeated += 1
            else:
                self.arrived[event_id] = now


def soak(
    rate: float,
    seconds: float,
    *,
    poll_s: float = 60.0,
    error_share: float = 0.05,
    latency_s: float = 0.3,
    short_page_share: float = 0.2,
    seed: int = 1,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """One soak at `rate` events a second for `seconds` of ingestion; the figures as a dict."""
    config = SimulatorConfig(
        profile="busy",
        events_per_second=rate,
        latency_s=latency_s,
        short_page_share=short_page_share,
        seed=seed,
    )
    sim = Simulator(config)
    sim.set_event_rate(0)  # nothing until the connector has made its first sync
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp, sim:
        work = Path(tmp)
        sim.inject(Fault("http_503", probability=error_share / 2))
        sim.inject(Fault("reset_before", probability=error_share / 2 / (1 - error_share / 2)))
        env = connector_env(sim, work)
        env["DOCUSIGN_PAGE_SIZE"] = str(PAGE_SIZE)
        env["DOCUSIGN_POLL_INTERVAL"] = f"{poll_s:g}"
        stderr_path = work / "stderr.log"
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen(
                product_command() + ["run", "--follow"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        reader = Reader(proc.stdout)
        reader.start()
        checkpoint = work / "checkpoint.json"
        deadline = time.monotonic() + 120
        while not first_sync_done(checkpoint):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the connector did not finish its first sync: "
                                   + stderr_path.read_text()[-800:])  # fmt: skip
            time.sleep(0.2)
        cpu_start, rss_start = cpu_ticks(proc.pid) / TICK_S, rss_mb(proc.pid)
        requests_before = len(sim.requests)
        started = time.time()
        sim.set_event_rate(rate * 60)
        say(f"soak {rate:g}/s: ingesting for {seconds:g} s (poll interval {poll_s:g} s)")
        while time.time() - started < seconds and proc.poll() is None:
            time.sleep(min(5.0, max(0.0, seconds - (time.time() - started))))
        sim.set_event_rate(0)
        ingest_s = time.time() - started
        requests = sim.requests[requests_before:]
        cpu_end, rss_end = cpu_ticks(proc.pid) / TICK_S, rss_mb(proc.pid)
        ingested = sim.ingestion_times()
        # Let the connector reach the head once more (a poll interval, plus the pages).
        deadline = time.monotonic() + 2 * poll_s + 60
        while len(reader.arrived) < len(ingested) and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        reader.join(timeout=10)
        stderr_text = stderr_path.read_text()
    lags = [reader.arrived[i] - at for i, at in ingested.items() if i in reader.arrived]
    stream = [r for r in requests if "stream" in r.path]
    per_hour = len(stream) * 3600.0 / ingest_s
    budget = budget_per_hour(rate, poll_s)
    return {
        "rate": rate,
        "ingest_s": round(ingest_s, 1),
        "poll_interval_s": poll_s,
        "page_size": PAGE_SIZE,
        "error_share": error_share,
        "latency_s": latency_s,
        "short_page_share": short_page_share,
        "events": len(ingested),
        "delivered": len(reader.arrived),
        "lost": len(set(ingested) - set(reader.arrived)),
        "repeated": reader.repeated,
        "stream_requests": len(stream),
        "answered_200": sum(1 for r in stream if r.status == 200),
        "failed_injected": sum(1 for r in stream if r.fault),
        "answered_429": sum(1 for r in stream if r.status == 429),
        "requests_per_hour": round(per_hour, 1),
        "budget_per_hour": round(budget, 1),
        "lag_median_s": round(statistics.median(lags), 1) if lags else None,
        "lag_p99_s": round(percentile(lags, 0.99), 1) if lags else None,
        "lag_max_s": round(max(lags), 1) if lags else None,
        "cpu_s_start": round(cpu_start, 2),
        "cpu_s_end": round(cpu_end, 2),
        "rss_mb_start": round(rss_start, 1),
        "rss_mb_end": round(rss_end, 1),
        "exit_code": code,
        "tracebacks": stderr_text.count("Traceback"),
        "reserve_warnings": stderr_text.count("below the reserve"),
    }


def failed(result: dict[str, Any]) -> list[str]:
    problems = []
    if result["lost"] or result["repeated"]:
        problems.append(f"{result['lost']} lost, {result['repeated']} repeated")
    if result["exit_code"] != 0 or result["tracebacks"]:
        problems.append(f"exit {result['exit_code']}, {result['tracebacks']} tracebacks")
    return problems


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| events/s | ingesting | events | Monitor req./h (budget) | ÷ DocuSign's 3,000 | "
        "lag median / p99 | CPU s start → end | RSS MB start → end | lost | repeated |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(results, key=lambda r: r["rate"]):
        rows.append(
            f"| {r['rate']:g} | {r['ingest_s'] / 60:.1f} min | {r['events']:,} | "
            f"{r['requests_per_hour']:.0f} ({r['budget_per_hour']:.0f}) | "
            f"{r['requests_per_hour'] / DOCUSIGN_HOURLY:.1%} | "
            f"{r['lag_median_s']} s / {r['lag_p99_s']} s | "
            f"{r['cpu_s_start']:.1f} → {r['cpu_s_end']:.1f} | "
            f"{r['rss_mb_start']:.0f} → {r['rss_mb_end']:.0f} | {r['lost']} | {r['repeated']} |"
        )
    return "\n".join(rows)


def report(paths: list[Path], command: str) -> None:
    results = [json.loads(p.read_text()) for p in paths]
    first = results[0]
    block = "\n".join([
        BEGIN,
        "## Soak: `run --follow` against a busy organization",
        "",
        f"Command: `{command}`, generated by `python bench/soak.py --report ...` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Busy profile: answers in "
        f"{first['latency_s']:g} s on average, {first['short_page_share']:.0%} of backlog pages "
        f"short, {first['error_share']:.0%} of Monitor requests failed (HTTP 503 or a reset "
        f"connection); poll interval {first['poll_interval_s']:g} s, page size "
        f"{first['page_size']}. Budget: `3600/T × (1 + N × T / P)` requests an hour.",
        "",
        table(results),
        "",
        "Lag: from the event's ingestion in the simulator to its line on the connector's stdout. "
        "Requests: every Monitor request while events were ingested, failed ones included.",
        END,
    ])  # fmt: skip
    text = RESULTS.read_text()
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=20.0, help="events a second (1 to 200)")
    parser.add_argument("--minutes", type=float, default=30.0, help="of ingestion (default 30)")
    parser.add_argument("--poll-interval", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--quick", action="store_true",
                        help="CI: 1, 20, 100 events/s at once, 40 s each, poll 10 s")  # fmt: skip
    parser.add_argument("--report", type=Path, nargs="+", metavar="JSON",
                        help="write bench/results.md's soak block from these results")  # fmt: skip
    parser.add_argument("--command", default="python bench/soak.py --rate N --minutes 30",
                        help="the command to name in the report")  # fmt: skip
    args = parser.parse_args()
    if args.report:
        report(args.report, args.command)
        return 0
    log: TextIO = sys.stderr

    def say(text: str) -> None:
        print(text, file=log, flush=True)

    if args.quick:
        with ThreadPoolExecutor(3) as pool:
            runs = [pool.submit(soak, rate, 40.0, poll_s=10.0, say=say) for rate in (1, 20, 100)]
            results = [run.result() for run in runs]
    else:
        results = [soak(args.rate, args.minutes * 60, poll_s=args.poll_interval, say=say)]
    for result in results:
        say(json.dumps(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results[0] if len(results) == 1 else results, indent=1))
    print(table(results))
    problems = [f"{r['rate']:g}/s: {p}" for r in results for p in failed(r)]
    for problem in problems:
        say(f"soak: FAILED {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
