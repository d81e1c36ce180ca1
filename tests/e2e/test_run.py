"""The installed `docusign-input` against the simulator, as Vector or Fluent Bit would run it."""

from __future__ import annotations

import calendar
import json
import os
import signal
import subprocess
import time

import pytest
from connector_support import connector_command, lines_of


def stderr_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return proc.stderr.decode().strip().splitlines()


def test_backfill_earliest_delivers_every_event_byte_for_byte_in_order(simulator, connector):
    simulator.seed_backlog(1200, days=2)
    proc = connector.run("run", "--backfill-start", "earliest", "--page-size", "500")
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.split(b"\n")
    assert lines[-1] == b""  # newline-terminated, no blank lines
    ids = simulator.event_ids()
    assert [json.loads(line)["eventId"] for line in lines[:-1]] == ids
    assert lines[:-1] == [simulator.event_bytes(i) for i in ids]
    saved = connector.saved()
    assert saved["health"]["events_delivered"] == 1200 and saved["cursor"]
    # One summary line per sync on stderr, naming the figures.
    assert any("sync done" in line and "events=1200" in line for line in stderr_lines(proc))


def test_backfill_start_7d_as_readme_suggests_runs_without_a_retention_warning(
    simulator, connector
):
    simulator.seed_backlog(20, days=2)
    proc = connector.run("run", "--backfill-start", "7d")
    assert proc.returncode == 0 and len(lines_of(proc.stdout)) == 20
    assert not [line for line in stderr_lines(proc) if "warning" in line], proc.stderr.decode()


def test_second_run_delivers_only_new_events_and_mints_no_token(simulator, connector):
    simulator.seed_backlog(50, days=1)
    assert connector.run("run", "--backfill-start", "earliest").returncode == 0
    tokens = simulator.token_requests
    new_ids = simulator.append_events(7)
    proc = connector.run("run")
    assert proc.returncode == 0
    assert [e["eventId"] for e in lines_of(proc.stdout)] == new_ids
    assert simulator.token_requests == tokens  # the cached token was reused
    cache = connector.checkpoint.with_name(connector.checkpoint.name + ".token")
    token_files = [p for p in connector.checkpoint.parent.iterdir() if "token" in p.name]
    assert token_files, "a token cache file is kept beside the checkpoint"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in token_files)
    del cache


def test_without_backfill_the_first_run_starts_now(simulator, connector):
    simulator.seed_backlog(30, days=1)
    first = connector.run("run")
    assert first.returncode == 0 and first.stdout == b""
    new_ids = simulator.append_events(3)
    second = connector.run("run")
    assert [e["eventId"] for e in lines_of(second.stdout)] == new_ids


def test_no_token_cache_mints_every_run(simulator, connector):
    connector.run("run", "--no-token-cache")
    before = simulator.token_requests
    connector.run("run", "--no-token-cache")
    assert simulator.token_requests == before + 1
    assert not [p for p in connector.checkpoint.parent.iterdir() if "token" in p.name]


def test_consent_required_prints_the_consent_url_and_exits_77(simulator, connector):
    simulator.set_consent(False)
    proc = connector.run("run")
    assert proc.returncode == 77
    lines = stderr_lines(proc)
    assert len([line for line in lines if "error" in line]) == 1
    assert "consent" in lines[-1] and "/oauth/auth?" in lines[-1]
    assert simulator.integration_key in lines[-1]  # the one place the key may appear
    assert b"Traceback" not in proc.stderr and proc.stdout == b""


