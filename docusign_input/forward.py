"""The acknowledged Fluentd forward output: a page counts as delivered only once the receiver
has said so. This module is the ack window; `forward_frames` makes the frames (pure) and
`forward_connection` holds one connection (TLS, the shared-key handshake, reading answers) and
classifies each failure where it arises.

Why not fluent-logger: it never asks for an acknowledgement (no ``chunk`` option), so "sent" means
"in the kernel's socket buffer", and a receiver that accepts, reads nothing and dies loses
everything sent to it. It also keeps unsent data in memory and hides failures behind a ``False``.

- a frame is accepted only by ``{"ack": <its chunk>}``. ``{}`` (Vector when a sink failed), a closed
  or reset connection, anything else, or no answer within the ack timeout: close, reconnect with
  backoff, send every unacknowledged frame again. A duplicate is possible, a loss is not;
- ``forward+tls://`` verifies the receiver against the system CAs or ``REQUESTS_CA_BUNDLE`` and may
  present a client certificate (loaded and checked once, at start); a shared key runs Fluent
  Bit's/Fluentd's HELO/PING/PONG handshake.
"""

from __future__ import annotations

import random
import socket
import time
from typing import TYPE_CHECKING, Any, Callable

from .forward_connection import (
    Connection,
    ForwardError,
    Reconnect,
    StopDeadline,
    tls_context,
)
from .forward_frames import (
    DEFAULT_PORT,
    DEFAULT_TAG,
    MAX_FRAME_BYTES,
    ForwardTarget,
    Frame,
    encode_frames,
    event_time,
    parse_forward_url,
)
from .retry import Backoff
from .signals import Stopped, stop_deadline

if TYPE_CHECKING:
    from pathlib import Path

    from .settings import Settings

__all__ = [
    "ForwardTarget",
    "ForwardOutput",
    "ForwardError",
    "parse_forward_url",
    "target_from_url",
    "target_for",
    "event_time",
    "encode_frames",
    "DEFAULT_TAG",
    "DEFAULT_PORT",
    "MAX_FRAME_BYTES",
]

#: Reconnect waits: full jitter under a ceiling doubling from 0.5 s to 30 s.
RECONNECT_BACKOFF = Backoff(base_s=0.5, cap_s=30.0, max_retries=None)
_SLICE_S = 0.2  # how often a backoff looks at the stop flag
#: A frame at least this large is named in the resend warning as a likely cause: receivers
#: close the connection on a message above their limit (Fluentd's, Vector's, a proxy's).
_LARGE_FRAME_BYTES = 64 * 1024


def target_from_url(url: str, **settings: Any) -> ForwardTarget:
    """The target of a validated output URL; `settings` adds what the URL cannot say (CA
    bundle, client certificate, shared key, timeouts)."""
    host, port, tls, options = parse_forward_url(url)
    return ForwardTarget(
        host,
        port,
        tag=options.get("tag", DEFAULT_TAG),
        tls=tls,
        compression=options.get("compression", "none"),
        self_hostname=settings.pop("self_hostname", None) or socket.gethostname(),
        **settings,
    )


def target_for(settings: Settings) -> ForwardTarget:
    """The target the settings describe (their output must be a forward URL)."""

    def text(path: Path | None) -> str | None:
        return str(path) if path else None

    return target_from_url(
        settings.output,
        ca_bundle=text(settings.ca_bundle),
        client_cert_file=text(settings.forward_tls_cert_file),
        client_key_file=text(settings.forward_tls_key_file),
        shared_key=settings.forward_shared_key or None,
        ack_timeout_s=settings.forward_ack_timeout_s,
        max_frame_bytes=settings.forward_frame_bytes,
    )


