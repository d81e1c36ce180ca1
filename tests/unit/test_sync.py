"""The sync loop with in-memory pieces: delivery order, checkpoint after write, retries, stops."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from docusign_input.checkpoint import Checkpoint, Position
from docusign_input.checkpoint_store import CheckpointStore
from docusign_input.engine import Page
from docusign_input.errors import (
    BadAnswer,
    ConsentRequired,
    CursorRejected,
    OutputError,
    RateLimited,
    TemporaryError,
)
from docusign_input.report import Reporter
from docusign_input.retry import RUN_BACKOFF, Backoff, RateInfo
from docusign_input.sync import Collector, Stopped, Stopper

NOW_S = 1_795_000_000.0  # 2026-11-18


class Source:
    """Serves scripted pages keyed by cursor; an Exception in the script is raised once."""

    def __init__(self, script: dict[str, list[Any]]) -> None:
        self.script = script
        self.calls: list[str] = []
        self.last_rate = RateInfo()

    def fetch(self, cursor: str, limit: int) -> Page:
        self.calls.append(cursor)
        answer = (
            self.script[cursor].pop(0) if len(self.script[cursor]) > 1 else self.script[cursor][0]
        )
        if isinstance(answer, Exception):
            raise answer
        return answer


class Output:
    def __init__(self, store: CheckpointStore, fail_on_call: int = -1) -> None:
        self.pages: list[list[str]] = []
        self.store = store
        self.fail_on_call = fail_on_call
        self.cursor_at_write: list[Any] = []

    def deliver(self, events: list[dict], stopping) -> None:
        self.write_page(events)

    def write_page(self, events: list[dict]) -> None:
        if not events:
            return  # as the real outputs: an empty page writes nothing
        loaded = self.store.load()
        self.cursor_at_write.append(loaded.cursor if loaded else None)
        if len(self.pages) == self.fail_on_call:
            raise OutputError("stdout closed")
        self.pages.append([e["eventId"] for e in events])

    def close(self) -> None:
        pass


def ev(n: int) -> dict:
    return {"timestamp": "2026-11-18T00:00:00.0000001Z", "eventId": f"e{n}"}


def collector(tmp_path, source: Source, **kw: Any) -> tuple[Collector, Output, CheckpointStore]:
    store = CheckpointStore(tmp_path / "cp.json")
    out = Output(store, kw.pop("fail_on_call", -1))
    sleeps: list[float] = []
    stopper = kw.pop("stopper", Stopper())
    stopper.sleep = sleeps.append  # type: ignore[method-assign]
    c = Collector(
        source_factory=lambda cp: (source, cp),
        output=out,
        store=store,
        reporter=Reporter(level="error"),
        stopper=stopper,
        page_size=2,
        poll_interval_s=60,
        backfill="earliest",
        clock=lambda: NOW_S,
        rand=lambda: 0.5,
        backoff=kw.pop("backoff", Backoff(1, 4, 3)),
    )
    c.sleeps = sleeps  # type: ignore[attr-defined]
    return c, out, store


def test_drains_until_the_cursor_stops_moving_and_checkpoints_after_each_write(tmp_path):
    source = Source(
        {"": [Page([ev(1), ev(2)], "c1")], "c1": [Page([ev(3)], "c2")], "c2": [Page([], "c2")]}
    )
    c, out, store = collector(tmp_path, source)
    result = c.sync(Checkpoint("development", "u"))
    assert out.pages == [["e1", "e2"], ["e3"]]
    assert source.calls == ["", "c1", "c2"]
    # When page 2 was written, the checkpoint on disk still pointed before it.
    assert out.cursor_at_write == ["", "c1"]
    saved = store.load()
    assert saved.cursor == "c2" and saved.health.events_delivered == 3
    assert saved.health.last_sync["events"] == 3 and result.pages == 3


def test_transient_errors_are_retried_with_backoff(tmp_path):
    source = Source(
        {"": [TemporaryError("503"), TemporaryError("503"), Page([], "c1")], "c1": [Page([], "c1")]}
    )
    c, out, _ = collector(tmp_path, source)
    c.sync(Checkpoint("development", "u"))
    assert c.sleeps == [0.75, 1.5]


def test_run_gives_up_after_its_budget_without_moving_the_checkpoint(tmp_path):
    source = Source({"": [Page([ev(1)], "c1")], "c1": [BadAnswer("not JSON")]})
    c, out, store = collector(tmp_path, source)
    with pytest.raises(BadAnswer):
        c.sync(Checkpoint("development", "u"))
    assert store.load().cursor == "c1" and out.pages == [["e1"]]
    assert len(source.calls) == 1 + 4


def test_output_failure_never_checkpoints_the_page(tmp_path):
    source = Source(
        {"": [Page([ev(1)], "c1")], "c1": [Page([ev(2)], "c2")], "c2": [Page([], "c2")]}
    )
    c, out, store = collector(tmp_path, source, fail_on_call=1)
    with pytest.raises(OutputError):
        c.sync(Checkpoint("development", "u"))
    assert store.load().cursor == "c1"


def test_rejected_cursor_resumes_by_time_with_overlap(tmp_path):
    cp = Checkpoint(
        "development",
        "u",
        position=Position(
            cursor="stale",
            newest_event_time="2026-11-18T00:00:00Z",
            recent_event_ids={"e1": "2026-11-18T00:00:00Z"},
            updated_at="2026-11-18T00:00:00Z",
        ),
    )
    source = Source(
        {
            "stale": [CursorRejected("bad cursor")],
            "2026-11-17T23:50:00Z": [Page([ev(1), ev(2)], "c9")],
            "c9": [Page([], "c9")],
        }
    )
    c, out, store = collector(tmp_path, source)
    result = c.sync(cp)
    assert out.pages == [["e2"]] and result.duplicates == 1


def test_stop_requested_between_pages_leaves_a_consistent_checkpoint(tmp_path, monkeypatch):
    stopper = Stopper(grace_s=60)
    # request_stop arms the watchdog, which would os._exit(0) this pytest process 60 s later:
    # the rest of the suite silently not run, and exit code 0
    monkeypatch.setattr(stopper, "_force_exit", lambda: None)
    source = Source({"": [Page([ev(1)], "c1")], "c1": [Page([ev(2)], "c2")]})
    c, out, store = collector(tmp_path, source, stopper=stopper)
    original_write = out.write_page

    def write_then_stop(events: list[dict]) -> None:
        original_write(events)
        stopper.request_stop()

    out.write_page = write_then_stop  # type: ignore[method-assign]
    with pytest.raises(Stopped):
        c.sync(Checkpoint("development", "u"))
    assert out.pages == [["e1"]] and store.load().cursor == "c1"


def test_empty_pages_with_a_moving_cursor_are_progress_not_the_end(tmp_path):
    """After 3 empty pages with a moving cursor the run used to say "sync done" and exit 0 with
    events still waiting; the end is an endCursor equal to the cursor sent."""
    script: dict[str, list[Any]] = {"": [Page([], "c1")]}
    for n in range(1, 8):
        script[f"c{n}"] = [Page([], f"c{n + 1}")]
    script["c8"] = [Page([ev(1), ev(2)], "c9")]
    script["c9"] = [Page([], "c9")]
    c, out, store = collector(tmp_path, Source(script))
    c.sync(Checkpoint("development", "u"))
    assert out.pages == [["e1", "e2"]] and store.load().cursor == "c9"


def test_a_cursor_that_never_stops_moving_is_bounded_by_time(tmp_path):
    class Endless(Source):
        def fetch(self, cursor: str, limit: int) -> Page:
            self.calls.append(cursor)
            return Page([], f"{cursor}x")

    ticks = iter(range(0, 10_000, 10))  # every page takes 10 s
    source = Endless({})
    c, out, store = collector(tmp_path, source)
    c.monotonic = lambda: float(next(ticks))
    c.sync(Checkpoint("development", "u"))
    assert 25 <= len(source.calls) <= 40  # about EMPTY_STREAK_MAX_S (300 s) of empty pages
    assert store.load().cursor == "x" * (len(source.calls))


def test_a_server_hint_beyond_the_run_budget_ends_the_run_at_once_saying_when(tmp_path):
    """A scheduled run used to sleep up to 900 s per retry on a Retry-After (75 minutes in all)."""
    source = Source({"": [RateLimited("429", retry_after_s=1800)]})
    c, out, store = collector(tmp_path, source, backoff=RUN_BACKOFF)
    with pytest.raises(TemporaryError) as info:
        c.sync(Checkpoint("development", "u"))
    assert c.sleeps == [] and source.calls == [""]
    assert info.value.exit_code == 75
    assert "asked to wait 1800 s (until 2026-11-18T" in info.value.line()
    assert info.value.retry_at == "2026-11-18T11:36:40Z"


def test_follow_keeps_retrying_what_heals_outside_and_ends_on_what_does_not(tmp_path):
    source = Source(
        {"": [ConsentRequired("consent", "open https://x/?client_id=SECRETKEY"), OutputError("x")]}
    )
    c, out, store = collector(tmp_path, source, backoff=Backoff(1, 4, 0))
    with pytest.raises(OutputError):
        c.follow(Checkpoint("development", "u"))
    assert c.sleeps == [45.0]  # 60 s base for what needs a person, jitter 0.5
    # The retried failure was recorded for `status`; the fatal one is cmd_run's to record.
    assert store.load().health.last_error["error"] == "ConsentRequired"


def test_a_failure_is_recorded_by_its_cause_never_its_fix(tmp_path):
    """The consent_required line, consent URL and integration key included, was stored in the
    checkpoint and printed by every later `status`."""
    source = Source({"": [ConsentRequired("consent missing", "open https://a/?client_id=IKEY123")]})
    c, out, store = collector(tmp_path, source)
    with pytest.raises(ConsentRequired) as info:
        c.sync(Checkpoint("development", "u"))
    c.record_failure(Checkpoint("development", "u"), info.value)
    raw = (tmp_path / "cp.json").read_text()
    assert "IKEY123" not in raw and "client_id" not in raw
    error = store.load().health.last_error
    assert error["cause"] == "consent missing" and error["error"] == "ConsentRequired"
    assert error["exit_code"] == 77 and error["heals_outside"] is True


def test_a_long_sync_reports_progress_at_least_every_30_seconds(tmp_path):
    script: dict[str, list[Any]] = {}
    for n in range(10):
        script["" if n == 0 else f"c{n}"] = [Page([ev(2 * n), ev(2 * n + 1)], f"c{n + 1}")]
    script["c10"] = [Page([], "c10")]
    log = io.StringIO()
    c, out, store = collector(tmp_path, Source(script))
    c.reporter = Reporter(level="info", fmt="json", stream=log)
    ticks = iter(range(0, 1000, 12))  # 12 s per page
    c.monotonic = lambda: float(next(ticks))
    c.sync(Checkpoint("development", "u"))
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    progress = [line for line in lines if line["message"] == "syncing"]
    assert len(progress) == 3
    assert {"events", "newest_event_time", "lag_s", "events_per_s", "rate_limit_wait_s"} <= set(
        progress[0]
    )
    assert progress[0]["events"] == 6 and progress[0]["lag_s"] >= 0


def test_an_idle_poll_that_finds_nothing_logs_at_debug(tmp_path):
    log = io.StringIO()
    c, out, store = collector(tmp_path, Source({"": [Page([], "")]}))
    c.reporter = Reporter(level="info", stream=log)
    c.sync(Checkpoint("development", "u", position=Position(cursor="")))
    assert log.getvalue() == ""
    c.reporter = Reporter(level="debug", stream=log)
    c.sync(Checkpoint("development", "u", position=Position(cursor="")))
    assert "sync done" in log.getvalue()


def recent(n: int, age_s: float = 1.0) -> dict:
    """An event stamped `age_s` before the collector's clock (NOW_S)."""
    from datetime import datetime, timezone

    from docusign_input.timestamps import format_time

    stamp = datetime.fromtimestamp(NOW_S - age_s, tz=timezone.utc)
    return {"timestamp": format_time(stamp), "eventId": f"e{n}"}


