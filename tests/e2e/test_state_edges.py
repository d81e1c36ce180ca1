"""The checkpoint as an operator meets it: a setting it ignores, root running a command on the
service's file, a directory the service cannot write, a key file others can read."""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest


def test_backfill_start_with_an_existing_checkpoint_warns_once_that_it_is_ignored(
    simulator, connector
):
    """The contract promised a warning that names the rewind; nothing was said. Said once per
    checkpoint (a scheduler passing the same setting every minute is not told every minute)."""
    simulator.seed_backlog(5, days=1)
    first = connector.run("run", "--backfill-start", "earliest")
    assert first.returncode == 0 and b"ignored" not in first.stderr
    second = connector.run("run", "--backfill-start", "earliest")
    said = [line for line in second.stderr.decode().splitlines() if "ignored" in line]
    assert second.returncode == 0 and len(said) == 1, second.stderr.decode()
    assert "--backfill-start earliest is ignored" in said[0]
    assert "checkpoint reset --to earliest" in said[0]
    third = connector.run("run", "--backfill-start", "earliest")
    assert third.returncode == 0 and b"ignored" not in third.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: root's reset of a service's file")
def test_checkpoint_reset_as_root_keeps_the_service_users_owner(simulator, connector):
    """Root's `checkpoint reset` replaced the service user's checkpoint with a root-owned 0600
    file: the service then exited 78 and, with RestartPreventExitStatus=78, stayed down."""
    simulator.seed_backlog(3, days=1)
    assert connector.run("run", "--backfill-start", "earliest").returncode == 0
    for path in (connector.checkpoint, connector.checkpoint.parent):
        os.chown(path, 4242, 4343)
    os.unlink(connector.checkpoint.with_name(connector.checkpoint.name + ".lock"))
    proc = connector.run("checkpoint", "reset", "--to", "1h")
    assert proc.returncode == 0, proc.stderr.decode()
    _assert_checkpoint_and_lock_owned_by(connector, 4242, 4343)
    assert connector.saved()["cursor"]  # it did rewind


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: root's reset of a service's file")
def test_a_checkpoint_root_creates_in_a_service_users_directory_is_that_users(connector):
    """`checkpoint reset --to` before the service's first run, as root: the new checkpoint (and
    its lock) belonged to root, 0600, and the service could not read it."""
    state = connector.checkpoint.parent
    state.mkdir()
    os.chown(state, 4242, 4343)
    proc = connector.run("checkpoint", "reset", "--to", "1h")
    assert proc.returncode == 0, proc.stderr.decode()
    _assert_checkpoint_and_lock_owned_by(connector, 4242, 4343)


def _assert_checkpoint_and_lock_owned_by(connector, uid: int, gid: int) -> None:
    lock = connector.checkpoint.with_name(connector.checkpoint.name + ".lock")
    for path in (connector.checkpoint, lock):
        status = path.stat()
        assert (status.st_uid, status.st_gid) == (uid, gid), path


@contextmanager
def _unwritable(directory: Path) -> Iterator[None]:
    """A directory this user cannot write: mode 0555, or for root (who writes any directory)
    the immutable attribute."""
    directory.mkdir()
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)
        return
    if subprocess.run(["chattr", "+i", str(directory)], capture_output=True).returncode:
        pytest.skip("as root a directory is unwritable only with chattr +i, which failed here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


def test_an_unwritable_checkpoint_directory_is_74_in_check_and_in_run(simulator, connector):
    """`check` said 78 (a setting), `run` 74: a checkpoint that cannot be written is 74 in the
    contract's table, in both."""
    state = connector.checkpoint.parent
    with _unwritable(state):
        check = connector.run("check")
        run = connector.run("run")
    assert (check.returncode, run.returncode) == (74, 74), (check.stdout, check.stderr,
                                                            run.stderr)
    assert b"cannot" in check.stderr and b"cannot" in run.stderr


def test_run_warns_once_about_a_private_key_file_others_can_read(simulator, connector):
    """Only `check` warned; `run`, what the service runs, was silent."""
    connector.key_file.chmod(0o644)
    proc = connector.run("run")
    said = [line for line in proc.stderr.decode().splitlines() if "can be read by others" in line]
    assert proc.returncode == 0 and len(said) == 1, proc.stderr.decode()
    assert f"chmod 600 {connector.key_file}" in said[0]
