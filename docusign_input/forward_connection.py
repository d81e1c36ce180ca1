"""One connection to a Fluentd forward receiver: TCP or verified TLS, the shared-key handshake,
and reading the receiver's msgpack answers.

Each failure is classified once, here, where it arises:

- `Reconnect`: this connection is done for (refused, closed, reset, silent, bytes msgpack cannot
  decode, an unfinished message beyond `MAX_ANSWER_BYTES`): the ack window reconnects with
  backoff and sends the unacknowledged frames again;
- `ConfigError` (exit 78): only a setting here can fix it (TLS material that cannot be used, a
  receiver that requires a shared key none is configured for);
- `ForwardError` (exit 74): the receiver and we disagree (a certificate that does not verify, a
  shared key it refuses, a handshake it does not start).

TLS material is loaded and validated once, before the first connection (`tls_context`), and a
key is never asked a passphrase for: OpenSSL's "Enter PEM pass phrase:" prompt would block a
service or write to stderr.

Every wait is bounded by its own deadline and by the process's stop deadline once a stop is
requested (`signals.stop_deadline`): a receiver that stopped reading cannot hold a stop up.
"""

from __future__ import annotations

import hashlib
import os
import select
import socket
import ssl
import time
from typing import Any, Callable

import msgpack

from .errors import ConfigError, OutputError
from .forward_frames import ForwardTarget, Frame
from .signals import stop_deadline

__all__ = [
    "Connection",
    "ForwardError",
    "Reconnect",
    "Silent",
    "tls_context",
    "HELO_WAIT_S",
    "HELO_PEEK_S",
    "MAX_ANSWER_BYTES",
]

#: How long to wait for a receiver's HELO when a shared key is set.
HELO_WAIT_S = 5.0
#: How long `check` listens for a HELO nobody configured a shared key for.
HELO_PEEK_S = 0.5
#: The longest answer a receiver may send (acks and handshake messages are a few dozen bytes).
MAX_ANSWER_BYTES = 1 << 20
_SLICE_S = 0.2  # how often a blocked read or write looks at the stop flag
_SHARED_KEY = "DOCUSIGN_FORWARD_SHARED_KEY"


class ForwardError(OutputError):
    """The receiver cannot be reached or does not acknowledge, after the retry budget, or refuses
    us. Exit 74."""


class Reconnect(Exception):
    """This connection is done for (closed, reset, refused, silent, garbled): reconnect."""


class Silent(Reconnect):
    """No answer before the deadline."""


class StopDeadline(Reconnect):
    """The stop deadline came while a write or a read was still waiting."""


def _never() -> bool:
    return False


def tls_context(target: ForwardTarget) -> ssl.SSLContext | None:
    """Verified TLS (the system CAs, or REQUESTS_CA_BUNDLE, a file or a directory) with the
    client certificate loaded; None for plain ``forward://``. ConfigError (exit 78) for material
    that cannot be used: a missing or unreadable file, an encrypted key, a key that does not
    match its certificate. Never prompts for a passphrase."""
    if not target.tls:
        return None
    bundle = target.ca_bundle
    try:
        if bundle and os.path.isdir(bundle):
            context = ssl.create_default_context(capath=bundle)
        else:
            context = ssl.create_default_context(cafile=bundle or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"the CA bundle {bundle} cannot be used to verify the forward receiver "
            f"({_reason(exc)})",
            "point REQUESTS_CA_BUNDLE at a PEM file (or directory) of CA certificates",
        ) from None
    if not target.client_cert_file:
        return context
    asked: list[bool] = []

    def no_passphrase() -> bytes:
        asked.append(True)
        return b""  # never a prompt: an encrypted key fails to load instead

    cert, key = target.client_cert_file, target.client_key_file or target.client_cert_file
    try:
        context.load_cert_chain(cert, target.client_key_file or None, password=no_passphrase)
    except (OSError, ssl.SSLError) as exc:
        text = _reason(exc)
        if asked:
            raise ConfigError(
                f"the forward client key {key} is encrypted; a service cannot type its "
                "passphrase",
                f"export it without one: openssl pkey -in {key} -out plain-key.pem (chmod 600), "
                "and set DOCUSIGN_FORWARD_TLS_KEY_FILE to it",
            ) from None
        if "KEY_VALUES_MISMATCH" in text.upper().replace(" ", "_"):
            raise ConfigError(
                f"the forward client key {key} does not belong to the certificate {cert}",
                "set DOCUSIGN_FORWARD_TLS_CERT_FILE and DOCUSIGN_FORWARD_TLS_KEY_FILE to a "
                "certificate and the key it was issued for",
            ) from None
        raise ConfigError(
            f"the forward client certificate {cert} or key {key} cannot be used ({text})",
            "give a PEM certificate in DOCUSIGN_FORWARD_TLS_CERT_FILE and its unencrypted PEM "
            "key in DOCUSIGN_FORWARD_TLS_KEY_FILE",
        ) from None
    return context


