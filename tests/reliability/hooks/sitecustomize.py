"""Test-only fault hooks for the connector subprocess (tests/reliability), never shipped.

Put this directory on PYTHONPATH and set RELIABILITY_HOOK to one of:

- ``kill_before_replace:K``  SIGKILL itself just before the K-th rename of the checkpoint file:
  the page is written and flushed, the new checkpoint is on disk as a temp file, not yet in place.
- ``kill_during_write:K``    SIGKILL after writing half of the K-th checkpoint temp file.
- ``kill_after_replace:K``   SIGKILL right after the K-th rename, before the directory fsync.
- ``enospc_from:K``          every checkpoint temp-file write from the K-th on fails with ENOSPC.

RELIABILITY_JITTER=zero makes the retry jitter 0 (random.random() == 0.0): retries without waiting,
so that "after retries" paths are quick to test; ``seed:N`` seeds it instead.
The checkpoint is recognised by $DOCUSIGN_CHECKPOINT. Product code is untouched.
"""

import errno
import os
import random
import signal

_hook = os.environ.get("RELIABILITY_HOOK", "")
_jitter = os.environ.get("RELIABILITY_JITTER", "")

if _jitter == "zero":
    random.random = lambda: 0.0  # type: ignore[assignment]
elif _jitter.startswith("seed:"):
    random.seed(int(_jitter[5:]))

if _hook:
    _kind, _, _nth = _hook.partition(":")
    _k = int(_nth or "1")
    _target = os.path.abspath(os.environ.get("DOCUSIGN_CHECKPOINT", "checkpoint.json"))
    _tmp_prefix = "." + os.path.basename(_target) + "."
    _counts = {"replace": 0, "open": 0}
    _tmp_fds = set()
    _real_replace, _real_open, _real_write = os.replace, os.open, os.write

    def _die():
        os.kill(os.getpid(), signal.SIGKILL)

    def _is_tmp(path):
        name = os.path.basename(os.fspath(path))
        middle = name[len(_tmp_prefix) : -len(".tmp")]
        return name.startswith(_tmp_prefix) and name.endswith(".tmp") and middle.isdigit()

    def _replace(src, dst, *a, **kw):
        if os.path.abspath(os.fspath(dst)) != _target:
            return _real_replace(src, dst, *a, **kw)
        _counts["replace"] += 1
        if _kind == "kill_before_replace" and _counts["replace"] == _k:
            _die()
        result = _real_replace(src, dst, *a, **kw)
        if _kind == "kill_after_replace" and _counts["replace"] == _k:
            _die()
        return result

    def _open(path, flags, *a, **kw):
        fd = _real_open(path, flags, *a, **kw)
        if _is_tmp(path):
            _counts["open"] += 1
            _tmp_fds.add((fd, _counts["open"]))
        return fd

    def _write(fd, data):
        nth = next((n for f, n in _tmp_fds if f == fd), None)
        if nth is not None:
            if _kind == "enospc_from" and nth >= _k:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            if _kind == "kill_during_write" and nth == _k:
                _real_write(fd, bytes(data)[: max(1, len(data) // 2)])
                _die()
        return _real_write(fd, data)

    _real_close = os.close

    def _close(fd):
        for item in [i for i in _tmp_fds if i[0] == fd]:
            _tmp_fds.discard(item)
        return _real_close(fd)

    os.replace, os.open, os.write, os.close = _replace, _open, _write, _close
