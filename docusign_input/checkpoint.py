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
    #: The Backfill Start Time a run was last told is ignored (the checkpoint has a cursor), so
    #: that the warning is said once per checkpoint and value, not on every scheduled run.
    backfill_ignored: str | None = None
    #: Fields this version does not know (written by a newer one, then rolled back), kept as they
    #: were and written back: ``{"health": {...}}`` holds the unknown fields of the health.
    unknown: Mapping[str, Any] = field(default_factory=dict)

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
        `checkpoint show` pretty-prints it. Unknown fields go back where they were."""
        position = self.position
        unknown = self.unknown
        health = {name: _plain(getattr(self.health, name)) for name in _HEALTH_FIELDS}
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
            "health": health,
        }
        if self.backfill_ignored is not None:
            body["backfill_ignored"] = self.backfill_ignored
        if unknown:
            extra_health = unknown.get("health")
            if isinstance(extra_health, Mapping):
                health.update({k: v for k, v in extra_health.items() if k not in health})
            body.update({k: v for k, v in unknown.items() if k not in body})
        return codec.dumps(body) + b"\n"

    @classmethod
    def from_json(cls, raw: bytes, source: str) -> Checkpoint:
        """The checkpoint in `raw`. Fields this version does not know are kept (a newer version
        wrote them; rolling back must not cost the cursor); a known field of the wrong type, or
        a newer format version, is refused with one line naming it."""
        restore = (
            "restore it from a backup, or move it aside with `docusign-input checkpoint "
            "reset` and set --backfill-start to the time of the last delivered event (check "
            "your SIEM) before the next run"
        )

        def corrupt(why: str, fix: str = restore) -> ConfigError:
            return CheckpointUnreadable(f"checkpoint {source} is unreadable: {why}", fix)

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
        if type(version) is int and version > VERSION:
            raise corrupt(
                f"format version {version} (written by a newer docusign-input), this program "
                f"reads version {VERSION}",
                "run the newer docusign-input again; the file is left as it is",
            )
        if version != VERSION:
            raise corrupt(f"format version {version!r}, this program reads version {VERSION}")
        health_body = body.pop("health", None)
        if health_body is None:
            health_body = {}
        if not isinstance(health_body, dict):
            raise corrupt(f"health is {_kind(health_body)}, not an object", _fix("health", restore))
        for name in ("environment", "user_id", "monitor_api"):
            if name not in body:
                raise corrupt(f"{name} missing")
        known = {name: body.pop(name) for name in list(body) if name in _TOP_TYPES}
        known_health = {name: health_body.pop(name) for name in list(health_body)
                        if name in _HEALTH_TYPES}

        def check(where: str, values: Mapping[str, Any], types: Mapping[str, str]) -> None:
            for name, value in values.items():
                expected = types.get(name)
                if expected is not None and not _is(value, expected):
                    raise corrupt(
                        f"{where}{name} is {_kind(value)}, not {_EXPECTED[expected]}",
                        _fix(where + name, restore),
                    )

        check("", known, _TOP_TYPES)
        check("health.", known_health, _HEALTH_TYPES)
        check("health.last_error.", known_health.get("last_error") or {}, _LAST_ERROR_TYPES)
        ids = known.pop("recent_event_ids", None) or {}
        bad_id = next((k for k, v in ids.items() if type(v) is not str), None)
        if bad_id is not None:
            raise corrupt(
                f"recent_event_ids[{bad_id!r}] is {_kind(ids[bad_id])}, not a string",
                _fix("recent_event_ids", restore),
            )
        unknown: dict[str, Any] = dict(body)
        if health_body:
            unknown["health"] = health_body
        return cls(
            environment=known["environment"],
            user_id=known["user_id"],
            monitor_api=known["monitor_api"],
            organization_id=known.get("organization_id"),
            position=Position(
                cursor=known.get("cursor"),
                newest_event_time=known.get("newest_event_time"),
                recent_event_ids=ids,
                updated_at=known.get("updated_at"),
            ),
            health=Health(**known_health),
            backfill_ignored=known.get("backfill_ignored"),
            unknown=unknown,
        )

    def with_position(self, **changes: Any) -> Checkpoint:
        return replace(self, position=replace(self.position, **changes))

    def with_health(self, **changes: Any) -> Checkpoint:
        return replace(self, health=replace(self.health, **changes))


_HEALTH_FIELDS = tuple(f.name for f in fields(Health))

# The JSON type each known field must have: "str?" a string or null, "int" a whole number,
# "object?" an object or null, "ids" an object of strings.
_TOP_TYPES = {
    "environment": "str", "user_id": "str", "monitor_api": "str", "organization_id": "str?",
    "cursor": "str?", "newest_event_time": "str?", "recent_event_ids": "object?",
    "updated_at": "str?", "backfill_ignored": "str?",
}
_HEALTH_TYPES = {
    "last_success": "str?", "last_error": "object?", "events_delivered": "int",
    "last_sync": "object?", "consecutive_failures": "int", "possible_gap": "object?",
    "last_run": "object?",
}
# The members of a failure record (`sync.failure_record`) that runs read back: the scheduled
# backoff takes its time, retry_at and exit_code, `status` its words.
_LAST_ERROR_TYPES = {
    "time": "str?", "error": "str?", "cause": "str?", "message": "str?", "exit_code": "int",
    "heals_outside": "bool?", "trace_token": "str?", "retry_at": "str?",
}
_EXPECTED = {
    "str": "a string", "str?": "a string or null", "int": "a whole number 0 or more",
    "bool?": "true/false or null",
    "object?": "an object or null",
}


def _is(value: Any, expected: str) -> bool:
    if value is None:
        return expected.endswith("?")
    kind = expected.rstrip("?")
    if kind == "str":
        return type(value) is str
    if kind == "int":
        return type(value) is int and value >= 0
    if kind == "bool":
        return type(value) is bool
    return type(value) is dict


def _kind(value: Any) -> str:
    """What a JSON value is, in words (never the value: a checkpoint line goes to logs)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {str: "a string", int: "a number", float: "a number", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _fix(name: str, restore: str) -> str:
    return f"correct {name} in the file by hand (the cursor is kept), or {restore}"


def _plain(value: Any) -> Any:
    """A Mapping the JSON encoders accept (a dict), anything else as is."""
    if isinstance(value, Mapping) and not isinstance(value, dict):
        return dict(value)
    return value