class Connection:
    """One TCP (or TLS) connection, authenticated if a shared key is set."""

    def __init__(
        self,
        target: ForwardTarget,
        context: ssl.SSLContext | None,
        stopping: Callable[[], bool] = _never,
    ) -> None:
        self.target = target
        self.context = context
        # Fluent Bit sends the HELO nonce as a msgpack *str* of random bytes: keep them as they
        # are (surrogateescape) instead of failing to decode them as UTF-8.
        self.unpacker = msgpack.Unpacker(
            raw=False, unicode_errors="surrogateescape", strict_map_key=False,
            max_buffer_size=MAX_ANSWER_BYTES,
        )
        self.sock = self._open(stopping)

    def _open(self, stopping: Callable[[], bool]) -> socket.socket:
        target = self.target
        timeout = target.connect_timeout_s
        if stopping():
            timeout = max(0.05, min(timeout, stop_deadline() - time.monotonic()))
        try:
            raw = socket.create_connection((target.host, target.port), timeout=timeout)
        except OSError as exc:
            raise Reconnect(_reason(exc)) from None
        sock: socket.socket = raw
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.context is not None:
                sock = self.context.wrap_socket(raw, server_hostname=target.host)
            sock.settimeout(_SLICE_S)
            self.sock = sock
            if target.shared_key is not None:
                self._handshake(stopping)
        except ssl.SSLCertVerificationError as exc:
            raw.close()
            raise ForwardError(
                f"the forward receiver {target.url} has a certificate that does not verify "
                f"({exc.verify_message or exc.reason})",
                "give the CA that signed it in REQUESTS_CA_BUNDLE, or fix the host name in "
                "the output URL to match the certificate",
            ) from None
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise Reconnect(_reason(exc)) from None
        except BaseException:
            sock.close()
            raise
        return sock

    # Fluentd forward protocol v1, handshake phase: HELO from the server, PING from us, PONG back.
    def _handshake(self, stopping: Callable[[], bool]) -> None:
        target = self.target
        assert target.shared_key is not None
        key = target.shared_key.reveal().encode("utf-8")
        # A receiver with a shared key sends HELO at once on accepting the connection.
        deadline = time.monotonic() + min(target.connect_timeout_s, HELO_WAIT_S)
        try:
            helo = self.read_message(deadline, "the shared-key handshake (HELO)", stopping)
        except Silent:
            helo = None
        if not _is_helo(helo):
            raise ForwardError(
                f"the forward receiver {target.url} did not start the shared-key handshake",
                "set the same shared_key on the receiver's forward input, or unset "
                f"{_SHARED_KEY}",
            )
        nonce = _as_bytes(helo[1].get("nonce", b""))
        # HELO may carry an `auth` salt for user/password authentication (Fluent Bit sends one
        # even without `security.users`); we authenticate by shared key only, so the user and
        # password fields stay empty and a receiver that requires users says so in its PONG.
        salt = os.urandom(16).hex()  # Fluent Bit takes the salt only as a msgpack str
        me = target.self_hostname.encode("utf-8")
        digest = hashlib.sha512(salt.encode() + me + nonce + key).hexdigest()
        self.send(msgpack.packb(["PING", target.self_hostname, salt, digest, "", ""]), deadline,
                  stopping)
        try:
            pong = self.read_message(deadline, "the shared-key handshake (PONG)", stopping)
        except StopDeadline:
            raise
        except Reconnect:
            # Fluent Bit closes the connection instead of answering PONG when the key is wrong.
            raise ForwardError(
                f"the forward receiver {target.url} closed the connection after the shared-key "
                "PING: it refused the key",
                f"set {_SHARED_KEY}(_FILE) to the shared_key of its forward input",
            ) from None
        if not (isinstance(pong, list) and len(pong) == 5 and pong[0] == "PONG"):
            raise Reconnect("the receiver answered the handshake with something else than PONG")
        if pong[1] is not True:
            raise ForwardError(
                f"the forward receiver {target.url} refused the shared key ({pong[2]})",
                f"set {_SHARED_KEY}(_FILE) to the shared_key of its forward input",
            )
        server = _as_bytes(pong[3])
        if pong[4] != hashlib.sha512(salt.encode() + server + nonce + key).hexdigest():
            raise ForwardError(
                f"the forward receiver {target.url} does not know the shared key (its answer "
                "does not prove it)",
                "check that the output URL points at your receiver and both sides use the "
                "same shared key",
            )

    def needs_shared_key(self, wait_s: float = HELO_PEEK_S) -> None:
        """ConfigError if the receiver starts a shared-key handshake we have no key for (it
        sends HELO at once on accepting). For `check`: `run` finds out from the first answer."""
        if self.target.shared_key is not None:
            return
        try:
            message = self.read_message(time.monotonic() + wait_s, "a HELO")
        except Reconnect:
            return
        self._refuse_unasked_helo(message)

    def _refuse_unasked_helo(self, message: Any) -> None:
        if _is_helo(message):
            raise ConfigError(
                f"the forward receiver {self.target.url} requires a shared key (it started the "
                "shared-key handshake) and none is configured",
                f"set {_SHARED_KEY} (or {_SHARED_KEY}_FILE) to the shared_key of its forward "
                "input",
            )

    def read_message(
        self, deadline: float, what: str, stopping: Callable[[], bool] = _never
    ) -> Any:
        """The receiver's next msgpack message; Reconnect when the bytes are not msgpack or
        an unfinished message outgrows `MAX_ANSWER_BYTES`."""
        while True:
            try:
                for message in self.unpacker:
                    return message
            except (ValueError, msgpack.UnpackException) as exc:
                raise Reconnect(
                    f"the receiver sent bytes that are not a forward protocol message "
                    f"({type(exc).__name__})"
                ) from None
            self._fill(deadline, what, stopping)

    def _fill(self, deadline: float, what: str, stopping: Callable[[], bool]) -> None:
        """Read more bytes into the unpacker; Reconnect on EOF, error or the deadline (which a
        stop request brings forward to the stop deadline)."""
        stop_at: float | None = None
        while True:
            if stop_at is None and stopping():
                stop_at = stop_deadline()
            now = time.monotonic()
            if stop_at is not None and now >= stop_at:
                raise StopDeadline(f"stopping: no answer while waiting for {what}")
            if now >= deadline:
                raise Silent(f"no answer within the timeout while waiting for {what}")
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except (OSError, ssl.SSLError) as exc:
                raise Reconnect(_reason(exc)) from None
            if not data:
                raise Reconnect("the receiver closed the connection")
            try:
                self.unpacker.feed(data)
            except msgpack.BufferFull:
                raise Reconnect(
                    f"the receiver sent more than {MAX_ANSWER_BYTES} bytes without finishing a "
                    "message"
                ) from None
            return

    def send(self, data: bytes, deadline: float, stopping: Callable[[], bool] = _never) -> None:
        """Write it all before the deadline or the stop deadline; Reconnect otherwise."""
        view = memoryview(data)
        stop_at: float | None = None
        while view:
            if stop_at is None and stopping():
                stop_at = stop_deadline()
            now = time.monotonic()
            if stop_at is not None and now >= stop_at:
                raise StopDeadline("stopping: the receiver was not reading")
            if now >= deadline:
                raise Reconnect("the receiver stopped reading (send timed out)")
            try:
                sent = self.sock.send(view)
            except (socket.timeout, ssl.SSLWantWriteError):
                continue
            except (OSError, ssl.SSLError) as exc:
                raise Reconnect(_reason(exc)) from None
            view = view[sent:]

    def send_frames(self, frames: list[Frame], stopping: Callable[[], bool] = _never) -> None:
        deadline = time.monotonic() + self.target.ack_timeout_s
        for frame in frames:
            self.send(frame.data, deadline, stopping)

    def read_ack(self, deadline: float, stopping: Callable[[], bool]) -> str:
        """The chunk of the next acknowledgement; Reconnect when the answer is anything else,
        ConfigError when it is a shared-key handshake nobody configured a key for."""
        answer = self.read_message(deadline, "the acknowledgement", stopping)
        if isinstance(answer, dict) and isinstance(answer.get("ack"), str):
            return str(answer["ack"])
        if answer == {}:
            raise Reconnect("the receiver did not accept the events (it answered {})")
        self._refuse_unasked_helo(answer)
        raise Reconnect(f"the receiver answered {str(answer)[:60]!r} instead of an "
                        "acknowledgement")

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


def _is_helo(message: Any) -> bool:
    return (isinstance(message, list) and len(message) == 2 and message[0] == "HELO"
            and isinstance(message[1], dict))


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return str(value).encode("utf-8", "surrogateescape")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)
