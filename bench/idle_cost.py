"""What one organization costs at rest: the memory of an idle `run --follow` and the CPU of each
idle poll, with what dominates each.

One connector process serves one organization (one user, one checkpoint), so these are the
figures to multiply when a host runs one connector per organization.

    python bench/idle_cost.py [--polls 20] [--poll-interval 3]

Measured against the embedded simulator on loopback (plain HTTP, so no TLS: see the report for
what TLS adds), with a caught-up checkpoint and a cached token, the installed `docusign-input`
beside this interpreter:
- memory: VmRSS, RssAnon and RssFile from /proc/PID/status and Pss from smaps_rollup of the idle
  `--follow` process, against a bare interpreter and one that imported `requests`; then
  tracemalloc's view of the Python objects one idle `run` leaves, by top-level package;
- CPU: on-CPU nanoseconds of every thread (/proc/PID/task/*/schedstat) over `--polls` idle
  polls, divided by the polls the simulator counted; then cProfile of an in-process `--follow`
  over the same number of polls, by function, without the start-up.
Not a test: nothing is asserted; the figures go into bench/results.md by hand.
"""

from __future__ import annotations

import argparse
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import connector_env, measured, product_command, product_interpreter  # noqa: E402

from docusign_input.simulator import Simulator, SimulatorConfig  # noqa: E402

# What a child prints: its own memory once an idle `run` has returned (modules stay imported).
TRACEMALLOC_CHILD = """
import sys, tracemalloc, collections
tracemalloc.start(1)
from docusign_input.cli import main
code = main(["run"])
snapshot = tracemalloc.take_snapshot()
by_package = collections.Counter()
for stat in snapshot.statistics("filename"):
    name = stat.traceback[0].filename
    if "site-packages/" in name:
        top = name.split("site-packages/", 1)[1].split("/", 1)[0]
    elif "/lib/python" in name:
        top = "stdlib:" + name.split("/lib/python", 1)[1].split("/", 2)[1].removesuffix(".py")
    else:
        top = name
    by_package[top] += stat.size
total = sum(by_package.values())
print(f"exit {code}; traced Python allocations {total / 2**20:.1f} MB")
for top, size in by_package.most_common(12):
    print(f"  {size / 2**20:6.2f} MB  {top}")
"""

PROFILE_CHILD = """
import cProfile, os, signal, sys, threading, time
from docusign_input.cli import main
# CPU time, not wall time: a poll waits on the disk (fsync) and the network, which costs no CPU
profile = cProfile.Profile(time.process_time)
polls, interval, state = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
def start_then_stop():
    # profile from the first idle poll on: once the first sync has touched the checkpoint
    start = os.stat(state).st_mtime_ns
    while os.stat(state).st_mtime_ns == start:
        time.sleep(0.05)
    time.sleep(interval / 2)
    os.kill(os.getpid(), signal.SIGUSR1)
    time.sleep(polls * interval)
    os.kill(os.getpid(), signal.SIGTERM)
signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
threading.Thread(target=start_then_stop, daemon=True).start()
try:
    main(["run", "--follow", "--poll-interval", str(interval)])
finally:
    profile.disable()
    profile.dump_stats(sys.argv[4])
"""


def status_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            fields[key] = int(value.split()[0])
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            fields["Pss"] = int(line.split()[1])
    return fields


def on_cpu_ns(pid: int) -> int:
    return sum(int((task / "schedstat").read_text().split()[0])
               for task in Path(f"/proc/{pid}/task").iterdir())


def resting_interpreter_kb(code: str) -> dict[str, int]:
    """The memory of `python -c CODE` once CODE ran, as the baseline."""
    child = subprocess.Popen([product_interpreter(), "-c", code + "\nimport time; time.sleep(30)"])
    try:
        time.sleep(2.0)
        return status_kb(child.pid)
    finally:
        child.kill()
        child.wait()


