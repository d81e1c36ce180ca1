"""Many organizations in one process: ``run``, ``status`` and ``check`` with ``--organizations``.

Each organization is a ``lifecycle.CheckpointRun`` of its own (its checkpoint ``DIR/<name>.json``
with lock and token cache beside it, its token, deduplication window, backoff, rate-limit budget
and health): the same sync core as one organization, which is the one-element case. What they
share is one output (a page at a time, never two organizations' pages interleaved), one HTTP
session (one connection pool per host, with a bound on the requests in flight) and one stopper.

Each organization runs in a thread of its own that mostly sleeps: a blocking collector per
organization keeps the core one and costs a small stack each. ``--follow`` starts them spread over
the poll interval, so a thousand organizations do not poll in the same second; at the head each
then polls once a poll interval, and a backlog drains a page at a time, taking its turn for the
output and the request slots with everyone else.
"""

from __future__ import annotations

import math
import random
import socket
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .errors import (
    EXIT_ACCESS,
    EXIT_CONFIG,
    EXIT_DATA,
    EXIT_INTERNAL,
    EXIT_IO,
    EXIT_OK,
    EXIT_TEMPORARY,
    EXIT_UNHEALTHY,
    ConnectorError,
    LockHeld,
    OutputError,
)
from .organizations import Fleet, Organization
from .report import Reporter
from .signals import waiting_on

if TYPE_CHECKING:
    import requests

    from .lifecycle import CheckpointRun
    from .output import Output
    from .signals import Stopper

__all__ = [
    "FleetRun",
    "OrganizationOutput",
    "OrganizationReporter",
    "annotate",
    "most_severe",
    "bounded_session",
    "PhasedStopper",
    "fleet_status",
    "SEVERITY",
    "MAX_IN_FLIGHT",
]

#: Exit codes from most to least severe (the contract): a fleet exits with the first one found.
SEVERITY = (EXIT_CONFIG, EXIT_ACCESS, EXIT_INTERNAL, EXIT_IO, EXIT_DATA, EXIT_TEMPORARY)
#: Requests to DocuSign in flight at once, whatever the number of organizations.
MAX_IN_FLIGHT = 8
#: --follow spreads the organizations' first polls over this much per organization, up to the
#: poll interval (1,000 organizations: the whole minute; 3: a third of a second).
START_SPREAD_PER_ORGANIZATION_S = 0.1
#: Thread stack for an organization: its collector never recurses deeply.
THREAD_STACK_BYTES = 512 * 1024


def most_severe(codes: list[int]) -> int:
    """The exit code of a fleet whose organizations ended with ``codes`` (0 when all did)."""
    failed = [code for code in codes if code != EXIT_OK]
    if not failed:
        return EXIT_OK
    for code in SEVERITY:
        if code in failed:
            return code
    return max(failed)


# -- naming the organization --------------------------------------------------------------------


class OrganizationReporter(Reporter):
    """Every line of one organization names it (``organization=acme``), in the fleet's stream."""

    def __init__(self, parent: Reporter, name: str) -> None:
        super().__init__(level="info", fmt=parent.fmt, stream=parent.stream,
                         redactor=parent.redactor)
        self.threshold = parent.threshold
        self.name = name

    def render(self, level: str, message: str, **fields: Any) -> str:
        return super().render(level, message, organization=self.name, **fields)


