"""The sync engine's decisions, with no I/O: where to start, what of a page to deliver, what the
next checkpoint is, when the sync has reached the stream's head, and what to do next.

Everything here takes values and returns values, so the rules about DocuSign's cursor (a repeated
``endCursor`` means caught up), ingestion lag (events arrive up to ~5 minutes after their
``timestamp``, out of order) and deduplication can be tested without a network, a disk or a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Any, Mapping

from .checkpoint import Checkpoint, Position
from .retry import SCHEDULED_BACKOFF
from .timestamps import epoch_ns, format_time, parse_event_time

__all__ = [
    "Page",
    "PagePlan",
    "Head",
    "Step",
    "stream_head",
    "next_step",
    "due_events",
    "cycle_rate",
    "INGESTION_LAG",
    "Start",
    "plan_page",
    "start_position",
    "resume_after_rejected_cursor",
    "prune_recent_ids",
    "RETENTION",
    "RECENT_WINDOW",
    "RESUME_OVERLAP",
    "EMPTY_STREAK_MAX_S",
    "newest_instant",
    "scheduled_backoff_s",
]

#: DocuSign keeps about seven days of events; a longer outage may have lost some.
RETENTION = timedelta(days=7)
#: A backfill of exactly the retention (`7d`, as README suggests) is resolved when the settings are
#: read and used a moment later; it only warns once it is older than this much past the retention.
BACKFILL_SLACK = timedelta(minutes=1)
#: Resuming by time after a rejected cursor starts this far before the newest delivered event:
#: more than DocuSign's ~5 minutes of ingestion lag, so nothing ingested late is skipped.
RESUME_OVERLAP = timedelta(minutes=10)
#: Event IDs are remembered this far behind the newest event time, so that everything a resume
#: with RESUME_OVERLAP can replay (ingested up to 5 minutes after its timestamp) is recognised.
RECENT_WINDOW = RESUME_OVERLAP + timedelta(minutes=5)
#: Upper bound on remembered IDs, whatever the event rate: keeps the checkpoint small.
MAX_RECENT_IDS = 50_000
#: How long a sync keeps following empty pages whose cursor still moves. An empty page with a new
#: cursor is progress (DocuSign skipping a quiet stretch), not the end: the end is an `endCursor`
#: equal to the cursor sent. This only bounds a stream that never says so, by time rather than by
#: a count of pages; the next sync continues from the saved cursor.
EMPTY_STREAK_MAX_S = 300.0
#: DocuSign ingests an event up to about five minutes after its own `timestamp`; the stream is in
#: ingestion order, so a page's timestamps say where it stands only to within this much.
INGESTION_LAG = timedelta(minutes=5)
#: The poll interval's share of the head window is capped: with a long interval (an hour) a whole
#: backlog would be "recent" and its short pages taken for the head.
HEAD_WINDOW_POLL_MAX_S = 60.0


@dataclass(frozen=True)
class Page:
    """One answer of the Monitor stream."""

    events: list[dict[str, Any]]
    end_cursor: str
    trace_token: str | None = None


@dataclass(frozen=True)
class PagePlan:
    """What to do with one page: deliver `events`, then save `position`."""

    events: list[dict[str, Any]]
    duplicates: int
    position: Position


@dataclass(frozen=True)
class Start:
    """Where a sync begins, and what the user must be told about it."""

    cursor: str  # "" means: let DocuSign choose its default start (seven days back)
    warnings: list[str] = field(default_factory=list)
    possible_gap: Mapping[str, Any] | None = None


def start_position(
    checkpoint: Checkpoint | Position | None, backfill: datetime | str | None, now: datetime
) -> Start:
    """The first cursor of a sync.

    `backfill` is the resolved Backfill Start Time: a datetime, "earliest", or None (start now).
    It only matters when the checkpoint has no cursor yet.
    """
    if checkpoint is not None and checkpoint.cursor is not None:  # "" = earliest, saved
        saved = _parse_or_none(checkpoint.updated_at)
        if saved is not None and now - saved > RETENTION:
            days = (now - saved).total_seconds() / 86400
            gap = {
                "since": checkpoint.updated_at,
                "detected_at": format_time(now),
                "days": round(days, 1),
            }
            warning = (
                f"the checkpoint was last saved {days:.1f} days ago ({checkpoint.updated_at}), "
                f"longer than DocuSign's {RETENTION.days}-day retention: events between then and "
                "the oldest event DocuSign still returns may be missing"
            )
            return Start(checkpoint.cursor, [warning], gap)
        return Start(checkpoint.cursor)
    if backfill == "earliest":
        return Start("")
    if isinstance(backfill, datetime):
        warnings = []
        if now - backfill > RETENTION + BACKFILL_SLACK:
            warnings.append(
                f"the backfill start {format_time(backfill)} is older than DocuSign's "
                f"{RETENTION.days}-day retention: the earliest events may no longer be available"
            )
        return Start(format_time(backfill), warnings)
    return Start(format_time(now))


def newest_instant(position: Position, now: datetime) -> datetime | None:
    """The newest delivered event's time, never later than `now`: the one reading of the newest
    event time for the dedup window, a resume by time, and the lag. (plan_page already clamps it
    to the delivery time; this also holds for a checkpoint written before it did.)"""
    newest = _parse_or_none(position.newest_event_time)
    return None if newest is None else min(newest, now)


def resume_after_rejected_cursor(position: Position, now: datetime) -> str:
    """A time cursor to use when DocuSign refuses the stored one.

    Starts RESUME_OVERLAP before the newest delivered event (clamped, see newest_instant); the
    replayed overlap is removed by deduplication (see RECENT_WINDOW).
    """
    anchor = newest_instant(position, now) or _parse_or_none(position.updated_at) or now
    return format_time(min(anchor, now) - RESUME_OVERLAP)


def plan_page(
    position: Position,
    sent_cursor: str,
    page: Page,
    *,
    now: datetime,
    page_size: int,
) -> PagePlan:
    """Drop already-delivered events and compute the position that covers this page."""
    seen = position.recent_event_ids
    fresh_ids: dict[str, str] = {}
    events: list[dict[str, Any]] = []
    duplicates = 0
    newest = position.newest_event_time
    newest_key = _order_key(newest) if newest else ""
    newest_s = newest_key[:19]
    for event in page.events:
        event_id = event.get("eventId")
        timestamp = event.get("timestamp")
        if not isinstance(timestamp, str):
            timestamp = ""
        if isinstance(event_id, str) and event_id:
            if event_id in seen or event_id in fresh_ids:
                duplicates += 1
                continue
            fresh_ids[event_id] = timestamp
        events.append(event)
        if not timestamp or (
            # A UTC "...Z" time in an earlier whole second than the newest cannot be newer: no
            # order key needed (inline, as this runs for every event).
            timestamp[:19] < newest_s
            and timestamp[-1:] == "Z"
            and timestamp[10:11] == "T"
            and len(timestamp) >= 20
        ):
            continue
        key = _order_key(timestamp)
        if key > newest_key:
            newest, newest_key, newest_s = timestamp, key, key[:19]
    stamp = format_time(now)
    if newest_key > _order_key(stamp):
        # An event stamped in the future (a clock gone wrong at DocuSign or in the event): its
        # time would shrink the dedup window and move a resume past events still to come.
        newest = stamp
    recent = prune_recent_ids({**seen, **fresh_ids}, newest, keep_at_least=2 * page_size)
    next_position = Position(
        cursor=page.end_cursor,
        newest_event_time=newest,
        recent_event_ids=recent,
        updated_at=stamp,
    )
    return PagePlan(events, duplicates, next_position)


@dataclass(frozen=True)
class Head:
    """Whether a page reached the stream's head, and by which rule (docs/contract.md)."""

    reached: bool
    reason: str = ""


