"""The pure sync engine: start positions, deduplication, caught-up detection, bounded memory."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from docusign_input.checkpoint import Checkpoint, Position
from docusign_input.engine import (
    MAX_RECENT_IDS,
    RECENT_WINDOW,
    RESUME_OVERLAP,
    Page,
    newest_instant,
    plan_page,
    prune_recent_ids,
    resume_after_rejected_cursor,
    start_position,
    stream_head,
)
from docusign_input.timestamps import format_time

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)


def fresh() -> Position:
    return Position()


def event(n: int, ts: str = "2026-11-28T11:59:00.1234567Z") -> dict:
    return {"timestamp": ts, "eventId": f"id-{n}", "object": "Account"}


def test_first_sync_without_backfill_starts_now():
    assert start_position(None, None, NOW).cursor == "2026-11-28T12:00:00Z"


def test_earliest_backfill_sends_no_cursor_so_docusign_starts_seven_days_back():
    assert start_position(None, "earliest", NOW).cursor == ""


def test_backfill_time_is_used_only_without_a_saved_cursor():
    when = NOW - timedelta(hours=36)
    assert start_position(None, when, NOW).cursor == "2026-11-27T00:00:00Z"
    saved = Checkpoint(
        "development", "u", position=Position(cursor="aa_1_2_3", updated_at="2026-11-28T11:00:00Z")
    )
    assert start_position(saved, when, NOW).cursor == "aa_1_2_3"


def test_backfill_older_than_retention_warns():
    start = start_position(None, NOW - timedelta(days=9), NOW)
    assert start.warnings and "retention" in start.warnings[0]


def test_backfill_of_exactly_seven_days_resolved_a_moment_ago_does_not_warn():
    # `--backfill-start 7d` is resolved when the settings are read, the sync starts later.
    start = start_position(None, NOW - timedelta(days=7), NOW + timedelta(seconds=2))
    assert start.warnings == []


def test_resumed_checkpoint_older_than_seven_days_warns_and_records_the_gap():
    old = Checkpoint(
        "development", "u", position=Position(cursor="aa_1", updated_at="2026-11-18T12:00:00Z")
    )
    start = start_position(old, None, NOW)
    assert start.cursor == "aa_1"
    assert "may be missing" in start.warnings[0]
    assert start.possible_gap == {
        "since": "2026-11-18T12:00:00Z",
        "detected_at": "2026-11-28T12:00:00Z",
        "days": 10.0,
    }


def test_page_plan_moves_cursor_and_keeps_order():
    page = Page([event(1), event(2), event(3)], "aa_next")
    plan = plan_page(fresh(), "2026-11-28T11:00:00Z", page, now=NOW, page_size=2000)
    assert [e["eventId"] for e in plan.events] == ["id-1", "id-2", "id-3"]
    assert plan.position.cursor == "aa_next"
    assert plan.position.updated_at == "2026-11-28T12:00:00Z"


def test_repeated_end_cursor_means_caught_up():
    page = Page([], "aa_same")
    plan = plan_page(fresh(), "aa_same", page, now=NOW, page_size=10)
    assert plan.events == []
    head = stream_head("aa_same", page, page_size=10, now=NOW, poll_interval_s=60)
    assert head.reached and head.reason == "cursor did not move"


def test_events_already_delivered_are_dropped_within_and_across_pages():
    first = plan_page(fresh(), "c0", Page([event(1), event(2)], "c1"), now=NOW, page_size=10)
    second = plan_page(
        first.position, "c1", Page([event(2), event(3), event(3)], "c2"), now=NOW, page_size=10
    )
    assert [e["eventId"] for e in second.events] == ["id-3"]
    assert second.duplicates == 2


def test_events_without_an_id_are_delivered_not_deduplicated():
    page = Page(
        [{"timestamp": "2026-11-28T11:00:00Z"}, {"timestamp": "2026-11-28T11:00:00Z"}], "c1"
    )
    assert len(plan_page(fresh(), "c0", page, now=NOW, page_size=10).events) == 2


def test_newest_event_time_is_the_latest_timestamp_not_the_last_event():
    page = Page(
        [
            event(1, "2026-11-28T11:58:00.5000000Z"),
            event(2, "2026-11-28T11:59:00Z"),
            event(3, "2026-11-28T11:57:00.0000001Z"),
        ],
        "c1",
    )
    plan = plan_page(fresh(), "c0", page, now=NOW, page_size=10)
    assert plan.position.newest_event_time == "2026-11-28T11:59:00Z"


def test_timestamp_without_fraction_orders_before_same_second_with_fraction():
    page = Page([event(1, "2026-11-28T11:59:00.0500000Z"), event(2, "2026-11-28T11:59:00Z")], "c1")
    plan = plan_page(fresh(), "c0", page, now=NOW, page_size=10)
    assert plan.position.newest_event_time == "2026-11-28T11:59:00.0500000Z"


def test_newest_event_time_compares_instants_across_offsets_and_fractions():
    """The engine skips building an order key for a UTC ``...Z`` timestamp in an earlier second;
    an offset timestamp whose local clock reads earlier must still win when it is later."""
    page = Page(
        [
            event(1, "2026-11-28T11:59:00.9999999Z"),
            event(2, "2026-11-28T07:59:01-04:00"),  # 11:59:01Z: the newest
            event(3, "2026-11-28T11:58:59.5Z"),
            event(4, "2026-11-28T11:59:01Z"),  # the same instant, not newer
        ],
        "c1",
    )
    plan = plan_page(fresh(), "c0", page, now=NOW, page_size=2000)
    assert plan.position.newest_event_time == "2026-11-28T07:59:01-04:00"


def test_recent_ids_keep_two_pages_and_the_overlap_window_but_stay_bounded():
    newest = "2026-11-28T12:00:00Z"
    ids = {f"old-{i}": "2026-11-28T10:00:00Z" for i in range(100)}
    ids.update({f"win-{i}": "2026-11-28T11:50:00Z" for i in range(50)})
    ids.update({f"last-{i}": "2026-11-28T09:00:00Z" for i in range(20)})
    kept = prune_recent_ids(ids, newest, keep_at_least=20)
    assert not any(k.startswith("old-") for k in kept)
    assert sum(k.startswith("win-") for k in kept) == 50
    assert sum(k.startswith("last-") for k in kept) == 20
    huge = {f"x{i}": "2026-11-28T11:59:00Z" for i in range(MAX_RECENT_IDS + 10)}
    assert len(prune_recent_ids(huge, newest, keep_at_least=10)) == MAX_RECENT_IDS


def test_resume_after_rejected_cursor_overlaps_the_newest_event_and_dedup_absorbs_it():
    cp = Checkpoint(
        "development",
        "u",
        position=Position(
            cursor="bad",
            newest_event_time="2026-11-28T11:30:00.1234567Z",
            recent_event_ids={"id-1": "2026-11-28T11:25:00Z"},
        ),
    )
    cursor = resume_after_rejected_cursor(cp, NOW)
    assert cursor == "2026-11-28T11:20:00.123456Z"
    # Everything the overlap can replay is still remembered.
    assert timedelta(minutes=10) + timedelta(minutes=5) <= RECENT_WINDOW
    replay = plan_page(cp, cursor, Page([event(1), event(9)], "c"), now=NOW, page_size=10)
    assert [e["eventId"] for e in replay.events] == ["id-9"]


def test_scheduled_runs_back_off_after_repeated_failures_only():
    from docusign_input.checkpoint import Health
    from docusign_input.engine import scheduled_backoff_s

    def failed(n: int, minutes_ago: float) -> Checkpoint:
        at = NOW - timedelta(minutes=minutes_ago)
        error = {"time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "message": "x", "exit_code": 77}
        return Checkpoint(
            "development", "u", health=Health(last_error=error, consecutive_failures=n)
        )

    assert scheduled_backoff_s(failed(1, 0), NOW) == 0  # a fix is picked up on the next tick
    assert scheduled_backoff_s(failed(2, 0), NOW) == 60
    assert scheduled_backoff_s(failed(3, 1), NOW) == 60
    assert scheduled_backoff_s(failed(20, 0), NOW) == 900
    assert scheduled_backoff_s(failed(20, 16), NOW) == 0
    assert scheduled_backoff_s(Checkpoint("development", "u"), NOW) == 0


def _window_before_now(n: int) -> dict[str, str]:
    """n event IDs stamped over the ten minutes before NOW, oldest first."""
    return {f"seen-{i}": format_time(NOW - timedelta(seconds=600 - i * 600 / n)) for i in range(n)}


def test_an_event_stamped_in_the_future_does_not_shrink_the_dedup_window():
    """One event stamped 2099 made pruning keep only the last two pages: a replay of the ten
    minutes before it was then delivered again (599 of 599)."""
    seen = _window_before_now(600)
    position = Position(cursor="c0", newest_event_time=max(seen.values()), recent_event_ids=seen)
    future = {"timestamp": "2099-01-01T00:00:00Z", "eventId": "from-the-future"}
    plan = plan_page(position, "c0", Page([future], "c1"), now=NOW, page_size=10)
    assert plan.position.newest_event_time == format_time(NOW)  # clamped to the delivery time
    replay = [{"timestamp": ts, "eventId": i} for i, ts in seen.items()]
    again = plan_page(plan.position, "c1", Page(replay, "c2"), now=NOW, page_size=10)
    assert again.events == [] and again.duplicates == 600


def test_resume_after_a_rejected_cursor_never_starts_after_now():
    """A checkpoint whose newest event is stamped 2099 must not resume "shortly before 2099",
    which would skip every event until then."""
    position = Position(cursor="bad", newest_event_time="2099-01-01T00:00:00Z")
    cursor = resume_after_rejected_cursor(position, NOW)
    assert cursor == format_time(NOW - RESUME_OVERLAP)
    assert newest_instant(position, NOW) == NOW


def test_scheduled_backoff_reads_whether_the_failure_heals_outside():
    from docusign_input.checkpoint import Health
    from docusign_input.engine import scheduled_backoff_s

    def failed(heals: bool, retry_at: str | None = None) -> Checkpoint:
        error = {"time": format_time(NOW), "exit_code": 74, "heals_outside": heals}
        if retry_at:
            error["retry_at"] = retry_at
        return Checkpoint(
            "development", "u", health=Health(last_error=error, consecutive_failures=5)
        )

    assert scheduled_backoff_s(failed(True), NOW) == 480
    assert scheduled_backoff_s(failed(False), NOW) == 0  # a full disk: fixed here, next tick
    asked = format_time(NOW + timedelta(minutes=50))
    assert scheduled_backoff_s(failed(False, asked), NOW) == 3000  # DocuSign's word is kept
