"""The checkpoint file: atomic saves, the one-process lock, and moving an unreadable file aside.

The file is replaced, never edited: a temp file in the same directory is written, fsynced and
renamed over the old one, then the directory is fsynced so the rename itself survives a power
cut. A reader therefore sees either the old or the new checkpoint, never a mix. The value itself
(`checkpoint.Checkpoint`) does no I/O; this module is the only one that reads or writes it.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from pathlib import Path
from typing import IO

from .checkpoint import Checkpoint
from .durable import ForeignOwner, replace_file
from .errors import CheckpointError, ConfigError, LockHeld

__all__ = ["CheckpointStore", "move_aside"]


class CheckpointStore:
    """Reads and atomically replaces one checkpoint file, under an exclusive lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self._lock_file: IO[str] | None = None
        #: Held while saving. Two threads of this process save: the run's, and the stop
        #: watchdog's recording the run's end; both would write the same temp file. Re-entrant,
        #: so the watchdog can hold it around reading `last_saved` and saving its amendment.
        self.saving = threading.RLock()
        #: The checkpoint this process saved last (what is on disk, as far as it wrote it).
        self.last_saved: Checkpoint | None = None

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
        self._keep_owner(handle.fileno())
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {_utc_now()}\n")
        handle.flush()
        self._lock_file = handle
        self._remove_stale_temp_files()

    def _keep_owner(self, fd: int) -> None:
        """Root creating the lock file (``checkpoint reset`` before the service's first run)
        gives it to the checkpoint's owner (or its directory's), who must be able to open it."""
        if os.geteuid() != 0:
            return
        try:
            owner = os.stat(self.path if self.path.exists() else self.path.parent)
            if os.fstat(fd).st_uid != owner.st_uid:
                os.fchown(fd, owner.st_uid, owner.st_gid)
        except OSError:
            pass

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
            # A permissions problem of the checkpoint is exit 74, like a write that fails.
            raise CheckpointError(
                f"checkpoint {self.path} cannot be read ({exc.strerror})",
                "give the user running docusign-input read and write access to it",
            ) from None
        return Checkpoint.from_json(raw, str(self.path))

    def save(self, checkpoint: Checkpoint) -> None:
        """Atomically replace the file. On any failure the previous checkpoint stays intact."""
        self._ensure_directory()
        data = checkpoint.to_json()
        try:
            with self.saving:
                replace_file(self.path, data)
                self.last_saved = checkpoint
        except ForeignOwner as exc:
            name = _user_name(exc.uid)
            raise CheckpointError(
                f"checkpoint {self.path} belongs to user {name}, not to this one: replacing it "
                "would take it away from its owner",
                f"run the command as that user (sudo -u '{name}' docusign-input ...)",
            ) from None
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


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"  # sudo's spelling of a user without a name


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def move_aside(path: Path) -> Path:
    """Rename an unreadable checkpoint to `<name>.bak` (`.bak.1`, ... if taken); never delete
    it: it may be restorable, and it is the only record of where delivery stood."""
    aside = path.with_name(path.name + ".bak")
    n = 0
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.bak.{n}")
    try:
        os.replace(path, aside)
    except OSError as exc:
        raise CheckpointError(
            f"cannot move the unreadable checkpoint {path} aside ({exc.strerror})",
            "give the user running docusign-input write access to its directory",
        ) from None
    return aside
