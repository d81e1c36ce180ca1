"""SIGTERM and SIGINT: ask the sync loop to stop, and make sure the process ends within seconds.

A Python signal handler runs in the main thread between two bytecodes, possibly while that thread
holds a lock (the one inside `threading.Event.wait`, the one of `sys.stderr`). So the handler only
sets a flag; the C-level handler also writes the signal number to a wakeup pipe
(`signal.set_wakeup_fd`), and a watcher thread reading that pipe does everything that takes a lock:
it wakes the loop's waits and arms the watchdog.

One stop deadline: every wait (an output's write or acknowledgement, an HTTP call, the forward
connect and handshake) gives up by `stop_deadline()`, `GIVE_UP_S` after the request. The watchdog
ends the process `grace_s` after the stop request if the loop has not finished by then (a write
to a pipe nobody reads, a request already in flight); it first lets each run record its end
(`at_deadline`: "stopped at the deadline"), so `status` does not take the stop for a kill. That
is safe at any instant: the checkpoint is only ever replaced by rename, and whatever was being
written was not yet checkpointed, so the next run delivers it again. Its last words are written
only if stderr can take them without blocking: a stderr nobody reads must not keep the process
alive.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

__all__ = [
    "Stopped", "Stopper", "stop_deadline", "bounded_timeout", "waiting_on", "GRACE_S",
    "GIVE_UP_S",
]

#: Longest the watchdog lets its last line try to reach stderr before it exits regardless.
LAST_WORDS_TIMEOUT_S = 0.2
#: Longest the watchdog lets the runs record their end (in the checkpoint) before it exits.
RECORD_TIMEOUT_S = 0.5
#: Threads recording the runs' ends at once. One fsync each, one after another, would not fit in
#: `RECORD_TIMEOUT_S` for hundreds of organizations on a disk whose fsync takes milliseconds
#: (`status` would then call their stop a kill); in parallel the filesystem commits them together.
RECORD_THREADS = 64
#: From the stop request to the watchdog ending the process.
GRACE_S = 4.0
#: From the stop request to the stop deadline: every wait (an output's write or acknowledgement,
#: an HTTP call, the forward connect and handshake) gives up by then, which leaves the run
#: `GRACE_S - GIVE_UP_S` to record its end before the watchdog would.
GIVE_UP_S = 2.0

#: The installed Stopper: the process's one stop deadline.
_installed: Stopper | None = None


def stop_deadline() -> float:
    """The monotonic time by which a wait that saw a stop request gives up: the installed
    Stopper's deadline, or `GIVE_UP_S` from now without one (a library caller, a test)."""
    stopper = _installed
    if stopper is not None and stopper.deadline is not None:
        return stopper.deadline
    return time.monotonic() + GIVE_UP_S


@contextmanager
def waiting_on(what: str) -> Iterator[None]:
    """Name what a call that may block is waiting for ("the output's reader was not reading"):
    if the watchdog has to end the process meanwhile, the run's recorded end says so."""
    stopper = _installed
    if stopper is None:
        yield
        return
    # Per thread: with many organizations, each run's thread waits on its own thing, and the
    # watchdog records each run's end with its own thread's wait.
    waits, thread = stopper._waits, threading.get_ident()
    previous = waits.get(thread)
    waits[thread] = what
    try:
        yield
    finally:
        if previous is None:
            waits.pop(thread, None)
        else:
            waits[thread] = previous


def bounded_timeout(connect_s: float, read_s: float) -> tuple[float, float]:
    """An HTTP call's (connect, read) timeouts, cut to what is left before the stop deadline
    once a stop was requested (a call started then must not outlast it)."""
    stopper = _installed
    if stopper is None or stopper.deadline is None:
        return connect_s, read_s
    left = max(0.05, stopper.deadline - time.monotonic())
    return min(connect_s, left), min(read_s, left)


class Stopped(Exception):
    """SIGTERM or SIGINT arrived; the checkpoint is consistent (what was not confirmed delivered
    was not checkpointed)."""


