"""The acknowledged Fluentd forward output: a page counts as delivered only once the receiver
has said so.

Why not fluent-logger: it never asks for an acknowledgement (no ``chunk`` option), so "sent" means
"in the kernel's socket buffer", and a receiver that accepts, reads nothing and dies loses
everything sent to it. It also keeps unsent data in memory and hides failures behind a ``False``.
This client is small and written on ``msgpack``:

- each page goes out as one or more PackedForward frames (CompressedPackedForward with
  ``compression=gzip``) of at most ``MAX_FRAME_BYTES`` of entries, each with a ``chunk`` option;
- a frame is accepted only by ``{"ack": <its chunk>}``. ``{}`` (Vector when a sink failed), a closed
  or reset connection, anything else, or no answer within the ack timeout: close, reconnect with
  backoff, send every unacknowledged frame again. A duplicate is possible, a loss is not;
- the record time is the event's own timestamp as EventTime (seconds and nanoseconds);
- an integer beyond 64 bits, which msgpack cannot carry, is sent as its decimal string;
- ``forward+tls://`` verifies the receiver against the system CAs or ``REQUESTS_CA_BUNDLE`` and may
  present a client certificate; a shared key runs Fluent Bit's/Fluentd's HELO/PING/PONG handshake.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import random
import select
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol
from urllib.parse import parse_qsl, urlsplit

import msgpack

from .errors import OutputError
from .formats import record_timestamp
from .redact import register
from .retry import Backoff
from .signals import Stopped
from .timestamps import epoch_ns

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

DEFAULT_TAG = "docusign.monitor"
DEFAULT_PORT = 24224
#: Entries per frame, before compression. Fluent Bit's forward input refuses a message above its
#: `buffer_max_size` (6,144,000 bytes by default) and reads in `buffer_chunk_size` steps
#: (1,024,000): 1 MB frames stay well inside both, and a 2,000-event page is a few frames.
MAX_FRAME_BYTES = 1_000_000
#: Reconnect waits: full jitter under a ceiling doubling from 0.5 s to 30 s.
RECONNECT_BACKOFF = Backoff(base_s=0.5, cap_s=30.0, max_retries=None)
#: After a stop request, how long unacknowledged frames may still be waited for.
STOP_GRACE_S = 2.0
#: How long to wait for a receiver's HELO when a shared key is set.
HELO_WAIT_S = 5.0
_SLICE_S = 0.2  # how often a blocked read or write looks at the stop flag

_SCHEMES = {"forward": False, "forward+tls": True}
_OPTIONS = ("tag", "compression")


class SecretValue(Protocol):
    def reveal(self) -> str: ...


@dataclass(frozen=True)
class ForwardTarget:
    """Where and how to send: built once from the settings."""

    host: str
    port: int
    tag: str = DEFAULT_TAG
    tls: bool = False
    compression: str = "none"  # "none" | "gzip"
    #: CA bundle file or directory (REQUESTS_CA_BUNDLE); None: the system's CAs.
    ca_bundle: str | None = None
    client_cert_file: str | None = None
    client_key_file: str | None = None
    shared_key: SecretValue | None = None
    #: Our name in the shared-key handshake (Fluent Bit logs it; Fluentd may check it).
    self_hostname: str = ""
    ack_timeout_s: float = 60.0
    connect_timeout_s: float = 10.0

    @property
    def url(self) -> str:
        """The address without options, for messages."""
        return f"{'forward+tls' if self.tls else 'forward'}://{self.host}:{self.port}"


def parse_forward_url(text: str) -> tuple[str, int, bool, dict[str, str]]:
    """(host, port, tls, options) of ``forward[+tls]://HOST:PORT[?tag=TAG&compression=gzip]``;
    raises ValueError saying what is wrong."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise ValueError("is not an output")
    if not port:
        raise ValueError("has no port")
    if parts.password:
        register(parts.password)
    if parts.username or parts.password:
        raise ValueError(
            "has a user or password in it; a shared key goes in DOCUSIGN_FORWARD_SHARED_KEY"
        )
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError("has unexpected parts")
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _OPTIONS:
            if "key" in key.lower() or "pass" in key.lower() or "secret" in key.lower():
                register(value)
                raise ValueError(
                    f"has an option {key!r} that is not one; a shared key goes in "
                    "DOCUSIGN_FORWARD_SHARED_KEY, never in the URL"
                )
            raise ValueError(f"has an unknown option {key!r}")
        options[key] = value
    if options.get("compression", "none") not in ("none", "gzip"):
        raise ValueError("has compression other than none or gzip")
    return parts.hostname, port, _SCHEMES[parts.scheme], options


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


