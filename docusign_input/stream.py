"""The Monitor stream client: one request in, one `Page` (or one precise error) out.

It knows both API generations and DocuSign's status codes, and nothing of checkpoints or
retries: the sync loop decides what to do with each outcome. Every error carries the answer's
``X-DocuSign-TraceToken`` so that DocuSign support can find the request.
"""

from __future__ import annotations

import time
from typing import Any, Protocol
from urllib.parse import quote

import requests

from . import __version__, codec
from .engine import Page
from .errors import (
    AccessDenied,
    BadAnswer,
    ConfigError,
    CursorRejected,
    MonitorNotEnabled,
    RateLimited,
    TemporaryError,
    TlsFailure,
    TokenRejected,
)
from .redact import scrub
from .retry import BURST_WINDOW_S, RateInfo, retry_after_s
from .signals import bounded_timeout, waiting_on

__all__ = ["StreamClient", "TokenSource", "USER_AGENT", "CONNECT_TIMEOUT_S", "READ_TIMEOUT_S"]

USER_AGENT = f"docusign-input/{__version__}"
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
LENS_PATH = "/api/v2.0/datasets/monitor/stream"


class TokenSource(Protocol):
    def get_token(self) -> str: ...

    def invalidate(self) -> None: ...


class Reporter(Protocol):
    threshold: int

    def debug(self, message: str, **fields: Any) -> None: ...

    def warning(self, message: str, **fields: Any) -> None: ...


#: The answer's headers `--log-level debug` shows for each request.
_DEBUG_HEADERS = (
    ("X-RateLimit-Limit", "rate_limit"),
    ("X-RateLimit-Remaining", "rate_remaining"),
    ("X-RateLimit-Reset", "rate_reset"),
    ("X-BurstLimit-Limit", "burst_limit"),
    ("X-BurstLimit-Remaining", "burst_remaining"),
    ("Retry-After", "retry_after"),
)