class ForwardOutput:
    """The `Output` for ``forward://`` and ``forward+tls://``: the ack window.

    `write_page` sends the page's frames; `wait_until_read` returns once every one is acknowledged,
    reconnecting and resending as often as needed. With ``give_up_after_s`` (a scheduled `run`), a
    receiver that has not acknowledged anything for that long is an error (exit 74, nothing
    checkpointed); without it (``--follow``) the output waits for its receiver for as long as it
    takes, saying so on stderr, until stopped. TLS material is loaded here, before anything is
    sent: unusable material is exit 78 at start.
    """

    def __init__(
        self,
        target: ForwardTarget,
        *,
        warn: Callable[[str], None] = lambda message: None,
        give_up_after_s: float | None = 60.0,
        sleep: Callable[[float], Any] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.target = target
        self.warn = warn
        self.give_up_after_s = give_up_after_s
        self.sleep = sleep
        self.rand = rand
        self.context = tls_context(target)
        self._connection: Connection | None = None
        self._pending: list[Frame] = []
        self._sent = False
        self._send_failure: str | None = None
        #: Acknowledged frames and the seconds spent waiting for acks (for the benchmark).
        self.acked_frames = 0
        self.ack_wait_s = 0.0

    # -- the Output protocol ------------------------------------------------------------------

    def write_page(
        self,
        events: list[dict[str, Any]],
        tag: str | None = None,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        if not events:
            return
        self._pending = encode_frames(
            events, tag or self.target.tag, compression=self.target.compression,
            max_frame_bytes=self.target.max_frame_bytes,
        )
        self._sent = False
        self._send_failure = None
        try:
            if self._connection is not None and self._connection.looks_closed():
                self._drop_connection()
            self._connect(stopping).send_frames(self._pending, stopping)
            self._sent = True
        except Reconnect as exc:
            self._drop_connection()  # wait_until_read reconnects and sends again
            self._send_failure = str(exc)

    def wait_until_read(self, stopping: Callable[[], bool]) -> bool:
        """Until every frame of the page is acknowledged (True), or a stop was requested and
        they were not by the stop deadline (False: the page is not checkpointed)."""
        retry = 0
        last_progress = time.monotonic()
        if self._pending and self._send_failure is not None and not stopping():
            self._back_off(self._send_failure, retry, last_progress, stopping)
            retry += 1
        while self._pending:
            if stopping() and time.monotonic() >= stop_deadline():
                return False
            acked_before = self.acked_frames
            try:
                connection = self._connect(stopping)
                if not self._sent:
                    connection.send_frames(self._pending, stopping)
                    self._sent = True
                self._await_acks(connection, stopping)
            except Reconnect as exc:
                self._drop_connection()
                if self.acked_frames > acked_before:  # some got through: a fresh start
                    retry, last_progress = 0, time.monotonic()
                if isinstance(exc, StopDeadline) or stopping():
                    return False  # the stop deadline was spent waiting on this connection
                self._back_off(str(exc), retry, last_progress, stopping)
                retry += 1
        return True

    def deliver(
        self, events: list[dict[str, Any]], stopping: Callable[[], bool], tag: str | None = None
    ) -> None:
        """Send the events; return once the receiver acknowledged them all (the `Output`
        protocol). Stopped when a stop request came first: they are then not checkpointed.
        ``tag``: instead of the target's (many organizations: ``<tag>.<name>``)."""
        if not events:
            return
        self.write_page(events, tag, stopping)
        if not self.wait_until_read(stopping):
            raise Stopped()

    def close(self) -> None:
        self._drop_connection()

    # -- `check` --------------------------------------------------------------------------------

    def probe(self) -> str:
        """Connect (TLS, shared key) once and say what was verified; raises ForwardError, or
        ConfigError for what a setting here must fix (a shared key the receiver requires)."""
        try:
            connection = Connection(self.target, self.context)
        except Reconnect as exc:
            raise ForwardError(
                f"cannot reach the forward receiver {self.target.url} ({exc})",
                "start the Fluent Bit/Fluentd/Vector forward input there, or fix the output URL",
            ) from None
        try:
            connection.needs_shared_key()
        finally:
            connection.close()
        said = ["connected"]
        if self.target.tls:
            said.append("TLS verified" + (", client certificate sent"
                                          if self.target.client_cert_file else ""))
        if self.target.shared_key is not None:
            said.append("shared key accepted")
        return ", ".join(said)

    # -- inside -------------------------------------------------------------------------------

    def _connect(self, stopping: Callable[[], bool]) -> Connection:
        if self._connection is None:
            self._connection = Connection(self.target, self.context, stopping)
            self._sent = False
        return self._connection

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._sent = False

    def _await_acks(self, connection: Connection, stopping: Callable[[], bool]) -> None:
        """Acknowledgements come in order, one per frame; each resets the timeout."""
        started = time.monotonic()
        try:
            while self._pending:
                deadline = time.monotonic() + self.target.ack_timeout_s
                chunk = connection.read_ack(deadline, stopping)
                if chunk != self._pending[0].chunk:
                    raise Reconnect("the receiver acknowledged a chunk we did not send next")
                self._pending.pop(0)
                self.acked_frames += 1
        finally:
            self.ack_wait_s += time.monotonic() - started

    def _back_off(
        self, reason: str, retry: int, last_progress: float, stopping: Callable[[], bool]
    ) -> None:
        waited = time.monotonic() - last_progress
        size = self._size_hint()
        if self.give_up_after_s is not None and waited >= self.give_up_after_s:
            raise ForwardError(
                f"the forward receiver {self.target.url} has not acknowledged the events for "
                f"{waited:.0f} s ({reason}){size}",
                "start or fix the Fluent Bit/Fluentd/Vector forward input there (and its "
                "destination); the events were not checkpointed and the next run sends them",
            )
        delay = RECONNECT_BACKOFF.delay_s(retry, self.rand)
        if self.give_up_after_s is not None:
            delay = min(delay, max(0.0, self.give_up_after_s - waited))
        self.warn(
            f"forward receiver {self.target.url}: {reason}; sending the "
            f"{sum(f.events for f in self._pending)} unacknowledged events again in "
            f"{delay:.1f} s{size}"
        )
        end = time.monotonic() + delay
        while time.monotonic() < end and not stopping():
            self.sleep(min(_SLICE_S, max(0.0, end - time.monotonic())))

    def _size_hint(self) -> str:
        """The likely cause when a large frame goes unacknowledged: a receiver closes the
        connection on a message above its limit, and resending cannot change that."""
        if not self._pending:
            return ""
        largest = max(self._pending, key=lambda frame: len(frame.data))
        if len(largest.data) < _LARGE_FRAME_BYTES:
            return ""
        alone = (
            f", one event of {len(largest.data)} bytes, larger than the frame size"
            if largest.events == 1 and len(largest.data) > self.target.max_frame_bytes else ""
        )
        return (
            f"; the unacknowledged frame is {len(largest.data)} bytes{alone}: if the receiver "
            "limits a message's size (Fluentd's chunk_size_limit, Fluent Bit's buffer_max_size, "
            "a proxy), lower --forward-frame-size (DOCUSIGN_FORWARD_FRAME_SIZE, now "
            f"{self.target.max_frame_bytes} bytes) below that limit"
        )
