"""Disk and concurrency campaign: a full or read-only checkpoint filesystem, a reader closing
stdout, a second instance, a stale lock after SIGKILL."""

from __future__ import annotations

import errno
import os
import signal
import subprocess

import pytest
from campaign import SEED, Connector, hook_env, ids_of, one_error_line, record, wait_for


@pytest.fixture
def tiny_fs(tmp_path):
    """A 256 KiB tmpfs (we run as root, where chmod stops nothing); skipped where mount fails."""
    mount = tmp_path / "fs"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _prepare(simulator_factory, tmp_path, checkpoint):
    sim = simulator_factory(seed=SEED, rate_limits=False)
    sim.seed_backlog(200, days=1)
    conn = Connector(sim, tmp_path)
    conn.checkpoint = checkpoint
    conn.env["DOCUSIGN_CHECKPOINT"] = str(checkpoint)
    first = conn.run("run", "--backfill-start", "earliest", "--page-size", "100")
    assert first.returncode == 0, first.stderr.decode()
    return sim, conn, ids_of(first.stdout)[0]


def _fill(directory) -> None:
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 1024)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


@pytest.mark.parametrize("how", ["full", "read-only", "enospc-injected"])
def test_checkpoint_not_writable_is_74_and_the_old_one_stays(
    simulator_factory, tmp_path, request, how
):
    if how == "enospc-injected":
        base, env = tmp_path / "state", hook_env("enospc_from:1")
    else:
        base, env = request.getfixturevalue("tiny_fs"), {}
    sim, conn, first = _prepare(simulator_factory, tmp_path, base / "checkpoint.json")
    before = conn.checkpoint.read_bytes()
    new = sim.append_events(150)
    if how == "full":
        _fill(base)
    elif how == "read-only":
        subprocess.run(["mount", "-o", "remount,ro", str(base)], check=True)
    proc = conn.run("run", "--page-size", "100", env=env)
    assert proc.returncode == 74, proc.stderr.decode()
    line = one_error_line(proc)
    assert "checkpoint" in line or "lock" in line
    assert conn.checkpoint.read_bytes() == before  # intact and readable
    assert not list(base.glob(".checkpoint.json.*.tmp"))
    written, _ = ids_of(proc.stdout)  # at most the page whose save failed
    assert len(written) <= 100
    if how == "full":
        os.unlink(base / "filler")
    elif how == "read-only":
        subprocess.run(["mount", "-o", "remount,rw", str(base)], check=True)
    rest = conn.run("run", "--page-size", "100")
    assert rest.returncode == 0, rest.stderr.decode()
    again, _ = ids_of(rest.stdout)
    assert set(first) | set(written) | set(again) == set(sim.event_ids())
    assert set(again) >= set(new) - set(written)
    record("disk", how=how, exit=74, written_before_failure=len(written), line=line[25:150])


def test_reader_closing_stdout_is_74_and_the_union_is_complete(simulator_factory, tmp_path):
    sim = simulator_factory(seed=SEED, rate_limits=False)
    sim.seed_backlog(3000, days=1)
    conn = Connector(sim, tmp_path)
    proc = conn.popen("run", "--backfill-start", "earliest", "--page-size", "100")
    # A page and a half, read in small raw chunks so the test holds little of its own; the rest
    # of the second page stays unread in the pipe when the reader dies.
    fd = proc.stdout.fileno()
    got = b""
    while got.count(b"\n") < 150:
        got += os.read(fd, 512)
    proc.stdout.close()
    assert proc.wait(timeout=30) == 74
    err = proc.stderr.read().decode()
    assert "Traceback" not in err and "stdout" in err and len(err.strip().splitlines()) == 1
    rest = conn.run("run", "--page-size", "100")
    assert rest.returncode == 0
    seen = ids_of(got)[0]
    again = ids_of(rest.stdout)[0]
    order = sim.event_ids()
    # The checkpoint covers only what the reader took from the pipe: the page it was reading
    # when it died comes again, whole; nothing is lost, and only that page is repeated.
    lost = [i for i in order if i not in set(seen) | set(again)]
    assert lost == []
    assert again == order[100:]
    record(
        "stdout-closed",
        read_before_close=len(seen),
        lost=len(lost),
        repeated=len(set(seen) & set(again)),
        exit=74,
    )


def test_second_instance_exits_75_and_a_sigkilled_holder_leaves_no_stale_lock(
    simulator_factory, tmp_path
):
    sim = simulator_factory(seed=SEED, rate_limits=False)
    sim.seed_backlog(50, days=1)
    conn = Connector(sim, tmp_path)
    holder = conn.popen(
        "run",
        "--follow",
        "--poll-interval",
        "30",
        "--backfill-start",
        "earliest",
        stdout=subprocess.DEVNULL,
    )
    try:
        # Wait for the backlog to be checkpointed, not merely for the file: the first save can
        # come before the first page (the organization ID), and a kill then repeats the page.
        assert wait_for(
            lambda: conn.checkpoint.exists()
            and conn.saved()["health"]["events_delivered"] == 50
        )
        second = conn.run("run")
        assert second.returncode == 75 and f"pid {holder.pid}" in one_error_line(second)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    lock = conn.checkpoint.with_name(conn.checkpoint.name + ".lock")
    assert lock.exists() and f"pid {holder.pid}" in lock.read_text()  # stale content, no flock
    new = sim.append_events(5)
    after = conn.run("run")
    assert after.returncode == 0, after.stderr.decode()
    assert ids_of(after.stdout)[0] == new
    record("concurrency", second_instance_exit=75, after_sigkill_exit=0)


def test_lock_file_on_unwritable_directory_is_74(simulator, tmp_path):
    conn = Connector(simulator, tmp_path)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    proc = conn.run("run", env={"DOCUSIGN_CHECKPOINT": str(blocker / "cp.json")})
    assert proc.returncode in (74, 78), proc.stderr.decode()
    one_error_line(proc)
    record("disk", how="checkpoint parent is a file", exit=proc.returncode)
