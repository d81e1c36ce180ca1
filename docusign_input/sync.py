"""The sync loop: the engine's decisions carried out against the stream, the output and the
checkpoint store, with retries, pacing and signals.

The one rule that makes delivery loss-free lives in `deliver`: write, flush, then save.
"""

from __future__ import annotations

import gc
import random
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol

from .checkpoint import Checkpoint
from .checkpoint_store import CheckpointStore
from .engine import (
    EMPTY_STREAK_MAX_S,
    Page,
    PagePlan,
    cycle_rate,
    due_events,
    newest_instant,
    next_step,
    plan_page,
    resume_after_rejected_cursor,
    start_position,
    stream_head,
)
from .errors import (
    BadAnswer,
    CheckpointError,
    ConnectorError,
    CursorRejected,
    RateLimited,
    TemporaryError,
)
from .output import Output
from .redact import scrub
from .report import Reporter
from .retry import FOLLOW_BACKOFF, RUN_BACKOFF, Backoff, pacing_delay_s
from .signals import Stopped, Stopper
from .timestamps import format_time

__all__ = ["Stopper", "Collector", "SyncResult", "delivered", "Stopped"]


class PageSource(Protocol):
    last_rate: Any

    def fetch(self, cursor: str, limit: int) -> Page: ...


@dataclass
class SyncResult:
    checkpoint: Checkpoint
    pages: int = 0
    events: int = 0
    duplicates: int = 0
    duration_s: float = 0.0
    #: How the sync ended: the head rule that matched (engine.stream_head), or why it stopped
    #: before the head; and how long `--follow` waits before the next sync (engine.next_step).
    head: str = ""
    next_sync_in_s: float = 0.0


def delivered(
    plan: PagePlan, checkpoint: Checkpoint, output: Output, stopper: Stopper
) -> Checkpoint:
    """Hand the page to the output, which returns once the receiver has it; returns the
    checkpoint that covers it, which the caller then saves (`Collector.sync`: right away for a
    page of a drain; once with the sync's summary, in `Collector._finish`, for the page that ends
    the sync, so an idle poll costs one save, one fsync, not two).

    The crash windows:
    - before the write: nothing delivered, the checkpoint still points before the page; the next
      run fetches and delivers it. Nothing lost, nothing repeated.
    - during or after the write, before the rename inside `save`: the page (or part of it) is
      delivered but not checkpointed; the next run delivers it again. Nothing lost; at most one
      page repeated, which the SIEM can absorb by eventId (Elasticsearch `id_key`).
    - after the rename: delivered and checkpointed.
    A delivery that fails raises before `save`, so an undelivered event is never checkpointed; a
    reader that dies with the page unread in the pipe is such a failure too.
    """
    output.deliver(plan.events, lambda: stopper.stopping)
    stamp = plan.position.updated_at
    return replace(
        checkpoint,
        position=plan.position,
        health=replace(
            checkpoint.health,
            events_delivered=checkpoint.health.events_delivered + len(plan.events),
            last_success=stamp,
            last_error=None,
            consecutive_failures=0,
        ),
    )