class LiveEdge(Source):
    """A busy account at the head: every answer carries one new event and a new cursor, so the
    cursor never stops moving (the reported case)."""

    def fetch(self, cursor: str, limit: int) -> Page:
        self.calls.append(cursor)
        n = len(self.calls)
        return Page([recent(n)], f"c{n}")


def test_a_busy_account_scheduled_run_ends_at_the_head(tmp_path):
    """The cursor moves on every answer; a run used to page through the live edge forever."""
    source = LiveEdge({})
    c, out, store = collector(tmp_path, source)
    result = c.sync(Checkpoint("development", "u"))
    assert source.calls == [""] and out.pages == [["e1"]]
    assert result.head == "short page of recent events" and c.sleeps == []
    assert store.load().cursor == "c1"


def test_follow_at_the_head_of_a_busy_account_waits_the_poll_interval(tmp_path):
    source = LiveEdge({})
    c, out, store = collector(tmp_path, source)
    stopper = c.stopper

    def sleep(seconds: float) -> None:
        c.sleeps.append(seconds)  # type: ignore[attr-defined]
        if len(c.sleeps) == 3:  # type: ignore[attr-defined]
            stopper._requested = True
            raise Stopped()

    stopper.sleep = sleep  # type: ignore[method-assign]
    with pytest.raises(Stopped):
        c.follow(Checkpoint("development", "u"))
    assert c.sleeps == [60, 60, 60] and len(source.calls) == 3  # one request per interval


