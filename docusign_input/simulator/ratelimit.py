"""DocuSign's per-account API limits: an hourly quota plus a short burst window.

Headers are the ones DocuSign's platform announces; whether Monitor sends them is unconfirmed, so
the simulator sends them on every Monitor answer and a connector must work with or without them.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable, Deque, Dict

__all__ = ["RateLimiter", "Decision"]

_HOUR_S = 3600
_UNLIMITED = 1_000_000


@dataclass(frozen=True)
class Decision:
    allowed: bool
    headers: Dict[str, str]
    retry_after_s: int = 0


class RateLimiter:
    """Hourly fixed window (resets on the hour, like DocuSign) and a sliding burst window."""

    def __init__(
        self,
        clock: Callable[[], float],
        enabled: bool = True,
        hourly_limit: int = 3000,
        burst_limit: int = 200,
        burst_window_s: float = 30.0,
    ):
        self._clock = clock
        self._lock = threading.Lock()
        self._hour_start = -1.0
        self._hour_used = 0
        self._burst: Deque[float] = deque()
        self.configure(enabled, hourly_limit, burst_limit, burst_window_s)

    def configure(
        self, enabled: bool, hourly_limit: int, burst_limit: int, burst_window_s: float
    ) -> None:
        with self._lock:
            self.enabled = enabled
            self.hourly_limit = hourly_limit
            self.burst_limit = burst_limit
            self.burst_window_s = burst_window_s

    def take(self) -> Decision:
        """Count one request if allowed; never refuses when limits are off."""
        with self._lock:
            now = self._clock()
            hour_start = now - now % _HOUR_S
            if hour_start != self._hour_start:
                self._hour_start, self._hour_used = hour_start, 0
            while self._burst and self._burst[0] <= now - self.burst_window_s:
                self._burst.popleft()
            reset = int(hour_start + _HOUR_S)
            if not self.enabled:
                return Decision(
                    True, _headers(_UNLIMITED, _UNLIMITED, reset, _UNLIMITED, _UNLIMITED)
                )
            if self._hour_used >= self.hourly_limit:
                wait = reset - now
            elif len(self._burst) >= self.burst_limit:
                wait = self._burst[0] + self.burst_window_s - now
            else:
                self._hour_used += 1
                self._burst.append(now)
                return Decision(True, self._headers(reset))
            return Decision(False, self._headers(reset), max(1, math.ceil(wait)))

    def _headers(self, reset: int) -> Dict[str, str]:
        return _headers(
            self.hourly_limit,
            max(0, self.hourly_limit - self._hour_used),
            reset,
            self.burst_limit,
            max(0, self.burst_limit - len(self._burst)),
        )


def _headers(limit: int, remaining: int, reset: int, burst: int, burst_left: int) -> Dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
        "X-BurstLimit-Limit": str(burst),
        "X-BurstLimit-Remaining": str(burst_left),
    }