#: The two ways a page shows the head (the `reason` of a reached Head).
UNMOVED = "cursor did not move"
SHORT_AND_RECENT = "short page of recent events"


def stream_head(
    sent_cursor: str,
    page: Page,
    *,
    page_size: int,
    now: datetime,
    poll_interval_s: float,
    due_events: float | None = None,
    previous_short: bool = False,
) -> Head:
    """Has the sync reached the stream's head with this page?

    Yes when the `endCursor` is the cursor sent (nothing new), or when the page is shorter than
    `page_size` *and* holds an event stamped within the head window of `now`: INGESTION_LAG plus
    the poll interval, the latter counted up to HEAD_WINDOW_POLL_MAX. A short page alone is not
    the head: DocuSign's `limit` is a maximum, not a promise, and a backlog may come in short
    pages; their events are older than the window, so the sync goes on at full speed. At the head
    an answer holds what was ingested since the previous request, each event stamped at most
    INGESTION_LAG before its ingestion, so a busy account's always has such an event; a quiet
    account's single event ingested early in a long interval may miss it, and then the next
    answer (empty, the cursor unmoved) ends the sync: one request more. Events without a usable
    timestamp fall back to the cursor rule the same way.

    Timestamps place a page only to within the ingestion lag, so a short answer in the middle of
    a backlog less than a few minutes old looks like the head too. `due_events` (the events the
    account's recent rate says were due since the last head, less those received before this
    page; see due_events) tells them apart on a busy account: when at least half a page more was
    due than this page holds, it is a short answer, and the sync goes on, once: a second short
    page in a row (`previous_short`) is the head whatever was due, so a rate that dropped costs
    one request, never a loop.
    """
    if page.end_cursor == sent_cursor:
        return Head(True, UNMOVED)
    if not page.events or len(page.events) >= page_size:
        return Head(False)
    poll_s = min(poll_interval_s, HEAD_WINDOW_POLL_MAX_S) if poll_interval_s >= 0 else 0.0
    threshold = _order_key(format_time(now - INGESTION_LAG - timedelta(seconds=poll_s)))
    for event in reversed(page.events):  # the newest ingested come last: usually one look
        timestamp = event.get("timestamp")
        if isinstance(timestamp, str) and _order_key(timestamp) >= threshold:
            behind = due_events is not None and due_events - len(page.events) >= page_size / 2
            return Head(False) if behind and not previous_short else Head(True, SHORT_AND_RECENT)
    return Head(False)