class Collector:
    """Runs syncs for one checkpoint: `sync` once (``run``) or `follow` until stopped."""

    #: A sync that takes longer reports its progress on stderr at least this often (contract).
    PROGRESS_EVERY_S = 30.0

    def __init__(
        self,
        *,
        source_factory: Callable[[Checkpoint], tuple[PageSource, Checkpoint]],
        output: Output,
        store: CheckpointStore,
        reporter: Reporter,
        stopper: Stopper,
        page_size: int,
        poll_interval_s: float,
        backfill: datetime | str | None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        backoff: Backoff = RUN_BACKOFF,
    ) -> None:
        self.source_factory = source_factory
        self.output = output
        self.store = store
        self.reporter = reporter
        self.stopper = stopper
        self.page_size = page_size
        self.poll_interval_s = poll_interval_s
        self.backfill = backfill
        self.clock = clock
        self.monotonic = monotonic
        self.rand = rand
        self.backoff = backoff
        self._source: PageSource | None = None
        #: `follow` sets it: at the stream's head the sync then waits instead of ending the run.
        self.following = False
        #: The rate-limit reserve's warning is said once per stretch of low allowance.
        self._reserve_warned = False
        #: When the stream's head was last reached (clock seconds), and the account's rate over
        #: the last cycle from head to head: what tells a short answer from the head when busy.
        self._head_at: float | None = None
        self._rate_per_s: float | None = None
        #: The checkpoint as last saved: what a failure is recorded on, and where a stop stands.
        self.current: Checkpoint | None = None
        #: Events delivered by this process, for the stop line.
        self.delivered = 0
        #: Seconds this sync spent waiting for DocuSign's rate limit (429s and pacing).
        self._rate_wait_s = 0.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=timezone.utc)

    # -- one sync -------------------------------------------------------------------------------

    def sync(self, checkpoint: Checkpoint) -> SyncResult:
        """Deliver every page until caught up (the `endCursor` is the cursor sent), saving the
        checkpoint after each one."""
        started = self.monotonic()
        self.current = checkpoint
        self._rate_wait_s = 0.0
        start = start_position(checkpoint, self.backfill, self.now())
        for warning in start.warnings:
            self.reporter.warning(warning)
        if start.possible_gap is not None:
            checkpoint = checkpoint.with_health(possible_gap=start.possible_gap)
        if checkpoint.cursor is None or start.possible_gap is not None:
            # Save where we start before asking DocuSign anything: with no backfill, "now" must
            # not slide forward if this first sync fails and is retried later.
            checkpoint = checkpoint.with_position(
                cursor=start.cursor, updated_at=format_time(self.now())
            )
            self.store.save(checkpoint)
            self.current = checkpoint
        source, checkpoint = self._source_for(checkpoint)
        self.current = checkpoint
        result = SyncResult(checkpoint)
        cursor = start.cursor
        empty_since: float | None = None
        next_progress = started + self.PROGRESS_EVERY_S
        rejected_once = False
        received = 0  # events (duplicates included) since the last head
        previous_short = False
        while True:
            if self.stopper.stopping:
                raise Stopped()
            try:
                page = self._fetch(source, cursor)
            except CursorRejected as exc:
                if rejected_once:
                    raise BadAnswer(exc.cause, trace_token=exc.trace_token) from None
                rejected_once = True
                cursor = resume_after_rejected_cursor(result.checkpoint.position, self.now())
                self.reporter.warning(
                    f"{exc.line()} Resuming from {cursor}, shortly before the newest delivered "
                    "event; events seen again are dropped as duplicates"
                )
                continue
            plan = plan_page(
                result.checkpoint.position, cursor, page, now=self.now(), page_size=self.page_size
            )
            # Saved after its delivery: once with the sync's summary (`_finish`) if it ends the
            # sync, else right below (see `delivered`).
            result.checkpoint = delivered(plan, result.checkpoint, self.output, self.stopper)
            self.current = result.checkpoint
            self.delivered += len(plan.events)
            result.pages += 1
            result.events += len(plan.events)
            result.duplicates += plan.duplicates
            if plan.duplicates:
                self.reporter.debug("dropped events already delivered", duplicates=plan.duplicates)
            now_s = self.clock()
            head_at = self._head_at
            head = stream_head(
                cursor,
                page,
                page_size=self.page_size,
                now=self.now(),
                poll_interval_s=self.poll_interval_s,
                due_events=due_events(
                    self._rate_per_s, now_s - head_at if head_at else -1.0, received
                ),
                previous_short=previous_short,
            )
            received += len(page.events)
            previous_short = len(page.events) < self.page_size
            step = next_step(
                head,
                follow=self.following,
                poll_interval_s=self.poll_interval_s,
                pacing_s=self._pacing_s(source),
            )
            if step.action != "drain":
                result.head, result.next_sync_in_s = head.reason, step.wait_s
                if head_at is not None:
                    self._rate_per_s = cycle_rate(received, now_s - head_at)
                self._head_at = now_s
                break
            self.store.save(result.checkpoint)  # before anything else: the page is delivered
            now_m = self.monotonic()
            if page.events:
                empty_since = None
            elif empty_since is None:
                empty_since = now_m
            elif now_m - empty_since > EMPTY_STREAK_MAX_S:
                self.reporter.info(
                    "ending this sync: empty pages for 5 minutes while the cursor still moves; "
                    "the next sync continues from the saved cursor",
                    pages=result.pages,
                )
                result.head, result.next_sync_in_s = "empty pages", self.poll_interval_s
                self._head_at = None
                break
            if not self.following and step.wait_s > self.backoff.max_hint_s:
                # A scheduled run does not sit out the reserve's pause: the next run continues.
                result.head = "rate-limit reserve"
                self._head_at = None
                break
            if now_m >= next_progress:
                self._progress(result, now_m - started)
                next_progress = now_m + self.PROGRESS_EVERY_S
            cursor = page.end_cursor
            if step.wait_s > 0:
                self._rate_wait_s += step.wait_s
                self.stopper.sleep(step.wait_s)
        result.duration_s = self.monotonic() - started
        return self._finish(result)

    def _pacing_s(self, source: PageSource) -> float:
        """The rate-limit reserve's pause before the next request (retry.pacing_delay_s), said
        once on stderr each time the allowance falls below the reserve."""
        rate = source.last_rate
        pause = pacing_delay_s(rate, self.clock())
        if pause <= 0:
            self._reserve_warned = False
        elif not self._reserve_warned:
            self._reserve_warned = True
            self.reporter.warning(
                "DocuSign's rate-limit allowance is below the reserve: spreading the remaining "
                "requests until the reset, so other integrations on the account keep theirs",
                remaining=rate.remaining,
                limit=rate.limit,
                pause_s=round(pause, 1),
            )
        return pause

    def lag_s(self, checkpoint: Checkpoint) -> float | None:
        """How far the newest delivered event is behind now (never negative)."""
        newest = newest_instant(checkpoint.position, self.now())
        return None if newest is None else round((self.now() - newest).total_seconds(), 1)

    def _progress(self, result: SyncResult, elapsed_s: float) -> None:
        self.reporter.info(
            "syncing",
            events=result.events,
            pages=result.pages,
            newest_event_time=result.checkpoint.newest_event_time,
            lag_s=self.lag_s(result.checkpoint),
            events_per_s=round(result.events / elapsed_s, 1) if elapsed_s > 0 else None,
            rate_limit_wait_s=round(self._rate_wait_s, 1),
        )

    def _finish(self, result: SyncResult) -> SyncResult:
        now = self.now()
        lag_s = self.lag_s(result.checkpoint)
        summary = {
            "finished_at": format_time(now),
            "pages": result.pages,
            "events": result.events,
            "duplicates": result.duplicates,
            "duration_s": round(result.duration_s, 3),
            "lag_s": lag_s,
            "rate_limit_wait_s": round(self._rate_wait_s, 1),
        }
        result.checkpoint = result.checkpoint.with_health(
            last_sync=summary, last_success=format_time(now), last_error=None
        )
        self.store.save(result.checkpoint)
        self.current = result.checkpoint
        # A poll that found nothing is not news at info level (contract: debug).
        log = self.reporter.info if result.events or result.duplicates else self.reporter.debug
        log(
            "sync done",
            pages=result.pages,
            events=result.events,
            duplicates=result.duplicates,
            lag_s=lag_s,
            newest_event_time=result.checkpoint.newest_event_time,
            duration_s=summary["duration_s"],
            head=result.head or None,
        )
        return result

    def _source_for(self, checkpoint: Checkpoint) -> tuple[PageSource, Checkpoint]:
        if self._source is None:
            self._source, checkpoint = self.source_factory(checkpoint)
        return self._source, checkpoint

    def _fetch(self, source: PageSource, cursor: str) -> Page:
        """One page, with quick retries for what is likely a blip (errors that say `retry_soon`),
        within this mode's budget."""
        retry = 0
        while True:
            try:
                return source.fetch(cursor, self.page_size)
            except ConnectorError as exc:
                if not exc.retry_soon or self.backoff.gives_up(retry):
                    raise
                hint = getattr(exc, "retry_after_s", None)
                if hint is not None and self.backoff.hint_beyond_budget(hint):
                    raise _asked_to_wait(exc, hint, self.backoff.max_hint_s, self.now()) from None
                delay = self.backoff.delay_s(retry, self.rand, hint)
                self.reporter.warning(exc.line(), retry=retry + 1, wait_s=round(delay, 1))
                if isinstance(exc, RateLimited):
                    self._rate_wait_s += delay
                del exc  # its traceback holds frames alive through the wait
                self.stopper.sleep(delay)
                retry += 1

    # -- follow -------------------------------------------------------------------------------

    def follow(self, checkpoint: Checkpoint) -> None:
        """Sync, wait the poll interval, repeat, until stopped.

        Never crash-loops: anything that can heal outside the program (network, DocuSign errors,
        consent not yet granted, Monitor not yet enabled) is logged, recorded in the checkpoint's
        health and retried with a backoff capped at 15 minutes. Only what needs the user to act
        on this machine (settings, disk, stdout) ends the process.
        """
        failures = 0
        self.following = True
        while True:
            try:
                result = self.sync(checkpoint)
                checkpoint = result.checkpoint
                failures = 0
                self.stopper.sleep(result.next_sync_in_s)
            except ConnectorError as exc:
                if not exc.heals_outside:
                    raise
                checkpoint = self.record_failure(checkpoint, exc)
                delay = Backoff(exc.follow_base_s, FOLLOW_BACKOFF.cap_s, None).delay_s(
                    failures, self.rand, _capped_hint(exc, FOLLOW_BACKOFF.max_hint_s)
                )
                self.reporter.error(exc.line(), next_attempt_in_s=round(delay, 1))
                failures += 1
                del exc
                # A failed request leaves reference cycles (urllib3 keeps the exceptions it
                # caught in frame locals) whose frames reach, through f_back, this round's
                # checkpoint and pages. With the relaxed collector thresholds an idle outage
                # allocates too little to ever collect them: collect now, once per round.
                gc.collect()
                self.stopper.sleep(delay)

    def record_failure(self, checkpoint: Checkpoint, exc: ConnectorError) -> Checkpoint:
        """Note the error in the checkpoint's health for `status`; the cursor is untouched."""
        # The checkpoint as last saved, in memory: re-reading the file here put a fresh copy of
        # the recent IDs (megabytes) into every failed round of an outage.
        current = self.current if self.current is not None else checkpoint
        updated = current.with_health(
            last_error=failure_record(exc, self.now()),
            consecutive_failures=current.health.consecutive_failures + 1,
        )
        try:
            self.store.save(updated)
        except CheckpointError:
            return current
        self.current = updated
        return updated