class Stopper:
    """Stop requests for one process: `install` once in the main thread, then `stopping` and
    `sleep` from the loop."""

    def __init__(
        self, grace_s: float = GRACE_S, last_words: Callable[[], str] | None = None
    ) -> None:
        self.grace_s = grace_s
        #: The stop deadline (monotonic), set by the first stop request: see `stop_deadline`.
        self.deadline: float | None = None
        #: What each thread's blocking call is waiting for, if one is (see `waiting_on`).
        self._waits: dict[int, str] = {}
        #: Builds the line the watchdog writes before ending the process (called in its thread).
        self.last_words = last_words
        self.signal_name: str | None = None
        self._requested = False  # the only thing the signal handler touches
        self._event = threading.Event()
        self._armed = False
        self._arm_lock = threading.Lock()
        #: Run by the watchdog before it ends the process: each run records its end, so that
        #: `status` does not take a stop for a kill.
        self._at_deadline: list[Callable[[], None]] = []

    def blocked_on(self, thread: int) -> str | None:
        """What the thread ``thread`` (a `threading.get_ident`) is blocked on, if it is waiting
        in `waiting_on`; readable from any thread (the watchdog's)."""
        return self._waits.get(thread)

    def at_deadline(self, record: Callable[[], None]) -> Callable[[], None]:
        """Have the watchdog call `record` before it ends the process (in its thread, within
        `RECORD_TIMEOUT_S` for all of them); returns what cancels it (the run ended itself)."""
        self._at_deadline.append(record)

        def cancel() -> None:
            try:
                self._at_deadline.remove(record)
            except ValueError:
                pass

        return cancel

    def install(self) -> None:
        """Handle SIGTERM and SIGINT, and be the process's stop deadline. Must run in the main
        thread."""
        global _installed
        _installed = self
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)  # the C handler must never block on a full pipe
        for fd in (read_fd, write_fd):
            os.set_inheritable(fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)
        watcher = threading.Thread(
            target=self._watch, args=(read_fd,), name="stop-watcher", daemon=True
        )
        watcher.start()

    @property
    def stopping(self) -> bool:
        return self._requested or self._event.is_set()

    def request_stop(self, name: str = "a stop request") -> None:
        """Stop from a normal thread (tests, the watcher): wake the waits and arm the watchdog."""
        if self.signal_name is None:
            self.signal_name = name
        if self.deadline is None:  # before the flag: whoever sees it stopping finds the deadline
            self.deadline = time.monotonic() + min(GIVE_UP_S, self.grace_s / 2)
        self._requested = True
        self._event.set()
        with self._arm_lock:
            if self._armed:
                return  # a second signal changes nothing: the watchdog already runs
            self._armed = True
        watchdog = threading.Timer(self.grace_s, self._force_exit)
        watchdog.name = "stop-watchdog"
        watchdog.daemon = True
        watchdog.start()

    def sleep(self, seconds: float) -> None:
        """Wait, unless a stop is requested; then raise Stopped."""
        if self.stopping:
            raise Stopped()
        if seconds > 0 and self._event.wait(seconds):
            raise Stopped()
        if self.stopping:
            raise Stopped()

    def _handle(self, signum: int, frame: Any) -> None:
        # Nothing that takes a lock: this may run inside Event.wait or a write to stderr.
        self._requested = True

    def _watch(self, read_fd: int) -> None:
        while True:
            try:
                data = os.read(read_fd, 64)
            except InterruptedError:
                continue
            except OSError:
                return
            if not data:
                return
            for signum in data:
                if signum in (signal.SIGTERM, signal.SIGINT):
                    self.request_stop(signal.Signals(signum).name)

    def _force_exit(self) -> None:
        records = list(self._at_deadline)
        if records:
            record_all(records, RECORD_TIMEOUT_S)  # a hung disk must not keep the process alive
        line = ""
        if self.last_words is not None:
            try:
                line = self.last_words()
            except Exception:  # noqa: BLE001 - nothing may keep the process from ending
                line = ""
        if line:
            writer = threading.Thread(target=write_if_writable, args=(2, line), daemon=True)
            writer.start()
            writer.join(LAST_WORDS_TIMEOUT_S)
        os._exit(0)


def record_all(records: list[Callable[[], None]], timeout_s: float) -> None:
    """Run every record, up to `RECORD_THREADS` at once, for at most ``timeout_s``: one that
    hangs (a hung disk) holds up its thread only, and none keeps the process alive."""
    pending = deque(records)

    def work() -> None:
        while True:
            try:
                record = pending.popleft()  # atomic: each record is run once
            except IndexError:
                return
            try:
                record()
            except Exception:  # noqa: BLE001 - nothing may keep the process from ending
                pass

    workers = [
        threading.Thread(target=work, name="stop-record", daemon=True)
        for _ in range(min(len(records), RECORD_THREADS))
    ]
    give_up_at = time.monotonic() + timeout_s
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(max(0.0, give_up_at - time.monotonic()))


def write_if_writable(fd: int, line: str) -> None:
    """Write one short line to `fd` only if it can take it now (never wait for a reader).

    A pipe that polls writable has room for at least PIPE_BUF bytes, and a write of at most that
    many is atomic: a line within it does not block and is never cut.
    """
    data = (line.rstrip("\n")[: select.PIPE_BUF - 1] + "\n").encode("utf-8", "replace")
    data = data[: select.PIPE_BUF]
    try:
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        ready = poller.poll(0)
        if any(events & select.POLLOUT and not events & select.POLLERR for _, events in ready):
            os.write(fd, data)
    except (OSError, ValueError):
        pass