def due_events(
    rate_per_s: float | None, since_head_s: float, received: int
) -> float | None:
    """The events still due at the stream's head: the account's rate (events a second over the
    last cycle from head to head) times the time since the last head, less what came since.
    None without a rate (the first cycle of a process, a scheduled run): the rule then uses
    timestamps alone."""
    if rate_per_s is None or not since_head_s >= 0:
        return None
    return rate_per_s * since_head_s - received


def cycle_rate(events: int, cycle_s: float) -> float | None:
    """Events a second over one cycle from the stream's head to the head again."""
    return events / cycle_s if cycle_s > 0 else None


@dataclass(frozen=True)
class Step:
    """What follows a page: `drain` (the next page after `wait_s`, pacing only), `wait` (at the
    head with --follow: the next sync after `wait_s`) or `end` (at the head, a scheduled run)."""

    action: str
    wait_s: float = 0.0


def next_step(head: Head, *, follow: bool, poll_interval_s: float, pacing_s: float = 0.0) -> Step:
    """Before the head: drain at full speed (only the rate-limit reserve may slow it). At the
    head: `--follow` waits the poll interval (or the reserve's pause, if longer); a scheduled
    `run` ends, exit 0."""
    if not head.reached:
        return Step("drain", max(0.0, pacing_s))
    if not follow:
        return Step("end")
    return Step("wait", max(poll_interval_s, pacing_s))