def test_wrong_private_key_says_key_or_environment(simulator, connector, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    bad = tmp_path / "other.pem"
    bad.write_bytes(pem)
    proc = connector.run("run", env={"DOCUSIGN_PRIVATE_KEY_FILE": str(bad)})
    assert proc.returncode == 77
    message = stderr_lines(proc)[-1].lower()
    assert "key" in message and "environment" in message
    assert not connector.checkpoint.exists() or connector.saved()["cursor"] is not None


def test_unknown_user_and_unknown_integration_key_are_named(simulator, connector, tmp_path):
    other_checkpoint = str(tmp_path / "other-user.json")  # a checkpoint belongs to one user
    user = connector.run(
        "run",
        env={
            "DOCUSIGN_USER_ID": "0b9a3a4e-1111-4222-8333-444455556666",
            "DOCUSIGN_CHECKPOINT": other_checkpoint,
        },
    )
    assert user.returncode == 77 and "user" in stderr_lines(user)[-1].lower()
    key = connector.run(
        "run", env={"DOCUSIGN_INTEGRATION_KEY": "0b9a3a4e-1111-4222-8333-444455556666"}
    )
    assert key.returncode == 77 and "integration key" in stderr_lines(key)[-1].lower()


def test_monitor_not_enabled_is_77_with_a_fix(simulator, connector):
    simulator.set_monitor_enabled(False)
    proc = connector.run("run")
    assert proc.returncode == 77
    assert "Monitor" in stderr_lines(proc)[-1]


def test_a_second_instance_on_the_same_checkpoint_exits_75_naming_the_holder(simulator, connector):
    follower = connector.popen("run", "--follow", "--poll-interval", "1")
    try:
        deadline = time.time() + 15
        while not connector.checkpoint.exists() and time.time() < deadline:
            time.sleep(0.1)
        second = connector.run("run")
        assert second.returncode == 75
        assert f"pid {follower.pid}" in stderr_lines(second)[-1]
    finally:
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(timeout=5) == 0


def test_sigterm_stops_follow_within_five_seconds_with_exit_0(simulator, connector):
    simulator.seed_backlog(100, days=1)
    proc = connector.popen(
        "run", "--follow", "--backfill-start", "earliest", "--poll-interval", "30"
    )
    lines = [proc.stdout.readline() for _ in range(100)]  # read as a shipper does
    time.sleep(0.5)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)  # twice: no traceback, same outcome
    assert proc.wait(timeout=5) == 0
    assert time.monotonic() - started < 5
    out, err = proc.communicate()
    assert b"Traceback" not in err
    assert out == b"" and all(line.endswith(b"\n") for line in lines)
    assert connector.saved()["health"]["events_delivered"] == 100