def target_for(settings: Any) -> ForwardTarget:
    """The target the settings describe (their output must be a forward URL)."""

    def text(path: Any) -> str | None:
        return str(path) if path else None

    return target_from_url(
        settings.output,
        ca_bundle=text(settings.ca_bundle),
        client_cert_file=text(settings.forward_tls_cert_file),
        client_key_file=text(settings.forward_tls_key_file),
        shared_key=settings.forward_shared_key or None,
        ack_timeout_s=settings.forward_ack_timeout_s,
    )


class ForwardError(OutputError):
    """The receiver cannot be reached or does not acknowledge, after the retry budget. Exit 74."""


# -- the wire ------------------------------------------------------------------------------------


def _beyond_64_bits(value: Any) -> Any:
    """msgpack's fallback: an integer it cannot carry goes as its exact decimal string."""
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def event_time(event: dict[str, Any], now_ns: Callable[[], int] = time.time_ns) -> tuple[int, int]:
    """(seconds, nanoseconds) of the event's own time; now when it has none EventTime can carry.

    DocuSign's ``timestamp`` in every format (`formats.record_timestamp`: the raw field, ECS
    ``@timestamp``, OCSF ``metadata.original_time``), read by `timestamps.epoch_ns`, else OCSF
    ``time`` (milliseconds). EventTime's seconds are unsigned 32 bits: an instant outside them
    (before 1970, after 2106) is sent as now, whatever its spelling.
    """
    text = record_timestamp(event)
    if isinstance(text, str):
        try:
            seconds, nanos = epoch_ns(text)
        except ValueError:
            pass
        else:
            if 0 <= seconds < 2**32:
                return seconds, nanos
    millis = event.get("time")
    if isinstance(millis, int) and not isinstance(millis, bool) and 0 <= millis < 2**32 * 1000:
        return millis // 1000, (millis % 1000) * 1_000_000
    now = now_ns()
    return now // 1_000_000_000, now % 1_000_000_000


@dataclass
class Frame:
    """One PackedForward message and what it carries."""

    chunk: str
    data: bytes
    events: int


def encode_frames(
    events: list[dict[str, Any]],
    tag: str,
    *,
    compression: str = "none",
    max_frame_bytes: int = MAX_FRAME_BYTES,
    new_chunk_id: Callable[[], str] | None = None,
) -> list[Frame]:
    """The page as PackedForward frames: ``[tag, bin(entries), {"chunk", "size"[, "compressed"]}]``,
    each entry ``[EventTime, record]``. An event larger than a frame travels alone."""
    packer = msgpack.Packer(default=_beyond_64_bits, use_bin_type=True)
    make_id = new_chunk_id or _new_chunk_id
    frames: list[Frame] = []
    parts: list[bytes] = []
    size = 0

    def close_frame() -> None:
        nonlocal parts, size
        if not parts:
            return
        entries = b"".join(parts)
        option: dict[str, Any] = {"chunk": make_id(), "size": len(parts)}
        if compression == "gzip":
            entries = gzip.compress(entries, compresslevel=3)
            option["compressed"] = "gzip"
        frames.append(Frame(option["chunk"], packer.pack([tag, entries, option]), len(parts)))
        parts, size = [], 0

    for event in events:
        seconds, nanos = event_time(event)
        entry = packer.pack([msgpack.ExtType(0, struct.pack(">II", seconds, nanos)), event])
        if parts and size + len(entry) > max_frame_bytes:
            close_frame()
        parts.append(entry)
        size += len(entry)
    close_frame()
    return frames


def _new_chunk_id() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


# -- the connection ------------------------------------------------------------------------------


class _Broken(Exception):
    """This connection is done for (closed, reset, refused, silent, garbled): reconnect."""


class _Silent(_Broken):
    """No answer before the deadline."""


class _Fatal(Exception):
    """Retrying cannot help: a certificate that does not verify, a shared key refused."""

    def __init__(self, cause: str, fix: str) -> None:
        super().__init__(cause)
        self.cause, self.fix = cause, fix