class StreamClient:
    def __init__(
        self,
        session: requests.Session,
        monitor_url: str,
        tokens: TokenSource,
        *,
        monitor_api: str = "lens",
        organization_id: str | None = None,
        reporter: Reporter | None = None,
        url_setting: str = "DOCUSIGN_MONITOR_URL",
    ) -> None:
        self.session = session
        #: Only for `--log-level debug`: one line per request (status, rate limit, trace token).
        self.reporter = reporter if reporter is not None and reporter.threshold <= 10 else None
        #: Warns once per header about a server hint it cannot use (retry.MAX_HINT_S).
        self.warner = reporter
        self._warned_hints: set[str] = set()
        #: How the user gave the Monitor URL, to name it when the URL proves wrong.
        self.url_setting = url_setting
        self.monitor_url = monitor_url
        self.tokens = tokens
        self.monitor_api = monitor_api
        if monitor_api == "organizations":
            if not organization_id:
                raise ValueError("the organizations API needs an organization ID")
            path = f"/v1/organizations/{quote(organization_id, safe='')}/stream"
        else:
            path = LENS_PATH
        self.url = monitor_url.rstrip("/") + path
        #: Rate-limit headers of the last answer, for pacing the next request.
        self.last_rate = RateInfo()

    def fetch(self, cursor: str, limit: int) -> Page:
        """One page from `cursor` ("" = DocuSign's default start). A 401 re-mints the token once."""
        try:
            return self._fetch_once(cursor, limit)
        except TokenRejected:
            self.tokens.invalidate()
        try:
            return self._fetch_once(cursor, limit)
        except TokenRejected as exc:
            raise AccessDenied(
                "DocuSign refused a freshly minted access token (401)",
                "check that the user is an organization administrator with Monitor access and "
                "that the integration key and environment match",
                trace_token=exc.trace_token,
            ) from None

    def _fetch_once(self, cursor: str, limit: int) -> Page:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        headers = {
            "Authorization": "Bearer " + self.tokens.get_token(),
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        try:
            with waiting_on("DocuSign Monitor had not answered"):
                response = self.session.get(
                    self.url,
                    params=params,
                    headers=headers,
                    timeout=bounded_timeout(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),  # stop deadline
                )
                body = response.content
        except requests.exceptions.SSLError as exc:
            raise TlsFailure.describe(
                str(exc),
                f"DocuSign Monitor at {self.url}",
                "if you use a private CA or a TLS-inspecting proxy, point REQUESTS_CA_BUNDLE at "
                "its CA certificate; verification cannot be switched off",
            ) from None
        except requests.exceptions.Timeout:
            raise TemporaryError(f"DocuSign Monitor timed out ({self.url})", _NETWORK_FIX) from None
        except requests.exceptions.RequestException as exc:
            raise TemporaryError(
                f"cannot reach DocuSign Monitor at {self.url} ({_reason(exc)})", _NETWORK_FIX
            ) from None
        trace = response.headers.get("X-DocuSign-TraceToken")
        now = time.time()
        self.last_rate = RateInfo.from_headers(response.headers, now)
        self._warn_unusable(self.last_rate.unusable, response.headers)
        status = response.status_code
        if self.reporter is not None:
            answered = response.headers
            self.reporter.debug(
                "Monitor request",
                status=status,
                cursor=cursor or None,
                bytes=len(body),
                seconds=round(response.elapsed.total_seconds(), 3),
                trace_token=trace,
                **{name: answered.get(header) for header, name in _DEBUG_HEADERS},
            )
        if status == 200:
            return self._parse(body, trace)
        raise self._status_error(status, response, trace, cursor)

    def _parse(self, body: bytes, trace: str | None) -> Page:
        try:
            answer = codec.loads(body)
        except ValueError:
            raise BadAnswer(
                "DocuSign Monitor answered with invalid JSON", trace_token=trace
            ) from None
        if not isinstance(answer, dict):
            raise BadAnswer("DocuSign Monitor's answer is not a JSON object", trace_token=trace)
        end_cursor = answer.get("endCursor")
        if not isinstance(end_cursor, str) or not end_cursor:
            raise BadAnswer("DocuSign Monitor's answer has no endCursor", trace_token=trace)
        if self.monitor_api == "organizations" and "resultData" in answer:
            events = answer["resultData"]
        else:
            events = answer.get("data")
        if events is None:
            events = []
        if not isinstance(events, list):
            raise BadAnswer("DocuSign Monitor's events are not a list", trace_token=trace)
        for event in events:
            if not isinstance(event, dict):
                raise BadAnswer(
                    "DocuSign Monitor sent an event that is not an object", trace_token=trace
                )
        return Page(events, end_cursor, trace)

    def _status_error(
        self, status: int, response: requests.Response, trace: str | None, cursor: str
    ) -> Exception:
        detail = _error_detail(response)
        if status == 401:
            return TokenRejected(
                "DocuSign Monitor rejected the access token (401)", trace_token=trace
            )
        if status == 403:
            return MonitorNotEnabled(
                f"DocuSign Monitor refused access (403{': ' + detail if detail else ''})",
                "Monitor must be enabled for the organization, and the user must be an "
                "Organization Administrator or Security Reports Administrator of exactly one "
                "organization",
                trace_token=trace,
            )
        if status == 404 and not (self.monitor_api == "organizations" and detail):
            # No stream at this URL: a wrong host or port, not unreadable data. Retrying cannot
            # fix it (DocuSign's own 404 for an unknown organization carries a JSON error).
            return ConfigError(
                f"{self.url_setting} {self.monitor_url} has no Monitor stream ({self.url} "
                "answered 404)",
                f"point {self.url_setting} at DocuSign's Monitor server, e.g. "
                "https://lens-d.docusign.net (development) or https://lens.docusign.net, or "
                "unset it to use the environment's default",
                trace_token=trace,
            )
        if status == 404:
            return AccessDenied(
                f"DocuSign does not know this organization (404{': ' + detail if detail else ''})",
                "check --organization-id, or leave it unset to look it up from the user's account",
                trace_token=trace,
            )
        if status == 429:
            headers = response.headers
            hint = _wait_hint_s(headers)
            asked = headers.get("Retry-After")
            if asked and retry_after_s(asked, time.time()) is None:
                self._warn_unusable(("Retry-After",), headers)
            return RateLimited(
                "DocuSign rate limit reached (429)",
                "the collector waits as DocuSign asks; lower the polling frequency if it persists",
                trace_token=trace,
                retry_after_s=hint,
            )
        if status == 400 and cursor and not _looks_like_time(cursor):
            return CursorRejected(
                f"DocuSign rejected the stored cursor (400{': ' + detail if detail else ''})",
                trace_token=trace,
            )
        if status >= 500 or status in (408, 425):
            return TemporaryError(
                f"DocuSign Monitor failed with HTTP {status}", _NETWORK_FIX, trace_token=trace
            )
        return BadAnswer(
            f"DocuSign Monitor answered HTTP {status}{': ' + detail if detail else ''}",
            trace_token=trace,
        )


    def _warn_unusable(self, names: tuple[str, ...], headers: Any) -> None:
        """One warning per header for the life of the client: a server that keeps sending the
        same nonsense must not fill stderr."""
        for name in names:
            if name in self._warned_hints or self.warner is None:
                continue
            self._warned_hints.add(name)
            self.warner.warning(
                f"DocuSign sent an unusable {name} header; ignoring it (the connector's own "
                "backoff and pacing apply)",
                value=str(headers.get(name))[:40],
            )


_NETWORK_FIX = "check the network path to DocuSign (proxy HTTPS_PROXY, firewall, DNS)"


def _reason(exc: requests.exceptions.RequestException) -> str:
    # requests' messages repeat the URL with its query; the type name says enough without it.
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "connection failed or was reset"
    return type(exc).__name__


def _error_detail(response: requests.Response) -> str:
    try:
        answer = codec.loads(response.content)
    except ValueError:
        return ""
    if not isinstance(answer, dict):
        return ""
    parts = [str(answer[k]) for k in ("error", "error_description", "message") if answer.get(k)]
    # Redacted before it is cut: DocuSign may echo the access token, and a cut one is still one.
    return " ".join(scrub(" / ".join(parts)).split())[:300]


def _wait_hint_s(headers: Any) -> float | None:
    """How long a 429 asks us to wait: Retry-After when present; else the window that ran out.

    A spent burst allowance (X-BurstLimit-Remaining 0) frees up within DocuSign's 30-second burst
    window, whatever the hourly reset says; only a spent hourly allowance waits for the reset.
    """
    now = time.time()
    hint = retry_after_s(headers.get("Retry-After"), now)
    if hint is not None:
        return hint
    rate = RateInfo.from_headers(headers, now)
    if rate.burst_remaining == 0 and (rate.remaining is None or rate.remaining > 0):
        return BURST_WINDOW_S
    if rate.reset_epoch_s is not None and (rate.remaining is None or rate.remaining == 0):
        return max(0.0, rate.reset_epoch_s - now)
    return None


def _looks_like_time(cursor: str) -> bool:
    return len(cursor) >= 10 and cursor[:4].isdigit() and cursor[4] == "-"