def test_token_expiring_mid_drain_is_reminted_and_nothing_is_lost(simulator, connector):
    simulator.set_token_lifetime(2)
    simulator.seed_backlog(600, days=1)
    simulator.inject_slow = None
    proc = connector.run(
        "run", "--backfill-start", "earliest", "--page-size", "50", "--no-token-cache"
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert [e["eventId"] for e in lines_of(proc.stdout)] == simulator.event_ids()


def test_organizations_api_looks_up_the_organization_once_and_keeps_it(simulator, connector):
    simulator.seed_backlog(20, days=1)
    args = ("run", "--monitor-api", "organizations", "--backfill-start", "earliest")
    proc = connector.run(*args)
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(lines_of(proc.stdout)) == 20
    assert connector.saved()["organization_id"] == simulator.organization_id
    paths = [r.path for r in simulator.requests]
    assert f"/v1/organizations/{simulator.organization_id}/stream" in paths
    assert paths.count("/oauth/userinfo") == 1
    connector.run(*args)
    assert [r.path for r in simulator.requests].count("/oauth/userinfo") == 1


def test_reader_closing_stdout_is_74_and_the_next_run_delivers_the_rest(simulator, connector):
    simulator.seed_backlog(3000, days=1)
    proc = connector.popen("run", "--backfill-start", "earliest", "--page-size", "100")
    read = [json.loads(proc.stdout.readline())["eventId"] for _ in range(250)]
    proc.stdout.close()
    assert proc.wait(timeout=30) == 74
    err = proc.stderr.read().decode()
    assert "Traceback" not in err and "stdout" in err
    rest = connector.run("run")
    assert rest.returncode == 0, rest.stderr.decode()
    order = simulator.event_ids()
    delivered = [e["eventId"] for e in lines_of(rest.stdout)]
    assert read == order[:250]
    # The next run resumes where the checkpoint stopped: a contiguous tail, in order, no holes.
    assert delivered == order[len(order) - len(delivered) :]
    # The two pages the reader took whole were checkpointed and are not repeated; the page it
    # was in when it died was not (the checkpoint waits for the pipe to empty), unless the
    # reader's own buffer had already taken all of it.
    assert len(order) - len(delivered) in (200, 300)


@pytest.mark.parametrize(
    "env, flag, needle",
    [
        ({"DOCUSIGN_ENVIRONMENT": "staging"}, None, "environment"),
        ({"DOCUSIGN_USER_ID": ""}, None, "user"),
        ({}, ("--page-size", "5000"), "page"),
        ({}, ("--backfill-start", "next tuesday"), "backfill"),
        ({}, ("--backfill-start", "2099-01-01"), "future"),
        ({"DOCUSIGN_MONITOR_URL": "http://monitor.example.com"}, None, "https"),
        ({"DOCUSIGN_PRIVATE_KEY_FILE": "/nonexistent/key.pem"}, None, "key"),
    ],
)
def test_bad_settings_give_one_line_and_exit_78_without_network(
    simulator, connector, env, flag, needle
):
    before = len(simulator.requests)
    proc = connector.run("run", *(flag or ()), env=env)
    assert proc.returncode == 78, proc.stderr.decode()
    lines = stderr_lines(proc)
    assert len(lines) == 1 and needle in lines[0].lower() and "Traceback" not in lines[0]
    assert len(simulator.requests) == before


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("run", "--bogus"), "unrecognized arguments: --bogus"),
        (("status", "--max-lag", "soon"), "--max-lag"),
        (("status", "--max-lag", "-60"), "0 or more"),
        (("demo", "--seconds", "nan"), "--seconds"),
        (("checkpoint",), "ACTION"),
        (("simulate", "--port", "x"), "--port"),
    ],
)
def test_usage_errors_are_one_stderr_line_and_exit_2(connector, args, needle):
    # docs/contract.md: every non-zero exit prints one stderr line naming the cause and the fix
    proc = connector.run(*args)
    assert proc.returncode == 2
    lines = stderr_lines(proc)
    assert len(lines) == 1 and needle in lines[0] and "--help" in lines[0], lines


def test_status_reports_health_and_max_lag(simulator, connector):
    assert connector.run("status").returncode == 1  # never ran
    connector.run("run")
    ok = connector.run("status", "--max-lag", "600")
    assert ok.returncode == 0 and b"OK" in ok.stdout
    as_json = json.loads(connector.run("status", "--json").stdout)
    assert as_json["healthy"] is True and as_json["last_success"]
    time.sleep(1.1)
    stale = connector.run("status", "--max-lag", "1")
    assert stale.returncode == 1
    # Exit 1 is a non-zero exit: one stderr line with the cause and the fix, like the others.
    lines = stderr_lines(stale)
    assert len(lines) == 1 and "more than --max-lag 1" in lines[0] and "fix:" in lines[0]


def test_status_without_a_checkpoint_says_what_to_run(connector):
    proc = connector.run("status")
    assert proc.returncode == 1
    lines = stderr_lines(proc)
    assert len(lines) == 1 and "no checkpoint yet" in lines[0]
    assert "docusign-input run" in lines[0]


def test_status_reports_the_last_error(simulator, connector):
    connector.run("run")
    simulator.set_monitor_enabled(False)
    assert connector.run("run").returncode == 77
    status = connector.run("status", "--json")
    assert status.returncode == 1
    report = json.loads(status.stdout)
    assert "Monitor" in report["last_error"]["cause"]
    assert report["fix"] and report["fix"] in stderr_lines(status)[0]


def test_check_reports_without_saving_anything(simulator, connector):
    simulator.seed_backlog(10, days=1)
    proc = connector.run("check", "--backfill-start", "earliest")
    assert proc.returncode == 0, proc.stderr.decode()
    text = proc.stdout.decode()
    assert "Token" in text and "10" in text
    assert simulator.integration_key not in text
    assert not connector.checkpoint.exists()


def test_consent_url_command(simulator, connector):
    proc = connector.run("consent-url", "--redirect-uri", "https://example.com/cb")
    assert proc.returncode == 0
    url = proc.stdout.decode().strip()
    assert url.startswith(simulator.base_url + "/oauth/auth?")
    assert "scope=signature%20impersonation" in url and simulator.integration_key in url


