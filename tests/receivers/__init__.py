"""Test receivers that speak the wire protocols our pipelines send to.

Each receiver is a real server on 127.0.0.1 (port chosen by the OS), run in a thread, used as a
context manager, and records what it was sent::

    with SplunkHecReceiver(token="t0k3n") as hec:
        post(hec.url + "/services/collector/event", ...)
        hec.wait_for(3)
        hec.events  # the HEC envelopes, in arrival order

- :class:`SplunkHecReceiver`: ``POST /services/collector/event`` (body: JSON objects concatenated
  without separators, gzip allowed), ``Authorization: Splunk <token>``, answers
  ``{"text":"Success","code":0}``; ``GET /services/collector/health/1.0``.
- :class:`ElasticsearchReceiver`: ``GET /`` (version info, for ``api_version: auto``),
  ``GET /_cluster/health``, ``POST /_bulk`` (NDJSON action/document pairs) with per-item results,
  ``_id`` de-duplication (``create`` of an existing ``_id`` -> 409, ``index`` overwrites).
- :class:`LokiReceiver`: ``POST /loki/api/v1/push`` JSON (gzip allowed) -> 204; protobuf is refused
  with 415 so that a pipeline sending snappy/protobuf is noticed; ``GET /ready``.
- :class:`ForwardReceiver`: Fluentd forward protocol over TCP (msgpack): Message
  ``[tag, time, record(, option)]``, Forward ``[tag, [[time, record], ...](, option)]`` and
  PackedForward ``[tag, bin(, option)]`` (gzip too); EventTime (ext type 0) decoded to
  ``(sec, nsec)``; acks when the option carries ``chunk``, or misbehaves as scripted (answers
  ``{}``, closes, resets mid-frame, never answers); TLS with client certificates.

Nothing here imports the connector: other test suites may use these receivers freely.
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
import socketserver
import ssl
import struct
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Deque, Dict, Iterable, List, Tuple, Union

import msgpack

__all__ = [
    "ElasticsearchReceiver",
    "ForwardReceiver",
    "ForwardEntry",
    "FORWARD_BEHAVIOURS",
    "LokiReceiver",
    "ReceivedRequest",
    "SplunkHecReceiver",
    "EventTime",
    "parse_concatenated_json",
]


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes  # decompressed
    status: int


def parse_concatenated_json(text: str) -> List[Any]:
    """Split a body of JSON values written one after another (HEC style), whitespace allowed."""
    decoder = json.JSONDecoder()
    values: List[Any] = []
    pos = 0
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        if pos >= n:
            return values
        value, pos = decoder.raw_decode(text, pos)
        values.append(value)


def _decompress(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


class _Recorder:
    """Shared bookkeeping: a lock, a condition to wait on, the list of requests."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.requests: List[ReceivedRequest] = []

    _server: Any  # a socketserver server, started on a thread by __enter__
    _thread: threading.Thread

    def __enter__(self):  # type: ignore[no-untyped-def]
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _wait(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{type(self).__name__}: timed out waiting for {what}")
                self._cond.wait(left)


class _HttpReceiver(_Recorder):
    """A ThreadingHTTPServer on 127.0.0.1 whose handler calls ``self.handle(...)``. ``port`` 0
    lets the OS choose (a test restarts a receiver on the port it had); ``delay_s`` holds each
    answer back that long, as a slow destination does."""

    def __init__(self, port: int = 0, delay_s: float = 0.0) -> None:
        super().__init__()
        self.delay_s = delay_s
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    body = _decompress(raw, headers.get("content-encoding", ""))
                except (ValueError, OSError, zlib.error) as exc:
                    status, ctype, payload = 400, "text/plain", str(exc).encode()
                else:
                    if receiver.delay_s:
                        time.sleep(receiver.delay_s)
                    status, ctype, payload = receiver.handle(
                        self.command, self.path, headers, body
                    )
                receiver._record(
                    ReceivedRequest(self.command, self.path, headers, body, status)
                )
                self.send_response(status)
                if status != 204:
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if status != 204 and self.command != "HEAD":
                    self.wfile.write(payload)
                receiver._notify()

            do_GET = do_POST = do_PUT = do_HEAD = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- to override -----------------------------------------------------------------------
    def _record(self, request: ReceivedRequest) -> None:
        with self._cond:
            self.requests.append(request)

    def handle(
        self, method: str, path: str, headers: Dict[str, str], body: bytes
    ) -> Tuple[int, str, bytes]:
        raise NotImplementedError


def _json(status: int, obj: Any) -> Tuple[int, str, bytes]:
    return status, "application/json", json.dumps(obj, separators=(",", ":")).encode()


class SplunkHecReceiver(_HttpReceiver):
    """Splunk HTTP Event Collector, event endpoint. ``events`` holds the accepted envelopes."""

    def __init__(self, token: str = "00000000-0000-0000-0000-000000000000", **server: Any) -> None:
        super().__init__(**server)
        self.token = token
        self.events: List[Dict[str, Any]] = []

    def handle(self, method, path, headers, body):  # type: ignore[no-untyped-def]
        route = path.split("?", 1)[0].rstrip("/")
        if method == "GET" and route == "/services/collector/health/1.0":
            return _json(200, {"text": "HEC is healthy", "code": 17})
        if route not in ("/services/collector/event", "/services/collector/event/1.0",
                         "/services/collector"):
            return _json(404, {"text": "The requested URL was not found on this server.",
                               "code": 404})
        if method != "POST":
            return _json(405, {"text": "Method not allowed", "code": 405})
        auth = headers.get("authorization", "")
        if not auth:
            return _json(401, {"text": "Token is required", "code": 2})
        if auth != f"Splunk {self.token}":
            return _json(403, {"text": "Invalid token", "code": 4})
        try:
            envelopes = parse_concatenated_json(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _json(400, {"text": "Invalid data format", "code": 6})
        if not envelopes:
            return _json(400, {"text": "No data", "code": 5})
        for i, env in enumerate(envelopes):
            if not isinstance(env, dict) or "event" not in env:
                return _json(400, {"text": "Event field is required", "code": 12,
                                   "invalid-event-number": i})
            if env["event"] in ("", None):
                return _json(400, {"text": "Event field cannot be blank", "code": 13,
                                   "invalid-event-number": i})
        with self._cond:
            self.events.extend(envelopes)
        return _json(200, {"text": "Success", "code": 0})

    def wait_for(self, n: int, timeout_s: float = 10.0) -> List[Dict[str, Any]]:
        self._wait(lambda: len(self.events) >= n, timeout_s, f"{n} HEC events")
        return list(self.events)


class ElasticsearchReceiver(_HttpReceiver):
    """Elasticsearch 8 bulk API. ``documents`` maps ``(index, _id)`` to the stored source;
    ``actions`` lists every ``(op, meta, source)`` received, in order."""

    VERSION = "8.15.0"

    def __init__(self, user: str | None = None, password: str | None = None,
                 **server: Any) -> None:
        super().__init__(**server)
        self.user, self.password = user, password
        self.documents: Dict[Tuple[str, str], Dict[str, Any]] = {}
        self.actions: List[Tuple[str, Dict[str, Any], Dict[str, Any] | None]] = []
        self.templates: Dict[str, Any] = {}  # PUT _index_template/NAME, by name
        self._auto_id = 0

    def _authorized(self, headers: Dict[str, str]) -> bool:
        if self.user is None:
            return True
        expected = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return headers.get("authorization", "") == f"Basic {expected}"

    def handle(self, method, path, headers, body):  # type: ignore[no-untyped-def]
        if not self._authorized(headers):
            return _json(401, {"error": {"type": "security_exception",
                                         "reason": "missing authentication credentials"},
                               "status": 401})
        route = path.split("?", 1)[0]
        if method in ("GET", "HEAD") and route in ("", "/"):
            return _json(200, {
                "name": "receiver", "cluster_name": "docusign-test",
                "cluster_uuid": "AAAAAAAAAAAAAAAAAAAAAA",
                "version": {"number": self.VERSION, "build_flavor": "default",
                            "lucene_version": "9.11.1",
                            "minimum_wire_compatibility_version": "7.17.0",
                            "minimum_index_compatibility_version": "7.0.0"},
                "tagline": "You Know, for Search"})
        if method == "GET" and route == "/_cluster/health":
            return _json(200, {"cluster_name": "docusign-test", "status": "green"})
        parts = [p for p in route.split("/") if p]
        if method == "PUT" and len(parts) == 2 and parts[0] == "_index_template":
            try:
                template = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                return _json(400, {"error": {"type": "parse_exception", "reason": str(exc)},
                                   "status": 400})
            with self._cond:
                self.templates[parts[1]] = template
            return _json(200, {"acknowledged": True})
        if method in ("POST", "PUT") and parts and parts[-1] == "_bulk" and len(parts) <= 2:
            default_index = parts[0] if len(parts) == 2 else None
            return self._bulk(body, default_index)
        return _json(404, {"error": {"type": "no_handler", "reason": f"no handler for {route}"},
                           "status": 404})

    def _bulk(self, body: bytes, default_index: str | None) -> Tuple[int, str, bytes]:
        try:
            lines = [ln for ln in body.decode("utf-8").split("\n") if ln.strip()]
            parsed = [json.loads(ln) for ln in lines]
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _json(400, {"error": {"type": "parse_exception", "reason": str(exc)},
                               "status": 400})
        items: List[Dict[str, Any]] = []
        errors = False
        i = 0
        with self._cond:
            while i < len(parsed):
                action = parsed[i]
                if not isinstance(action, dict) or len(action) != 1:
                    return _json(400, {"error": {"type": "illegal_argument_exception",
                                                 "reason": f"malformed action line {i + 1}"},
                                       "status": 400})
                (op, meta), = action.items()
                if op not in ("index", "create", "update", "delete"):
                    return _json(400, {"error": {"type": "illegal_argument_exception",
                                                 "reason": f"unknown action [{op}]"},
                                       "status": 400})
                source = None
                if op != "delete":
                    if i + 1 >= len(parsed) or not isinstance(parsed[i + 1], dict):
                        return _json(400, {"error": {"type": "illegal_argument_exception",
                                                     "reason": "action without document"},
                                           "status": 400})
                    source = parsed[i + 1]
                    i += 2
                else:
                    i += 1
                meta = dict(meta or {})
                self.actions.append((op, meta, source))
                item = self._apply(op, meta, source, default_index)
                errors = errors or "error" in item
                items.append({op: item})
        return _json(200, {"took": 1, "errors": errors, "items": items})

    def _apply(self, op, meta, source, default_index):  # type: ignore[no-untyped-def]
        index = meta.get("_index") or default_index
        if not index:
            return {"status": 400, "error": {"type": "action_request_validation_exception",
                                             "reason": "index is missing"}}
        if "_type" in meta:
            return {"_index": index, "status": 400,
                    "error": {"type": "illegal_argument_exception",
                              "reason": "Action/metadata line contains an unknown parameter "
                                        "[_type]"}}
        doc_id = meta.get("_id")
        if doc_id is None:
            self._auto_id += 1
            doc_id = f"auto-{self._auto_id}"
        key = (index, str(doc_id))
        exists = key in self.documents
        if op == "create" and exists:
            return {"_index": index, "_id": doc_id, "status": 409,
                    "error": {"type": "version_conflict_engine_exception",
                              "reason": f"[{doc_id}]: version conflict, document already "
                                        "exists"}}
        if op == "delete":
            self.documents.pop(key, None)
            return {"_index": index, "_id": doc_id, "result": "deleted" if exists else
                    "not_found", "status": 200 if exists else 404}
        if op == "update":
            if not exists:
                return {"_index": index, "_id": doc_id, "status": 404,
                        "error": {"type": "document_missing_exception",
                                  "reason": f"[{doc_id}]: document missing"}}
            self.documents[key].update((source or {}).get("doc", {}))
            return {"_index": index, "_id": doc_id, "result": "updated", "status": 200}
        self.documents[key] = source or {}
        return {"_index": index, "_id": doc_id, "result": "updated" if exists else "created",
                "status": 200 if exists else 201}

    def wait_for(self, n: int, timeout_s: float = 10.0) -> Dict[Tuple[str, str], Dict[str, Any]]:
        self._wait(lambda: len(self.documents) >= n, timeout_s, f"{n} documents")
        return dict(self.documents)


class LokiReceiver(_HttpReceiver):
    """Loki push API, JSON flavour. ``entries`` holds ``(labels, ns_timestamp, line)``."""

    def __init__(self, **server: Any) -> None:
        super().__init__(**server)
        self.entries: List[Tuple[Dict[str, str], int, str]] = []

    def handle(self, method, path, headers, body):  # type: ignore[no-untyped-def]
        route = path.split("?", 1)[0]
        if method == "GET" and route == "/ready":
            return 200, "text/plain", b"ready\n"
        if route != "/loki/api/v1/push":
            return 404, "text/plain", b"404 page not found\n"
        if method != "POST":
            return 405, "text/plain", b"method not allowed\n"
        ctype = headers.get("content-type", "").split(";")[0].strip()
        if ctype != "application/json":
            return 415, "text/plain", (
                f"this receiver speaks the JSON push format only, got {ctype!r}\n".encode())
        try:
            payload = json.loads(body.decode("utf-8"))
            new = []
            for stream in payload["streams"]:
                labels = stream["stream"]
                if not isinstance(labels, dict) or not labels:
                    raise ValueError("stream without labels")
                for value in stream["values"]:
                    ts, line = value[0], value[1]
                    if not isinstance(ts, str) or not ts.isdigit():
                        raise ValueError(f"timestamp must be a string of digits, got {ts!r}")
                    if not isinstance(line, str):
                        raise ValueError("line must be a string")
                    new.append((dict(labels), int(ts), line))
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError) as exc:
            return 400, "text/plain", f"error parsing push request: {exc}\n".encode()
        with self._cond:
            self.entries.extend(new)
        return 204, "", b""

    def wait_for(self, n: int, timeout_s: float = 10.0) -> List[Tuple[Dict[str, str], int, str]]:
        self._wait(lambda: len(self.entries) >= n, timeout_s, f"{n} Loki entries")
        return list(self.entries)


# --- Fluentd forward protocol -------------------------------------------------------------


@dataclass(frozen=True)
class EventTime:
    """Forward protocol EventTime (msgpack ext type 0): seconds and nanoseconds."""

    seconds: int
    nanoseconds: int

    def to_ns(self) -> int:
        return self.seconds * 1_000_000_000 + self.nanoseconds


@dataclass(frozen=True)
class ForwardEntry:
    tag: str
    time: Union[EventTime, int, float]
    record: Dict[str, Any]
    option: Dict[str, Any] = field(default_factory=dict)


def _ext_hook(code: int, data: bytes) -> Any:
    if code == 0 and len(data) == 8:
        sec, nsec = struct.unpack(">II", data)
        return EventTime(sec, nsec)
    return msgpack.ExtType(code, data)


#: What a ForwardReceiver does with a frame (see its docstring).
FORWARD_BEHAVIOURS = ("ack", "silent", "empty", "close", "reset_mid")


class ForwardReceiver(_Recorder):
    """A Fluentd forward input on 127.0.0.1 (port 0: chosen by the OS). ``entries`` lists the
    :class:`ForwardEntry` it accepted (acknowledged, or sent without asking for an ack);
    ``refused`` those it read but did not accept.

    ``behaviours`` scripts how it treats the frames that ask for an ack, one word per frame in
    arrival order, then ``ack`` for the rest:

    - ``ack``: accept, answer ``{"ack": chunk}``;
    - ``silent``: read it, never answer (the client's ack timeout decides);
    - ``empty``: answer ``{}`` and close the connection (Vector when a sink failed);
    - ``close``: close without an answer;
    - ``reset_mid``: at the first bytes of the frame, reset the connection (RST) mid-frame.

    ``tls`` (a server ``ssl.SSLContext``) makes it a TLS receiver; ``peer_certificates`` then
    holds the subject of each client certificate presented.
    """

    def __init__(self, behaviours: Iterable[str] = (), *, tls: ssl.SSLContext | None = None,
                 port: int = 0) -> None:
        super().__init__()
        self.entries: List[ForwardEntry] = []
        self.refused: List[ForwardEntry] = []
        self.errors: List[str] = []
        self.connections = 0
        self.peer_certificates: List[Any] = []
        self.behaviours: Deque[str] = deque(behaviours)
        self._open: set = set()
        unknown = set(self.behaviours) - set(FORWARD_BEHAVIOURS)
        if unknown:
            raise ValueError(f"unknown behaviours {sorted(unknown)}")
        receiver = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                if tls is not None:
                    try:
                        sock = tls.wrap_socket(sock, server_side=True)
                    except (ssl.SSLError, OSError) as exc:
                        receiver._error(f"TLS handshake failed: {exc}")
                        return
                    receiver.peer_certificates.append(sock.getpeercert())
                with receiver._cond:
                    receiver.connections += 1
                    receiver._open.add(sock)
                unpacker = msgpack.Unpacker(ext_hook=_ext_hook, raw=False,
                                            strict_map_key=False, max_buffer_size=64 << 20)
                while True:
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    if receiver._next_is("reset_mid"):
                        receiver._take()
                        _reset(sock)
                        return
                    unpacker.feed(data)
                    for message in unpacker:
                        entries, chunk = receiver._decode(message)
                        if chunk is None:
                            receiver._keep(entries, accepted=True)
                            continue
                        behaviour = receiver._take()
                        receiver._keep(entries, accepted=behaviour == "ack")
                        if behaviour == "ack":
                            sock.sendall(msgpack.packb({"ack": chunk}))
                        elif behaviour == "empty":
                            sock.sendall(msgpack.packb({}))
                            return
                        elif behaviour in ("close", "reset_mid"):
                            return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __exit__(self, *exc: object) -> None:
        """Stop as a dying receiver does: every open connection is closed too."""
        super().__exit__(*exc)
        with self._cond:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._open.clear()

    def _next_is(self, behaviour: str) -> bool:
        with self._cond:
            return bool(self.behaviours) and self.behaviours[0] == behaviour

    def _take(self) -> str:
        with self._cond:
            return self.behaviours.popleft() if self.behaviours else "ack"

    def _error(self, text: str) -> None:
        with self._cond:
            self.errors.append(text)
            self._cond.notify_all()

    def _keep(self, entries: List[ForwardEntry], accepted: bool) -> None:
        with self._cond:
            (self.entries if accepted else self.refused).extend(entries)
            self._cond.notify_all()

    def _decode(self, message: Any) -> Tuple[List[ForwardEntry], str | None]:
        """The entries of one message and its chunk (None: no ack asked, or undecodable)."""
        try:
            if not isinstance(message, (list, tuple)) or len(message) < 2:
                raise ValueError(f"not a forward message: {message!r:.80}")
            tag = message[0]
            if not isinstance(tag, str):
                raise ValueError("tag must be a string")
            second = message[1]
            option: Dict[str, Any] = {}
            if isinstance(second, (list, tuple)):  # Forward mode
                option = message[2] if len(message) > 2 and message[2] else {}
                pairs = [(t, r) for t, r in second]
            elif isinstance(second, (bytes, bytearray)):  # PackedForward
                option = message[2] if len(message) > 2 and message[2] else {}
                payload = bytes(second)
                if option.get("compressed") == "gzip":
                    payload = gzip.decompress(payload)
                inner = msgpack.Unpacker(ext_hook=_ext_hook, raw=False)
                inner.feed(payload)
                pairs = [(t, r) for t, r in inner]
            else:  # Message mode
                if len(message) < 3:
                    raise ValueError("message mode needs [tag, time, record]")
                option = message[3] if len(message) > 3 and message[3] else {}
                pairs = [(second, message[2])]
            entries = []
            for t, record in pairs:
                if not isinstance(t, (EventTime, int, float)):
                    raise ValueError(f"bad time {t!r}")
                if not isinstance(record, dict):
                    raise ValueError("record must be a map")
                entries.append(ForwardEntry(tag, t, record, dict(option)))
        except (ValueError, TypeError, OSError) as exc:
            self._error(str(exc))
            return [], None
        chunk = option.get("chunk")
        return entries, chunk if isinstance(chunk, str) else None

    def wait_for(self, n: int, timeout_s: float = 10.0) -> List[ForwardEntry]:
        self._wait(lambda: len(self.entries) >= n, timeout_s, f"{n} forward entries")
        return list(self.entries)


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN, as a crashed peer's kernel does."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()