def test_a_backlog_in_short_pages_drains_without_pauses(tmp_path):
    """limit is a maximum, not a promise: pages of one event (page size 2) of an hour-old
    backlog are not the head."""
    script: dict[str, list[Any]] = {"": [Page([recent(0, 3600)], "c1")]}
    for n in range(1, 20):
        script[f"c{n}"] = [Page([recent(n, 3600 - n)], f"c{n + 1}")]
    script["c20"] = [Page([], "c20")]
    c, out, store = collector(tmp_path, Source(script))
    result = c.sync(Checkpoint("development", "u"))
    assert len(out.pages) == 20 and c.sleeps == []
    assert result.head == "cursor did not move"


def test_the_rate_limit_reserve_spreads_requests_to_the_reset_with_one_warning(tmp_path, capsys):
    low = RateInfo(limit=3000, remaining=100, reset_epoch_s=NOW_S + 1000)
    script: dict[str, list[Any]] = {"": [Page([ev(0)], "c1")]}
    for n in range(1, 5):
        script[f"c{n}"] = [Page([ev(n)], f"c{n + 1}")]
    script["c5"] = [Page([], "c5")]
    source = Source(script)
    source.last_rate = low
    c, out, store = collector(tmp_path, source)
    c.reporter = Reporter(level="info")
    c.sync(Checkpoint("development", "u"))
    assert c.sleeps == [10.0] * 5  # 1000 s to the reset / 100 remaining, between every page
    warnings = [line for line in capsys.readouterr().err.splitlines() if "reserve" in line]
    assert len(warnings) == 1


