"""The request and response values passed between the HTTP server and the endpoint logic."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict

__all__ = ["Request", "Response", "json_response", "JSON_TYPE"]

JSON_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]  # lower-case names
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: Dict[str, str] = field(default_factory=dict)
    #: Send with ``Transfer-Encoding: chunked`` as the legacy Monitor host does.
    chunked: bool = False


def json_response(status: int, value: Any, headers: Dict[str, str] | None = None) -> Response:
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(status, body, {"Content-Type": JSON_TYPE, **(headers or {})})