def annotate(
    event_format: str, name: str, organization_id: str | None
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What names the organization in a delivered document, per format (the contract):

    - raw: one last member ``"docusign_input":{"organization":..., "organization_id":...}``
      (``organization_id`` when known), DocuSign's members before it unchanged;
    - ecs: ``organization.name`` and ``organization.id``;
    - ocsf: ``metadata.tenant_uid`` (the ID) and a ``metadata.tags`` pair
      ``{"name": "organization", "value": NAME}``.
    """
    member: dict[str, str] = {"organization": name}
    if organization_id:
        member["organization_id"] = organization_id
    if event_format == "ecs":
        def ecs(document: dict[str, Any]) -> dict[str, Any]:
            organization = dict(document.get("organization") or {})
            organization["name"] = name
            if organization_id:
                organization["id"] = organization_id
            document["organization"] = organization
            return document
        return ecs
    if event_format == "ocsf":
        def ocsf(document: dict[str, Any]) -> dict[str, Any]:
            metadata = dict(document.get("metadata") or {})
            if organization_id:
                metadata["tenant_uid"] = organization_id
            tags = list(metadata.get("tags") or [])
            tags.append({"name": "organization", "value": name})
            metadata["tags"] = tags
            document["metadata"] = metadata
            return document
        return ocsf

    def raw(event: dict[str, Any]) -> dict[str, Any]:
        return {**event, "docusign_input": member}
    return raw


class OrganizationOutput:
    """One organization's view of the fleet's output: its events as documents naming it, one
    page at a time under the fleet's lock, forward-tagged ``<tag>.<name>``."""

    def __init__(
        self,
        inner: Output,
        lock: threading.Lock,
        name: str,
        mapping: Callable[[dict[str, Any]], dict[str, Any]] | None,
        event_format: str,
        organization_id: Callable[[], str | None],
    ) -> None:
        self.inner = inner
        self.lock = lock
        self.name = name
        self.mapping = mapping
        self.event_format = event_format
        self.organization_id = organization_id
        self._annotate: tuple[str | None, Callable[[dict[str, Any]], dict[str, Any]]] | None = None
        base_tag = getattr(getattr(inner, "target", None), "tag", None)
        self.tag = f"{base_tag}.{name}" if base_tag else None

    def deliver(self, events: list[dict[str, Any]], stopping: Callable[[], bool]) -> None:
        if not events:
            return
        org_id = self.organization_id()
        if self._annotate is None or self._annotate[0] != org_id:
            self._annotate = (org_id, annotate(self.event_format, self.name, org_id))
        named = self._annotate[1]
        mapping = self.mapping
        documents = [named(mapping(e) if mapping else e) for e in events]
        with waiting_on("another organization's page was holding the output"):
            self.lock.acquire()
        try:
            if stopping():
                # Waited for the output while a stop came: start no new page (it is not
                # checkpointed and comes again next run), so the stop is not queued behind
                # every organization's page.
                from .signals import Stopped

                raise Stopped()
            if self.tag is not None:
                self.inner.deliver(documents, stopping, tag=self.tag)  # type: ignore[call-arg]
            else:
                self.inner.deliver(documents, stopping)
        finally:
            self.lock.release()

    def close(self) -> None:
        pass  # the fleet closes the shared output once


# -- one HTTP session for all -------------------------------------------------------------------


def bounded_session(limit: int = MAX_IN_FLIGHT) -> requests.Session:
    """One session (one connection pool per host) whose requests in flight never exceed
    ``limit``, whatever the number of organizations."""
    from requests.adapters import HTTPAdapter

    from .lifecycle import new_session

    class _Bounded(HTTPAdapter):
        def __init__(self) -> None:
            super().__init__(pool_connections=4, pool_maxsize=limit)
            self._slots = threading.BoundedSemaphore(limit)

        def send(self, *args: Any, **kwargs: Any) -> Any:
            with self._slots:
                return super().send(*args, **kwargs)

    session = new_session()
    adapter = _Bounded()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


# -- the run --------------------------------------------------------------------------------------


class PhasedStopper:
    """One organization's view of the fleet's stopper: the wait at the stream's head (exactly one
    poll interval) ends on the organization's own phase of the interval, ``phase_s`` (monotonic
    seconds) plus a whole number of intervals, instead of an interval after its sync ended.

    Without it the organizations' polls bunch up for good wherever their first syncs did (a
    thousand tokens minted at start-up: 148 polls in one second, bench/results.md), and every
    poll drifts by its sync's duration. With it each keeps the place it drew at start. Everything
    else (stop requests, other waits) is the fleet's stopper's."""

    def __init__(self, stopper: Stopper, interval_s: float, phase_s: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._stopper = stopper
        self._interval_s = interval_s
        self._phase_s = phase_s
        self._monotonic = monotonic

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stopper, name)

    @property
    def stopping(self) -> bool:
        return self._stopper.stopping

    def sleep(self, seconds: float) -> None:
        interval = self._interval_s
        if seconds == interval:
            now = self._monotonic()
            # the next point of this organization's grid at least half an interval away
            periods = math.ceil((now + interval / 2 - self._phase_s) / interval)
            seconds = self._phase_s + periods * interval - now
        self._stopper.sleep(seconds)


@dataclass
class _Member:
    organization: Organization
    run: CheckpointRun | None = None
    error: ConnectorError | None = None
    held_by: str | None = None
    crashed: str | None = None


class FleetRun:
    """``run --organizations``: one thread per organization, each a ``CheckpointRun``."""

    def __init__(
        self, fleet: Fleet, reporter: Reporter, stopper: Stopper, *, follow: bool,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.fleet = fleet
        self.reporter = reporter
        self.stopper = stopper
        self.follow = follow
        self.rand = rand
        self.members = [_Member(o) for o in fleet.organizations]
        self._output_failed = threading.Event()

    def stop_line(self, forced: bool) -> str:
        head = ("stopping now: a write or request was still blocked after the grace period"
                if forced else "stopped")
        delivered = sum(m.run.collector.delivered for m in self.members
                        if m.run is not None and m.run.collector is not None)
        return (f"{head}: {delivered} events delivered by this run over "
                f"{len(self.members)} organizations; each checkpoint stands after its last "
                "delivered page, and the next run continues from there")

    def execute(self) -> int:
        from .lifecycle import CheckpointRun
        from .output import open_output

        if not self.members:
            self.reporter.info(
                f"shard {self.fleet.shard} of {self.fleet.path} holds no organization: nothing "
                "to do" + ("; idling until stopped" if self.follow else ""))
            if self.follow:
                from .signals import Stopped
                try:
                    while True:
                        self.stopper.sleep(3600.0)
                except Stopped:
                    return EXIT_OK
            return EXIT_OK
        first = self.members[0].organization.settings
        for warning in first.warnings:
            self.reporter.warning(warning)
        session = bounded_session()
        shared = open_output(replace(first, format="raw"), warn=self.reporter.warning,
                             follow=self.follow)
        from .formats import mapper
        mapping = mapper(first.format)
        lock = threading.Lock()
        spread = min(first.poll_interval_s,
                     START_SPREAD_PER_ORGANIZATION_S * len(self.members))
        threads = []
        few_malloc_arenas()
        previous_stack = threading.stack_size()
        threading.stack_size(THREAD_STACK_BYTES)
        try:
            for member in self.members:
                organization = member.organization
                reporter = OrganizationReporter(self.reporter, organization.name)
                delay = self.rand() * spread if self.follow else 0.0
                stopper = PhasedStopper(self.stopper, organization.settings.poll_interval_s,
                                        time.monotonic() + delay)
                run = CheckpointRun(
                    replace(organization.settings, warnings=()), reporter,
                    stopper,  # type: ignore[arg-type]  # a Stopper in all it is asked
                    follow=self.follow, session=session,
                )
                run.output = OrganizationOutput(
                    shared, lock, organization.name, mapping, first.format,
                    _organization_id_of(run),
                )
                member.run = run
                thread = threading.Thread(target=self._serve, args=(member, delay),
                                          name=f"organization-{organization.name}", daemon=True)
                threads.append(thread)
                thread.start()
        finally:
            threading.stack_size(previous_stack)
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.5)
        finally:
            shared.close()
        return self._conclude()

    def _serve(self, member: _Member, delay: float) -> None:
        from .signals import Stopped

        assert member.run is not None
        try:
            if delay > 0:
                self.stopper.sleep(delay)
            member.run.execute()
        except Stopped:
            pass
        except LockHeld as exc:
            member.held_by = exc.cause
            self._reporter_of(member).warning(f"skipped: {exc.cause}")
        except ConnectorError as exc:
            # Said now, under the organization's name (with --follow the others carry on).
            member.error = exc
            self._reporter_of(member).error(exc.line(), exit_code=exc.exit_code)
            if isinstance(exc, OutputError):
                # The one output is gone: every organization stops (nothing undelivered is
                # checkpointed); the process exits 74.
                self._output_failed.set()
                self.stopper.request_stop("the output failed")
        except Exception as exc:  # noqa: BLE001 - a bug in one organization ends only it
            member.crashed = type(exc).__name__
            self._reporter_of(member).error(
                f"internal error ({member.crashed}); its checkpoint is unchanged. This is a "
                "bug: please report it with the output of the same command run with "
                "--log-level debug", exit_code=EXIT_INTERNAL)

    def _reporter_of(self, member: _Member) -> Reporter:
        return OrganizationReporter(self.reporter, member.organization.name)

    def _conclude(self) -> int:
        codes = [member.error.exit_code for member in self.members if member.error is not None]
        codes += [EXIT_INTERNAL for member in self.members if member.crashed is not None]
        held = [m for m in self.members if m.held_by]
        if held and len(held) == len(self.members):
            raise LockHeld(
                f"every organization of this run is held by another process ({held[0].held_by})",
                "stop the other copy, or give each process its own --shard",
            )
        if self._output_failed.is_set():
            return EXIT_IO
        return most_severe(codes)


#: glibc's mallopt parameter for the number of malloc arenas.
_M_ARENA_MAX = -8


def few_malloc_arenas(count: int = 2) -> None:
    """glibc gives threads arenas of their own (up to 8 per core) and each keeps what it once
    held: a thousand organization threads spread 190 MB of RSS over 16 arenas where two hold the
    same objects in 134 MB (bench/results.md). The threads mostly sleep, so they hardly contend
    for two. The same as MALLOC_ARENA_MAX=2, set before any organization's thread starts; nothing
    happens where mallopt is not glibc's."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_ARENA_MAX, count)
    except (OSError, AttributeError):
        pass


def _organization_id_of(run: CheckpointRun) -> Callable[[], str | None]:
    """The organization's ID for its documents: from the file, else as looked up (organizations
    API), else the one DocuSign put in the checkpoint's events (none for lens)."""

    def organization_id() -> str | None:
        if run.settings.organization_id:
            return run.settings.organization_id
        current = run.collector.current if run.collector is not None else None
        return current.organization_id if current is not None else None

    return organization_id


