"""plan_page and prune_recent_ids against a plain reference that parses every time as a datetime.

The engine takes shortcuts (whole-second string comparisons, a path for pages with no duplicates)
because it runs for every event of a drain; this pins that the shortcuts decide exactly what the
straightforward rules decide, on pages of odd and ordinary events alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from docusign_input.checkpoint import Position
from docusign_input.engine import RECENT_WINDOW, Page, plan_page, prune_recent_ids
from docusign_input.timestamps import format_time, parse_event_time

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)
BASE = datetime(2026, 11, 28, 11, 0, 0, tzinfo=timezone.utc)


def instant(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_event_time(text).astimezone(timezone.utc)
    except ValueError:
        return None


def reference_plan(seen: dict[str, str], newest: str | None, events: list[dict]):
    delivered, fresh, duplicates = [], {}, 0
    best_time = instant(newest)
    for event in events:
        event_id = event.get("eventId")
        stamp = event.get("timestamp") if isinstance(event.get("timestamp"), str) else ""
        if isinstance(event_id, str) and event_id:
            if event_id in seen or event_id in fresh:
                duplicates += 1
                continue
            fresh[event_id] = stamp
        delivered.append(event)
        when = instant(stamp)
        if when is not None and (best_time is None or when > best_time):
            best_time, newest = when, stamp
    if best_time is not None and best_time > NOW:  # never later than the delivery time
        newest = format_time(NOW)
    return delivered, duplicates, newest, {**seen, **fresh}


def stamp_text(offset_us: int, style: int) -> str:
    when = BASE + timedelta(microseconds=offset_us)
    if style == 0:  # DocuSign's seven digits
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond:06d}0Z"
    if style == 1:  # no fraction
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == 2:  # three digits
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    if style == 3:  # an offset instead of Z
        local = when.astimezone(timezone(timedelta(hours=2)))
        return local.strftime("%Y-%m-%dT%H:%M:%S.%f+02:00")
    return ["", "yesterday", "2026-13-45T99:00:00Z"][style - 4]


stamps = st.builds(
    stamp_text,
    st.integers(0, 3 * 3600 * 10**6) | st.sampled_from([0, 10**6, 10**6 + 500_000]),
    st.sampled_from([0, 0, 0, 0, 1, 2, 3, 4, 5, 6]),
)
ids = st.sampled_from([f"id-{n}" for n in range(40)]) | st.sampled_from(["", None, 7, ["x"]])
events = st.lists(
    st.fixed_dictionaries({"eventId": ids, "timestamp": stamps | st.sampled_from([None, 3])}),
    max_size=30,
)


@settings(max_examples=400, deadline=None)
@given(
    seen_ids=st.dictionaries(st.sampled_from([f"id-{n}" for n in range(40)]), stamps, max_size=10),
    newest=st.none() | stamps,
    page=events,
    unique=st.booleans(),
)
def test_plan_page_decides_as_the_reference(seen_ids, newest, page, unique):
    if unique:  # the common case: fresh, distinct, well-formed IDs
        page = [{**e, "eventId": f"new-{i}"} for i, e in enumerate(page)]
    position = Position(newest_event_time=newest, recent_event_ids=seen_ids)
    plan = plan_page(position, "c0", Page(page, "c1"), now=NOW, page_size=1000)
    delivered, duplicates, expected_newest, remembered = reference_plan(seen_ids, newest, page)
    assert plan.events == delivered
    assert plan.duplicates == duplicates
    assert instant(plan.position.newest_event_time) == instant(expected_newest)
    assert plan.position.newest_event_time == expected_newest
    assert plan.position.recent_event_ids == remembered  # fewer than keep_at_least: all kept


@settings(max_examples=300, deadline=None)
@given(
    entries=st.lists(st.tuples(st.uuids().map(str), stamps), max_size=60, unique_by=lambda e: e[0]),
    newest=st.none() | stamps,
    keep=st.integers(0, 20),
)
def test_prune_keeps_what_the_reference_keeps(entries, newest, keep):
    ids = dict(entries)
    got = prune_recent_ids(ids, newest, keep_at_least=keep)
    items = list(ids.items())
    head, tail = items[: max(len(items) - keep, 0)], items[max(len(items) - keep, 0) :]
    newest_time = instant(newest)
    expected = {}
    if newest_time is not None:
        # The window's edge as the engine states it: whole microseconds (format_time).
        edge = newest_time - RECENT_WINDOW
        expected = {i: t for i, t in head if instant(t) is not None and instant(t) >= edge}
    expected.update(tail)
    # An ID whose time is not a real instant may be kept or dropped (keeping one more ID to
    # deduplicate against is harmless; the bound MAX_RECENT_IDS still holds).
    undecidable = {i for i, t in head if instant(t) is None}
    assert {i: t for i, t in got.items() if i not in undecidable} == expected
    assert list(got) == [i for i in ids if i in got]