def test_consent_url_needs_only_the_environment_and_the_integration_key():
    """README step 2: consent comes before the admin's user ID and the key pair are in place."""

    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUSIGN_")}
    env.update(
        DOCUSIGN_ENVIRONMENT="production",
        DOCUSIGN_INTEGRATION_KEY="1f2e3d4c-0000-4000-8000-123456789abc",
    )
    proc = subprocess.run(
        connector_command() + ["consent-url", "--redirect-uri", "https://example.com/cb"],
        env=env,
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().strip() == (
        "https://account.docusign.com/oauth/auth?response_type=code"
        "&scope=signature%20impersonation&client_id=1f2e3d4c-0000-4000-8000-123456789abc"
        "&redirect_uri=https%3A%2F%2Fexample.com%2Fcb"
    )
    del env["DOCUSIGN_INTEGRATION_KEY"]
    missing = subprocess.run(connector_command() + ["consent-url"], env=env, capture_output=True)
    assert missing.returncode == 78 and b"integration key" in missing.stderr.lower()


def test_checkpoint_show_and_reset(simulator, connector):
    simulator.seed_backlog(5, days=1)
    connector.run("run", "--backfill-start", "earliest")
    shown = json.loads(connector.run("checkpoint", "show").stdout)
    assert shown["health"]["events_delivered"] == 5
    assert connector.run("checkpoint", "reset", "--to", "earliest").returncode == 0
    again = connector.run("run")
    # Rewound: the events come back only if they were not remembered as recent; all were.
    assert again.returncode == 0 and lines_of(again.stdout) == []


def test_checkpoint_reset_without_a_checkpoint_creates_none(connector):
    proc = connector.run("checkpoint", "reset")
    assert proc.returncode == 0 and b"nothing to reset" in proc.stderr
    assert not connector.checkpoint.exists()


def test_python_dash_m_is_the_same_program(connector):
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "docusign_input", "--version"], capture_output=True
    )
    assert proc.returncode == 0 and b"docusign-input" in proc.stdout
    assert os.path.basename(sys.executable)


def test_scheduled_runs_that_keep_failing_stop_asking_docusign(simulator, connector):
    simulator.set_consent(False)
    assert connector.run("run").returncode == 77
    assert connector.run("run").returncode == 77
    tokens = simulator.token_requests
    skipped = connector.run("run")
    assert skipped.returncode == 77 and simulator.token_requests == tokens
    assert "not contacting DocuSign" in stderr_lines(skipped)[-1]
    assert json.loads(connector.run("status", "--json").stdout)["healthy"] is False
    # `check` is always live, so a fix can be confirmed at once.
    simulator.set_consent(True)
    assert connector.run("check").returncode == 0


def test_a_revoked_cached_token_is_reminted_once(simulator, connector):
    simulator.seed_backlog(5, days=1)
    assert connector.run("run").returncode == 0
    simulator.expire_tokens()
    tokens = simulator.token_requests
    new_ids = simulator.append_events(4)
    proc = connector.run("run")
    assert proc.returncode == 0, proc.stderr.decode()
    assert [e["eventId"] for e in lines_of(proc.stdout)] == new_ids
    assert simulator.token_requests == tokens + 1


def test_forward_output_sends_each_event_with_its_own_time(simulator, connector):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from receivers import EventTime, ForwardReceiver

    simulator.seed_backlog(300, days=1)
    with ForwardReceiver() as receiver:
        spec = f"forward://127.0.0.1:{receiver.port}?tag=docusign.test"
        proc = connector.run("run", "--backfill-start", "earliest", "--output", spec)
        assert proc.returncode == 0, proc.stderr.decode()
        assert proc.stdout == b""
        entries = receiver.wait_for(300)
    assert [e.record["eventId"] for e in entries] == simulator.event_ids()
    assert {e.tag for e in entries} == {"docusign.test"}
    first = entries[0]
    assert isinstance(first.time, EventTime)
    ts = first.record["timestamp"]  # 2026-11-27T09:10:06.0512813Z (or without the fraction)
    seconds = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
    assert first.time == EventTime(seconds, int(ts[20:-1].ljust(9, "0")) if ts[19] == "." else 0)


