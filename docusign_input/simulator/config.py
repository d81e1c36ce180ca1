"""The simulator's one configuration value, built once and read by every part."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["SimulatorConfig"]


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
    #: Unix seconds; injectable so tests can move time instead of sleeping.
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)
