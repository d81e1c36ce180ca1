"""When to try again and how long to wait: pure policies, handed their random source.

One formula for every wait (`backoff_s`): an exponential ceiling, doubling from a base up to a
cap, and a random wait between half the ceiling and the whole of it, so that many collectors
failing together do not return together, while a wait never shrinks to nothing. A server's own
word (`Retry-After`, `X-RateLimit-Reset`) wins over our guess when it asks for longer, within the
mode's budget: a scheduled `run` does not sit out an hour inside one tick.
"""

from __future__ import annotations

import email.utils
import math
from dataclasses import dataclass
from typing import Callable, Mapping

__all__ = [
    "Backoff",
    "RUN_BACKOFF",
    "FOLLOW_BACKOFF",
    "SCHEDULED_BACKOFF",
    "RateInfo",
    "MAX_HINT_S",
    "RESERVE_SHARE",
    "backoff_s",
    "pacing_delay_s",
    "retry_after_s",
]


def backoff_s(attempt: int, *, base_s: float, cap_s: float, jitter: float) -> float:
    """The wait before retry number `attempt` (0-based); `jitter` is a random number in [0, 1]
    (1.0 gives the ceiling itself, as the scheduled backoff's documented 60, 120, ... 900 s)."""
    ceiling = min(cap_s, base_s * (2 ** min(attempt, 32)))
    return ceiling * (0.5 + 0.5 * jitter)


@dataclass(frozen=True)
class Backoff:
    """One mode's retry policy: the formula's base and cap, and its budget."""

    base_s: float
    cap_s: float
    #: Attempts after the first; None means keep trying (``run --follow``).
    max_retries: int | None
    #: The longest single wait a server may ask for in this mode; a longer one ends the sync
    #: at once (exit 75) and says when DocuSign asked to be called again.
    max_hint_s: float = 3600.0

    def delay_s(
        self, retry: int, rand: Callable[[], float], server_hint_s: float | None = None
    ) -> float:
        """Wait before retry number `retry` (0-based); the server's hint when it is longer."""
        wait = backoff_s(retry, base_s=self.base_s, cap_s=self.cap_s, jitter=rand())
        if server_hint_s is not None and server_hint_s > wait:
            wait = server_hint_s
        return wait

    def hint_beyond_budget(self, server_hint_s: float | None) -> bool:
        return server_hint_s is not None and server_hint_s > self.max_hint_s

    def gives_up(self, retry: int) -> bool:
        return self.max_retries is not None and retry >= self.max_retries


#: One scheduled sync: about a minute of retrying at most, then exit 75 and let the scheduler
#: try again at its next tick (every minute or so); a server asking for more than a minute is
#: answered by exiting at once, not by sleeping through the scheduler's next ticks.
RUN_BACKOFF = Backoff(base_s=1.0, cap_s=20.0, max_retries=5, max_hint_s=60.0)
#: `run --follow` never gives up on what can heal outside the program; it waits up to 15 minutes
#: between attempts, so a long outage costs DocuSign a handful of requests an hour, and honours a
#: server's hint up to DocuSign's hourly rate-limit window.
FOLLOW_BACKOFF = Backoff(base_s=2.0, cap_s=900.0, max_retries=None, max_hint_s=3600.0)
#: Scheduled runs after repeated failures (engine.scheduled_backoff_s): 60 s, doubling to 900 s,
#: counted from the second failure in a row, without jitter (the schedule is the jitter).
SCHEDULED_BACKOFF = Backoff(base_s=60.0, cap_s=900.0, max_retries=None)


#: The longest wait a server's hint may ask for and still be believed: DocuSign's windows are an
#: hour (the hourly allowance) and 30 s (the burst). A hint that is not a finite number from 0 to
#: this (``1e999``, ``NaN``, ``-5``, a reset a year away) is unusable: ignored, with one warning
#: naming the header, and the connector's own backoff and pacing apply.
MAX_HINT_S = 86400.0
#: Below this share of ``X-RateLimit-Limit`` left, requests are spread until the reset.
RESERVE_SHARE = 0.10
_HOUR_S = 3600.0


@dataclass(frozen=True)
class RateInfo:
    """DocuSign's rate-limit headers, whichever of them were present and usable."""

    limit: int | None = None
    remaining: int | None = None
    reset_epoch_s: float | None = None
    burst_limit: int | None = None
    burst_remaining: int | None = None
    #: Headers present with a value that cannot be used (see MAX_HINT_S), to warn about.
    unusable: tuple[str, ...] = ()

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], now_s: float) -> RateInfo:
        bad: list[str] = []

        def count(name: str) -> int | None:
            value = _finite(headers.get(name))
            if value is None or not 0 <= value < 2**53:
                if headers.get(name) is not None:
                    bad.append(name)
                return None
            return int(value)

        reset = _finite(headers.get("X-RateLimit-Reset"))
        if reset is not None and not 0 <= reset <= now_s + MAX_HINT_S:
            reset = None
        if reset is None and headers.get("X-RateLimit-Reset") is not None:
            bad.append("X-RateLimit-Reset")
        return cls(
            limit=count("X-RateLimit-Limit"),
            remaining=count("X-RateLimit-Remaining"),
            reset_epoch_s=reset,
            burst_limit=count("X-BurstLimit-Limit"),
            burst_remaining=count("X-BurstLimit-Remaining"),
            unusable=tuple(bad),
        )


#: DocuSign's burst window (30 s); the headers announce the limit but not the window.
BURST_WINDOW_S = 30.0


def pacing_delay_s(rate: RateInfo, now_epoch_s: float) -> float:
    """How long to pause before the next request so that we slow down before DocuSign says 429.

    The reserve: when less than RESERVE_SHARE of the hourly allowance is left, spread what remains
    evenly until the reset (time to reset / remaining), and with one request left wait for the
    reset, so the connector never takes the account's last request. When less than a tenth of the
    burst allowance is left, spread it over the burst window.
    """
    delay = 0.0
    if rate.limit and rate.remaining is not None and rate.remaining < rate.limit * RESERVE_SHARE:
        if rate.reset_epoch_s is not None:
            until_reset = min(_HOUR_S, max(0.0, rate.reset_epoch_s - now_epoch_s))
            delay = until_reset / rate.remaining if rate.remaining > 1 else until_reset
    if (
        rate.burst_limit
        and rate.burst_remaining is not None
        and rate.burst_remaining < rate.burst_limit / 10
    ):
        delay = max(delay, BURST_WINDOW_S / max(rate.burst_remaining, 1))
    return delay


def retry_after_s(value: str | None, now_s: float) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP date; ``None`` if absent or
    unusable (not a finite number of seconds from 0 to MAX_HINT_S, or not a date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if 0 <= seconds <= MAX_HINT_S else None  # NaN fails both
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    try:
        seconds = when.timestamp() - now_s
    except (OverflowError, ValueError, OSError):
        return None
    return max(0.0, seconds) if seconds <= MAX_HINT_S else None


def _finite(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