def prune_recent_ids(
    ids: Mapping[str, str], newest: str | None, *, keep_at_least: int
) -> dict[str, str]:
    """Bound the remembered IDs: always the last `keep_at_least` (two pages, against a replayed
    page), plus any whose event is within RECENT_WINDOW of the newest (against a resume by time),
    never more than MAX_RECENT_IDS."""
    # Walks the map without building a list of (id, time) tuples: at 2,000-event pages those
    # tuples were most of the garbage collector's work during a drain.
    head_count = len(ids) - keep_at_least
    if head_count <= 0:
        return dict(ids)
    kept: dict[str, str] = {}
    newest_time = _parse_or_none(newest)
    if newest_time is not None:
        threshold = _order_key(format_time(newest_time - RECENT_WINDOW))
        threshold_s = threshold[:19]
        for event_id, timestamp in islice(ids.items(), head_count):
            # For UTC "...Z" times (nearly all) whole seconds decide, without building the key.
            if timestamp[-1:] == "Z" and timestamp[10:11] == "T" and len(timestamp) >= 20:
                seconds = timestamp[:19]
                if seconds > threshold_s:
                    kept[event_id] = timestamp
                    continue
                if seconds < threshold_s:
                    continue
            if timestamp and _order_key(timestamp) >= threshold:
                kept[event_id] = timestamp
    for event_id, timestamp in islice(ids.items(), head_count, None):
        kept[event_id] = timestamp
    excess = len(kept) - MAX_RECENT_IDS
    if excess > 0:
        return dict(islice(kept.items(), excess, None))
    return kept


def scheduled_backoff_s(checkpoint: Checkpoint, now: datetime) -> float:
    """How long a scheduled `run` should still leave DocuSign alone after repeated failures.

    Fluent Bit re-runs a command every interval whatever its exit code, and cron does the same: a
    run that fails on every tick would hit DocuSign's token endpoint forever. The first failure
    costs nothing (the next tick tries again, so a fix is picked up at once); after that the
    pause doubles from one minute up to fifteen (retry.SCHEDULED_BACKOFF). Only failures that
    heal outside the program count (a full disk is fixed here and picked up at the next tick),
    and a time DocuSign asked for (Retry-After) is waited out in any case.
    """
    error = checkpoint.health.last_error
    if not error:
        return 0.0
    asked = _parse_or_none(error.get("retry_at"))
    asked_s = 0.0 if asked is None else (asked - now).total_seconds()
    failures = checkpoint.health.consecutive_failures
    failed_at = _parse_or_none(error.get("time"))
    if failures < 2 or failed_at is None or not error.get("heals_outside", True):
        return max(0.0, asked_s)
    pause = SCHEDULED_BACKOFF.delay_s(failures - 2, lambda: 1.0)
    return max(0.0, asked_s, pause - (now - failed_at).total_seconds())


def _order_key(timestamp: str) -> str:
    """A string that sorts like the instant: its UTC seconds as ``YYYY-MM-DDTHH:MM:SS`` and nine
    digits of nanoseconds, read by `timestamps.epoch_ns` (the one reader of stamps); "" for a
    text that is not a time (which then never becomes the newest event time).

    Comparing the raw strings would put ``09:10:06Z`` after ``09:10:06.05Z`` ('Z' > '.'), and
    offsets do not sort at all. DocuSign's UTC ``...Z`` shape keeps its own seconds text.
    """
    try:
        seconds, nanos = epoch_ns(timestamp)
    except ValueError:
        return ""
    if timestamp[-1:] == "Z" and timestamp[10:11] == "T":
        return timestamp[:19] + f"{nanos:09d}"
    when = _EPOCH + timedelta(seconds=seconds)
    return (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}:"
        f"{when.second:02d}{nanos:09d}"
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _parse_or_none(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_event_time(text).astimezone(timezone.utc)
    except ValueError:
        return None
