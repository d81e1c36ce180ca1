"""The sync loop: the engine's decisions carried out against the stream, the output and the
checkpoint store, with retries, pacing and signals.

The one rule that makes delivery loss-free lives in `deliver`: write, flush, then save.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable, Protocol

from .checkpoint import Checkpoint, CheckpointStore
from .engine import (
    MAX_EMPTY_PAGES,
    Page,
    PagePlan,
    plan_page,
    resume_after_rejected_cursor,
    start_position,
)
from .errors import (
    AccessDenied,
    BadAnswer,
    CheckpointError,
    ConnectorError,
    CursorRejected,
    TemporaryError,
    TlsFailure,
    TokenRejected,
)
from .output import Output
from .report import Reporter
from .retry import FOLLOW_BACKOFF, RUN_BACKOFF, Backoff, pacing_delay_s
from .timestamps import format_time, parse_event_time

__all__ = ["Stopper", "Collector", "SyncResult", "deliver", "Stopped"]


class Stopped(Exception):
    """SIGTERM or SIGINT arrived while waiting; the checkpoint is already consistent."""


class Stopper:
    """SIGTERM/SIGINT handling: ask the loop to stop, and make sure the process ends in time.

    The loop checks `stopping` between pages and every wait is interruptible, so a stop normally
    takes milliseconds. A write blocked by a stalled reader (backpressure) or a request in flight
    cannot be interrupted safely from Python; for those a watchdog ends the process after
    `grace_s`. That is safe at any instant: the checkpoint file is only ever replaced by rename,
    and whatever was being written was not yet checkpointed, so the next run delivers it again.
    """

    def __init__(self, grace_s: float = 4.0, on_force: Callable[[], None] | None = None) -> None:
        self.grace_s = grace_s
        self.on_force = on_force
        self._event = threading.Event()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    @property
    def stopping(self) -> bool:
        return self._event.is_set()

    def request_stop(self) -> None:
        if self._event.is_set():
            return  # a second signal changes nothing: the watchdog already runs
        self._event.set()
        watchdog = threading.Timer(self.grace_s, self._force_exit)
        watchdog.daemon = True
        watchdog.start()

    def sleep(self, seconds: float) -> None:
        """Wait, unless a stop is requested; then raise Stopped."""
        if seconds > 0 and self._event.wait(seconds):
            raise Stopped()
        if self._event.is_set():
            raise Stopped()

    def _handle(self, signum: int, frame: Any) -> None:
        self.request_stop()

    def _force_exit(self) -> None:
        if self.on_force is not None:
            self.on_force()
        os._exit(0)


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


def deliver(plan: PagePlan, output: Output, store: CheckpointStore, stopper: Stopper) -> None:
    """Write, flush, wait for the reader to take the page from the pipe, then save.

    The crash windows:
    - before the write: nothing delivered, the checkpoint still points before the page; the next
      run fetches and delivers it. Nothing lost, nothing repeated.
    - during or after the write, before the rename inside `save`: the page (or part of it) is
      delivered but not checkpointed; the next run delivers it again. Nothing lost; at most one
      page repeated, which the SIEM can absorb by eventId (Elasticsearch `id_key`).
    - after the rename: delivered and checkpointed.
    A write that fails raises before `save`, so an undelivered event is never checkpointed; a
    reader that dies with the page unread in the pipe is such a failure too.
    """
    output.write_page(plan.events)
    if plan.events and not output.wait_until_read(lambda: stopper.stopping):
        raise Stopped()
    store.save(plan.checkpoint)


class Collector:
    """Runs syncs for one checkpoint: `sync` once (``run``) or `follow` until stopped."""

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
        self.rand = rand
        self.backoff = backoff
        self._source: PageSource | None = None

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=timezone.utc)

    # -- one sync -------------------------------------------------------------------------------

    def sync(self, checkpoint: Checkpoint) -> SyncResult:
        """Deliver every page until caught up, saving the checkpoint after each one."""
        started = time.monotonic()
        start = start_position(checkpoint, self.backfill, self.now())
        for warning in start.warnings:
            self.reporter.warning(warning)
        if start.possible_gap is not None:
            checkpoint = checkpoint.with_health(possible_gap=start.possible_gap)
        if checkpoint.cursor is None or start.possible_gap is not None:
            # Save where we start before asking DocuSign anything: with no backfill, "now" must
            # not slide forward if this first sync fails and is retried later.
            checkpoint = replace(
                checkpoint, cursor=start.cursor, updated_at=format_time(self.now())
            )
            self.store.save(checkpoint)
        source, checkpoint = self._source_for(checkpoint)
        result = SyncResult(checkpoint)
        cursor = start.cursor
        empty_pages = 0
        rejected_once = False
        while True:
            if self.stopper.stopping:
                raise Stopped()
            try:
                page = self._fetch(source, cursor)
            except CursorRejected as exc:
                if rejected_once:
                    raise BadAnswer(exc.cause, trace_token=exc.trace_token) from None
                rejected_once = True
                cursor = resume_after_rejected_cursor(result.checkpoint, self.now())
                self.reporter.warning(
                    f"{exc.line()} Resuming from {cursor}, shortly before the newest delivered "
                    "event; events seen again are dropped as duplicates"
                )
                continue
            plan = plan_page(
                result.checkpoint, cursor, page, now=self.now(), page_size=self.page_size
            )
            deliver(plan, self.output, self.store, self.stopper)
            result.checkpoint = plan.checkpoint
            result.pages += 1
            result.events += len(plan.events)
            result.duplicates += plan.duplicates
            if plan.duplicates:
                self.reporter.debug("dropped events already delivered", duplicates=plan.duplicates)
            if plan.caught_up:
                break
            empty_pages = 0 if page.events else empty_pages + 1
            if empty_pages >= MAX_EMPTY_PAGES:
                break
            cursor = page.end_cursor
            pause = pacing_delay_s(source.last_rate, self.clock())
            if pause > 0:
                self.reporter.info(
                    "slowing down: DocuSign's rate-limit allowance is running low",
                    pause_s=round(pause, 1),
                )
                self.stopper.sleep(pause)
        result.duration_s = time.monotonic() - started
        return self._finish(result)

    def _finish(self, result: SyncResult) -> SyncResult:
        now = self.now()
        lag_s = None
        if result.checkpoint.newest_event_time:
            try:
                newest = parse_event_time(result.checkpoint.newest_event_time)
                lag_s = round((now - newest).total_seconds(), 1)
            except ValueError:
                pass
        summary = {
            "finished_at": format_time(now),
            "pages": result.pages,
            "events": result.events,
            "duplicates": result.duplicates,
            "duration_s": round(result.duration_s, 3),
            "lag_s": lag_s,
        }
        result.checkpoint = result.checkpoint.with_health(
            last_sync=summary, last_success=format_time(now), last_error=None
        )
        self.store.save(result.checkpoint)
        self.reporter.info(
            "sync done",
            pages=result.pages,
            events=result.events,
            duplicates=result.duplicates,
            lag_s=lag_s,
            newest_event_time=result.checkpoint.newest_event_time,
            duration_s=summary["duration_s"],
        )
        return result

    def _source_for(self, checkpoint: Checkpoint) -> tuple[PageSource, Checkpoint]:
        if self._source is None:
            self._source, checkpoint = self.source_factory(checkpoint)
        return self._source, checkpoint

    def _fetch(self, source: PageSource, cursor: str) -> Page:
        """One page, with quick retries for what is likely a blip."""
        retry = 0
        while True:
            try:
                return source.fetch(cursor, self.page_size)
            except (TemporaryError, BadAnswer) as exc:
                if isinstance(exc, TlsFailure) or self.backoff.gives_up(retry):
                    raise
                delay = self.backoff.delay_s(retry, self.rand, getattr(exc, "retry_after_s", None))
                self.reporter.warning(exc.line(), retry=retry + 1, wait_s=round(delay, 1))
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
        while True:
            try:
                checkpoint = self.sync(checkpoint).checkpoint
                failures = 0
                self.stopper.sleep(self.poll_interval_s)
            except (TemporaryError, BadAnswer, AccessDenied, TokenRejected) as exc:
                checkpoint = self.record_failure(checkpoint, exc)
                delay = FOLLOW_BACKOFF.delay_s(
                    failures, self.rand, getattr(exc, "retry_after_s", None)
                )
                # Access problems need a person; don't ask DocuSign again within the minute.
                if isinstance(exc, AccessDenied):
                    delay = max(delay, min(60.0 * 2**failures, FOLLOW_BACKOFF.cap_s))
                self.reporter.error(exc.line(), next_attempt_in_s=round(delay, 1))
                failures += 1
                self.stopper.sleep(delay)

    def record_failure(self, checkpoint: Checkpoint, exc: ConnectorError) -> Checkpoint:
        """Note the error in the checkpoint's health for `status`; the cursor is untouched."""
        try:
            current = self.store.load() or checkpoint
        except ConnectorError:
            current = checkpoint
        updated = current.with_health(
            last_error={
                "time": format_time(self.now()),
                "message": exc.line(),
                "exit_code": exc.exit_code,
            },
            consecutive_failures=current.health.consecutive_failures + 1,
        )
        try:
            self.store.save(updated)
        except CheckpointError:
            return current
        return updated
