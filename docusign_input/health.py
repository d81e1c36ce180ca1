"""`status`: is collection healthy, judged from what the checkpoint recorded.

A quiet tenant can go hours without events, so staleness is judged by the last successful sync,
not by the newest event; the event lag is reported beside it for people to read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping

from .checkpoint import Checkpoint
from .redact import scrub
from .timestamps import parse_event_time

__all__ = ["HealthReport", "assess", "default_max_lag_s", "GAP_ALERT_S", "MIN_MAX_LAG_S"]

#: Without --max-lag, a collector is stale after three poll intervals, never less than this
#: (a scheduled run every minute that fails twice in a row must not page anyone at once).
MIN_MAX_LAG_S = 900.0
#: The poll interval assumed when the checkpoint does not record one.
DEFAULT_POLL_INTERVAL_S = 60.0

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


def default_max_lag_s(checkpoint: Checkpoint, poll_interval_s: float | None = None) -> float:
    """The contract's staleness without --max-lag: three poll intervals, at least 15 minutes.
    The poll interval is the one given to `status` (``poll_interval_s``: the runs' setting),
    else the one the latest run recorded."""
    run = checkpoint.health.last_run or {}
    interval = poll_interval_s if poll_interval_s is not None else run.get("poll_interval_s")
    if not isinstance(interval, (int, float)) or interval <= 0:
        interval = DEFAULT_POLL_INTERVAL_S
    return max(MIN_MAX_LAG_S, 3 * float(interval))


def assess(
    checkpoint: Checkpoint | None,
    now: datetime,
    *,
    max_lag_s: float | None,
    process_alive: Callable[[Mapping[str, Any]], bool | None] | None = None,
    poll_interval_s: float | None = None,
) -> HealthReport:
    """Judge the recorded health. `process_alive` tells whether the recorded run's process
    still exists (None: cannot tell, e.g. another host); without it nobody is judged killed."""
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
    error = _shown_error(health.last_error)
    if error is not None:
        problems.append(f"last attempt failed: {error.get('cause') or error.get('message', '?')}")
        fixes.append(_fix_for(error))
    run = dict(health.last_run) if health.last_run else None
    if run and not run.get("ended_at") and process_alive is not None:
        if process_alive(run) is False:
            problems.append(
                f"the run started at {run.get('started_at')} (pid {run.get('pid')}) ended "
                "without recording its end: it was killed (SIGKILL, out of memory, a reboot)"
            )
            fixes.append(
                "look at the shipper's or the kernel's log (dmesg) for why it was killed; "
                "the next run continues from the checkpoint"
            )
    limit_s, limit_name = (
        (max_lag_s, f"--max-lag {max_lag_s:g}")
        if max_lag_s is not None
        else (default_max_lag_s(checkpoint, poll_interval_s), "")
    )
    if not limit_name:
        limit_name = f"the default {limit_s:g} s (three poll intervals, at least 15 minutes)"
    if last_success is None:
        problems.append("no successful sync recorded")
    elif last_success > limit_s:
        problems.append(f"last success {last_success:.0f} s ago, more than {limit_name}")
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
        # Never negative: a newest time in the future (a checkpoint written before plan_page
        # clamped it to the delivery time) is read as "now", as everywhere else.
        "event_lag_s": None if event_lag is None else round(max(0.0, event_lag), 1),
        "events_delivered": health.events_delivered,
        "last_sync": health.last_sync,
        "last_error": error,
        "last_run": run,
        "max_lag_s": limit_s,
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


def _shown_error(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A recorded failure as `status` shows it: redacted, a consent URL's integration key too (a
    record written before the checkpoint stopped storing fix texts may hold one)."""
    if not record:
        return None
    shown = dict(record)
    for key in ("cause", "message"):
        if isinstance(shown.get(key), str):
            shown[key] = scrub(shown[key], consent_url=False)
    return shown


def _fix_for(error: Mapping[str, Any]) -> str:
    """What to do about a recorded failure; the record holds no fix text (it may hold secrets)."""
    kind = error.get("error")
    if kind == "ConsentRequired":
        return (
            "an administrator opens the consent URL once for integration key ******** "
            "(`docusign-input consent-url` prints it); the next good sync clears this"
        )
    if kind == "InternalError":
        return (
            "a bug: report it with the output of `docusign-input run --log-level debug`; the "
            "checkpoint was unchanged by it"
        )
    return "run `docusign-input check`, which says what to change; the next good sync clears it"
