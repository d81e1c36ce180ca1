"""One stop deadline: SIGTERM ends the run within 5 seconds whatever it is waiting for, and the
run's end is recorded, so `status` never takes a stop for a kill ("was killed (SIGKILL, out of
memory, a reboot)", sending the operator to dmesg)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from docusign_input.simulator import Fault


def _wait_for(predicate, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=8)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("still running 8 s after SIGTERM")


def _assert_a_recorded_stop(connector) -> None:
    run = connector.saved()["health"]["last_run"]
    assert run.get("ended_at") and run.get("exit_code") == 0, run
    status = connector.run("status", "--json")
    text = status.stdout.decode() + status.stderr.decode()
    assert "killed" not in text and "dmesg" not in text
    assert json.loads(status.stdout)["last_run"]["ended_at"] == run["ended_at"]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc (Linux)")
def test_sigterm_with_a_stdout_reader_that_stopped_reading_records_the_stop(
    simulator, connector
):
    simulator.seed_backlog(1000, days=1)
    out_r, out_w = os.pipe()  # nobody reads it: the first page's write blocks
    proc = connector.popen("run", "--backfill-start", "earliest", "--page-size", "500",
                           stdout=out_w)
    os.close(out_w)
    try:
        _wait_for(lambda: simulator.stream_requests >= 1, "no page requested")
        time.sleep(0.5)
        assert _stop(proc) == 0
    finally:
        os.close(out_r)
    _assert_a_recorded_stop(connector)
    stopped = connector.saved()["health"]["last_run"]["stopped"]
    assert "stopped at the stop deadline: the output's reader was not reading" in stopped


def test_sigterm_during_a_slow_docusign_answer_records_the_stop(simulator, connector):
    simulator.seed_backlog(20, days=1)
    simulator.inject(Fault("slow", count=1, delay_s=30))
    proc = connector.popen("run", "--backfill-start", "earliest")
    _wait_for(lambda: simulator.stream_requests >= 1, "no page requested")
    time.sleep(0.5)  # the answer is now 29 s away
    assert _stop(proc) == 0
    _assert_a_recorded_stop(connector)
    assert "DocuSign Monitor had not answered" in connector.saved()["health"]["last_run"]["stopped"]


def test_sigterm_while_a_forward_receiver_stopped_reading_ends_in_time(simulator, connector):
    simulator.seed_backlog(2000, days=1)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    accepted: list[socket.socket] = []

    def accept_and_never_read() -> None:
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        accepted.append(sock)

    threading.Thread(target=accept_and_never_read, daemon=True).start()
    proc = connector.popen(
        "run", "--backfill-start", "earliest", "--format", "ocsf",
        "--output", f"forward://127.0.0.1:{listener.getsockname()[1]}",
    )
    try:
        _wait_for(lambda: accepted, "the connector never connected")
        time.sleep(1.0)  # the first page's frames fill both socket buffers
        sent = time.monotonic()
        assert _stop(proc) == 0
        took = time.monotonic() - sent
    finally:
        listener.close()
        for sock in accepted:
            sock.close()
    assert took < 5.0
    _assert_a_recorded_stop(connector)
