"""Crash campaign: SIGKILL at random moments and in the exact crash windows of "write, flush,
then save"; nothing is lost, at most one page is repeated per kill, the checkpoint always parses.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time

import pytest
from campaign import FULL, SEED, Connector, hook_env, ids_of, record

from docusign_input.simulator import Fault

PAGE = 200


def _faults(sim) -> None:
    """10% 5xx, 2% 429 (Retry-After 0 or 1 s), 1% connection resets, on every stream request."""
    for kind, p in (("http_500", 0.04), ("http_502", 0.03), ("http_503", 0.03)):
        sim.inject(Fault(kind, probability=p))
    sim.inject(Fault("http_429", probability=0.01, retry_after=0))
    sim.inject(Fault("http_429", probability=0.01, retry_after=1))
    sim.inject(Fault("reset_before", probability=0.005))
    sim.inject(Fault("reset_mid", probability=0.005))


class _Reader:
    """Reads the connector's stdout as a shipper does, on a thread, counting lines."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.chunks: list[bytes] = []
        self.lines = 0
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        fd = self.proc.stdout.fileno()
        while chunk := os.read(fd, 1 << 16):
            with self.changed:
                self.chunks.append(chunk)
                self.lines += chunk.count(b"\n")
                self.changed.notify_all()
        with self.changed:
            self.chunks.append(b"")
            self.changed.notify_all()

    def seen_lines(self, target: int | None, timeout_s: float) -> None:
        """Wait until `target` lines were read (None: just wait), the end, or the timeout."""
        with self.changed:
            self.changed.wait_for(
                lambda: (
                    (target is not None and self.lines >= target) or (self.chunks[-1:] == [b""])
                ),
                timeout=timeout_s,
            )

    def finish(self) -> bytes:
        self.thread.join(timeout=30)
        self.proc.stdout.close()
        return b"".join(self.chunks)


def _checkpoint_parses(conn: Connector) -> dict | None:
    if not conn.checkpoint.exists():
        return None
    return json.loads(conn.checkpoint.read_bytes())  # raises if a kill left it torn


def _tmp_leftovers(conn: Connector) -> list:
    return sorted(p.name for p in conn.checkpoint.parent.glob(f".{conn.checkpoint.name}.*.tmp"))


@pytest.mark.slow
def test_random_sigkills_under_faults_lose_nothing_and_repeat_at_most_a_page(
    simulator_factory, tmp_path
):
    backlog = 20_000 if FULL else 4_000
    kills_wanted = 25
    sim = simulator_factory(seed=SEED, rate_limits=False)
    sim.seed_backlog(backlog, days=1)
    _faults(sim)
    conn = Connector(sim, tmp_path)
    rng = random.Random(SEED)
    env = hook_env(jitter=f"seed:{SEED}")
    outputs: list[bytes] = []
    kills = runs = partial_lines = 0
    started = time.monotonic()
    while kills < kills_wanted:
        err_path = tmp_path / f"err{runs}"
        with open(err_path, "wb") as err:
            proc = conn.popen(
                "run", "--backfill-start", "earliest", "--page-size", str(PAGE),
                env=env, stderr=err,
            )  # fmt: skip
            reader = _Reader(proc)
            # Half the kills land as soon as a page starts to appear on stdout (the window
            # between the write and the checkpoint's rename), half at a random instant.
            if rng.random() < 0.5:
                reader.seen_lines(rng.randint(1, 2 * PAGE), timeout_s=30)
            else:
                reader.seen_lines(None, timeout_s=rng.uniform(0.3, 1.5))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            code = proc.wait()
            data = reader.finish()
        runs += 1
        outputs.append(data)
        partial_lines += ids_of(data)[1] > 0
        _checkpoint_parses(conn)
        if code != -signal.SIGKILL:
            assert code == 0, err_path.read_text()
            sim.append_events(rng.randint(PAGE, 3 * PAGE))  # keep work waiting for the next kill
    sim.clear_faults()
    final = conn.run("run", "--page-size", str(PAGE), env=env)
    assert final.returncode == 0, final.stderr.decode()
    outputs.append(final.stdout)

    seen: set[str] = set()
    delivered = duplicates = worst_repeat = 0
    for data in outputs:
        ids, _ = ids_of(data)
        repeat = sum(1 for i in ids if i in seen)
        worst_repeat = max(worst_repeat, repeat)
        duplicates += repeat
        delivered += len(ids)
        seen.update(ids)
        for line in data.split(b"\n")[:-1]:
            assert line == sim.event_bytes(json.loads(line)["eventId"])
    expected = sim.event_ids()
    lost = set(expected) - seen
    assert not lost and seen <= set(expected)
    assert worst_repeat <= PAGE, "a run repeated more than the one page its predecessor lost"
    assert duplicates <= kills * PAGE
    record(
        "crashes/random",
        events=len(expected), runs=runs, kills=kills, lost=len(lost), duplicates=duplicates,
        worst_repeat_after_one_kill=worst_repeat, partial_lines=partial_lines,
        tmp_leftovers=len(_tmp_leftovers(conn)), seconds=round(time.monotonic() - started, 1),
    )  # fmt: skip


