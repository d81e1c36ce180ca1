"""`check`: a preflight that finds every problem it can in one pass, and changes nothing.

A new setup fails for several reasons at once (a misspelt variable, a key file others can read,
a checkpoint directory the service user cannot write); one run per problem is a slow way to learn
them. So each step below records what it found and the next step runs whenever it does not depend
on a failed one: every settings problem, the checkpoint (directory writable, lock free, file
readable and of this user), a token, one page, the output, and what the first `run` will fetch.

The only write: after a fully successful check, the scheduled-run backoff recorded in the
checkpoint is cleared, so that the next scheduled `run` tries at once (the contract's promise to
someone who just fixed the cause).
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable

from .checkpoint import Checkpoint
from .errors import CheckpointError, ConnectorError
from .redact import scrub
from .settings import Settings, SettingsProblems
from .timestamps import EARLIEST, format_time, parse_event_time

if TYPE_CHECKING:
    from .auth import TokenProvider
    from .lifecycle import SourceFactory

__all__ = ["Preflight", "PreflightFailed", "newest_event_time"]


class PreflightFailed(ConnectorError):
    """`check` found problems (listed on stdout); exits with the first one's code."""

    def __init__(self, problems: list[ConnectorError]) -> None:
        self.problems = problems
        first = problems[0]
        self.exit_code = first.exit_code
        if len(problems) == 1:
            super().__init__(first.cause, first.fix, trace_token=first.trace_token)
        else:
            super().__init__(
                f"check found {len(problems)} problems (listed on stdout); the first: "
                f"{first.cause.rstrip('.')}",
                first.fix,
                trace_token=first.trace_token,
            )


def newest_event_time(events: list[dict[str, Any]]) -> str | None:
    """The ``timestamp`` of the newest event, compared as instants, not as strings
    (``09:10:06Z`` sorts after ``09:10:06.05Z`` as text, and offsets do not sort at all)."""
    best: tuple[datetime, str] | None = None
    for event in events:
        stamp = event.get("timestamp")
        if not isinstance(stamp, str):
            continue
        try:
            when = parse_event_time(stamp)
        except ValueError:
            continue
        if best is None or when > best[0]:
            best = (when, stamp)
    return best[1] if best else None


