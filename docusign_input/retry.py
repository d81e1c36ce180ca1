"""When to try again and how long to wait: pure policies, handed their random source.

Backoff is exponential with full jitter (a random wait between zero and the exponential
ceiling), so that many collectors failing together do not return together. A server's own word
(`Retry-After`, `X-RateLimit-Reset`) wins over our guess when it asks for longer.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from typing import Callable, Mapping

__all__ = [
    "Backoff",
    "RUN_BACKOFF",
    "FOLLOW_BACKOFF",
    "RateInfo",
    "pacing_delay_s",
    "retry_after_s",
]


@dataclass(frozen=True)
class Backoff:
    base_s: float
    cap_s: float
    #: Attempts after the first; None means keep trying (``run --follow``).
    max_retries: int | None

    def delay_s(
        self, retry: int, rand: Callable[[], float], server_hint_s: float | None = None
    ) -> float:
        """Wait before retry number `retry` (0-based)."""
        ceiling = min(self.cap_s, self.base_s * (2 ** min(retry, 32)))
        wait = rand() * ceiling
        if server_hint_s is not None and server_hint_s > wait:
            wait = min(server_hint_s, max(self.cap_s, 900.0))
        return wait

    def gives_up(self, retry: int) -> bool:
        return self.max_retries is not None and retry >= self.max_retries


#: One scheduled sync: about a minute of retrying at most, then exit 75 and let the scheduler
#: try again at its next tick.
RUN_BACKOFF = Backoff(base_s=1.0, cap_s=20.0, max_retries=5)
#: `run --follow` never gives up on what can heal outside the program; it waits up to 15 minutes
#: between attempts, so a long outage costs DocuSign a handful of requests an hour.
FOLLOW_BACKOFF = Backoff(base_s=2.0, cap_s=900.0, max_retries=None)


@dataclass(frozen=True)
class RateInfo:
    """DocuSign's rate-limit headers, whichever of them were present."""

    limit: int | None = None
    remaining: int | None = None
    reset_epoch_s: float | None = None
    burst_limit: int | None = None
    burst_remaining: int | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateInfo:
        return cls(
            limit=_int(headers.get("X-RateLimit-Limit")),
            remaining=_int(headers.get("X-RateLimit-Remaining")),
            reset_epoch_s=_int(headers.get("X-RateLimit-Reset")),
            burst_limit=_int(headers.get("X-BurstLimit-Limit")),
            burst_remaining=_int(headers.get("X-BurstLimit-Remaining")),
        )


#: DocuSign's burst window (30 s); the headers announce the limit but not the window.
BURST_WINDOW_S = 30.0


def pacing_delay_s(rate: RateInfo, now_epoch_s: float) -> float:
    """How long to pause before the next request so that we slow down before DocuSign says 429.

    When less than a tenth of the hourly allowance is left, spread what remains evenly until the
    reset; when less than a tenth of the burst allowance is left, spread it over the burst window.
    """
    delay = 0.0
    if rate.limit and rate.remaining is not None and rate.remaining < rate.limit / 10:
        if rate.reset_epoch_s is not None:
            until_reset = max(0.0, rate.reset_epoch_s - now_epoch_s)
            delay = max(delay, until_reset / max(rate.remaining, 1))
    if (
        rate.burst_limit
        and rate.burst_remaining is not None
        and rate.burst_remaining < rate.burst_limit / 10
    ):
        delay = max(delay, BURST_WINDOW_S / max(rate.burst_remaining, 1))
    return min(delay, 900.0)


def retry_after_s(value: str | None, now_s: float) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP date; ``None`` if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now_s)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None
