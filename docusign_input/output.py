"""Where delivered events go: stdout as JSON lines, or a Fluentd forward receiver.

Delivery belongs to the output. The sync loop calls `Output.deliver(events, stopping)` and saves
the checkpoint only after it returns, so `deliver` returns only once the receiver has the events:

- stdout: written, flushed, and taken out of the pipe by the reader (not merely in the pipe's
  buffer, where a shipper that dies would lose them);
- forward: acknowledged by the receiver.

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
from urllib.parse import parse_qs, urlsplit

from . import codec
from .errors import OutputError
from .formats import Mapper, mapper, record_timestamp
from .signals import Stopped

__all__ = [
    "Output",
    "StdoutOutput",
    "ForwardOutput",
    "FormattedOutput",
    "open_output",
    "encode_page",
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

    #: After a stop request, how long to keep waiting for the reader to take what is in the pipe
    #: (Vector keeps reading until EOF after its SIGTERM; Fluent Bit 5.1 may not). Below the
    #: Stopper's watchdog.
    STOP_GRACE_S = 2.0

    def __init__(self, stream: IO[bytes] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout.buffer
        self._pipe_fd: int | None | bool = False  # False: not looked at yet

    def deliver(self, events: list[dict[str, Any]], stopping: Callable[[], bool]) -> None:
        """Write and flush the page, then wait for the reader to take it out of the pipe."""
        if not events:
            return
        self.write_page(events)
        if not self.wait_until_read(stopping):
            raise Stopped()

    def write_page(self, events: list[dict[str, Any]]) -> None:
        """Write and flush, keeping on after short writes; the events may still sit in the pipe."""
        data = encode_page(events)
        try:
            # A signal (SIGTERM while a slow reader keeps the pipe full) cuts a blocking write
            # short without an error: write() just returns less. Keep writing what is left, or
            # the rest of the page would be dropped and then checkpointed as delivered.
            view = memoryview(data)
            while view:
                view = view[self.stream.write(view) or 0 :]
            self.stream.flush()
        except (OSError, ValueError) as exc:
            if self.stream is sys.stdout.buffer:
                _silence_stdout()
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
        rest within `STOP_GRACE_S` (the page is then not checkpointed and comes again next run).
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
                    _silence_stdout()
                raise OutputError(
                    "cannot deliver events on stdout (the reader closed it before reading them)",
                    "the events it did not read were not checkpointed and will be delivered by "
                    "the next run; check the program reading docusign-input's output",
                )
            if stopping():
                now = time.monotonic()
                if give_up_at is None:
                    give_up_at = now + self.STOP_GRACE_S
                elif now >= give_up_at:
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


def _silence_stdout() -> None:
    """After a broken pipe, point fd 1 at /dev/null so that the interpreter's final flush does
    not print a traceback-like warning on stderr."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


class ForwardOutput:
    """Fluentd forward protocol through fluent-logger, the event's own time as record time.

    fluent-logger never raises: `emit_with_time` returns False and keeps the unsent bytes in
    `pendings`, to prepend them to the next emit. We retry the same event ourselves instead, after
    dropping that buffer, so an event is neither lost nor sent twice by the library.
    """

    def __init__(
        self,
        host: str,
        port: int,
        tag: str,
        *,
        retries: int = 6,
        sleep: Callable[[float], Any] = time.sleep,
        timeout_s: float = 5.0,
    ) -> None:
        from fluent.sender import FluentSender

        self.destination = f"{host}:{port}"
        self.sender = FluentSender(
            tag,
            host=host,
            port=port,
            timeout=timeout_s,
            nanosecond_precision=True,
            forward_packet_error=False,
        )
        self.retries = retries
        self.sleep = sleep

    def deliver(self, events: list[dict[str, Any]], stopping: Callable[[], bool]) -> None:
        """Sent on the socket is as far as the forward protocol without acks tells us."""
        self.write_page(events)

    def write_page(self, events: list[dict[str, Any]]) -> None:
        from fluent.sender import EventTime

        for event in events:
            seconds, nanos = event_time(record_timestamp(event))
            record_time = EventTime(seconds, nanos)
            attempt = 0
            while not self.sender.emit_with_time(None, record_time, event):
                self.sender.pendings = None
                if attempt >= self.retries:
                    error = self.sender.last_error
                    reason = getattr(error, "strerror", None) or type(error).__name__
                    raise OutputError(
                        f"cannot send events to the forward receiver {self.destination} ({reason})",
                        "start the Fluent Bit/Fluentd forward input there; undelivered events are "
                        "not checkpointed and will be sent by the next run",
                    )
                self.sleep(min(0.25 * 2**attempt, 10.0))
                attempt += 1

    def close(self) -> None:
        self.sender.close()


def event_time(timestamp: Any) -> tuple[int, int]:
    """(seconds, nanoseconds) of a DocuSign timestamp; now when it cannot be read."""
    if isinstance(timestamp, str):
        from .timestamps import parse_event_time

        try:
            parsed = parse_event_time(timestamp)
        except ValueError:
            pass
        else:
            seconds = int(parsed.timestamp())
            nanos = parsed.microsecond * 1000
            # Keep DocuSign's seventh digit, which datetime cannot hold.
            dot = timestamp.find(".")
            if dot != -1:
                digits = "".join(c for c in timestamp[dot + 1 : dot + 10] if c.isdigit())
                if digits:
                    nanos = int(digits.ljust(9, "0")[:9])
            return seconds, nanos
    now_ns = time.time_ns()
    return now_ns // 10**9, now_ns % 10**9


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


def open_output(spec: str, event_format: str = "raw") -> Output:
    """`stdout` or `forward://HOST:PORT[?tag=TAG]` (validated by settings already), writing
    events as DocuSign sent them (`raw`) or as `ecs` / `ocsf` documents."""
    output: Output
    if spec == "stdout":
        output = StdoutOutput()
    else:
        parts = urlsplit(spec)
        tag = parse_qs(parts.query).get("tag", ["docusign.monitor"])[0]
        output = ForwardOutput(parts.hostname or "127.0.0.1", parts.port or 24224, tag)
    mapping = mapper(event_format)
    return output if mapping is None else FormattedOutput(output, mapping)
