"""The installed command: what `status` says after runs that failed, were killed or stopped,
what a stopped run says last, and the checkpoint's identity and unreadable states."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from connector_support import lines_of


def last_line(proc: subprocess.CompletedProcess) -> str:
    return proc.stderr.decode().strip().splitlines()[-1]


def test_switching_the_monitor_api_on_a_checkpoint_exits_78_without_sending_its_cursor(
    simulator, connector
):
    """`Checkpoint.monitor_api` was saved and never compared: the lens cursor went to the
    organizations API."""
    simulator.seed_backlog(20, days=1)
    assert connector.run("run", "--backfill-start", "earliest").returncode == 0
    requests_before = simulator.stream_requests
    other = connector.run("run", "--monitor-api", "organizations")
    assert other.returncode == 78
    assert len(other.stderr.decode().strip().splitlines()) == 1
    assert "lens" in last_line(other) and "organizations" in last_line(other)
    assert simulator.stream_requests == requests_before
    # The way over: a reset forgets the cursor and moves the checkpoint to the other API.
    reset = connector.run(
        "checkpoint", "reset", "--to", "earliest", "--monitor-api", "organizations"
    )
    assert reset.returncode == 0 and "organizations" in last_line(reset)
    moved = connector.run("run", "--monitor-api", "organizations")
    assert moved.returncode == 0, moved.stderr.decode()
    assert lines_of(moved.stdout) == []  # the same events: deduplicated by their remembered IDs


def test_an_empty_checkpoint_file_is_called_empty(connector):
    connector.checkpoint.parent.mkdir(parents=True)
    connector.checkpoint.write_bytes(b"")
    proc = connector.run("run")
    assert proc.returncode == 78
    assert f"checkpoint {connector.checkpoint} is empty" in last_line(proc)


def test_checkpoint_reset_moves_an_unreadable_checkpoint_aside_and_says_so(simulator, connector):
    connector.checkpoint.parent.mkdir(parents=True)
    connector.checkpoint.write_bytes(b"{half a checkpoint")
    reset = connector.run("checkpoint", "reset")
    assert reset.returncode == 0, reset.stderr.decode()
    aside = connector.checkpoint.with_name(connector.checkpoint.name + ".bak")
    assert aside.read_bytes() == b"{half a checkpoint"
    assert str(aside) in reset.stderr.decode()
    assert not connector.checkpoint.exists()
    simulator.seed_backlog(5, days=1)
    assert connector.run("run").returncode == 0  # the next run starts afresh


def test_status_without_max_lag_uses_the_default_staleness(simulator, connector):
    """`status` reported "health OK" on a checkpoint whose last success was 6 days ago."""
    assert connector.run("run").returncode == 0
    assert connector.run("status").returncode == 0
    saved = connector.saved()
    saved["health"]["last_success"] = "2020-01-01T00:00:00Z"
    connector.checkpoint.write_text(json.dumps(saved))
    status = connector.run("status", "--json")
    assert status.returncode == 1
    report = json.loads(status.stdout)
    assert report["max_lag_s"] == 900  # 3 x 60 s poll interval, never under 15 minutes
    assert any("more than the default 900 s" in p for p in report["problems"])


def test_a_killed_run_leaves_status_unhealthy(simulator, connector):
    """A run that was killed (SIGKILL, OOM) used to leave `status` healthy."""
    simulator.seed_backlog(50, days=1)
    assert connector.run("run", "--backfill-start", "earliest").returncode == 0
    follower = connector.popen("run", "--follow", "--poll-interval", "60")
    try:
        deadline = time.monotonic() + 20
        while not connector.saved()["health"].get("last_run", {}).get("pid") == follower.pid:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert connector.run("status").returncode == 0  # running: healthy
    finally:
        follower.kill()
        follower.wait()
    status = connector.run("status")
    assert status.returncode == 1
    assert "killed" in last_line(status)


def test_a_stopped_run_ends_with_one_line_saying_what_was_delivered_and_where_it_stands(
    simulator, connector
):
    simulator.seed_backlog(120, days=1)
    proc = connector.popen("run", "--follow", "--backfill-start", "earliest")
    lines = [proc.stdout.readline() for _ in range(120)]
    deadline = time.monotonic() + 20
    while connector.saved()["health"]["events_delivered"] < 120:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=5)
    assert proc.returncode == 0 and len(lines) == 120
    last = err.decode().strip().splitlines()[-1]
    saved = connector.saved()
    assert "stopped: 120 events delivered by this run" in last
    assert f"at cursor {saved['cursor']}" in last
    assert saved["newest_event_time"] in last


def test_consent_required_is_not_stored_and_status_shows_the_key_masked(simulator, connector):
    """The consent_required line, consent URL and integration key included, was stored in the
    checkpoint and printed by `status` on every later call."""
    assert connector.run("run").returncode == 0
    simulator.set_consent(False)
    failed = connector.run("run", "--no-token-cache")
    assert failed.returncode == 77
    key = simulator.integration_key
    assert key in last_line(failed)  # stderr shows the consent URL: an admin must open it
    assert key not in connector.checkpoint.read_text()
    for args in (("status",), ("status", "--json")):
        status = connector.run(*args)
        assert status.returncode == 1
        assert key not in status.stdout.decode() + status.stderr.decode()
        assert "********" in status.stdout.decode() + status.stderr.decode()


def test_debug_log_shows_each_request_status_rate_limit_and_trace_token(simulator, connector):
    simulator.seed_backlog(30, days=1)
    proc = connector.run(
        "run", "--backfill-start", "earliest", "--log-level", "debug", "--log-format", "json"
    )
    assert proc.returncode == 0
    records = [json.loads(line) for line in proc.stderr.decode().splitlines()]
    requests = [r for r in records if r["message"] == "Monitor request"]
    assert len(requests) == simulator.stream_requests >= 2
    first = requests[0]
    assert first["status"] == 200 and first["trace_token"]
    assert first["rate_limit"] and first["rate_remaining"] and first["burst_remaining"]
    quiet = connector.run("run", "--log-format", "json")
    assert quiet.stderr == b""  # an idle poll that finds nothing: nothing at info level
    assert lines_of(quiet.stdout) == []


def test_https_to_a_plain_http_port_is_not_called_a_verification_failure(simulator, connector):
    monitor = connector.env["DOCUSIGN_MONITOR_URL"].replace("http://", "https://")
    proc = connector.run("run", "--monitor-url", monitor)
    assert proc.returncode == 75
    line = last_line(proc)
    assert "did not answer with TLS" in line and "plain HTTP" in line
    assert "verification" not in line and "retried" not in line


def test_an_internal_error_exits_70_and_is_recorded_for_status(simulator, connector, monkeypatch):
    """A run that ended in exit 70 used to leave `status` healthy."""
    import os

    from docusign_input import cli, sync

    assert connector.run("run").returncode == 0
    for name, value in connector.env.items():
        if name.startswith("DOCUSIGN_") or name == "XDG_STATE_HOME":
            monkeypatch.setenv(name, value)

    def a_bug(self, checkpoint):
        raise KeyError("a bug")

    monkeypatch.setattr(sync.Collector, "sync", a_bug)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        assert cli.main(["run"]) == 70
    finally:
        signal.set_wakeup_fd(-1)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert os.environ["DOCUSIGN_CHECKPOINT"] == str(connector.checkpoint)
    error = connector.saved()["health"]["last_error"]
    assert error["exit_code"] == 70 and error["error"] == "InternalError"
    assert connector.saved()["health"]["last_run"]["exit_code"] == 70
    status = connector.run("status")
    assert status.returncode == 1 and "internal error (KeyError)" in last_line(status)


@pytest.mark.slow
def test_a_slow_drain_reports_progress_at_least_every_30_seconds(simulator, connector):
    """Contract: a sync longer than a few seconds reports on stderr at least every 30 s."""
    from docusign_input.simulator.faults import Fault

    simulator.seed_backlog(400, days=1)
    simulator.inject(Fault("slow", path_prefix="/api/", delay_s=2.2))
    proc = connector.run(
        "run",
        "--backfill-start",
        "earliest",
        "--page-size",
        "25",
        "--log-format",
        "json",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    records = [json.loads(line) for line in proc.stderr.decode().splitlines()]
    progress = [r for r in records if r["message"] == "syncing"]
    assert progress, "no progress line in a drain of more than 30 s"
    first = progress[0]
    assert 0 < first["events"] < 400 and first["newest_event_time"]
    assert first["lag_s"] >= 0 and first["events_per_s"] > 0 and "rate_limit_wait_s" in first
