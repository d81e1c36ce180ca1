"""`check` as a full preflight, through the installed command: every problem at once, the
checkpoint, the output, what the first run fetches; a good check clears the scheduled backoff."""

from __future__ import annotations

import fcntl
import json
import socket

from docusign_input.preflight import newest_event_time


def report(proc) -> str:
    return proc.stdout.decode()


def test_check_reports_every_settings_problem_in_one_pass(simulator, connector):
    proc = connector.run(
        "check",
        env={"DOCUSIGN_PAGE_SIZE": "0", "DOCUSIGN_OUTPUT": "stderr", "DOCUSIGN_LOG_LEVEL": "loud",
             "DOCUSIGN_USER_ID": ""},
    )
    assert proc.returncode == 78
    problems = [ln for ln in report(proc).splitlines() if "PROBLEM" in ln]
    assert len(problems) == 4, report(proc)
    for needle in ("user ID is not set", "DOCUSIGN_PAGE_SIZE", "DOCUSIGN_OUTPUT",
                   "DOCUSIGN_LOG_LEVEL"):
        assert [ln for ln in problems if needle in ln], needle
    err = proc.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "check found 4 problems" in err[0]
    assert simulator.token_requests == 0  # nothing contacted with broken settings


def test_check_reports_checkpoint_lock_output_and_key_file_problems_together(
    simulator, connector
):
    connector.key_file.chmod(0o644)
    connector.checkpoint.parent.mkdir(parents=True)
    lock = open(connector.checkpoint.with_name("checkpoint.json.lock"), "w")
    lock.write("pid 4242 on testhost\n")
    lock.flush()
    fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    try:
        proc = connector.run("check", "--output", f"forward://127.0.0.1:{port}")
    finally:
        lock.close()
    text = report(proc)
    assert proc.returncode == 75, text  # the first problem: the lock
    assert "warning: the private key file" in text and "chmod 600" in text
    assert "in use by pid 4242 on testhost" in text
    assert f"cannot reach the forward receiver forward://127.0.0.1:{port}" in text
    assert "Token" in text and "OK (JWT grant accepted)" in text  # the rest still ran
    assert "check found 2 problems" in proc.stderr.decode()


def test_check_says_what_the_first_run_fetches_and_saves_nothing(simulator, connector):
    simulator.seed_backlog(12, days=1)
    proc = connector.run("check")
    assert proc.returncode == 0, proc.stderr.decode()
    text = report(proc)
    assert "only events from now on" in text and "--backfill-start 7d" in text
    assert "Checkpoint" in text and "lock free" in text
    assert not connector.checkpoint.exists()
    backfill = connector.run("check", "--backfill-start", "earliest")
    assert "everything DocuSign still holds" in report(backfill)
    assert "Events available         12 in the first page" in report(backfill)


def test_a_successful_check_clears_the_scheduled_run_backoff(simulator, connector):
    simulator.seed_backlog(3, days=1)
    assert connector.run("run", "--backfill-start", "earliest").returncode == 0
    simulator.set_consent(False)
    simulator.expire_tokens()
    assert connector.run("run").returncode == 77
    assert connector.run("run").returncode == 77
    assert "not contacting DocuSign" in connector.run("run").stderr.decode()
    simulator.set_consent(True)
    check = connector.run("check")
    assert check.returncode == 0, check.stderr.decode()
    assert "backoff cleared" in report(check)
    assert connector.saved()["health"]["consecutive_failures"] == 0
    tokens = simulator.token_requests
    run = connector.run("run")
    assert run.returncode == 0 and simulator.token_requests == tokens + 1, run.stderr.decode()


def test_check_never_prints_the_integration_key_on_stdout(simulator, connector):
    simulator.set_consent(False)
    proc = connector.run("check")
    assert proc.returncode == 77
    assert simulator.integration_key not in report(proc)
    assert simulator.integration_key in proc.stderr.decode()  # inside the consent URL


def test_newest_event_time_compares_instants_not_strings():
    events = [{"timestamp": "2026-11-28T09:10:06.05Z"}, {"timestamp": "2026-11-28T09:10:06Z"},
              {"timestamp": "2026-11-28T10:10:05+01:00"}, {"timestamp": "not a time"}, {}]
    # As strings "...06Z" > "...06.05Z" and "10:10:05+01:00" beats both; as instants .05 wins.
    assert newest_event_time(events) == "2026-11-28T09:10:06.05Z"
    assert newest_event_time([]) is None


def test_check_json_free_report_names_each_setting_source(simulator, connector):
    proc = connector.run("check", "--page-size", "100")
    assert proc.returncode == 0
    assert [ln for ln in report(proc).splitlines()
            if ln.strip().startswith("page size") and "[--page-size]" in ln]
    json.dumps(report(proc))  # plain text, no control characters that break a ticket
