"""The checkpoint value and its JSON form: what the pure engine reads and returns.

No I/O here (the file, its lock and atomic replacement are `checkpoint_store`'s): the engine, and
`health` which judges a checkpoint, depend on this value alone. Text that does not parse is
refused loudly (exit 78) rather than silently reset, because a reset means re-delivering or
skipping up to seven days of events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

from . import codec
from .errors import CheckpointUnreadable, ConfigError

__all__ = ["Checkpoint", "Position", "Health", "VERSION"]

VERSION = 1


@dataclass(frozen=True)
class Position:
    """Where the stream stands: what the pure engine reads and returns, nothing else."""

    cursor: str | None = None
    #: The `timestamp` of the newest event delivered so far (DocuSign's own string), never later
    #: than the time it was delivered (see engine.plan_page): one event stamped in the future
    #: must not move the dedup window or a resume by time past events still to come.
    newest_event_time: str | None = None
    #: eventId -> event timestamp, oldest first; see engine.prune_recent_ids for the bound.
    recent_event_ids: Mapping[str, str] = field(default_factory=dict)
    #: When the cursor was last saved (ISO, UTC): the age a resume is judged by.
    updated_at: str | None = None


@dataclass(frozen=True)
class Health:
    """What `status` reads: when we last succeeded, what last went wrong, how much got through."""

    last_success: str | None = None
    #: The last failure: time, error kind, cause, exit code, trace token; never a fix text.
    last_error: Mapping[str, Any] | None = None
    events_delivered: int = 0
    last_sync: Mapping[str, Any] | None = None
    #: Failed attempts since the last success; scheduled runs back off on it (engine).
    consecutive_failures: int = 0
    #: Set when a resume found the checkpoint older than DocuSign's retention window.
    possible_gap: Mapping[str, Any] | None = None
    #: The latest `run`: started_at, pid, host, follow, poll_interval_s, and ended_at/exit_code
    #: once it ended. A start without an end whose process is gone was killed or crashed.
    last_run: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint file: whose it is, the position, and the health."""

    environment: str
    user_id: str
    monitor_api: str = "lens"
    organization_id: str | None = None
    position: Position = field(default_factory=Position)
    health: Health = field(default_factory=Health)

    @property
    def cursor(self) -> str | None:
        return self.position.cursor

    @property
    def newest_event_time(self) -> str | None:
        return self.position.newest_event_time

    @property
    def recent_event_ids(self) -> Mapping[str, str]:
        return self.position.recent_event_ids

    @property
    def updated_at(self) -> str | None:
        return self.position.updated_at

    def to_json(self) -> bytes:
        """Compact JSON, one flat object (the file format predates the split). Saved after every
        page, so it is built shallowly (no `asdict` deep copy of the recent IDs) and without
        indentation (which would force the standard library's pure-Python encoder);
        `checkpoint show` pretty-prints it."""
        position = self.position
        body: dict[str, Any] = {
            "version": VERSION,
            "environment": self.environment,
            "user_id": self.user_id,
            "monitor_api": self.monitor_api,
            "cursor": position.cursor,
            "newest_event_time": position.newest_event_time,
            "recent_event_ids": _plain(position.recent_event_ids),
            "organization_id": self.organization_id,
            "updated_at": position.updated_at,
            "health": {name: _plain(getattr(self.health, name)) for name in _HEALTH_FIELDS},
        }
        return codec.dumps(body) + b"\n"

    @classmethod
    def from_json(cls, raw: bytes, source: str) -> Checkpoint:
        def corrupt(why: str) -> ConfigError:
            return CheckpointUnreadable(
                f"checkpoint {source} is unreadable: {why}",
                "restore it from a backup, or move it aside with `docusign-input checkpoint "
                "reset` and set --backfill-start to the time of the last delivered event (check "
                "your SIEM) before the next run",
            )

        if not raw.strip():
            raise CheckpointUnreadable(
                f"checkpoint {source} is empty",
                "it was cut short (a full disk or a copy gone wrong): restore it from a backup, "
                "or move it aside with `docusign-input checkpoint reset` and set "
                "--backfill-start to the time of the last delivered event before the next run",
            )
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise corrupt(f"not valid JSON ({type(exc).__name__})") from None
        if not isinstance(body, dict):
            raise corrupt("not a JSON object")
        version = body.pop("version", None)
        if version != VERSION:
            raise corrupt(f"format version {version!r}, this program reads version {VERSION}")
        try:
            health = Health(**(body.pop("health", None) or {}))
            ids = body.pop("recent_event_ids", None) or {}
            if not isinstance(ids, dict):
                raise TypeError("recent_event_ids is not an object")
            position = Position(
                cursor=body.pop("cursor", None),
                newest_event_time=body.pop("newest_event_time", None),
                recent_event_ids=ids,
                updated_at=body.pop("updated_at", None),
            )
            checkpoint = cls(**body, position=position, health=health)
        except TypeError as exc:
            raise corrupt(str(exc)) from None
        for name in ("environment", "user_id", "monitor_api"):
            if not isinstance(getattr(checkpoint, name), str):
                raise corrupt(f"{name} missing")
        if checkpoint.cursor is not None and not isinstance(checkpoint.cursor, str):
            raise corrupt("cursor is not a string")
        return checkpoint

    def with_position(self, **changes: Any) -> Checkpoint:
        return replace(self, position=replace(self.position, **changes))

    def with_health(self, **changes: Any) -> Checkpoint:
        return replace(self, health=replace(self.health, **changes))


_HEALTH_FIELDS = tuple(f.name for f in fields(Health))


def _plain(value: Any) -> Any:
    """A Mapping the JSON encoders accept (a dict), anything else as is."""
    if isinstance(value, Mapping) and not isinstance(value, dict):
        return dict(value)
    return value
