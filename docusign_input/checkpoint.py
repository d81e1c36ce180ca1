"""Durable position: the checkpoint value, its JSON form, atomic saves and the one-process lock.

The file is replaced, never edited: a temp file in the same directory is written, fsynced and
renamed over the old one, then the directory is fsynced so the rename itself survives a power
cut. A reader therefore sees either the old or the new checkpoint, never a mix. A file that does
not parse is refused loudly (exit 78) rather than silently reset, because a reset means
re-delivering or skipping up to seven days of events.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import IO, Any, Mapping

from . import codec
from .durable import replace_file
from .errors import CheckpointError, CheckpointUnreadable, ConfigError, LockHeld

__all__ = ["Checkpoint", "Position", "Health", "CheckpointStore", "VERSION"]

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


class CheckpointStore:
    """Reads and atomically replaces one checkpoint file, under an exclusive lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self._lock_file: IO[str] | None = None

    # -- lock ---------------------------------------------------------------------------------

    def acquire_lock(self) -> None:
        """Take the exclusive lock for this process's life.

        flock is released by the kernel when the process dies, so a SIGKILLed holder never leaves
        a stale lock behind; the holder's pid and host are written into the lock file only so a
        second process can name it.
        """
        import fcntl

        self._ensure_directory()
        try:
            handle = open(self.lock_path, "a+", encoding="utf-8")
        except OSError as exc:
            raise _io_error(f"cannot open lock file {self.lock_path}", exc) from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                handle.close()
                raise _io_error(f"cannot lock {self.lock_path}", exc) from None
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise LockHeld(
                f"checkpoint {self.path} is in use by {holder}",
                "run one instance per checkpoint: stop the other one, or give this one its own "
                "--checkpoint",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {_utc_now()}\n")
        handle.flush()
        self._lock_file = handle
        self._remove_stale_temp_files()

    def _remove_stale_temp_files(self) -> None:
        """Temp files of a holder that was killed before its rename (durable.replace_file names
        them ``.<name>.<pid>.tmp``). Only a lock holder may do this: nobody else writes them."""
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            # `.cp.json.x.123.tmp` (a sibling checkpoint named `cp.json.x`) also matches the
            # glob: only `.<name>.<pid>.tmp` is ours.
            middle = stale.name[len(self.path.name) + 2 : -len(".tmp")]
            if not middle.isdigit():
                continue
            try:
                stale.unlink()
            except OSError:
                pass

    def lock_is_held(self) -> bool:
        """Whether some process holds the lock now (tested by taking and dropping it at once)."""
        import fcntl

        try:
            handle = open(self.lock_path, encoding="utf-8")
        except OSError:
            return False
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            handle.close()  # closing drops a lock we took
        return False

    def release_lock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- read / write -------------------------------------------------------------------------

    def load(self) -> Checkpoint | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise ConfigError(
                f"checkpoint {self.path} is a directory", "point --checkpoint at a file path"
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"checkpoint {self.path} cannot be read ({exc.strerror})",
                "give the user running docusign-input read and write access to it",
            ) from None
        return Checkpoint.from_json(raw, str(self.path))

    def save(self, checkpoint: Checkpoint) -> None:
        """Atomically replace the file. On any failure the previous checkpoint stays intact."""
        self._ensure_directory()
        try:
            replace_file(self.path, checkpoint.to_json())
        except OSError as exc:
            raise _io_error(f"cannot write checkpoint {self.path}", exc) from None

    def _ensure_directory(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise _io_error(f"cannot create checkpoint directory {self.path.parent}", exc) from None


def _io_error(what: str, exc: OSError) -> CheckpointError:
    reason = exc.strerror or type(exc).__name__
    if exc.errno == errno.ENOSPC:
        fix = "free disk space on that filesystem; the previous checkpoint is intact"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "give the user running docusign-input write access to that directory"
    else:
        fix = "check the filesystem; the previous checkpoint is intact"
    return CheckpointError(f"{what}: {reason}", fix)


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
