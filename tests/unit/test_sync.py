"""The sync loop with in-memory pieces: delivery order, checkpoint after write, retries, stops."""

from __future__ import annotations

from typing import Any

import pytest

from docusign_input.checkpoint import Checkpoint, CheckpointStore
from docusign_input.engine import Page
from docusign_input.errors import BadAnswer, CursorRejected, OutputError, TemporaryError
from docusign_input.report import Reporter
from docusign_input.retry import Backoff, RateInfo
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

    def write_page(self, events: list[dict]) -> None:
        if not events:
            return  # as the real outputs: an empty page writes nothing
        loaded = self.store.load()
        self.cursor_at_write.append(loaded.cursor if loaded else None)
        if len(self.pages) == self.fail_on_call:
            raise OutputError("stdout closed")
        self.pages.append([e["eventId"] for e in events])

    def wait_until_read(self, stopping) -> bool:
        return True

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
    assert c.sleeps == [0.5, 1.0]


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
        cursor="stale",
        newest_event_time="2026-11-18T00:00:00Z",
        recent_event_ids={"e1": "2026-11-18T00:00:00Z"},
        updated_at="2026-11-18T00:00:00Z",
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


def test_stop_requested_between_pages_leaves_a_consistent_checkpoint(tmp_path):
    stopper = Stopper(grace_s=60)
    source = Source({"": [Page([ev(1)], "c1")], "c1": [Page([ev(2)], "c2")]})
    c, out, store = collector(tmp_path, source, stopper=stopper)
    original_write = out.write_page

    def write_then_stop(events: list[dict]) -> None:
        original_write(events)
        stopper._event.set()

    out.write_page = write_then_stop  # type: ignore[method-assign]
    with pytest.raises(Stopped):
        c.sync(Checkpoint("development", "u"))
    assert out.pages == [["e1"]] and store.load().cursor == "c1"


def test_empty_pages_with_moving_cursor_stop_after_a_few(tmp_path):
    source = Source(
        {
            "": [Page([], "c1")],
            "c1": [Page([], "c2")],
            "c2": [Page([], "c3")],
            "c3": [Page([ev(1)], "c4")],
        }
    )
    c, out, store = collector(tmp_path, source)
    c.sync(Checkpoint("development", "u"))
    assert source.calls == ["", "c1", "c2"] and store.load().cursor == "c3"