class _Connection:
    """One TCP (or TLS) connection, authenticated if a shared key is set."""

    def __init__(self, target: ForwardTarget) -> None:
        self.target = target
        # Fluent Bit sends the HELO nonce as a msgpack *str* of random bytes: keep them as they
        # are (surrogateescape) instead of failing to decode them as UTF-8.
        self.unpacker = msgpack.Unpacker(
            raw=False, unicode_errors="surrogateescape", strict_map_key=False,
            max_buffer_size=1 << 20,
        )
        self.sock = self._open()

    def _open(self) -> socket.socket:
        target = self.target
        try:
            raw = socket.create_connection(
                (target.host, target.port), timeout=target.connect_timeout_s
            )
        except OSError as exc:
            raise _Broken(_reason(exc)) from None
        sock: socket.socket = raw
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if target.tls:
                sock = tls_context(target).wrap_socket(raw, server_hostname=target.host)
            sock.settimeout(_SLICE_S)
            if target.shared_key is not None:
                self.sock = sock
                self._handshake()
        except ssl.SSLCertVerificationError as exc:
            raw.close()
            raise _Fatal(
                f"the forward receiver {target.url} has a certificate that does not verify "
                f"({exc.verify_message or exc.reason})",
                "give the CA that signed it in REQUESTS_CA_BUNDLE, or fix the host name in "
                "the output URL to match the certificate",
            ) from None
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise _Broken(_reason(exc)) from None
        except BaseException:
            sock.close()
            raise
        return sock

    # Fluentd forward protocol v1, handshake phase: HELO from the server, PING from us, PONG back.
    def _handshake(self) -> None:
        target = self.target
        assert target.shared_key is not None
        key = target.shared_key.reveal().encode("utf-8")
        # A receiver with a shared key sends HELO at once on accepting the connection.
        deadline = time.monotonic() + min(target.connect_timeout_s, HELO_WAIT_S)
        try:
            helo = self._read_message(deadline, "the shared-key handshake (HELO)")
        except _Silent:
            helo = None
        if not (isinstance(helo, list) and len(helo) == 2 and helo[0] == "HELO"
                and isinstance(helo[1], dict)):
            raise _Fatal(
                f"the forward receiver {target.url} did not start the shared-key handshake",
                "set the same shared_key on the receiver's forward input, or unset "
                "DOCUSIGN_FORWARD_SHARED_KEY",
            )
        nonce = _as_bytes(helo[1].get("nonce", b""))
        # HELO may carry an `auth` salt for user/password authentication (Fluent Bit sends one
        # even without `security.users`); we authenticate by shared key only, so the user and
        # password fields stay empty and a receiver that requires users says so in its PONG.
        salt = os.urandom(16).hex()  # Fluent Bit takes the salt only as a msgpack str
        me = target.self_hostname.encode("utf-8")
        digest = hashlib.sha512(salt.encode() + me + nonce + key).hexdigest()
        self._send(msgpack.packb(["PING", target.self_hostname, salt, digest, "", ""]), deadline)
        try:
            pong = self._read_message(deadline, "the shared-key handshake (PONG)")
        except _Broken:
            # Fluent Bit closes the connection instead of answering PONG when the key is wrong.
            raise _Fatal(
                f"the forward receiver {target.url} closed the connection after the shared-key "
                "PING: it refused the key",
                "set DOCUSIGN_FORWARD_SHARED_KEY(_FILE) to the shared_key of its forward input",
            ) from None
        if not (isinstance(pong, list) and len(pong) == 5 and pong[0] == "PONG"):
            raise _Broken("the receiver answered the handshake with something else than PONG")
        if pong[1] is not True:
            raise _Fatal(
                f"the forward receiver {target.url} refused the shared key ({pong[2]})",
                "set DOCUSIGN_FORWARD_SHARED_KEY(_FILE) to the shared_key of its forward input",
            )
        server = _as_bytes(pong[3])
        if pong[4] != hashlib.sha512(salt.encode() + server + nonce + key).hexdigest():
            raise _Fatal(
                f"the forward receiver {target.url} does not know the shared key (its answer "
                "does not prove it)",
                "check that the output URL points at your receiver and both sides use the "
                "same shared key",
            )

    def _read_message(
        self, deadline: float, what: str, stopping: Callable[[], bool] = lambda: False
    ) -> Any:
        while True:
            for message in self.unpacker:
                return message
            self._fill(deadline, what, stopping)

    def _fill(self, deadline: float, what: str, stopping: Callable[[], bool]) -> None:
        """Read more bytes into the unpacker; _Broken on EOF, error or the deadline (which a stop
        request brings forward to `STOP_GRACE_S` from then)."""
        while True:
            if stopping():
                deadline = min(deadline, time.monotonic() + STOP_GRACE_S)
                stopping = _never
            if time.monotonic() >= deadline:
                raise _Silent(f"no answer within the timeout while waiting for {what}")
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except (OSError, ssl.SSLError) as exc:
                raise _Broken(_reason(exc)) from None
            if not data:
                raise _Broken("the receiver closed the connection")
            self.unpacker.feed(data)
            return

    def _send(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            if time.monotonic() >= deadline:
                raise _Broken("the receiver stopped reading (send timed out)")
            try:
                sent = self.sock.send(view)
            except (socket.timeout, ssl.SSLWantWriteError):
                continue
            except (OSError, ssl.SSLError) as exc:
                raise _Broken(_reason(exc)) from None
            view = view[sent:]

    def send_frames(self, frames: list[Frame]) -> None:
        deadline = time.monotonic() + self.target.ack_timeout_s
        for frame in frames:
            self._send(frame.data, deadline)

    def read_ack(self, deadline: float, stopping: Callable[[], bool]) -> str:
        """The chunk of the next acknowledgement; _Broken when the answer is anything else."""
        answer = self._read_message(deadline, "the acknowledgement", stopping)
        if isinstance(answer, dict) and isinstance(answer.get("ack"), str):
            return str(answer["ack"])
        if answer == {}:
            raise _Broken("the receiver did not accept the events (it answered {})")
        raise _Broken(f"the receiver answered {str(answer)[:60]!r} instead of an acknowledgement")

    def looks_closed(self) -> bool:
        """Whether the receiver closed the connection (or sent what it should not) while we
        were idle: nothing is due between the last ack and the next frame."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
            if not readable:
                return False
            self.sock.settimeout(0)
            try:
                self.sock.recv(1)  # EOF, or bytes nobody asked for: start afresh either way
                return True
            except (ssl.SSLWantReadError, BlockingIOError):
                return False  # TLS 1.3 session tickets only: no application data
            finally:
                self.sock.settimeout(_SLICE_S)
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def tls_context(target: ForwardTarget) -> ssl.SSLContext:
    """Verified TLS: the system CAs, or REQUESTS_CA_BUNDLE (a file or a directory)."""
    bundle = target.ca_bundle
    if bundle and os.path.isdir(bundle):
        context = ssl.create_default_context(capath=bundle)
    else:
        context = ssl.create_default_context(cafile=bundle or None)
    if target.client_cert_file:
        context.load_cert_chain(target.client_cert_file, target.client_key_file or None)
    return context


def _never() -> bool:
    return False


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return str(value).encode("utf-8", "surrogateescape")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)


# -- the output ----------------------------------------------------------------------------------


class ForwardOutput:
    """The `Output` for ``forward://`` and ``forward+tls://``.

    `write_page` sends the page's frames; `wait_until_read` returns once every one is acknowledged,
    reconnecting and resending as often as needed. With ``give_up_after_s`` (a scheduled `run`), a
    receiver that has not acknowledged anything for that long is an error (exit 74, nothing
    checkpointed); without it (``--follow``) the output waits for its receiver for as long as it
    takes, saying so on stderr, until stopped.
    """

    def __init__(
        self,
        target: ForwardTarget,
        *,
        warn: Callable[[str], None] = lambda message: None,
        give_up_after_s: float | None = 60.0,
        sleep: Callable[[float], Any] = time.sleep,
        rand: Callable[[], float] = random.random,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        self.target = target
        self.warn = warn
        self.give_up_after_s = give_up_after_s
        self.sleep = sleep
        self.rand = rand
        self.max_frame_bytes = max_frame_bytes
        self._connection: _Connection | None = None
        self._pending: list[Frame] = []
        self._sent = False
        self._send_failure: str | None = None
        #: Acknowledged frames and the seconds spent waiting for acks (for the benchmark).
        self.acked_frames = 0
        self.ack_wait_s = 0.0

    # -- the Output protocol ------------------------------------------------------------------

    def write_page(self, events: list[dict[str, Any]], tag: str | None = None) -> None:
        if not events:
            return
        self._pending = encode_frames(
            events, tag or self.target.tag, compression=self.target.compression,
            max_frame_bytes=self.max_frame_bytes,
        )
        self._sent = False
        self._send_failure = None
        try:
            if self._connection is not None and self._connection.looks_closed():
                self._drop_connection()
            self._connect().send_frames(self._pending)
            self._sent = True
        except _Broken as exc:
            self._drop_connection()  # wait_until_read reconnects and sends again
            self._send_failure = str(exc)
        except _Fatal as exc:
            raise ForwardError(exc.cause, exc.fix) from None

    def wait_until_read(self, stopping: Callable[[], bool]) -> bool:
        """Until every frame of the page is acknowledged (True), or a stop was requested and
        they were not within `STOP_GRACE_S` (False: the page is not checkpointed)."""
        retry = 0
        last_progress = time.monotonic()
        stop_by: float | None = None
        if self._pending and self._send_failure is not None and not stopping():
            self._back_off(self._send_failure, retry, last_progress, stopping)
            retry += 1
        while self._pending:
            if stopping() and stop_by is None:
                stop_by = time.monotonic() + STOP_GRACE_S
            if stop_by is not None and time.monotonic() >= stop_by:
                return False
            acked_before = self.acked_frames
            try:
                connection = self._connect()
                if not self._sent:
                    connection.send_frames(self._pending)
                    self._sent = True
                self._await_acks(connection, stopping, stop_by)
            except _Fatal as exc:
                raise ForwardError(exc.cause, exc.fix) from None
            except _Broken as exc:
                self._drop_connection()
                if self.acked_frames > acked_before:  # some got through: a fresh start
                    retry, last_progress = 0, time.monotonic()
                if stop_by is not None or stopping():
                    return False  # the grace was spent waiting on this connection
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
        self.write_page(events, tag)
        if not self.wait_until_read(stopping):
            raise Stopped()

    def close(self) -> None:
        self._drop_connection()

    # -- `check` --------------------------------------------------------------------------------

    def probe(self) -> str:
        """Connect (TLS, shared key) once and say what was verified; raises ForwardError."""
        try:
            connection = _Connection(self.target)
        except _Fatal as exc:
            raise ForwardError(exc.cause, exc.fix) from None
        except _Broken as exc:
            raise ForwardError(
                f"cannot reach the forward receiver {self.target.url} ({exc})",
                "start the Fluent Bit/Fluentd/Vector forward input there, or fix the output URL",
            ) from None
        connection.close()
        said = ["connected"]
        if self.target.tls:
            said.append("TLS verified" + (", client certificate sent"
                                          if self.target.client_cert_file else ""))
        if self.target.shared_key is not None:
            said.append("shared key accepted")
        return ", ".join(said)

    # -- inside -------------------------------------------------------------------------------

    def _connect(self) -> _Connection:
        if self._connection is None:
            self._connection = _Connection(self.target)
            self._sent = False
        return self._connection

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._sent = False

    def _await_acks(
        self, connection: _Connection, stopping: Callable[[], bool], stop_by: float | None
    ) -> None:
        """Acknowledgements come in order, one per frame; each resets the timeout."""
        started = time.monotonic()
        try:
            while self._pending:
                deadline = time.monotonic() + self.target.ack_timeout_s
                if stop_by is not None:
                    deadline = min(deadline, stop_by)
                chunk = connection.read_ack(deadline, stopping)
                if chunk != self._pending[0].chunk:
                    raise _Broken("the receiver acknowledged a chunk we did not send next")
                self._pending.pop(0)
                self.acked_frames += 1
        finally:
            self.ack_wait_s += time.monotonic() - started

    def _back_off(
        self, reason: str, retry: int, last_progress: float, stopping: Callable[[], bool]
    ) -> None:
        waited = time.monotonic() - last_progress
        if self.give_up_after_s is not None and waited >= self.give_up_after_s:
            raise ForwardError(
                f"the forward receiver {self.target.url} has not acknowledged the events for "
                f"{waited:.0f} s ({reason})",
                "start or fix the Fluent Bit/Fluentd/Vector forward input there (and its "
                "destination); the events were not checkpointed and the next run sends them",
            )
        delay = RECONNECT_BACKOFF.delay_s(retry, self.rand)
        if self.give_up_after_s is not None:
            delay = min(delay, max(0.0, self.give_up_after_s - waited))
        self.warn(
            f"forward receiver {self.target.url}: {reason}; sending the "
            f"{sum(f.events for f in self._pending)} unacknowledged events again in "
            f"{delay:.1f} s"
        )
        end = time.monotonic() + delay
        while time.monotonic() < end and not stopping():
            self.sleep(min(_SLICE_S, max(0.0, end - time.monotonic())))
