"""The stream's head (engine.stream_head) and what follows a page (engine.next_step): both sides
of the rule in docs/contract.md, "The stream's head"."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from docusign_input.engine import INGESTION_LAG, Head, Page, next_step, stream_head
from docusign_input.timestamps import format_time

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)


def events(*ages_s: float) -> list[dict]:
    """Events in ingestion order, each stamped `age` seconds before NOW."""
    return [
        {"eventId": f"e{i}", "timestamp": format_time(NOW - timedelta(seconds=age))}
        for i, age in enumerate(ages_s)
    ]


def head(page: Page, sent: str = "aa_1", page_size: int = 2000, poll: float = 60) -> Head:
    return stream_head(sent, page, page_size=page_size, now=NOW, poll_interval_s=poll)


def test_an_unmoved_cursor_is_the_head():
    assert head(Page([], "aa_1")).reached


def test_a_short_page_of_events_just_ingested_is_the_head():
    """20 events/s and 0.3 s answers: each answer holds a few new events and a new cursor (the
    reported case: before, the sync never saw itself caught up)."""
    page = Page(events(0.4, 200.0, 0.2, 3.0, 0.1, 250.0), "aa_2")
    assert head(page) == Head(True, "short page of recent events")


def test_events_ingested_late_still_count_as_recent():
    """Ingested up to 5 minutes after their timestamp: at the head of a quiet account the only
    new event may be stamped almost 5 minutes plus a poll interval ago."""
    age = (INGESTION_LAG + timedelta(seconds=55)).total_seconds()
    assert head(Page(events(age), "aa_2"), poll=60).reached


def test_a_short_page_of_a_backlog_is_not_the_head():
    """DocuSign's limit is a maximum, not a promise: a backlog may come in short pages."""
    page = Page(events(3600.0, 3599.0, 3598.5), "aa_2")
    assert not head(page).reached


def test_a_short_page_just_older_than_the_window_is_not_the_head():
    age = (INGESTION_LAG + timedelta(seconds=61)).total_seconds()
    assert not head(Page(events(age), "aa_2"), poll=60).reached


def test_a_full_page_is_never_the_head_even_of_recent_events():
    page = Page(events(*([0.5] * 10)), "aa_2")
    assert not head(page, page_size=10).reached
    assert head(page, page_size=11).reached


def test_an_empty_page_with_a_moved_cursor_is_not_the_head():
    """DocuSign skipping a quiet stretch: progress, not the end."""
    assert not head(Page([], "aa_2")).reached


@pytest.mark.parametrize(
    "stamp", [None, "", "not a time", 17, "2026-13-45T99:00:00Z"], ids=repr
)
def test_events_without_a_usable_timestamp_fall_back_to_the_cursor_rule(stamp):
    page = Page([{"eventId": "x", "timestamp": stamp}], "aa_2")
    assert not head(page).reached


def test_a_long_poll_interval_does_not_make_an_hour_old_backlog_recent():
    """The poll interval counts up to a minute: with `--poll-interval 1h`, short pages of a
    backlog half an hour old were taken for the head and the sync paused an hour at each."""
    page = Page(events(1800.0, 1799.0), "aa_2")
    assert not head(page, poll=3600).reached
    assert head(Page(events(330.0), "aa_2"), poll=3600).reached


def test_an_absurd_poll_interval_cannot_break_the_rule():
    page = Page(events(10.0), "aa_2")
    assert head(page, poll=1e300).reached
    head(page, poll=float("nan"))  # never raises


def test_before_the_head_drain_at_full_speed_or_at_the_reserve_pace():
    assert next_step(Head(False), follow=True, poll_interval_s=60).action == "drain"
    assert next_step(Head(False), follow=False, poll_interval_s=60).wait_s == 0
    assert next_step(Head(False), follow=True, poll_interval_s=60, pacing_s=12).wait_s == 12


def test_at_the_head_follow_waits_the_poll_interval_and_a_scheduled_run_ends():
    reached = Head(True, "cursor did not move")
    assert next_step(reached, follow=False, poll_interval_s=60).action == "end"
    waiting = next_step(reached, follow=True, poll_interval_s=60)
    assert (waiting.action, waiting.wait_s) == ("wait", 60)
    slowed = next_step(reached, follow=True, poll_interval_s=60, pacing_s=90)
    assert slowed.wait_s == 90


def test_a_short_answer_of_a_busy_account_is_told_from_the_head_by_what_was_due():
    """100 events/s and a 60 s interval: 6,000 were due; a 700-event answer of recent events is
    a short answer in a backlog of a few minutes, not the head (the soak at 100 events/s paused a
    poll interval at each such answer: a median lag of 88 s, p99 262 s)."""
    page = Page(events(*([30.0] * 700)), "aa_2")
    assert not head_due(page, due=6000).reached
    assert head_due(page, due=1200).reached  # all that was due, near enough: the head
    # A second short page in a row is the head whatever was due: a rate that dropped costs one
    # request, never a loop.
    assert head_due(page, due=6000, previous_short=True).reached
    assert head_due(page, due=None).reached  # no rate known yet: timestamps alone


def head_due(page: Page, due: float | None, previous_short: bool = False) -> Head:
    return stream_head(
        "aa_1", page, page_size=2000, now=NOW, poll_interval_s=60,
        due_events=due, previous_short=previous_short,
    )  # fmt: skip


def test_what_was_due_comes_from_the_last_cycle_from_head_to_head():
    from docusign_input.engine import cycle_rate, due_events

    rate = cycle_rate(6030, 60.3)
    assert rate == 100.0
    assert due_events(rate, 60.0, 0) == 6000.0
    assert due_events(rate, 61.0, 2000) == 4100.0
    assert due_events(None, 60.0, 0) is None and cycle_rate(10, 0.0) is None