def minted_follow_kb(command: list[str], env: dict[str, str], sim: Simulator,
                     poll_s: float) -> dict[str, int]:
    """An idle `--follow` that had to sign a JWT (no token cache): cryptography stays loaded."""
    follow = subprocess.Popen(command, env={**env, "DOCUSIGN_TOKEN_CACHE": "false"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = sim.stream_requests
        while sim.stream_requests == first:
            time.sleep(0.05)
        time.sleep(poll_s * 1.5)
        return status_kb(follow.pid)
    finally:
        follow.send_signal(signal.SIGTERM)
        follow.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=20)
    parser.add_argument("--poll-interval", type=float, default=3.0)
    args = parser.parse_args()
    config = SimulatorConfig(seed=1, backlog=1000, backlog_days=1, rate_limits=False)
    with Simulator(config) as sim, tempfile.TemporaryDirectory(prefix="idle-") as tmp:
        env = connector_env(sim, Path(tmp))
        measured([*product_command(), "run", "--backfill-start", "earliest"], env)  # caught up
        print(f"ours: {' '.join(product_command())}")

        command = [*product_command(), "run", "--follow", "--poll-interval",
                   str(args.poll_interval)]
        follow = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            first = sim.stream_requests
            while sim.stream_requests == first:
                time.sleep(0.05)
            time.sleep(args.poll_interval / 2)
            streams, cpu_before = sim.stream_requests, on_cpu_ns(follow.pid)
            memory_start = status_kb(follow.pid)
            time.sleep(args.polls * args.poll_interval)
            cpu_ns, polls = on_cpu_ns(follow.pid) - cpu_before, sim.stream_requests - streams
            memory_end = status_kb(follow.pid)
        finally:
            follow.send_signal(signal.SIGTERM)
            follow.wait(timeout=10)
        minted = minted_follow_kb(command, env, sim, args.poll_interval)
        bare = resting_interpreter_kb("pass")
        with_requests = resting_interpreter_kb("import requests")
        with_tls = resting_interpreter_kb(
            "import requests, certifi\nfrom urllib3.util.ssl_ import create_urllib3_context\n"
            "create_urllib3_context().load_verify_locations(certifi.where())")

        def row(name: str, kb: dict[str, int]) -> str:
            mb = {key: value / 1024 for key, value in kb.items()}
            return (f"  {name:<34} RSS {mb['VmRSS']:5.1f}  anon {mb['RssAnon']:5.1f}"
                    f"  file {mb['RssFile']:5.1f}  PSS {mb['Pss']:5.1f}")

        print("memory (MB):")
        print(row("python -c pass", bare))
        print(row("python -c 'import requests'", with_requests))
        print(row("  + a verified TLS context", with_tls))
        print(row("run --follow, first idle poll", memory_start))
        print(row(f"run --follow, after {polls} idle polls", memory_end))
        print(row("run --follow that minted a token", minted))
        per_poll_ms = cpu_ns / max(polls, 1) / 1e6
        print(f"CPU: {cpu_ns / 1e6:.1f} ms over {polls} idle polls = {per_poll_ms:.2f} ms per poll"
              f" (every {args.poll_interval:g} s)")

        traced = subprocess.run([product_interpreter(), "-c", TRACEMALLOC_CHILD], env=env,
                                capture_output=True, text=True, timeout=120, cwd="/")
        print("tracemalloc after one idle run, by package:")
        print(traced.stdout.rstrip() or traced.stderr[-1000:])

        stats_file = Path(os.environ.get("IDLE_PROFILE_OUT", Path(tmp) / "follow.prof"))
        profiled = subprocess.run(
            [product_interpreter(), "-c", PROFILE_CHILD, str(args.polls),
             str(args.poll_interval), env["DOCUSIGN_CHECKPOINT"], str(stats_file)],
            env=env, capture_output=True, text=True, cwd="/",
            timeout=60 + 3 * args.polls * args.poll_interval)
        if not stats_file.exists():
            print(f"profile failed: {profiled.stderr[-1000:]}")
            return 1
        print(f"cProfile (CPU time) of the idle polls (in-process --follow, {args.polls} polls),"
              " top by own time; the waits between polls excluded:")
        stats = pstats.Stats(str(stats_file))
        rows = []
        for (filename, line, func), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
            if func in ("sleep", "wait", "<method 'acquire' of '_thread.lock' objects>") or (
                    "acquire" in func or "select" in func or "poll" == func):
                continue
            where = "/".join(Path(filename).parts[-2:])
            rows.append((own, cumulative, calls, f"{where}:{line} {func}"))
        total_own = sum(r[0] for r in rows)
        print(f"  total profiled CPU (profiler overhead included): {total_own * 1000:.1f} ms")
        for own, cumulative, calls, name in sorted(rows, reverse=True)[:15]:
            print(f"  own {own * 1000:7.2f} ms  cum {cumulative * 1000:7.2f} ms  calls {calls:6d}"
                  f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
