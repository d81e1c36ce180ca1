"""The DocuSign endpoints: account server (JWT Grant, userinfo, consent) and both Monitor streams.

Both hosts are served from one base URL, so a connector points its auth URL and its Monitor URL at
the same place. Choices where DocuSign's behaviour is unconfirmed are documented in
``docs/simulator.md``.
"""

from __future__ import annotations

import html
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Set
from urllib.parse import parse_qsl

from .auth import Accounts
from .ratelimit import RateLimiter
from .store import CursorError, EventLog
from .wire import JSON_TYPE, Request, Response, json_response

__all__ = ["DocuSignApi", "Served", "Tenant", "AnswerShape", "LEGACY_STREAM", "CURRENT_STREAM"]

LEGACY_STREAM = "/api/v2.0/datasets/monitor/stream"
CURRENT_STREAM = re.compile(r"/v1/organizations/([^/]+)/stream\Z")
_DEFAULT_LIMIT = 1000
_MAX_LIMIT = 2000


@dataclass
class Tenant:
    """The one DocuSign account and organization the simulator plays."""

    account_id: str
    organization_id: str
    account_name: str
    #: Who consents when the consent page is opened without a ``user_id``.
    admin_user_id: str = ""
    base_url: str = ""
    audiences: Set[str] = field(default_factory=set)
    monitor_enabled: bool = True


@dataclass
class Served:
    """One organization as the API serves it: its account, event log and rate limits, and what
    it was asked (for tests and benchmarks: per-organization polls)."""

    tenant: Tenant
    log: EventLog
    limiter: RateLimiter
    #: Monitor answers 200 to this organization's stream requests unless set (503, 500, ...).
    forced_status: int | None = None
    #: The Retry-After sent with ``forced_status`` (a 429 or 503 asking to wait).
    retry_after_s: int | None = None
    stream_requests: int = 0
    #: Clock times of the stream requests answered 200, newest last (bounded).
    poll_times: list[float] = field(default_factory=list)

    MAX_POLL_TIMES = 1000

    def polled(self, at: float) -> None:
        times = self.poll_times
        times.append(at)
        if len(times) > self.MAX_POLL_TIMES:
            del times[: len(times) - self.MAX_POLL_TIMES]


class AnswerShape:
    """How a busy organization's Monitor answers look (the "busy" profile): some pages in the
    middle of a backlog shorter than the limit asked for, and a latency per answer. Seeded, so
    the same requests get the same shapes; the quiet profile is all zeros (full pages, at once)."""

    def __init__(self, seed: int, short_page_share: float = 0.0, latency_s: float = 0.0):
        self._rng = random.Random(f"answers-{seed}")
        self._lock = threading.Lock()
        self.short_page_share = short_page_share
        self.latency_s = latency_s

    def short_limit(self, limit: int) -> int | None:
        """A smaller limit for this answer, when it is to be a short one (None: as asked)."""
        if self.short_page_share <= 0 or limit < 2:
            return None
        with self._lock:
            if self._rng.random() >= self.short_page_share:
                return None
            return 1 + int(self._rng.random() * (limit - 1))

    def latency(self) -> float:
        if self.latency_s <= 0:
            return 0.0
        with self._lock:
            return self.latency_s * (0.5 + self._rng.random())


