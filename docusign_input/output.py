"""Where delivered events go: stdout as JSON lines, or a Fluentd forward receiver.

Delivery belongs to the output. The sync loop calls `Output.deliver(events, stopping)` and saves
the checkpoint only after it returns, so `deliver` returns only once the receiver has the events:

- stdout: written, flushed, and taken out of the pipe by the reader (not merely in the pipe's
  buffer, where a shipper that dies would lose them);
- forward: acknowledged by the receiver (see `forward`).

It raises `OutputError` when the events cannot be delivered (never drops them silently), and
`Stopped` when a stop was requested (`stopping()` turned true) before the receiver confirmed them:
those events are then not checkpointed and come again next run. An empty list returns at once.
"""

from __future__ import annotations

import os
import select
import stat
import sys
import time
from typing import IO, Any, Callable, Protocol

from . import codec
from .errors import OutputError
from .formats import Mapper, mapper
from .signals import Stopped, stop_deadline, waiting_on

__all__ = [
    "Output", "StdoutOutput", "FormattedOutput", "open_output", "encode_page", "silence_stdout",
]


class Output(Protocol):
    """The one interface between the sync loop and a destination (see the module docstring)."""

    def deliver(self, events: list[dict[str, Any]], stopping: Callable[[], bool]) -> None:
        """Return once the receiver has `events`; raise OutputError if it cannot get them, Stopped
        if `stopping()` became true before it confirmed them."""
        ...

    def close(self) -> None:
        """Release the connection or descriptor; called once, after the last delivery."""
        ...


def encode_page(events: list[dict[str, Any]]) -> bytes:
    """One JSON line per event, in the order DocuSign returned them."""
    dumps = codec.dumps
    return b"".join([dumps(event) + b"\n" for event in events])


class StdoutOutput:
    """JSON lines on stdout, one write and one flush per page."""

    def __init__(self, stream: IO[bytes] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout.buffer
        self._pipe_fd: int | None | bool = False  # False: not looked at yet

    def deliver(self, events: list[dict[str, Any]], stopping: Callable[[], bool]) -> None:
        """Write and flush the page, then wait for the reader to take it out of the pipe."""
        if not events:
            return
        self.write_page(events)
        # A stop that arrives before the page is confirmed leaves it unconfirmed even if the
        # pipe then empties: the reader may be stopping too and read only to discard (Fluent Bit
        # pauses its inputs on SIGTERM, and 5.1 signals us at the same moment; seen losing a
        # page in tests/fluentbit). The page comes again next run: a duplicate, never a loss.
        if not self.wait_until_read(stopping) or stopping():
            raise Stopped()

    def write_page(self, events: list[dict[str, Any]]) -> None:
        """Write and flush, keeping on after short writes; the events may still sit in the pipe."""
        data = encode_page(events)
        try:
            # A signal (SIGTERM while a slow reader keeps the pipe full) cuts a blocking write
            # short without an error: write() just returns less. Keep writing what is left, or
            # the rest of the page would be dropped and then checkpointed as delivered.
            view = memoryview(data)
            with waiting_on("the output's reader was not reading (stdout stayed full)"):
                while view:
                    view = view[self.stream.write(view) or 0 :]
                self.stream.flush()
        except (OSError, ValueError) as exc:
            if self.stream is sys.stdout.buffer:
                silence_stdout()
            reason = "the reader closed it" if isinstance(exc, BrokenPipeError) else str(exc)
            raise OutputError(
                f"cannot write events to stdout ({reason})",
                "the events of this page were not checkpointed and will be delivered by the next "
                "run; check the program reading docusign-input's output",
            ) from None

    def wait_until_read(self, stopping: Callable[[], bool]) -> bool:
        """Wait until the reader has taken every byte we wrote to the pipe.

        A flushed page can still sit in the pipe's buffer (64 KiB on Linux); if the shipper dies
        before reading it, a checkpoint saved at flush time would cover events nobody received.
        So the checkpoint waits for the pipe to empty: a dead reader then costs a repeated page,
        never a lost one. Returns False if a stop was requested and the reader did not take the
        rest by the stop deadline (`signals.stop_deadline`; Vector keeps reading until EOF after
        its SIGTERM, Fluent Bit 5.1 may not): the page is then not checkpointed and comes again
        next run.
        Not a pipe (a file, /dev/null, a terminal): nothing to wait for.
        """
        fd = self._pipe()
        if fd is None:
            return True
        delay = 0.0002
        give_up_at: float | None = None
        while _unread(fd) > 0:
            if _reader_gone(fd):
                if self.stream is sys.stdout.buffer:
                    silence_stdout()
                raise OutputError(
                    "cannot deliver events on stdout (the reader closed it before reading them)",
                    "the events it did not read were not checkpointed and will be delivered by "
                    "the next run; check the program reading docusign-input's output",
                )
            if stopping():
                if give_up_at is None:
                    give_up_at = stop_deadline()
                elif time.monotonic() >= give_up_at:
                    return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return True

    def _pipe(self) -> int | None:
        if self._pipe_fd is False:
            self._pipe_fd = None
            try:
                fd = self.stream.fileno()
                if stat.S_ISFIFO(os.fstat(fd).st_mode):
                    _unread(fd)  # FIONREAD on a pipe's write end: Linux yes, others may not
                    self._pipe_fd = fd
            except (OSError, ValueError, AttributeError, ImportError):  # ImportError: no fcntl
                pass
        return self._pipe_fd  # type: ignore[return-value]

    def close(self) -> None:
        pass


def _unread(fd: int) -> int:
    import fcntl
    import termios

    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), sys.byteorder)


def _reader_gone(fd: int) -> bool:
    """The write end of a pipe polls as an error once no process holds the read end."""
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def silence_stdout() -> None:
    """After a broken pipe, point fd 1 at /dev/null so that the interpreter's final flush does
    not print a traceback-like warning on stderr."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


class FormattedOutput:
    """The one place ``--format ecs|ocsf`` applies: each event becomes its document before any
    destination sees it, so stdout and forward deliver the same documents. The sync loop keeps
    the raw events (cursor, dedup and checkpoint work on DocuSign's fields)."""

    def __init__(self, inner: Output, mapping: Mapper) -> None:
        self.inner = inner
        self.mapping = mapping

    def deliver(self, events: list[dict[str, Any]], stopping: Callable[[], bool]) -> None:
        mapping = self.mapping
        self.inner.deliver([mapping(event) for event in events], stopping)

    def close(self) -> None:
        self.inner.close()


def open_output(
    settings: Any, *, warn: Callable[[str], None] = lambda message: None, follow: bool = False
) -> Output:
    """stdout, or the acknowledged forward output (`forward`) the settings describe, writing
    events as DocuSign sent them (`raw`) or as `ecs` / `ocsf` documents."""
    output: Output
    if settings.output == "stdout":
        output = StdoutOutput()
    else:
        from .forward import ForwardOutput, target_for

        target = target_for(settings)
        # A scheduled run gives up once its receiver has acknowledged nothing for the ack
        # timeout (nothing is checkpointed; the next run sends it again); --follow waits as long
        # as it takes.
        give_up_after_s = None if follow else target.ack_timeout_s
        output = ForwardOutput(target, warn=warn, give_up_after_s=give_up_after_s)
    mapping = mapper(settings.format)
    return output if mapping is None else FormattedOutput(output, mapping)