def test_a_scheduled_run_ends_rather_than_sit_out_a_long_reserve_pause(tmp_path):
    source = Source({"": [Page([ev(0)], "c1")], "c1": [Page([ev(1)], "c2")]})
    source.last_rate = RateInfo(limit=3000, remaining=1, reset_epoch_s=NOW_S + 1800)
    c, out, store = collector(tmp_path, source, backoff=RUN_BACKOFF)
    result = c.sync(Checkpoint("development", "u"))
    assert source.calls == [""] and c.sleeps == [] and result.head == "rate-limit reserve"


def test_follow_of_a_busy_account_reads_past_a_short_answer_to_the_head(tmp_path):
    """Cycle by cycle, page size 2: once a cycle from head to head has set the rate (3 events a
    minute), a one-event answer while 3 were due is read past at once, not waited on."""
    clock = [NOW_S]
    pages = iter([
        [Page([recent(1)], "c1")],                     # cycle 1: the head (no rate yet)
        [Page([recent(2), recent(3)], "c2"), Page([recent(4)], "c3")],  # cycle 2: rate known
        [Page([recent(5)], "c4"), Page([recent(6), recent(7)], "c5"), Page([], "c5")],
    ])

    class Cycles(Source):
        def __init__(self) -> None:
            super().__init__({})
            self.cycle: list[Page] = []

        def fetch(self, cursor: str, limit: int) -> Page:
            self.calls.append(cursor)
            if not self.cycle:
                self.cycle = list(next(pages))
            return self.cycle.pop(0)

    source = Cycles()
    c, out, store = collector(tmp_path, source)
    c.clock = lambda: clock[0]
    stopper = c.stopper

    def sleep(seconds: float) -> None:
        c.sleeps.append(seconds)  # type: ignore[attr-defined]
        clock[0] += seconds
        if len(c.sleeps) == 3:  # type: ignore[attr-defined]
            stopper._requested = True
            raise Stopped()

    stopper.sleep = sleep  # type: ignore[method-assign]
    with pytest.raises(Stopped):
        c.follow(Checkpoint("development", "u"))
    assert c.sleeps == [60, 60, 60]
    # Cycle 2 had 3 events in 60 s; cycle 3's one-event answer came with 3 due: read past it.
    assert out.pages == [["e1"], ["e2", "e3"], ["e4"], ["e5"], ["e6", "e7"]]


