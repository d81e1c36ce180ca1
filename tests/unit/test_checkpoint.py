"""Checkpoint file: round trip, atomic replacement, loud refusal of corrupt files, the lock."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from datetime import datetime, timezone  # noqa: E402

import pytest

from docusign_input.checkpoint import Checkpoint, Health, Position
from docusign_input.checkpoint_store import CheckpointStore
from docusign_input.errors import CheckpointError, ConfigError, LockHeld

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def sample() -> Checkpoint:
    return Checkpoint(
        "development",
        "u-1",
        health=Health(last_success="2026-11-28T12:00:00Z", events_delivered=5),
        position=Position(
            cursor="aa_1_2_3",
            newest_event_time="2026-11-28T11:59:00.1234567Z",
            recent_event_ids={"a": "2026-11-28T11:59:00Z"},
            updated_at="2026-11-28T12:00:00Z",
        ),
    )


def test_round_trip_is_versioned_json(tmp_path):
    store = CheckpointStore(tmp_path / "state" / "cp.json")
    store.save(sample())
    body = json.loads((tmp_path / "state" / "cp.json").read_text())
    assert body["version"] == 1 and body["cursor"] == "aa_1_2_3"
    assert store.load() == sample()
    assert oct((tmp_path / "state" / "cp.json").stat().st_mode & 0o777) == "0o600"


def test_missing_file_is_a_fresh_start(tmp_path):
    assert CheckpointStore(tmp_path / "none.json").load() is None


@pytest.mark.parametrize(
    "content", [b"{not json", b"[]", b'{"version": 99}', b"\xff\xfe", b'{"version":1}']
)
def test_corrupt_checkpoint_is_refused_naming_the_file(tmp_path, content):
    path = tmp_path / "cp.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        CheckpointStore(path).load()
    assert str(path) in info.value.line() and info.value.exit_code == 78
    assert path.read_bytes() == content  # never silently reset


def test_failed_write_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path / "cp.json")
    store.save(sample())
    before = (tmp_path / "cp.json").read_bytes()

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(CheckpointError) as info:
        store.save(Checkpoint("development", "u-1", position=Position(cursor="later")))
    monkeypatch.undo()
    assert info.value.exit_code == 74 and "space" in info.value.line()
    assert (tmp_path / "cp.json").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["cp.json"]


def test_unwritable_location_is_exit_74(tmp_path):
    # A regular file where the directory should be: fails even for root, unlike chmod.
    (tmp_path / "not-a-dir").write_text("")
    with pytest.raises(CheckpointError) as info:
        CheckpointStore(tmp_path / "not-a-dir" / "cp.json").save(sample())
    assert info.value.exit_code == 74


def test_second_holder_is_refused_and_named(tmp_path):
    path = tmp_path / "cp.json"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from pathlib import Path;"
            "from docusign_input.checkpoint_store import CheckpointStore;"
            f"s=CheckpointStore(Path({str(path)!r})); s.acquire_lock();"
            "print('locked', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeld) as info:
            CheckpointStore(path).acquire_lock()
        assert info.value.exit_code == 75 and f"pid {holder.pid}" in info.value.line()
    finally:
        holder.kill()
        holder.wait()
    # A killed holder leaves no stale lock behind.
    store = CheckpointStore(path)
    store.acquire_lock()
    store.release_lock()


def test_temp_file_cleanup_spares_a_sibling_checkpoints_temp_file(tmp_path):
    """The cleanup glob `.cp.json.*.tmp` matched `.cp.json.x.<pid>.tmp`, the temp file of a
    sibling checkpoint `cp.json.x`, and deleted it mid-save."""
    ours = tmp_path / ".cp.json.4242.tmp"
    sibling = tmp_path / ".cp.json.x.4242.tmp"
    ours.write_text("left by a killed holder")
    sibling.write_text("being written by cp.json.x's holder")
    store = CheckpointStore(tmp_path / "cp.json")
    store.acquire_lock()
    store.release_lock()
    assert not ours.exists() and sibling.exists()


def test_an_empty_checkpoint_is_called_empty(tmp_path):
    path = tmp_path / "cp.json"
    path.write_bytes(b"\n")
    with pytest.raises(ConfigError) as info:
        CheckpointStore(path).load()
    assert f"checkpoint {path} is empty" in info.value.line()


def test_the_engine_reads_and_returns_only_the_position():
    from docusign_input.engine import Page, plan_page

    plan = plan_page(sample().position, "aa_1_2_3", Page([], "aa_1_2_4"), now=NOW, page_size=10)
    assert isinstance(plan.position, Position)
    assert plan.position.cursor == "aa_1_2_4"


def test_a_checkpoint_with_a_field_of_a_newer_version_keeps_its_cursor(tmp_path):
    """One unknown field (a newer version wrote it, then was rolled back) made the checkpoint
    "unreadable" (78), and the advised reset discarded the cursor. It is read, and the unknown
    fields are written back as they were."""
    path = tmp_path / "cp.json"
    body = json.loads(sample().to_json())
    body["shard"] = {"of": 4, "index": 1}
    body["health"]["last_forward_receiver"] = "fb-1:24224"
    path.write_text(json.dumps(body))
    store = CheckpointStore(path)
    loaded = store.load()
    assert loaded is not None and loaded.cursor == "aa_1_2_3"
    store.save(loaded.with_position(cursor="aa_1_2_4"))
    saved = json.loads(path.read_text())
    assert saved["cursor"] == "aa_1_2_4" and saved["shard"] == {"of": 4, "index": 1}
    assert saved["health"]["last_forward_receiver"] == "fb-1:24224"


def _refusal_of(path, body) -> str:
    """The one line (exit 78) a checkpoint holding `body` is refused with."""
    path.write_text(json.dumps(body))
    with pytest.raises(ConfigError) as info:
        CheckpointStore(path).load()
    line = info.value.line()
    assert str(path) in line and "\n" not in line
    assert info.value.exit_code == 78
    return line


@pytest.mark.parametrize(
    "field, value, said",
    [
        ("cursor", 42, "cursor is a number, not a string or null"),
        ("health.events_delivered", "5", "health.events_delivered is a string, not a whole number"),
        ("recent_event_ids", ["a"], "recent_event_ids is a list, not an object or null"),
        ("health", [], "health is a list, not an object"),
    ],
)
def test_a_known_field_of_the_wrong_type_is_one_line_naming_it(tmp_path, field, value, said):
    path = tmp_path / "cp.json"
    body = json.loads(sample().to_json())
    if field.startswith("health."):
        body["health"][field.split(".", 1)[1]] = value
    else:
        body[field] = value
    assert said in _refusal_of(path, body)


@pytest.mark.parametrize(
    "field, value, said",
    [
        ("exit_code", "75", "health.last_error.exit_code is a string, not a whole number"),
        ("exit_code", None, "health.last_error.exit_code is null, not a whole number"),
        ("time", 1796083200, "health.last_error.time is a number, not a string or null"),
        ("retry_at", ["soon"], "health.last_error.retry_at is a list, not a string or null"),
    ],
)
def test_a_failure_record_field_of_the_wrong_type_is_one_line_naming_it(
    tmp_path, field, value, said
):
    """The scheduled backoff reads the recorded failure's time, retry_at and exit_code: one of
    the wrong type made every `run` exit 70, "internal error ... This is a bug"."""
    path = tmp_path / "cp.json"
    body = json.loads(sample().to_json())
    body["health"]["consecutive_failures"] = 3
    body["health"]["last_error"] = {
        "time": "2026-11-27T09:10:06.000000Z", "error": "TemporaryError", "cause": "boom",
        "exit_code": 75, "heals_outside": True, field: value,
    }
    assert said in _refusal_of(path, body)


def test_a_checkpoint_of_a_newer_format_version_says_so(tmp_path):
    path = tmp_path / "cp.json"
    body = json.loads(sample().to_json())
    body["version"] = 2
    path.write_text(json.dumps(body))
    with pytest.raises(ConfigError) as info:
        CheckpointStore(path).load()
    assert "newer docusign-input" in info.value.line()
    assert "reset" not in info.value.line()  # the advice must not cost the cursor


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file another owner")
def test_a_user_who_cannot_give_the_checkpoint_back_to_its_owner_is_refused(tmp_path, monkeypatch):
    """Replacing another user's checkpoint would take it away from them: one line naming the
    owner to run as (exit 74), the file untouched. Non-root is simulated: fchown is refused."""
    from docusign_input import durable

    store = CheckpointStore(tmp_path / "cp.json")
    store.save(sample())
    os.chown(store.path, 4242, 4343)
    before = store.path.read_bytes()

    def refused(fd: int, uid: int, gid: int) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(durable.os, "fchown", refused)
    with pytest.raises(CheckpointError) as info:
        store.save(sample().with_position(cursor="aa_9"))
    line = info.value.line()
    assert "belongs to user" in line and "sudo -u" in line and info.value.exit_code == 74
    assert store.path.read_bytes() == before and store.path.stat().st_uid == 4242
    assert not list(tmp_path.glob(".cp.json.*.tmp"))


def test_saves_from_two_threads_of_one_process_all_land(tmp_path):
    """The stop watchdog records a run's end from its own thread while the run's thread may be
    saving a page: both wrote the same temp file (`.<name>.<pid>.tmp`), so one save removed or
    renamed the other's half-written file and failed ("No such file", "File exists")."""
    import threading

    store = CheckpointStore(tmp_path / "cp.json")
    failures: list[str] = []

    def save_many(name: str) -> None:
        for n in range(150):
            try:
                store.save(sample().with_position(cursor=f"{name}_{n}"))
            except CheckpointError as exc:
                failures.append(exc.line())

    threads = [threading.Thread(target=save_many, args=(name,)) for name in ("run", "watchdog")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    loaded = store.load()
    assert loaded is not None and loaded.cursor in ("run_149", "watchdog_149")
    assert not list(tmp_path.glob(".cp.json.*.tmp"))
