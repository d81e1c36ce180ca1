"""The simulator's one configuration value, built once and read by every part."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["SimulatorConfig", "PROFILES", "MAX_EVENTS_PER_SECOND"]

#: "quiet": today's default (events_per_minute, instant answers, full pages); "busy": a large
#: organization (events_per_second, short pages in a backlog, latency per answer).
PROFILES = ("quiet", "busy")
MAX_EVENTS_PER_SECOND = 200.0


@dataclass(frozen=True)
class SimulatorConfig:
    """What the simulated DocuSign looks like; defaults are DocuSign's development defaults."""

    seed: int = 1
    #: Events ingested before the server starts, spread over the past ``backlog_days``.
    backlog: int = 0
    backlog_days: float = 1.0
    #: Background ingestion while running (0 = none).
    events_per_minute: float = 0.0
    rate_limits: bool = True
    hourly_limit: int = 3000
    burst_limit: int = 200
    burst_window_s: float = 30.0
    token_lifetime_s: int = 3600
    retention_days: float = 7.0
    host: str = "127.0.0.1"
    port: int = 0
    tls_cert: str | None = None
    tls_key: str | None = None
    #: "quiet" or "busy" (PROFILES); the three settings below apply to "busy" only.
    profile: str = "quiet"
    #: busy: sustained ingestion, events a second (1 to 200), instead of events_per_minute.
    events_per_second: float = 20.0
    #: busy: the share of answers in the middle of a backlog (where a full page was available)
    #: that are shorter than the limit asked for; DocuSign's limit is a maximum, not a promise.
    short_page_share: float = 0.2
    #: busy: mean seconds per Monitor answer, each drawn from half to one and a half times it.
    latency_s: float = 0.3
    #: Unix seconds; injectable so tests can move time instead of sleeping.
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}; known: {', '.join(PROFILES)}")
        if self.profile == "busy" and not 1 <= self.events_per_second <= MAX_EVENTS_PER_SECOND:
            raise ValueError("events_per_second must be from 1 to 200")
        if not 0 <= self.short_page_share <= 1:
            raise ValueError("short_page_share must be from 0 to 1")
        if not 0 <= self.latency_s <= 10:
            raise ValueError("latency_s must be from 0 to 10 seconds")

    @property
    def busy(self) -> bool:
        return self.profile == "busy"

    @property
    def ingestion_per_minute(self) -> float:
        """The background ingestion rate this profile runs at."""
        return self.events_per_second * 60.0 if self.busy else self.events_per_minute
