"""The acknowledged forward output against the stdout path, in the same run.

    python bench/forward.py                  # 20,000 events, 5 interleaved pairs
    python bench/forward.py --quick          # CI-sized: proves it runs

Both halves run the installed `docusign-input run` as a subprocess against the embedded simulator
(rate limits off) and drain the same backlog with a fresh checkpoint:

- stdout: its output read by a `cat > /dev/null` (the pipe is emptied, so the connector's
  wait-until-read costs what it costs under a shipper);
- forward: `--output forward://` to a local acking receiver in its own process (real Fluent Bit,
  forward input to the null output, when FLUENT_BIT_BIN names one; else a minimal msgpack server
  that acknowledges every chunk).

Reported: events/s of each (median over the pairs), the ratio forward/stdout, and the cost of
the acknowledgements per 2,000-event page, measured in-process with the same client: the time
from the last frame sent to the last ack, which is what waiting for acks adds to a page.
Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from docusign_input.simulator import Simulator, SimulatorConfig  # noqa: E402

CONNECTOR = [sys.executable, "-m", "docusign_input"]


def serve(port: int) -> None:
    """The minimal acking receiver: read frames, answer {"ack": chunk}, keep nothing."""
    import msgpack

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(8)
    while True:
        conn, _ = server.accept()
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=64 << 20)
        while True:
            data = conn.recv(1 << 20)
            if not data:
                break
            unpacker.feed(data)
            for message in unpacker:
                option = message[2] if len(message) > 2 else {}
                if isinstance(option, dict) and "chunk" in option:
                    conn.sendall(msgpack.packb({"ack": option["chunk"]}))
        conn.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_receiver(work: Path) -> tuple[subprocess.Popen, int, str]:
    port = free_port()
    binary = next(iter(filter(None, os.environ.get("FLUENT_BIT_BIN", "").split(":"))), "")
    if binary:
        config = work / "null.yaml"
        config.write_text(
            "service:\n  flush: 1\n  log_level: warn\npipeline:\n  inputs:\n"
            f"    - name: forward\n      listen: 127.0.0.1\n      port: {port}\n"
            "      buffer_chunk_size: 1M\n      buffer_max_size: 6M\n"
            "  outputs:\n    - name: 'null'\n      match: '*'\n")
        proc = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        what = f"Fluent Bit ({Path(binary).name}, forward input -> null output)"
    else:
        proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
        what = "a minimal msgpack server acknowledging every chunk"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc, port, what


def one_run(env: dict, work: Path, output: str, n: int) -> tuple[float, float]:
    """(wall s, child CPU s) of one drain of the whole backlog."""
    checkpoint = work / f"cp-{time.monotonic_ns()}.json"
    run_env = {**env, "DOCUSIGN_CHECKPOINT": str(checkpoint), "DOCUSIGN_OUTPUT": output}
    reader = None
    stdout = subprocess.DEVNULL
    if output == "stdout":
        reader = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        stdout = reader.stdin  # type: ignore[assignment]
    started = time.perf_counter()
    proc = subprocess.Popen(CONNECTOR + ["run"], env=run_env, stdout=stdout,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if reader is not None:
        reader.stdin.close()  # type: ignore[union-attr]
        reader.wait()
    if proc.returncode != 0 or f"events={n}" not in err:
        raise SystemExit(f"run to {output} failed ({proc.returncode}): {err[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime


def ack_cost_per_page(port: int, sim: Simulator, pages: int) -> tuple[float, float]:
    """Median (send s, wait-for-acks s) per 2,000-event page, in-process."""
    import json

    from docusign_input.forward import ForwardOutput, ForwardTarget

    ids = sim.event_ids()[:2000]
    page = [json.loads(sim.event_bytes(i)) for i in ids]
    out = ForwardOutput(ForwardTarget("127.0.0.1", port, tag="bench"))
    sends, waits = [], []
    for _ in range(pages):
        t0 = time.perf_counter()
        out.write_page(page)
        t1 = time.perf_counter()
        assert out.wait_until_read(lambda: False)
        sends.append(t1 - t0)
        waits.append(time.perf_counter() - t1)
    out.close()
    return statistics.median(sends), statistics.median(waits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.quick:
        args.events, args.pairs = 2000, 1
    with tempfile.TemporaryDirectory() as tmp, Simulator(SimulatorConfig(
            seed=3, backlog=args.events, rate_limits=False)) as sim:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUSIGN_")}
        env.update(sim.env(sim.write_private_key(work / "key.pem")))
        env.update({"DOCUSIGN_BACKFILL_START": "earliest", "DOCUSIGN_TOKEN_CACHE": "0",
                    "XDG_STATE_HOME": str(work)})
        receiver, port, what = start_receiver(work)
        try:
            stdout, forward = [], []
            for _ in range(args.pairs):  # interleaved: both halves see the same machine load
                stdout.append(one_run(env, work, "stdout", args.events))
                forward.append(one_run(env, work, f"forward://127.0.0.1:{port}", args.events))
            send_s, wait_s = ack_cost_per_page(port, sim, 3 if args.quick else 20)
        finally:
            receiver.terminate()
            receiver.wait(10)
    rate = {name: args.events / statistics.median(w for w, _ in runs)
            for name, runs in (("stdout", stdout), ("forward", forward))}
    cpu = {name: args.events / statistics.median(c for _, c in runs)
           for name, runs in (("stdout", stdout), ("forward", forward))}
    print(f"receiver: {what}")
    print(f"events: {args.events} per run, {args.pairs} interleaved pairs")
    print(f"stdout   {rate['stdout']:9.0f} events/s wall   {cpu['stdout']:9.0f} per CPU second")
    print(f"forward  {rate['forward']:9.0f} events/s wall   {cpu['forward']:9.0f} per CPU second")
    print(f"ratio forward/stdout: {rate['forward'] / rate['stdout']:.2f} (wall), "
          f"{cpu['forward'] / cpu['stdout']:.2f} (CPU)")
    print(f"per 2,000-event page: encode+send {send_s * 1000:.1f} ms, waiting for the acks "
          f"{wait_s * 1000:.1f} ms")


if __name__ == "__main__":
    main()
