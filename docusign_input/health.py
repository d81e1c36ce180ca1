"""`status`: is collection healthy, judged from what the checkpoint recorded.

A quiet tenant can go hours without events, so staleness is judged by the last successful sync,
not by the newest event; the event lag is reported beside it for people to read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .checkpoint import Checkpoint
from .timestamps import parse_event_time

__all__ = ["HealthReport", "assess", "GAP_ALERT_S"]

#: A possible gap (resumed after more than DocuSign's retention) makes `status` fail for a day, so
#: that monitoring raises it, then stays in the report without paging anyone forever.
GAP_ALERT_S = 24 * 3600.0


@dataclass(frozen=True)
class HealthReport:
    healthy: bool
    problems: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    #: What to do about the problems, for the one stderr line every non-zero exit prints.
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "problems": self.problems, "fix": self.fix, **self.details}

    def lines(self) -> list[tuple[str, str]]:
        rows = [(name.replace("_", " "), _show(value)) for name, value in self.details.items()]
        rows.append(("health", "OK" if self.healthy else "UNHEALTHY: " + "; ".join(self.problems)))
        return rows


def assess(
    checkpoint: Checkpoint | None, now: datetime, *, max_lag_s: float | None
) -> HealthReport:
    if checkpoint is None:
        return HealthReport(
            False,
            ["no checkpoint yet: the collector has never run successfully"],
            fix="run `docusign-input run`, or pass the --checkpoint the collector uses",
        )
    health = checkpoint.health
    problems: list[str] = []
    fixes: list[str] = []
    last_success = _age_s(health.last_success, now)
    event_lag = _age_s(checkpoint.newest_event_time, now)
    error = dict(health.last_error) if health.last_error else None
    if error is not None:
        problems.append(f"last attempt failed: {error.get('message', '?')}")
        fixes.append("the failure's message says what to change; the next good sync clears it")
    if last_success is None:
        problems.append("no successful sync recorded")
    elif max_lag_s is not None and last_success > max_lag_s:
        problems.append(f"last success {last_success:.0f} s ago, more than --max-lag {max_lag_s:g}")
        fixes.append("check that the shipper still runs the collector and read its stderr")
    gap_age = _age_s((health.possible_gap or {}).get("detected_at"), now)
    if health.possible_gap and (gap_age is None or gap_age < GAP_ALERT_S):
        problems.append(
            f"possible gap: the collector resumed after {health.possible_gap.get('days')} days, "
            "longer than DocuSign's 7-day retention"
        )
        fixes.append("events older than 7 days may be missing; this alert clears after 24 h")
    details = {
        "last_success": health.last_success,
        "seconds_since_success": None if last_success is None else round(last_success, 1),
        "newest_event_time": checkpoint.newest_event_time,
        "event_lag_s": None if event_lag is None else round(event_lag, 1),
        "events_delivered": health.events_delivered,
        "last_sync": health.last_sync,
        "last_error": error,
        "possible_gap": health.possible_gap,
    }
    if problems and not fixes:
        fixes.append("run `docusign-input run` and read its stderr")
    return HealthReport(not problems, problems, details, fix="; ".join(fixes))


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _age_s(stamp: str | None, now: datetime) -> float | None:
    if not stamp:
        return None
    try:
        return (now - parse_event_time(stamp)).total_seconds()
    except ValueError:
        return None
