"""Replacing a small file so that a crash or power cut leaves either the old or the new content.

Used for the checkpoint and the token cache. The temp file is created exclusively with the final
mode (0600: private from the first byte), written in full, fsynced, renamed over the target, and
the directory is fsynced so the rename itself is durable. The new file keeps the owner and group
of the one it replaces (root writing a new file into another user's directory gives it that
user): root running `checkpoint reset` must not leave the service user a root-owned 0600 file it
can no longer read.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["replace_file", "fsync_directory", "ForeignOwner"]


class ForeignOwner(PermissionError):
    """The file belongs to another user, and this process cannot give the new one that owner:
    replacing it would take the file away from its owner."""

    def __init__(self, path: Path, uid: int) -> None:
        super().__init__(f"{path} belongs to uid {uid}")
        self.uid = uid


def replace_file(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Atomically replace `path` with `data`, keeping its owner and group. Raises OSError
    (ForeignOwner when the owner cannot be kept); the old file is then untouched."""
    try:
        existing: os.stat_result | None = os.stat(path)
    except OSError:
        # A new file root writes into another user's directory (`checkpoint reset --to` before
        # the service's first run) is that user's, like the files the service writes there.
        existing = _directory_owner(path) if os.geteuid() == 0 else None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        os.unlink(tmp)  # a leftover of a crashed process that had our pid
    except FileNotFoundError:
        pass
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            if existing is not None:
                _keep_owner(fd, path, existing)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_directory(path.parent)


def _keep_owner(fd: int, path: Path, existing: os.stat_result) -> None:
    """Give the new file the old one's owner and group; refuse (ForeignOwner) when the owner
    cannot be kept. A group that cannot be kept (not root, not a member) is left as created."""
    new = os.fstat(fd)
    if (new.st_uid, new.st_gid) == (existing.st_uid, existing.st_gid):
        return
    try:
        os.fchown(fd, existing.st_uid, existing.st_gid)
        return
    except PermissionError:
        if new.st_uid != existing.st_uid:
            raise ForeignOwner(path, existing.st_uid) from None


def _directory_owner(path: Path) -> os.stat_result | None:
    try:
        directory = os.stat(path.parent)
    except OSError:
        return None
    return directory if directory.st_uid != 0 else None


def fsync_directory(directory: Path) -> None:
    """Make a rename durable. Some filesystems refuse fsync on a directory: that is not fatal."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
