"""The HTTP/1.1 server on loopback: keep-alive, trace tokens, recording, and fault delivery.

Endpoint logic lives in ``api`` (DocuSign) and ``control`` (the admin plane); this module owns what
happens on the wire, which is also where most injected faults act.
"""

from __future__ import annotations

import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any, Callable, Dict, List, Optional, Set, Tuple
from urllib.parse import parse_qsl, urlsplit

from .faults import Fault, FaultPlan
from .wire import JSON_TYPE, Request, Response, json_response

__all__ = ["RecordedRequest", "Dispatcher", "SimulatorHTTPServer", "ADMIN_PREFIX"]

ADMIN_PREFIX = "/__simulator__/"
_STREAM_PATHS = ("/api/v2.0/datasets/monitor/stream", "/v1/organizations/")


@dataclass(frozen=True)
class RecordedRequest:
    """What a connector sent; the Authorization value is never kept, only whether it was there."""

    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, Any]  # {"Authorization": bool, "Content-Type": str|None, "User-Agent": ...}
    status: int  # 0 when the connection was reset before any status was sent
    fault: str | None = None

    def to_json(self) -> Dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "status": self.status,
            "fault": self.fault,
        }


Handler = Callable[[Request, int], Optional[Response]]


class Dispatcher:
    """Chooses the fault, calls the endpoint logic, and keeps the request record and counters."""

    def __init__(self, api: Handler, control: Callable[[Request], Response], faults: FaultPlan):
        self._api = api
        self._control = control
        self.faults = faults
        self._lock = threading.Lock()
        self.requests: List[RecordedRequest] = []
        self.token_requests = 0
        self.stream_requests = 0

    def route(self, request: Request) -> Tuple[Response, Fault | None]:
        """The answer to send and the fault the transport must still apply (if any)."""
        if request.path.startswith(ADMIN_PREFIX):
            return self._control(request), None
        with self._lock:
            if request.path == "/oauth/token":
                self.token_requests += 1
            elif request.path.startswith(_STREAM_PATHS):
                self.stream_requests += 1
        fault = self.faults.pick(request.path)
        kind = fault.kind if fault else ""
        if kind in ("http_500", "http_502", "http_503"):
            status = int(kind[-3:])
            return json_response(
                status, {"error": "server_error", "error_description": f"injected HTTP {status}"}
            ), fault
        if kind == "http_429":
            retry_after = str(fault.params.get("retry_after", 1)) if fault else "1"
            return json_response(
                429,
                {"error": "too_many_requests", "error_description": "injected rate limit"},
                {"Retry-After": retry_after},
            ), fault
        if kind == "malformed_json":  # a proxy's error page mislabelled as JSON
            body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            return Response(200, body, {"Content-Type": JSON_TYPE}), fault
        if kind == "slow" and fault:
            time.sleep(float(fault.params.get("delay_s", 2.0)))
        back_up = int(fault.params.get("overlap", 3)) if fault and kind == "repeat_previous" else 0
        response = self._api(request, back_up)
        if response is None:
            response = json_response(
                404, {"error": "not_found", "error_description": f"no such path {request.path}"}
            )
        if kind == "headers" and fault:  # the normal answer with some headers of the test's
            response.headers.update({str(k): str(v) for k, v in fault.params["set"].items()})
        return response, fault

    def record(self, request: Request, status: int, fault: Fault | None) -> None:
        if request.path.startswith(ADMIN_PREFIX):
            return
        headers = {
            "Authorization": "authorization" in request.headers,
            "Content-Type": request.header("content-type"),
            "User-Agent": request.header("user-agent"),
        }
        entry = RecordedRequest(
            request.method,
            request.path,
            dict(request.query),
            headers,
            status,
            fault.kind if fault else None,
        )
        with self._lock:
            self.requests.append(entry)


class SimulatorHTTPServer(ThreadingHTTPServer):
    """Threaded server that does not wait for keep-alive clients when it stops."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        address: Tuple[str, int],
        dispatcher: Dispatcher,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.dispatcher = dispatcher
        self.ssl_context = ssl_context
        self._connections: Set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), which can stall for seconds on odd resolvers.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def get_request(self) -> Tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        if self.ssl_context is not None:  # handshake later, in the handler thread
            conn = self.ssl_context.wrap_socket(
                conn, server_side=True, do_handshake_on_connect=False
            )
        return conn, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (or being reset) are normal; anything else is a simulator bug."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, ssl.SSLError)):
            super().handle_error(request, client_address)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            (self._connections.add if alive else self._connections.discard)(conn)

    def close_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections so they end."""
        with self._connections_lock:
            for conn in list(self._connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: SimulatorHTTPServer

    def version_string(self) -> str:
        return "Kestrel"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _serve(self) -> None:
        request = self._read_request()
        dispatcher = self.server.dispatcher
        try:
            response, fault = dispatcher.route(request)
        except Exception as exc:  # a simulator bug must still answer, and say so
            traceback.print_exc(file=sys.stderr)
            response, fault = (
                json_response(500, {"error": "simulator_error", "error_description": repr(exc)}),
                None,
            )
        kind = fault.kind if fault else ""
        dispatcher.record(request, 0 if kind == "reset_before" else response.status, fault)
        try:
            if kind == "reset_before":
                self._reset()
            elif kind == "reset_mid":
                self._send(response, cut_to=max(1, len(response.body) // 2), chunked=False)
                self._reset()
            elif kind == "truncated_json":
                response.body = response.body[: max(1, len(response.body) // 2)]
                response.headers["Connection"] = "close"
                self.close_connection = True
                self._send(response, cut_to=None, chunked=response.chunked)
            else:
                self._send(response, cut_to=None, chunked=response.chunked)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _read_request(self) -> Request:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        return Request(self.command, url.path, query, headers, body)

    def _send(self, response: Response, cut_to: int | None, chunked: bool) -> None:
        """Write the answer; ``cut_to`` sends only that many body bytes (the connection dies)."""
        self.send_response(response.status)
        self.send_header("X-DocuSign-TraceToken", str(uuid.uuid4()))
        for name, value in response.headers.items():
            self.send_header(name, value)
        body = response.body
        if chunked and body:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n" % len(body))
            self.wfile.write(body)
            self.wfile.write(b"\r\n0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if cut_to is None else body[:cut_to])

    def _reset(self) -> None:
        """Abort with a TCP reset (SO_LINGER 0), as a crashing proxy would."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