def _capped_hint(exc: ConnectorError, max_hint_s: float) -> float | None:
    hint = getattr(exc, "retry_after_s", None)
    return None if hint is None else min(hint, max_hint_s)


def _asked_to_wait(
    exc: ConnectorError, hint_s: float, budget_s: float, now: datetime
) -> TemporaryError:
    """A server hint longer than a scheduled run waits: exit 75 now, saying when to come back."""
    until = format_time(now + timedelta(seconds=hint_s))
    error = TemporaryError(
        f"{exc.cause.rstrip('.')}; DocuSign asked to wait {hint_s:.0f} s (until {until}), longer "
        f"than a scheduled run waits ({budget_s:.0f} s)",
        "nothing is lost: the next scheduled run after that time continues from the checkpoint",
        trace_token=exc.trace_token,
        retry_after_s=hint_s,
    )
    error.retry_at = until
    return error


def failure_record(exc: ConnectorError, now: datetime) -> dict[str, Any]:
    """What the checkpoint keeps of a failure for `status`: the error's kind, cause, exit code,
    and DocuSign's trace token. Never its fix: a fix may carry a secret (the consent URL holds
    the integration key), and `status` prints the checkpoint on every call."""
    record: dict[str, Any] = {
        "time": format_time(now),
        "error": type(exc).__name__,
        "cause": scrub(exc.cause.rstrip(".")),
        "exit_code": exc.exit_code,
        "heals_outside": exc.heals_outside,
    }
    if exc.trace_token:
        record["trace_token"] = exc.trace_token
    retry_at = getattr(exc, "retry_at", None)
    if retry_at:
        record["retry_at"] = retry_at
    return record
