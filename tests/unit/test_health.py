"""`status`'s judgement of a checkpoint: default staleness, killed runs, recorded errors."""

from __future__ import annotations

from datetime import datetime, timezone

from docusign_input.checkpoint import Checkpoint, Health, Position
from docusign_input.health import assess, default_max_lag_s

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def checkpoint(**health) -> Checkpoint:
    return Checkpoint("development", "u", health=Health(**health))


def test_default_staleness_is_three_poll_intervals_never_under_15_minutes():
    assert default_max_lag_s(checkpoint()) == 900
    slow = checkpoint(last_run={"poll_interval_s": 600})
    assert default_max_lag_s(slow) == 1800
    six_days = checkpoint(last_success="2026-11-22T12:00:00Z")
    report = assess(six_days, NOW, max_lag_s=None)
    assert not report.healthy  # "health OK" after 6 days without a success, before
    fresh = checkpoint(last_success="2026-11-28T11:50:00Z")
    assert assess(fresh, NOW, max_lag_s=None).healthy


def test_a_run_whose_process_is_gone_without_an_end_is_unhealthy():
    run = {"started_at": "2026-11-28T11:55:00Z", "pid": 4242, "host": "h"}
    killed = checkpoint(last_success="2026-11-28T11:56:00Z", last_run=run)
    assert not assess(killed, NOW, max_lag_s=None, process_alive=lambda r: False).healthy
    assert assess(killed, NOW, max_lag_s=None, process_alive=lambda r: True).healthy
    assert assess(killed, NOW, max_lag_s=None, process_alive=lambda r: None).healthy
    ended = checkpoint(
        last_success="2026-11-28T11:56:00Z", last_run={**run, "ended_at": "x", "exit_code": 0}
    )
    assert assess(ended, NOW, max_lag_s=None, process_alive=lambda r: False).healthy


def test_an_old_record_with_a_consent_url_is_shown_with_the_key_masked():
    error = {"message": "consent. Open https://a/oauth/auth?client_id=SECRET123&x=1", "time": "t"}
    report = assess(
        checkpoint(last_success="2026-11-28T11:59:00Z", last_error=error), NOW, max_lag_s=None
    )
    shown = str(report.as_dict())
    assert "SECRET123" not in shown and "client_id=********" in shown


def test_a_newest_event_time_in_the_future_reads_as_no_lag():
    future = Checkpoint(
        "development",
        "u",
        position=Position(newest_event_time="2099-01-01T00:00:00Z"),
        health=Health(last_success="2026-11-28T11:59:00Z"),
    )
    assert assess(future, NOW, max_lag_s=None).details["event_lag_s"] == 0.0