class DocuSignApi:
    """Routes DocuSign paths to answers; returns None for paths DocuSign does not have.

    One server plays any number of organizations: a user belongs to one (``organization_of``),
    and its token, userinfo, stream, rate limits and events are that organization's. Without
    ``organization_of`` every user is the primary organization's (the one-organization case).
    """

    def __init__(
        self,
        tenant: Tenant,
        accounts: Accounts,
        log: EventLog,
        limiter: RateLimiter,
        organization_of: Callable[[str], Served | None] | None = None,
        shape: AnswerShape | None = None,
    ):
        self.primary = Served(tenant, log, limiter)
        self.accounts = accounts
        self._organization_of = organization_of or (lambda user_id: None)
        self.shape = shape if shape is not None else AnswerShape(0)

    @property
    def tenant(self) -> Tenant:
        return self.primary.tenant

    def served(self, user_id: str | None) -> Served:
        found = self._organization_of(user_id) if user_id else None
        return found or self.primary

    def handle(self, request: Request, back_up: int = 0) -> Response | None:
        path, method = request.path, request.method
        if path == "/oauth/token":
            return self._token(request) if method == "POST" else _not_allowed()
        if path == "/oauth/userinfo":
            return self._userinfo(request) if method == "GET" else _not_allowed()
        if path == "/oauth/auth":
            return self._consent_page(request)
        if path == LEGACY_STREAM:
            return self._stream(request, None, back_up) if method == "GET" else _not_allowed()
        match = CURRENT_STREAM.match(path)
        if match:
            return (
                self._stream(request, match.group(1), back_up)
                if method == "GET"
                else _not_allowed()
            )
        return None

    # -- account server ------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        audiences = set(self.tenant.audiences)
        if request.header("host"):
            audiences.add(str(request.header("host")))
        status, body = self.accounts.exchange(form, audiences)
        return json_response(status, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _userinfo(self, request: Request) -> Response:
        user, why = self.accounts.bearer_user(request.header("authorization"))
        if user is None:
            return _unauthorized(why)
        tenant = self.served(user.user_id).tenant
        return json_response(
            200,
            {
                "sub": user.user_id,
                "name": user.name,
                "given_name": user.name.split(" ")[0],
                "family_name": user.name.split(" ")[-1],
                "created": "2021-03-04T10:11:12.13",
                "email": user.email,
                "accounts": [
                    {
                        "account_id": tenant.account_id,
                        "is_default": True,
                        "account_name": tenant.account_name,
                        "base_uri": tenant.base_url,
                        "organization": {"organization_id": tenant.organization_id, "links": []},
                    }
                ],
            },
        )

    def _consent_page(self, request: Request) -> Response:
        """The browser consent page; ``grant=1`` stands in for the admin clicking "Allow"."""
        client_id = request.query.get("client_id", "")
        if request.query.get("grant") == "1" and client_id:
            user_id = request.query.get("user_id") or request.query.get("login_hint", "")
            self.accounts.set_consent(client_id, user_id or self.tenant.admin_user_id, True)
            text = f"<p>Consent granted to {html.escape(client_id)}.</p>"
        else:
            text = (
                f"<p>{html.escape(client_id or 'An application')} requests "
                f"{html.escape(request.query.get('scope', ''))}.</p>"
                "<p>Add <code>&amp;grant=1</code> to the URL to allow.</p>"
            )
        page = (
            "<!doctype html><html><head><title>DocuSign consent</title></head>"
            f"<body>{text}</body></html>"
        )
        return Response(200, page.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})

    # -- Monitor -------------------------------------------------------------------------

    def _stream(self, request: Request, organization_id: str | None, back_up: int) -> Response:
        legacy = organization_id is None
        user, why = self.accounts.bearer_user(request.header("authorization"))
        served = self.served(user.user_id if user else None)
        served.stream_requests += 1
        decision = served.limiter.take()
        headers = {"api-supported-versions": "2.0", **decision.headers}
        if not decision.allowed:
            headers["Retry-After"] = str(decision.retry_after_s)
            return json_response(
                429,
                {
                    "error": "too_many_requests",
                    "error_description": "API request limit exceeded; see Retry-After",
                },
                headers,
            )
        if user is None:
            response = _unauthorized(why)
            response.headers.update(headers)
            return response
        if served.forced_status is not None:
            if served.retry_after_s is not None:
                headers["Retry-After"] = str(served.retry_after_s)
            return json_response(
                served.forced_status,
                {"error": "server_error",
                 "error_description": f"this organization answers HTTP {served.forced_status}"},
                headers,
            )
        if not legacy and organization_id != served.tenant.organization_id:
            return json_response(
                404,
                {
                    "error": "not_found",
                    "error_description": f"organization {organization_id} not found",
                },
                headers,
            )
        refusal = self._refusal(served.tenant, user.org_admin, user.organizations)
        if refusal:
            if legacy:  # the lens host answers 403 with an empty body
                return Response(403, b"", headers)
            return json_response(403, {"error": "forbidden", "error_description": refusal}, headers)
        limit = _limit(request.query.get("limit"))
        if limit is None:
            return json_response(
                400,
                {
                    "error": "invalid_request",
                    "error_description": f"limit must be an integer from 1 to {_MAX_LIMIT}",
                },
                headers,
            )
        cursor = request.query.get("cursor", "")
        if " " in cursor and "T" in cursor:  # an unescaped '+' in a UTC offset arrives as ' '
            cursor = cursor.replace(" ", "+")
        delay = self.shape.latency()
        if delay:
            time.sleep(delay)
        try:
            page = served.log.page(cursor, limit, back_up)
            shorter = self.shape.short_limit(limit) if len(page.events) == limit else None
            if shorter is not None:  # the middle of a backlog: a full page was there
                page = served.log.page(cursor, shorter, back_up)
        except CursorError as exc:
            return json_response(
                400, {"error": "invalid_cursor", "error_description": str(exc)}, headers
            )
        key = b"data" if legacy else b"resultData"
        body = b'{"endCursor":%s,"%s":[%s]}' % (
            json.dumps(page.end_cursor).encode(),
            key,
            b",".join(page.events),
        )
        headers["Content-Type"] = JSON_TYPE
        served.polled(self.accounts.clock())
        return Response(200, body, headers, chunked=legacy)

    def _refusal(self, tenant: Tenant, org_admin: bool, organizations: int) -> str:
        if not tenant.monitor_enabled:
            return "Monitor is not enabled for this organization"
        if not org_admin or organizations < 1:
            return "the user is not an administrator of an organization"
        if organizations > 1:
            return "the user administers more than one organization"
        return ""


def _limit(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return _DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 1 <= value <= _MAX_LIMIT else None


def _unauthorized(why: str) -> Response:
    return json_response(
        401,
        {"error": "invalid_token", "error_description": why},
        {"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _not_allowed() -> Response:
    return json_response(405, {"error": "method_not_allowed"})