@dataclass
class Preflight:
    """One `check`: the steps write their report lines to ``out`` and collect problems."""

    out: IO[str]
    now: datetime
    problems: list[ConnectorError] = field(default_factory=list)

    def line(self, name: str, text: str) -> None:
        # A report people paste into tickets: no integration key even in a consent URL.
        text = scrub(text, consent_url=False)
        self.out.write(f"{name:<24} {text}\n")
        self.out.flush()

    def problem(self, name: str, exc: ConnectorError) -> None:
        self.problems.append(exc)
        self.line(name, f"PROBLEM: {exc.line()}")

    # -- the steps --------------------------------------------------------------------------

    def settings(self, load: Callable[[], Settings]) -> Settings | None:
        self.out.write("Settings\n")
        try:
            settings = load()
        except SettingsProblems as exc:
            for problem in exc.problems:
                self.problems.append(problem)
                self.out.write(scrub(f"  PROBLEM: {problem.line()}\n", consent_url=False))
            self.out.flush()
            return None
        for name, value in settings.describe("check"):
            self.out.write(scrub(f"  {name:<22} {value}\n", consent_url=False))
        warnings = (*settings.warnings, settings.backfill_warning)
        for warning in warnings:
            if warning:
                self.out.write(scrub(f"  warning: {warning}\n", consent_url=False))
        self.out.flush()
        return settings

    def checkpoint(
        self, settings: Settings, owner_check: Callable[[Settings, Checkpoint], None]
    ) -> Checkpoint | None:
        """The checkpoint as `run` would find it, without taking the lock or writing;
        ``owner_check`` is `run`'s own test that it belongs to these settings."""
        from .checkpoint_store import CheckpointStore

        path = settings.checkpoint_path
        directory = _nearest_existing(path.parent)
        if not os.access(directory, os.W_OK | os.X_OK):
            # Exit 74 like `run`, which fails to write it: a permissions problem of the checkpoint
            # is "the checkpoint cannot be written" in the contract's table, not a setting.
            self.problem("Checkpoint", CheckpointError(
                f"the checkpoint directory {path.parent} cannot be written by this user "
                f"({directory} is not writable)",
                "give the user running docusign-input write access there, or set --checkpoint "
                "(DOCUSIGN_CHECKPOINT) to a file in a directory it can write",
            ))
            return None
        holder = _lock_holder(path.with_name(path.name + ".lock"))
        if holder is not None:
            from .errors import LockHeld

            self.problem("Checkpoint", LockHeld(
                f"checkpoint {path} is in use by {holder}",
                "run one instance per checkpoint: stop the other one, or give this one its own "
                "--checkpoint",
            ))
        try:
            checkpoint = CheckpointStore(path).load()
        except ConnectorError as exc:
            self.problem("Checkpoint", exc)
            return None
        if checkpoint is not None:
            try:
                owner_check(settings, checkpoint)
            except ConnectorError as exc:
                self.problem("Checkpoint", exc)
                return None
        if holder is None:
            state = "none yet (the first run creates it)" if checkpoint is None else "readable"
            self.line("Checkpoint", f"OK ({path}: {state}; directory writable, lock free)")
        return checkpoint

    def token(self, tokens: TokenProvider) -> bool:
        try:
            tokens.get_token()
        except ConnectorError as exc:
            self.problem("Token", exc)
            return False
        self.line("Token", "OK (JWT grant accepted)")
        return True

    def first_page(
        self, settings: Settings, checkpoint: Checkpoint | None, client_factory: SourceFactory
    ) -> None:
        from .engine import start_position

        start = start_position(checkpoint, settings.backfill, self.now)
        try:
            client, _ = client_factory(
                checkpoint
                or Checkpoint(settings.environment, settings.user_id, settings.monitor_api)
            )
            page = client.fetch(start.cursor, settings.page_size)
        except ConnectorError as exc:
            self.problem("Monitor", exc)
            return
        self.line("Monitor", f"OK ({client.url})")
        self.line("First run fetches", _what_run_fetches(settings, checkpoint, start.cursor))
        more = " (more pages follow)" if len(page.events) >= settings.page_size else ""
        self.line("Events available", f"{len(page.events)} in the first page{more}")
        self.line("Newest event time", newest_event_time(page.events) or "none")

    def output(self, settings: Settings) -> None:
        """stdout needs nothing; a forward receiver is connected to once (TLS and the shared
        key included) without sending an event."""
        if settings.output == "stdout":
            self.line("Output", "OK (stdout: one JSON line per event)")
            return
        from .forward import ForwardOutput, target_for

        target = target_for(settings)
        try:
            said = ForwardOutput(target).probe()
        except ConnectorError as exc:
            self.problem("Output", exc)
            return
        self.line("Output", f"OK ({target.url}: {said})")

    def clear_backoff(self, settings: Settings) -> None:
        """A check that passed is the fix the backoff waits for: the next run tries at once."""
        from .checkpoint_store import CheckpointStore

        store = CheckpointStore(settings.checkpoint_path)
        if not settings.checkpoint_path.exists():
            self.out.write("Nothing was saved: there is no checkpoint yet.\n")
            return
        try:
            store.acquire_lock()
        except ConnectorError as exc:
            self.problem("Checkpoint", exc)
            return
        try:
            checkpoint = store.load()
            failures = checkpoint.health.consecutive_failures if checkpoint else 0
            if checkpoint is None or failures == 0:
                self.out.write("Nothing was saved: the checkpoint is unchanged.\n")
                return
            store.save(replace(checkpoint, health=replace(checkpoint.health,
                                                          consecutive_failures=0)))
        finally:
            store.release_lock()
        self.out.write(
            f"Scheduled-run backoff cleared after {failures} failed runs: the next run tries at "
            "once. Nothing else was saved.\n"
        )

    def result(self) -> None:
        if self.problems:
            raise PreflightFailed(self.problems)


def _what_run_fetches(settings: Settings, checkpoint: Checkpoint | None, cursor: str) -> str:
    if checkpoint is not None and checkpoint.cursor is not None:
        return f"from the saved position (cursor of {checkpoint.updated_at or 'an earlier run'})"
    if settings.backfill == EARLIEST:
        return "everything DocuSign still holds (about seven days), per the backfill start"
    if isinstance(settings.backfill, datetime):
        return f"events since {format_time(settings.backfill)}, per the backfill start"
    return (
        f"only events from now on ({cursor}): no backfill start is set; to fetch the past, "
        "give --backfill-start 7d (or DOCUSIGN_BACKFILL_START) on the first run"
    )


def _nearest_existing(directory: Path) -> Path:
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    return directory


def _lock_holder(lock_path: Path) -> str | None:
    """Who holds the checkpoint's lock, or None when it is free (tested without taking it for
    longer than the test itself, and without creating the file)."""
    try:
        handle = open(lock_path, encoding="utf-8")
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return handle.read().strip() or "another process"
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return None