# -- status ---------------------------------------------------------------------------------------


def fleet_status(
    names: list[str], state_dir: Path, *, max_lag_s: float | None
) -> tuple[bool, dict[str, dict[str, Any]], list[str]]:
    """``(healthy, per organization as status --json gives it, one line per organization)``."""
    from .checkpoint_store import CheckpointStore
    from .errors import CheckpointUnreadable
    from .health import HealthReport, assess
    from .lifecycle import now_utc, recorded_process_alive

    reports: dict[str, dict[str, Any]] = {}
    lines = []
    now = now_utc()
    width = max((len(n) for n in names), default=0)
    for name in names:
        store = CheckpointStore(state_dir / f"{name}.json")
        try:
            checkpoint = store.load()
            report = assess(checkpoint, now, max_lag_s=max_lag_s,
                            process_alive=recorded_process_alive(store))
        except CheckpointUnreadable as exc:
            report = HealthReport(False, [exc.cause], fix=exc.fix)
        reports[name] = report.as_dict()
        lag = report.details.get("event_lag_s")
        shown_lag = "lag unknown" if lag is None else f"lag {lag:g} s"
        state = "healthy" if report.healthy else "UNHEALTHY: " + "; ".join(report.problems)
        lines.append(f"{name:<{width}}  {state}  ({shown_lag})")
    healthy = all(r["healthy"] for r in reports.values())
    return healthy, reports, lines


def status_exit(healthy: bool) -> int:
    return EXIT_OK if healthy else EXIT_UNHEALTHY


def hostname() -> str:
    return socket.gethostname()


def environment_shard(flag: str | None, environ: Mapping[str, str]) -> Any:
    """``--shard`` > ``DOCUSIGN_SHARD`` (``auto`` with ``DOCUSIGN_SHARDS``) > all."""
    from .sharding import parse_shard

    if flag:
        return parse_shard(flag, label="--shard", shards=environ.get("DOCUSIGN_SHARDS"),
                           hostname=hostname())
    return parse_shard(environ.get("DOCUSIGN_SHARD"), label="DOCUSIGN_SHARD",
                       shards=environ.get("DOCUSIGN_SHARDS"), hostname=hostname())