@pytest.mark.parametrize(
    "hook, saved_pages, repeated",
    [
        # Save #1 records the run's start, #2 the start position, #3 covers page 1, #4 page 2.
        ("kill_before_replace:4", 1, 100),  # page 2 written and flushed, checkpoint not renamed
        ("kill_during_write:4", 1, 100),  # killed half-way through writing the temp file
        ("kill_after_replace:4", 2, 0),  # renamed, directory not yet fsynced
    ],
)
def test_a_kill_in_each_crash_window_repeats_at_most_that_page(
    simulator_factory, tmp_path, hook, saved_pages, repeated
):
    sim = simulator_factory(seed=SEED, rate_limits=False)
    sim.seed_backlog(1000, days=1)
    conn = Connector(sim, tmp_path)
    args = ("run", "--backfill-start", "earliest", "--page-size", "100")
    killed = conn.run(*args, env=hook_env(hook))
    assert killed.returncode == -signal.SIGKILL
    first, partial = ids_of(killed.stdout)
    assert len(first) == 200 and partial == 0  # the page was complete on stdout before the save
    saved = _checkpoint_parses(conn)
    assert saved is not None and saved["health"]["events_delivered"] == 100 * saved_pages
    leftovers = _tmp_leftovers(conn)

    rest = conn.run(*args)
    assert rest.returncode == 0, rest.stderr.decode()
    second, _ = ids_of(rest.stdout)
    assert set(first) | set(second) == set(sim.event_ids())
    assert len(set(first) & set(second)) == repeated
    assert second[:repeated] == first[200 - repeated :]  # exactly the unsaved page, in order
    assert _tmp_leftovers(conn) == [], "a crashed run's temp checkpoint was never cleaned up"
    record(
        "crashes/window", hook=hook, repeated=repeated, tmp_after_kill=len(leftovers),
    )  # fmt: skip


@pytest.mark.parametrize("how", ["killed after saving the start", "checkpoint reset --to earliest"])
def test_an_earliest_start_saved_in_the_checkpoint_is_kept_by_the_next_run(
    simulator_factory, tmp_path, how
):
    """The first save of a sync (after the run's start) is its start position; for `earliest`
    that is the empty cursor. A run after a crash right there (or after `checkpoint reset --to
    earliest`) must start from it, not from "now" because no --backfill-start is given this
    time."""
    sim = simulator_factory(seed=SEED, rate_limits=False)
    sim.seed_backlog(300, days=1)
    conn = Connector(sim, tmp_path)
    if how.startswith("killed"):
        killed = conn.run(
            "run", "--backfill-start", "earliest", env=hook_env("kill_after_replace:2")
        )
        assert killed.returncode == -signal.SIGKILL and conn.saved()["cursor"] == ""
    else:
        assert conn.run("run").returncode == 0  # starts now: delivers nothing
        assert conn.run("checkpoint", "reset", "--to", "earliest").returncode == 0
    rest = conn.run("run")
    assert rest.returncode == 0, rest.stderr.decode()
    assert ids_of(rest.stdout)[0] == sim.event_ids()