def test_forward_receiver_down_is_74_and_nothing_is_checkpointed(simulator, connector):
    import socket

    simulator.seed_backlog(10, days=1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = connector.run(
        "run",
        "--backfill-start",
        "earliest",
        "--output",
        f"forward://127.0.0.1:{port}",
        "--forward-ack-timeout",
        "2",
        timeout=120,
    )
    assert proc.returncode == 74
    assert "forward" in stderr_lines(proc)[-1]
    saved = connector.saved()
    assert saved["health"]["events_delivered"] == 0


def test_simulate_prints_settings_that_point_run_at_it(tmp_path):
    """The flow a user follows to test their own pipeline: `simulate`, source its exports, `run`."""

    sim = subprocess.Popen(
        connector_command()
        + ["simulate", "--port", "0", "--backlog", "25", "--events-per-minute", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUSIGN_")}
        while True:
            line = sim.stdout.readline()
            assert line, sim.stderr.read()
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                env[name] = value
                if name == "DOCUSIGN_ENVIRONMENT":
                    break
        env["DOCUSIGN_CHECKPOINT"] = str(tmp_path / "cp.json")
        proc = subprocess.run(
            connector_command() + ["run", "--backfill-start", "earliest"],
            env=env,
            capture_output=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        assert len(lines_of(proc.stdout)) == 25
    finally:
        sim.send_signal(signal.SIGTERM)
        assert sim.wait(timeout=10) == 0


def test_json_log_format_gives_one_json_object_per_stderr_line(simulator, connector):
    simulator.seed_backlog(5, days=1)
    ok = connector.run("run", "--backfill-start", "earliest", "--log-format", "json")
    records = [json.loads(line) for line in stderr_lines(ok)]
    summary = [r for r in records if r["message"] == "sync done"]
    assert summary and summary[0]["events"] == 5 and summary[0]["level"] == "info"
    simulator.set_monitor_enabled(False)
    failed = connector.run("run", env={"DOCUSIGN_LOG_FORMAT": "json"})
    last = json.loads(stderr_lines(failed)[-1])
    assert failed.returncode == 77 and last["level"] == "error" and last["exit_code"] == 77


def test_log_format_and_level_from_the_config_file_and_in_any_case(simulator, connector, tmp_path):
    simulator.seed_backlog(5, days=1)
    config = tmp_path / "docusign-input.toml"
    config.write_text('log_format = "json"\nlog_level = "warning"\nbackfill_start = "earliest"\n')
    quiet = connector.run("run", "--config", str(config))
    assert quiet.returncode == 0 and stderr_lines(quiet) == []  # warning: no "sync done"
    simulator.set_monitor_enabled(False)
    failed = connector.run("run", "--config", str(config))
    assert failed.returncode == 77
    assert json.loads(stderr_lines(failed)[-1])["exit_code"] == 77
    shouted = connector.run("run", env={"DOCUSIGN_LOG_FORMAT": "JSON"})
    assert json.loads(stderr_lines(shouted)[-1])["exit_code"] == 77


def test_toml_config_file_with_flag_and_environment_precedence(simulator, connector, tmp_path):
    simulator.seed_backlog(12, days=1)
    config = tmp_path / "docusign-input.toml"
    config.write_text(
        'environment = "development"\n'
        f'user_id = "{simulator.user_id}"\n'
        f'private_key_file = "{connector.key_file}"\n'
        "page_size = 5\n"
        'backfill_start = "earliest"\n'
    )
    env = {"DOCUSIGN_USER_ID": "", "DOCUSIGN_PRIVATE_KEY_FILE": "", "DOCUSIGN_PAGE_SIZE": "4"}
    proc = connector.run("run", "--config", str(config), "--page-size", "3", env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(lines_of(proc.stdout)) == 12
    limits = {r.query.get("limit") for r in simulator.requests if "stream" in r.path}
    assert limits in ({"3"}, {3}), limits  # the flag beat the environment and the file
