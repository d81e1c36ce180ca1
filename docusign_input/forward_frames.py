"""Fluentd forward framing, pure: the output URL's grammar, the target it names, EventTime, and
PackedForward frames. No sockets here (settings read the URL grammar from this module).

- each page goes out as one or more PackedForward frames (CompressedPackedForward with
  ``compression=gzip``) of at most the frame size (``--forward-frame-size``) of entries, each with
  a ``chunk`` option; an event larger than the frame size travels alone;
- the record time is the event's own timestamp as EventTime (seconds and nanoseconds), read by
  `timestamps.epoch_ns`;
- an integer beyond 64 bits, which msgpack cannot carry, is sent as its decimal string.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol
from urllib.parse import parse_qsl, urlsplit

from .formats import record_timestamp
from .redact import MASK, register
from .timestamps import epoch_ns

__all__ = [
    "ForwardTarget",
    "Frame",
    "parse_forward_url",
    "shown_url",
    "event_time",
    "encode_frames",
    "DEFAULT_TAG",
    "DEFAULT_PORT",
    "MAX_FRAME_BYTES",
]

DEFAULT_TAG = "docusign.monitor"
DEFAULT_PORT = 24224
#: The default frame size: entries per frame, before compression. Fluent Bit's forward input
#: refuses a message above its `buffer_max_size` (6,144,000 bytes by default) and reads in
#: `buffer_chunk_size` steps (1,024,000): 1 MB frames stay well inside both, and a 2,000-event
#: page is a few frames. Receivers with a lower limit need a lower ``--forward-frame-size``.
MAX_FRAME_BYTES = 1_000_000

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
    #: Entries per frame at most, in bytes before compression (`--forward-frame-size`).
    max_frame_bytes: int = MAX_FRAME_BYTES

    @property
    def url(self) -> str:
        """The address without options, for messages."""
        return f"{'forward+tls' if self.tls else 'forward'}://{self.host}:{self.port}"


def parse_forward_url(text: str) -> tuple[str, int, bool, dict[str, str]]:
    """(host, port, tls, options) of ``forward[+tls]://HOST:PORT[?tag=TAG&compression=gzip]``;
    raises ValueError saying what is wrong."""
    userinfo = _userinfo(text)
    if userinfo is not None:
        register(userinfo.partition(":")[2] or userinfo)
        raise ValueError(
            "has a user or password in it; a shared key goes in DOCUSIGN_FORWARD_SHARED_KEY"
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise ValueError("is not an output")
    if not port:
        raise ValueError("has no port")
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


def _userinfo(text: str) -> str | None:
    """What precedes the last ``@`` before the options: a user or password however it is
    written. urlsplit reads a password holding ``/``, ``#``, ``?`` or a space as a host or a
    path instead; None without one."""
    before_options = text.partition("://")[2].partition("?")[0]
    return before_options.rpartition("@")[0] if "@" in before_options else None


def shown_url(text: str) -> str:
    """An output URL as a message may quote it: a user or password (`_userinfo`) and every
    option value but ``tag`` and ``compression`` masked. The redactor masks registered values
    and URL shapes; this also hides what it cannot: values too short to register, passwords
    that are not URL syntax."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    userinfo = _userinfo(text)
    if userinfo is not None:
        rest = f"{MASK}@{rest[len(userinfo) + 1:]}"
    base, question, query = rest.partition("?")
    if question:
        query = "&".join(
            option if key.lower() in _OPTIONS or not has_value else f"{key}={MASK}"
            for option in query.split("&")
            for key, has_value, _ in (option.partition("="),)
        )
    return f"{scheme}{sep}{base}{question}{query}"


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
    # Imported here: settings read the URL grammar from this module, and a command that sends
    # nothing (status, check with stdout, a stdout run) need not load msgpack and gzip.
    import gzip

    import msgpack

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
    import base64
    import secrets

    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