class CountingStore(CheckpointStore):
    def __init__(self, path) -> None:
        super().__init__(path)
        self.saved: list[Checkpoint] = []

    def save(self, checkpoint: Checkpoint) -> None:
        super().save(checkpoint)
        self.saved.append(checkpoint)


def test_an_idle_poll_saves_the_checkpoint_once_and_a_page_only_after_its_delivery(tmp_path):
    # An idle poll (one empty page at the head) is one save (one fsync), with the health the
    # run's status needs; 1,000 organizations polling every minute paid for two.
    source = Source({"c0": [Page([], "c0")]})
    c, out, _ = collector(tmp_path, source)
    store = c.store = CountingStore(tmp_path / "cp.json")
    out.store = store
    before = Checkpoint("development", "u", position=Position(cursor="c0"))
    c.sync(before)
    assert len(store.saved) == 1
    saved = store.load()
    assert saved.health.last_sync["pages"] == 1 and saved.health.last_success
    assert saved.health.last_error is None
    # A drain: each page saved once, after its delivery and before the next page is written;
    # the page that ends the sync once, with the sync's summary.
    source.script = {"c0": [Page([ev(1), ev(2)], "c1")], "c1": [Page([ev(3)], "c2")],
                     "c2": [Page([], "c2")]}
    store.saved.clear()
    c.sync(saved)
    assert out.pages == [["e1", "e2"], ["e3"]] and out.cursor_at_write == ["c0", "c1"]
    assert [cp.cursor for cp in store.saved] == ["c1", "c2", "c2"]
    assert store.load().health.events_delivered == 3
    assert store.load().health.last_sync["events"] == 3
