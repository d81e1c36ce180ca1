"""Replacing a small file so that a crash or power cut leaves either the old or the new content.

Used for the checkpoint and the token cache. The temp file is created exclusively with the final
mode (0600: private from the first byte), written in full, fsynced, renamed over the target, and
the directory is fsynced so the rename itself is durable.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["replace_file", "fsync_directory"]


def replace_file(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Atomically replace `path` with `data`. Raises OSError; the old file is then untouched."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        os.unlink(tmp)  # a leftover of a crashed process that had our pid
    except FileNotFoundError:
        pass
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
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
