"""One run over one checkpoint, from opening it to recording how it ended.

`cli` parses arguments and maps errors to exit codes; everything a run does around the sync loop
lives here: the checkpoint opened under its lock and checked against the settings, the run's start
and end recorded for `status`, the scheduled-run backoff, the pieces (tokens, source, output,
collector) built, one sync or `--follow`, and the line said when a stop arrives.

The unit is one checkpoint store with its settings and source (`CheckpointRun`): a run over many
organizations is many of them sharing a session, a stopper and possibly an output; a single
organization is the one-element case.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Mapping

from .checkpoint import Checkpoint
from .checkpoint_store import CheckpointStore, move_aside
from .errors import (
    EXIT_INTERNAL,
    EXIT_OK,
    BackingOff,
    CheckpointError,
    CheckpointUnreadable,
    ConfigError,
    ConnectorError,
    InternalError,
)
from .report import Reporter

if TYPE_CHECKING:  # the run's pieces, imported when a run builds them
    import requests

    from .auth import TokenProvider
    from .output import Output
    from .settings import Settings
    from .signals import Stopper
    from .stream import StreamClient
    from .sync import Collector

__all__ = [
    "CheckpointRun",
    "SourceFactory",
    "open_checkpoint",
    "check_owner",
    "check_scheduled_backoff",
    "note_ignored_backfill",
    "record_run_start",
    "record_run_end",
    "build_tokens",
    "build_source_factory",
    "new_session",
    "stop_line",
    "relax_garbage_collector",
    "reset_checkpoint",
    "recorded_process_alive",
    "now_utc",
]

#: Builds the stream client for a checkpoint (and the checkpoint with its organization filled in).
SourceFactory = Callable[[Checkpoint], "tuple[StreamClient, Checkpoint]"]


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


# -- the checkpoint -------------------------------------------------------------------------------


def open_checkpoint(settings: Settings, *, lock: bool) -> tuple[CheckpointStore, Checkpoint]:
    """The store and its checkpoint (a fresh one when there is none yet), checked to belong to
    these settings."""
    store = CheckpointStore(settings.checkpoint_path)
    if lock:
        store.acquire_lock()
    try:
        checkpoint = store.load()
        if checkpoint is None:
            return store, Checkpoint(settings.environment, settings.user_id, settings.monitor_api)
        check_owner(settings, checkpoint)
    except BaseException:
        store.release_lock()
        raise
    return store, checkpoint


def check_owner(settings: Settings, checkpoint: Checkpoint, *, api: bool = True) -> None:
    """A checkpoint belongs to one environment, user and (unless `api` is False: a reset that
    forgets the cursor) Monitor API generation; anything else is a configuration error. User IDs
    are GUIDs, the same whatever their case."""
    from .settings import same_user

    if checkpoint.environment != settings.environment or not same_user(
        checkpoint.user_id, settings.user_id
    ):
        raise ConfigError(
            f"checkpoint {settings.checkpoint_path} belongs to {checkpoint.environment} user "
            f"{checkpoint.user_id}, not {settings.environment} user {settings.user_id}",
            "give each environment and user its own --checkpoint",
        )
    if api and checkpoint.monitor_api != settings.monitor_api:
        raise ConfigError(
            f"checkpoint {settings.checkpoint_path} holds a cursor of the {checkpoint.monitor_api} "
            f"Monitor API, not of {settings.monitor_api} (a cursor is never sent to the other API)",
            f"set --monitor-api {checkpoint.monitor_api} again, or give the {settings.monitor_api} "
            "API its own --checkpoint (with --backfill-start for where it should begin), or "
            "`checkpoint reset` it, which forgets the cursor",
        )


def note_ignored_backfill(
    settings: Settings, checkpoint: Checkpoint, reporter: Reporter
) -> Checkpoint:
    """A Backfill Start Time given with a checkpoint that already has a position is ignored
    (the contract); say so, and how to rewind, once per checkpoint and value: the checkpoint
    remembers it was said (saved with the run's start), so a scheduled run every minute that
    always passes the same setting does not repeat it."""
    text = settings.backfill_start
    if not text or checkpoint.cursor is None or checkpoint.backfill_ignored == text:
        return checkpoint
    name = settings.source_of("backfill_start")
    reporter.warning(
        f"{name} {text} is ignored: checkpoint {settings.checkpoint_path} already has a "
        f"position (newest event time {checkpoint.newest_event_time or 'none'}); the backfill "
        f"start applies only to a first run. To fetch from that time again, run "
        f"`docusign-input checkpoint reset --to {text}` (said once for this checkpoint)"
    )
    return replace(checkpoint, backfill_ignored=text)


def record_run_start(
    store: CheckpointStore, checkpoint: Checkpoint, follow: bool, poll_interval_s: float
) -> Checkpoint:
    """Note that a run started, so that `status` can tell a run that was killed (no end
    recorded, its process gone) from one that is running or ended."""
    import socket

    from .timestamps import format_time

    run = {
        "started_at": format_time(now_utc()),
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "follow": follow,
        "poll_interval_s": poll_interval_s,
    }
    checkpoint = checkpoint.with_health(last_run=run)
    store.save(checkpoint)
    return checkpoint


def _nothing() -> None:
    pass


def forced_stop(blocked_on: str | None) -> str:
    """What the stop watchdog records as a run's end (`signals.Stopper.at_deadline`), with what
    the run was waiting for (`signals.waiting_on`)."""
    return (
        f"stopped at the stop deadline: {blocked_on or 'a write or a request was still blocked'}"
        "; nothing unconfirmed was checkpointed"
    )


def record_run_end(
    store: CheckpointStore, checkpoint: Checkpoint, exit_code: int, *, stopped: str | None = None
) -> None:
    """Note how the run ended; a checkpoint that cannot be written is already the run's error.
    ``stopped``: why the stop watchdog ended it (the run could not record its end itself)."""
    from .timestamps import format_time

    run = dict(checkpoint.health.last_run or {})
    if not run:
        return
    run.update(ended_at=format_time(now_utc()), exit_code=exit_code)
    if stopped:
        run["stopped"] = stopped
    try:
        store.save(checkpoint.with_health(last_run=run))
    except CheckpointError:
        pass  # the run's own error already says so


def check_scheduled_backoff(checkpoint: Checkpoint, now: datetime) -> None:
    """Skip this scheduled run while the previous failures' backoff lasts (see the engine)."""
    from .engine import scheduled_backoff_s

    wait_s = scheduled_backoff_s(checkpoint, now)
    if wait_s <= 0:
        return
    error = checkpoint.health.last_error or {}
    raise BackingOff(
        f"not contacting DocuSign for another {wait_s:.0f} s after "
        f"{checkpoint.health.consecutive_failures} failed attempts; the last one: "
        f"{str(error.get('cause') or error.get('message', '')).rstrip('.')}",
        "fix the cause, then `docusign-input check` tests it at once; runs resume by themselves",
        exit_code=int(error.get("exit_code", 75)),
    )


# -- the pieces -----------------------------------------------------------------------------------


#: Variables requests reads on every request while ``trust_env`` is on.
_REQUESTS_CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def new_session() -> requests.Session:
    """A session for DocuSign. requests re-reads the proxy and CA-bundle variables from the
    whole environment (and ~/.netrc) on every request while ``trust_env`` is on: a third of an
    idle poll's CPU (bench/results.md). Without a proxy variable it is read once here (the CA
    bundle of REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE kept as the session's); with one, requests
    keeps honouring the proxies and NO_PROXY per request, as before."""
    import urllib.request

    import requests

    from .stream import USER_AGENT

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    if not urllib.request.getproxies_environment():
        # requests would take the bundle from these on each request, in this order
        bundle = next((os.environ[name] for name in _REQUESTS_CA_VARIABLES
                       if os.environ.get(name)), None)
        session.trust_env = False
        if bundle:
            session.verify = bundle
    return session


def build_tokens(
    settings: Settings, session: requests.Session, reporter: Reporter | None, *, cache: bool
) -> TokenProvider:
    from .auth import TokenProvider

    return TokenProvider(settings, session, reporter=reporter, use_cache=cache)


def first_run_notice(reporter: Reporter) -> Callable[[], None]:
    def say() -> None:
        # Said once: the first sync saves "now" as its start, so later runs resume from there.
        reporter.info(
            "first run without a backfill start: starting from now, so no past events are "
            "fetched; to fetch the past, run `docusign-input checkpoint reset --to 7d` (or give "
            "--backfill-start 7d on a first run)"
        )

    return say


def build_source_factory(
    settings: Settings,
    session: requests.Session,
    tokens: TokenProvider,
    reporter: Reporter | None = None,
    *,
    on_ready: Callable[[], None] | None = None,
) -> SourceFactory:
    """Stream clients are built on first use, so the organization lookup happens only once.
    ``on_ready`` runs once a token is in hand (a message that must not precede a bad key's)."""
    from .stream import StreamClient

    def factory(checkpoint: Checkpoint) -> tuple[StreamClient, Checkpoint]:
        if on_ready is not None:
            tokens.get_token()
            on_ready()
        org = None
        if settings.monitor_api == "organizations":
            org = settings.organization_id or checkpoint.organization_id
            if not org:
                from .auth import lookup_organization_id

                org = lookup_organization_id(session, settings.auth_url, tokens)
            if org != checkpoint.organization_id:
                checkpoint = replace(checkpoint, organization_id=org)
        client = StreamClient(
            session,
            settings.monitor_url,
            tokens,
            monitor_api=settings.monitor_api,
            organization_id=org,
            reporter=reporter,
            url_setting=settings.source_of("monitor_url"),
        )
        return client, checkpoint

    return factory


#: Allocations between young-generation collections while running (CPython's default is 700).
GC_GEN0_THRESHOLD = 20_000


def relax_garbage_collector() -> None:
    """Collect cycles less often. A 2,000-event page is ~10,000 new dicts and lists, none of them
    in a cycle; at the default threshold the collector ran ~11 times per page, promoting live
    events to older generations whose full scans then walked every object of the process. The
    rare cycles (requests' internals) are still collected, a few pages later."""
    import gc

    _, older, oldest = gc.get_threshold()
    gc.set_threshold(max(GC_GEN0_THRESHOLD, gc.get_threshold()[0]), older, oldest)


def stop_line(collector: Collector | None, forced: bool) -> str:
    """The last line of a stopped run: what was delivered, where the checkpoint stands."""
    head = (
        "stopping now: a write or request was still blocked after the grace period"
        if forced
        else "stopped"
    )
    if collector is None or collector.current is None:
        return f"{head}; nothing was delivered"
    position = collector.current.position
    cursor = position.cursor
    where = "at DocuSign's default start" if cursor == "" else f"at cursor {cursor}"
    if cursor is None:
        where = "not started"
    return (
        f"{head}: {collector.delivered} events delivered by this run; the checkpoint stands "
        f"{where} (newest event time {position.newest_event_time or 'none'}); the next run "
        "continues from there"
    )


# -- one run --------------------------------------------------------------------------------------


class CheckpointRun:
    """One checkpoint's run: `run --follow` or one scheduled sync, recorded from start to end.

    ``session`` and ``output`` may be shared by several runs (many organizations into one
    receiver); one built here is closed here.
    """

    def __init__(
        self,
        settings: Settings,
        reporter: Reporter,
        stopper: Stopper,
        *,
        follow: bool,
        session: requests.Session | None = None,
        output: Output | None = None,
    ) -> None:
        self.settings = settings
        self.reporter = reporter
        self.stopper = stopper
        self.follow = follow
        self.session = session
        self.output = output
        #: The sync loop once built: where a stop stands (see `stop_line`).
        self.collector: Collector | None = None

    def stop_line(self, forced: bool) -> str:
        return stop_line(self.collector, forced)

    def execute(self) -> None:
        """Open, record the start, sync or follow, record the end. Raises the run's error (a
        ConnectorError, or a bug) after recording it for `status`."""
        from .output import open_output
        from .signals import Stopped
        from .sync import Collector

        settings, reporter = self.settings, self.reporter
        for warning in settings.warnings:
            reporter.warning(warning)
        store, checkpoint = open_checkpoint(settings, lock=True)
        first_run = checkpoint.cursor is None and settings.backfill is None
        checkpoint = note_ignored_backfill(settings, checkpoint, reporter)
        exit_code = EXIT_INTERNAL
        own_output = self.output is None
        output: Output | None = None
        cancel_record: Callable[[], None] = _nothing
        try:
            checkpoint = record_run_start(store, checkpoint, self.follow, settings.poll_interval_s)
            started = checkpoint
            run_thread = threading.get_ident()  # whose wait the forced stop names

            def record_forced_stop() -> None:
                # Amend what was saved last, under the store's save lock: a page the run's
                # thread saved meanwhile is never rewound (its events would be sent again).
                with store.saving:
                    record_run_end(store, store.last_saved or started, EXIT_OK,
                                   stopped=forced_stop(self.stopper.blocked_on(run_thread)))

            cancel_record = self.stopper.at_deadline(record_forced_stop)
            output = self.output or open_output(settings, warn=reporter.warning, follow=self.follow)
            session = self.session or new_session()
            tokens = build_tokens(settings, session, reporter, cache=settings.token_cache)
            collector = self.collector = Collector(
                source_factory=build_source_factory(
                    settings, session, tokens, reporter,
                    on_ready=first_run_notice(reporter) if first_run else None,
                ),
                output=output,
                store=store,
                reporter=reporter,
                stopper=self.stopper,
                page_size=settings.page_size,
                poll_interval_s=settings.poll_interval_s,
                backfill=settings.backfill,
            )
            collector.current = checkpoint
            try:
                if self.follow:
                    collector.follow(checkpoint)
                else:
                    check_scheduled_backoff(checkpoint, now_utc())
                    collector.sync(checkpoint)
                exit_code = EXIT_OK
            except Stopped:
                exit_code = EXIT_OK
                reporter.info(self.stop_line(False))
            except ConnectorError as exc:
                exit_code = exc.exit_code
                if not isinstance(exc, (ConfigError, BackingOff)):
                    collector.record_failure(checkpoint, exc)
                raise
            except Exception as exc:  # a bug: recorded for `status`, then the caller's line
                collector.record_failure(
                    checkpoint, InternalError(f"internal error ({type(exc).__name__})")
                )
                raise
        finally:
            try:
                if own_output and output is not None:
                    output.close()
            finally:
                cancel_record()
                current = self.collector.current if self.collector else None
                record_run_end(store, current or checkpoint, exit_code)
                store.release_lock()


# -- other commands' service ----------------------------------------------------------------------


def reset_checkpoint(
    settings: Settings, cursor: str | None, where: str, reporter: Reporter
) -> None:
    """Rewind (``cursor`` a time, "" for the earliest event) or forget (None) the saved position;
    an unreadable file is moved aside, never deleted. ``where`` says where the next run starts."""
    from .timestamps import format_time

    path = settings.checkpoint_path
    if cursor is None and not path.exists():
        # Nothing to forget: writing an empty checkpoint would only bind the path to this user.
        reporter.info(
            f"no checkpoint at {path}: nothing to reset; the first run starts per "
            "--backfill-start (or now)"
        )
        return
    store = CheckpointStore(path)
    store.acquire_lock()
    try:
        try:
            checkpoint = store.load()
        except CheckpointUnreadable as exc:
            aside = move_aside(path)
            reporter.warning(
                f"{exc.cause}: moved it aside to {aside}; nothing is deduplicated against it"
            )
            checkpoint = None
            if cursor is None:
                reporter.info(f"checkpoint {path} reset: {where}")
                return
        if checkpoint is None:
            checkpoint = Checkpoint(settings.environment, settings.user_id, settings.monitor_api)
        # Forgetting the cursor may also move the checkpoint to the other API generation (the
        # remembered event IDs still deduplicate); a cursor given with --to is a time, valid for
        # both.
        check_owner(settings, checkpoint, api=False)
        if checkpoint.monitor_api != settings.monitor_api:
            where += f"; it now belongs to the {settings.monitor_api} Monitor API"
            checkpoint = replace(checkpoint, monitor_api=settings.monitor_api)
        checkpoint = replace(checkpoint, backfill_ignored=None)  # a later one is news again
        store.save(checkpoint.with_position(cursor=cursor, updated_at=format_time(now_utc())))
    finally:
        store.release_lock()
    if checkpoint.recent_event_ids:
        where += "; events seen recently are still deduplicated"
    reporter.info(f"checkpoint {path} reset: {where}")


def recorded_process_alive(store: CheckpointStore) -> Callable[[Mapping[str, object]], bool | None]:
    """For `status`: whether a recorded run's process is still there; None when it cannot be
    told (another host)."""

    def alive(run: Mapping[str, object]) -> bool | None:
        import socket

        pid = run.get("pid")
        if run.get("host") != socket.gethostname() or not isinstance(pid, int):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return store.lock_is_held()  # another PID namespace may hold it
        except OSError:
            return True
        return True

    return alive
