"""The stop watchdog's last duties (signals.Stopper): every run's end recorded before it exits."""

from __future__ import annotations

import os
import threading
import time

import pytest

from docusign_input import signals

#: The real watchdog end (tests/conftest.py replaces it in this process once the session starts,
#: so that it cannot end pytest); the tests below call it with `os._exit` replaced instead.
FORCE_EXIT = signals.Stopper._force_exit


class Exited(Exception):
    pass


def fake_exit(code: int) -> None:
    raise Exited(code)


def test_the_watchdog_records_the_end_of_many_runs_on_a_slow_disk(monkeypatch):
    # 80 organizations' runs blocked at the stop deadline, on a disk whose save (fsync) takes
    # 30 ms: one after another they need 2.4 s, far past the watchdog's budget, and `status`
    # would call the runs left over "killed (SIGKILL, out of memory, a reboot)".
    stopper = signals.Stopper()
    recorded: list[int] = []
    lock = threading.Lock()

    def record_for(n: int):
        def record() -> None:
            time.sleep(0.03)
            with lock:
                recorded.append(n)
        return record

    for n in range(80):
        stopper.at_deadline(record_for(n))

    monkeypatch.setattr(os, "_exit", fake_exit)
    started = time.monotonic()
    with pytest.raises(Exited):
        FORCE_EXIT(stopper)
    assert time.monotonic() - started < signals.RECORD_TIMEOUT_S + 0.5  # the budget still holds
    assert sorted(recorded) == list(range(80))


def test_a_hung_record_does_not_hold_up_the_others_or_the_exit(monkeypatch):
    stopper = signals.Stopper()
    recorded: list[int] = []
    hung = threading.Event()
    stopper.at_deadline(lambda: hung.wait(30))  # a hung disk under one checkpoint
    for n in range(10):
        stopper.at_deadline(lambda n=n: recorded.append(n))

    monkeypatch.setattr(os, "_exit", fake_exit)
    try:
        with pytest.raises(Exited):
            FORCE_EXIT(stopper)
    finally:
        hung.set()
    assert sorted(recorded) == list(range(10))


def test_each_thread_s_wait_is_named_for_its_own_run(monkeypatch):
    # Many organizations: one run's thread is stuck writing to the output while another's is
    # waiting for DocuSign and a third's wait has ended. A forced stop names each run's own wait.
    stopper = signals.Stopper()
    monkeypatch.setattr(signals, "_installed", stopper)
    entered = {name: threading.Event() for name in ("output", "docusign", "done")}
    release = {name: threading.Event() for name in entered}
    threads: dict[str, int] = {}

    def run(name: str, what: str) -> None:
        threads[name] = threading.get_ident()
        with signals.waiting_on(what):
            entered[name].set()
            release[name].wait(10)

    workers = [
        threading.Thread(target=run, args=("output", "the output's reader was not reading")),
        threading.Thread(target=run, args=("docusign", "DocuSign Monitor had not answered")),
        threading.Thread(target=run, args=("done", "DocuSign's auth server had not answered")),
    ]
    try:
        for worker, name in zip(workers, entered):
            worker.start()
            assert entered[name].wait(10)
        release["done"].set()  # its wait ends; the two others' go on
        workers[2].join(10)
        assert stopper.blocked_on(threads["output"]) == "the output's reader was not reading"
        assert stopper.blocked_on(threads["docusign"]) == "DocuSign Monitor had not answered"
        assert stopper.blocked_on(threads["done"]) is None
        with signals.waiting_on("the test's own wait"):
            assert stopper.blocked_on(threading.get_ident()) == "the test's own wait"
        assert stopper.blocked_on(threading.get_ident()) is None
    finally:
        for event in release.values():
            event.set()
        for worker in workers:
            worker.join(10)
