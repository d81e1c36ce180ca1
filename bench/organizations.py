"""Many organizations in one process: what `run --organizations --follow` costs and how fair it is.

    python bench/organizations.py idle  [--organizations 1000] [--poll-interval 60] [--minutes 10]
    python bench/organizations.py drain [--backlog 1000000] [--idle 100] [--poll-interval 10]

``idle``: N simulated organizations, caught up, under one `run --organizations --follow`: the
process's RSS (VmRSS, and its peak VmHWM) and CPU (utime + stime from /proc/PID/stat) over the
measurement window after every organization's first poll, and how regularly each organization
was polled (the simulator records every stream request it answers, per organization).

``drain``: one organization with a backlog among ``--idle`` idle ones: the drain's events per
second against the same backlog drained by a single-organization `run` (the ratio), and how late
the idle organizations' polls were while it drained (interval between two polls minus the poll
interval; the worst and the 99th percentile).

The simulator runs in this process, the connector is the installed `docusign-input` beside this
interpreter, stdout to /dev/null. Not a test: nothing is asserted; figures go into
bench/results.md by hand.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import connector_env, cpu_ticks, product_command  # noqa: E402

from docusign_input.simulator import Simulator  # noqa: E402

TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def fleet_env(workdir: Path, poll_interval_s: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUSIGN_")}
    env["XDG_STATE_HOME"] = str(workdir / "xdg")
    env["DOCUSIGN_POLL_INTERVAL"] = f"{poll_interval_s:g}"
    return env


def start_fleet(sim: Simulator, workdir: Path, poll_interval_s: float, *, backfill: bool,
                page_size: int | None = None) -> subprocess.Popen:
    path = sim.organizations_file(workdir / "organizations.toml", workdir / "keys")
    text = path.read_text()
    extra = ""
    if backfill:
        extra += 'backfill_start = "earliest"\n'
    if page_size:
        extra += f"page_size = {page_size}\n"
    path.write_text(text.replace("[defaults]\n", "[defaults]\n" + extra, 1))
    command = [*product_command(), "run", "--follow", "--organizations", str(path),
               "--state-dir", str(workdir / "state")]
    return subprocess.Popen(command, env=fleet_env(workdir, poll_interval_s),
                            stdout=subprocess.DEVNULL,
                            stderr=open(workdir / "stderr.log", "wb"))  # noqa: SIM115


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def intervals(times: list[float], since: float, until: float) -> list[float]:
    inside = [t for t in times if since <= t <= until]
    return [b - a for a, b in zip(inside, inside[1:])]


def idle(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-organizations-"))
    with Simulator(rate_limits=True) as sim:
        started = time.monotonic()
        organizations = [sim.add_organization(f"customer-{n:04d}", own_key=False)
                         for n in range(args.organizations)]
        for organization in organizations[:: max(1, len(organizations) // 50)]:
            organization.append_events(3)  # a few have something to deliver at first
        print(f"{len(organizations)} simulated organizations in "
              f"{time.monotonic() - started:.1f} s", flush=True)
        process = start_fleet(sim, workdir, args.poll_interval, backfill=True)
        try:
            deadline = time.monotonic() + 3 * args.poll_interval + 120
            while time.monotonic() < deadline and not all(o.poll_times for o in organizations):
                time.sleep(1)
            waiting = sum(1 for o in organizations if not o.poll_times)
            print(f"every organization polled once after {time.monotonic() - started:.0f} s "
                  f"({waiting} never)", flush=True)
            rss_start = status_kb(process.pid, "VmRSS")
            ticks_start, wall_start = cpu_ticks(process.pid), time.monotonic()
            window_start = time.time()
            end = time.monotonic() + args.minutes * 60
            peak_rss = rss_start
            while time.monotonic() < end:
                time.sleep(5)
                peak_rss = max(peak_rss, status_kb(process.pid, "VmRSS"))
            ticks_end, wall_end = cpu_ticks(process.pid), time.monotonic()
            window_end = time.time()
            rss_end = status_kb(process.pid, "VmRSS")
            hwm = status_kb(process.pid, "VmHWM")
            threads = status_kb(process.pid, "Threads")
        finally:
            stop(process)
        cpu_s = (ticks_end - ticks_start) * TICK_S
        wall_s = wall_end - wall_start
        gaps = [g for o in organizations
                for g in intervals(o.poll_times, window_start, window_end)]
        polls = [len([t for t in o.poll_times if window_start <= t <= window_end])
                 for o in organizations]
        expected = (window_end - window_start) / args.poll_interval
        within = sum(1 for g in gaps if abs(g - args.poll_interval) <= 0.1 * args.poll_interval)
        per_second: dict[int, int] = {}
        for organization in organizations:
            for t in organization.poll_times:
                if window_start <= t <= window_end:
                    per_second[int(t)] = per_second.get(int(t), 0) + 1
        print(f"window {wall_s:.0f} s at a {args.poll_interval:g} s poll interval, "
              f"{threads} threads")
        print(f"RSS {rss_start / 1024:.1f} MB at the start, {rss_end / 1024:.1f} MB at the end, "
              f"peak sampled {peak_rss / 1024:.1f} MB, VmHWM {hwm / 1024:.1f} MB")
        print(f"CPU {cpu_s:.1f} s over {wall_s:.0f} s = {100 * cpu_s / wall_s:.2f} % of one core; "
              f"{1000 * cpu_s / max(1, sum(polls)):.2f} ms per poll ({sum(polls)} polls)")
        if gaps:
            mean = statistics.fmean(gaps)
            print(f"interval between two polls of one organization: mean {mean:.2f} s "
                  f"({100 * (mean / args.poll_interval - 1):+.1f} %), median "
                  f"{statistics.median(gaps):.2f} s, min {min(gaps):.2f} s, max {max(gaps):.2f} s; "
                  f"{100 * within / len(gaps):.1f} % within ±10 %")
        print(f"polls per organization in the window: expected {expected:.1f}, min {min(polls)}, "
              f"max {max(polls)}; busiest second {max(per_second.values(), default=0)} polls")


def drain_alone(sim_backlog: int, page_size: int) -> float:
    """Events per second of a single-organization `run` draining the same backlog."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-organizations-alone-"))
    with Simulator(rate_limits=False, backlog=sim_backlog, backlog_days=6.0) as sim:
        env = connector_env(sim, workdir)
        env["DOCUSIGN_PAGE_SIZE"] = str(page_size)
        started = time.monotonic()
        subprocess.run([*product_command(), "run", "--backfill-start", "earliest"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return sim_backlog / (time.monotonic() - started)


def drain(args: argparse.Namespace) -> None:
    print(f"single organization: draining {args.backlog} events ...", flush=True)
    alone = drain_alone(args.backlog, args.page_size)
    print(f"  {alone:,.0f} events/s", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-organizations-drain-"))
    with Simulator(rate_limits=False) as sim:
        big = sim.add_organization("backlog", backlog=args.backlog, backlog_days=6.0,
                                   own_key=False)
        idle_ones = [sim.add_organization(f"idle-{n:03d}", own_key=False)
                     for n in range(args.idle)]
        process = start_fleet(sim, workdir, args.poll_interval, backfill=True,
                              page_size=args.page_size)
        started = time.monotonic()
        window_start = time.time()
        last = big.event_ids()[-1].encode()
        try:
            # caught up: the backlog organization's checkpoint holds its last event's ID
            state = workdir / "state" / "backlog.json"
            while True:
                time.sleep(0.5)
                try:
                    if last in state.read_bytes():
                        break
                except OSError:
                    pass
                if process.poll() is not None:
                    raise RuntimeError(f"the fleet exited {process.returncode}")
            took = time.monotonic() - started
            window_end = time.time()
        finally:
            stop(process)
        rate = args.backlog / took
        # from the backlog organization's first request: without the fleet's start (its tokens,
        # its first polls spread over up to the poll interval)
        draining = took - (big.poll_times[0] - window_start)
        lateness = [g - args.poll_interval for o in idle_ones
                    for g in intervals(o.poll_times, window_start, window_end)]
        first_polls = [o.poll_times[0] - window_start for o in idle_ones if o.poll_times]
        print(f"among {args.idle} idle organizations: drained in {took:.1f} s from the start, "
              f"{rate:,.0f} events/s = {rate / alone:.2f} x a single organization's; "
              f"{draining:.1f} s from its first request, {args.backlog / draining:,.0f} events/s = "
              f"{args.backlog / draining / alone:.2f} x")
        if lateness:
            lateness.sort()
            print(f"idle organizations' polls during the drain: {len(lateness)} intervals, "
                  f"lateness median {statistics.median(lateness):+.2f} s, 99th percentile "
                  f"{lateness[int(0.99 * (len(lateness) - 1))]:+.2f} s, worst "
                  f"{lateness[-1]:+.2f} s")
        print(f"first poll of each idle organization after the start: max "
              f"{max(first_polls, default=-1):.1f} s (spread over the poll interval)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="mode", required=True)
    one = commands.add_parser("idle")
    one.add_argument("--organizations", type=int, default=1000)
    one.add_argument("--poll-interval", type=float, default=60.0)
    one.add_argument("--minutes", type=float, default=10.0)
    two = commands.add_parser("drain")
    two.add_argument("--backlog", type=int, default=1_000_000)
    two.add_argument("--idle", type=int, default=100)
    # 10 s, not 60: a drain of a million events takes well under a minute here, and the idle
    # organizations' lateness needs several polls each within it
    two.add_argument("--poll-interval", type=float, default=10.0)
    two.add_argument("--page-size", type=int, default=2000)
    args = parser.parse_args()
    (idle if args.mode == "idle" else drain)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
