"""What a new user meets first, through the installed command: --help, usage errors, secrets
given where they do not belong."""

from __future__ import annotations

import json
import time

import pytest

HELP_COMMANDS = {
    "run": ("--follow", "--backfill-start", "--private-key-file", "--output"),
    "check": ("--private-key-file", "--output", "--page-size"),
    "consent-url": ("--redirect-uri", "--environment"),
    "status": ("--max-lag", "--json", "--checkpoint"),
    "checkpoint show": ("--checkpoint",),
    "checkpoint reset": ("--to", "--checkpoint"),
}
#: Flags of settings a command does not read: its --help must not offer them.
NOT_USED = {
    "consent-url": ("--page-size", "--private-key-file", "--checkpoint", "--user-id", "--output"),
    "status": ("--private-key-file", "--page-size", "--output", "--backfill-start"),
    "checkpoint show": ("--private-key-file", "--output", "--redirect-uri"),
}


#: The codes each command can return: its --help lists these and no others.
EXIT_CODES = {
    "run": {0, 2, 65, 70, 74, 75, 77, 78},
    "check": {0, 2, 65, 70, 74, 75, 77, 78},
    "consent-url": {0, 2, 70, 74, 78},
    "status": {0, 1, 2, 70, 74, 78},
    "checkpoint show": {0, 2, 70, 74, 78},
    "checkpoint reset": {0, 2, 70, 74, 75, 78},
    "checkpoint": {0, 2, 70, 74, 75, 78},
    "demo": {0, 2, 70},
}


def _codes(help_text: str) -> set[int]:
    table = help_text.split("exit codes:", 1)[1].split("examples:", 1)[0]
    return {int(line.split()[0]) for line in table.splitlines() if line.strip()[:1].isdigit()}


@pytest.mark.parametrize("command", ["checkpoint", "demo"])
def test_checkpoint_and_demo_help_have_a_description_exit_codes_and_examples(connector, command):
    """`checkpoint --help` and `demo --help` had neither a description nor exit codes nor
    examples, unlike the other commands."""
    text = connector.run(command, "--help").stdout.decode()
    description = text.split("options:", 1)[0].split("\n\n", 1)[1]
    assert len(description.split()) > 15, description
    assert _codes(text) == EXIT_CODES[command]
    examples = [ln for ln in text.split("examples:", 1)[1].splitlines() if "docusign-input" in ln]
    assert len(examples) == 2


def test_the_reset_example_does_not_promise_to_fetch_again_what_deduplication_skips(connector):
    text = connector.run("checkpoint", "reset", "--help").stdout.decode()
    examples = text.split("examples:", 1)[1]
    assert "fetch the last 36 hours again" not in examples
    assert "skipped" in examples


def test_status_poll_interval_is_the_staleness_basis_in_help_and_in_effect(connector, tmp_path):
    """`status --help` described --poll-interval as the time between --follow's polls, and
    status ignored it."""
    text = connector.run("status", "--help").stdout.decode()
    help_line = " ".join(text.split("--poll-interval DURATION\n", 1)[1].split("\n  --", 1)[0]
                         .split())
    assert "staleness" in help_line and "--follow" not in help_line
    forty_minutes_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2400))
    checkpoint = tmp_path / "cp.json"
    checkpoint.write_text(json.dumps({
        "version": 1, "environment": "development", "user_id": "u", "monitor_api": "lens",
        "cursor": "c", "updated_at": forty_minutes_ago,
        "health": {"last_success": forty_minutes_ago, "events_delivered": 1,
                   "consecutive_failures": 0},
    }))
    stale = connector.run("status", "--checkpoint", str(checkpoint))
    assert stale.returncode == 1  # the default: 15 minutes
    basis = connector.run("status", "--checkpoint", str(checkpoint), "--poll-interval", "20m")
    assert basis.returncode == 0, basis.stderr.decode()  # three intervals: 60 minutes


def test_demo_says_no_rate_limit_warning(connector):
    """The demo's own 2 s poll interval printed DocuSign's rate-limit warning in a newcomer's
    first command (the simulator is not DocuSign)."""
    proc = connector.run("demo", "--seconds", "1", "--backlog", "3")
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"warning" not in proc.stderr.lower(), proc.stderr.decode()


def test_simulate_with_a_port_out_of_range_is_one_usage_line(connector):
    """`simulate --port 99999` printed a traceback (OverflowError from bind)."""
    proc = connector.run("simulate", "--port", "99999")
    err = proc.stderr.decode()
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and "0 to 65535" in err


@pytest.mark.parametrize("command", list(HELP_COMMANDS))
def test_each_command_help_lists_its_flags_environment_exit_codes_and_two_examples(
    connector, command
):
    proc = connector.run(*command.split(), "--help")
    assert proc.returncode == 0, proc.stderr.decode()
    text = proc.stdout.decode()
    for flag in HELP_COMMANDS[command]:
        assert flag in text, (command, flag)
    for flag in NOT_USED.get(command, ()):
        assert flag not in text, (command, flag)
    environment = text.split("environment variables", 1)[1].split("exit codes:", 1)[0]
    assert "DOCUSIGN_ENVIRONMENT" in environment and "DOCUSIGN_LOG_LEVEL" in environment
    if command in ("run", "check", "consent-url"):
        # The integration key has no flag: its variables are the only way to give it.
        assert "DOCUSIGN_INTEGRATION_KEY, DOCUSIGN_INTEGRATION_KEY_FILE" in environment
    assert _codes(text) == EXIT_CODES[command]
    examples = [ln for ln in text.split("examples:", 1)[1].splitlines() if "docusign-input" in ln]
    assert len(examples) == 2


def test_abbreviated_options_are_refused_not_guessed(connector):
    proc = connector.run("run", "--backfill", "earliest")
    assert proc.returncode == 2
    assert "--backfill" in proc.stderr.decode() and proc.stdout == b""
    assert not connector.checkpoint.exists()


def test_environment_name_in_any_case_is_accepted_by_the_flag(simulator, connector):
    proc = connector.run("check", "--environment", "Development")
    assert proc.returncode == 0, proc.stderr.decode()


def pem_of(connector) -> str:
    return connector.key_file.read_text()


@pytest.mark.parametrize("flag", ["--private-key", "--integration-key", "--private-key=",
                                  "--client-secret"])
def test_secret_flags_say_where_secrets_come_from_without_echoing_the_value(connector, flag):
    value = pem_of(connector) if "private" in flag else connector.env["DOCUSIGN_INTEGRATION_KEY"]
    args = [flag + value] if flag.endswith("=") else [flag, value]
    proc = connector.run("run", *args)
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert len(err.strip().splitlines()) == 1
    assert "secrets come only from the environment or a _FILE variable" in err
    assert "BEGIN" not in err and value.splitlines()[1 if "private" in flag else 0] not in err


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_pem_text_given_as_the_key_file_is_never_echoed(connector, log_format):
    pem = pem_of(connector)
    body = [ln for ln in pem.splitlines() if ln and not ln.startswith("-----")]
    for args, env in (
        (["--private-key-file", pem], {}),
        ([], {"DOCUSIGN_PRIVATE_KEY_FILE": pem}),
    ):
        proc = connector.run("run", "--log-format", log_format, *args, env=env)
        assert proc.returncode == 78, proc.stderr.decode()
        err = proc.stderr.decode()
        assert "key material" in err and "BEGIN" not in err
        assert not [ln for ln in body if ln[:24] in err]
        if log_format == "json":
            assert json.loads(err.strip().splitlines()[-1])["level"] == "error"


def test_durations_are_accepted_for_max_lag_and_poll_interval(simulator, connector):
    assert connector.run("run").returncode == 0
    for lag in ("15m", "2h", "900", "90s"):
        proc = connector.run("status", "--max-lag", lag)
        assert proc.returncode == 0, (lag, proc.stderr.decode())
    check = connector.run("check", "--poll-interval", "30s")
    assert check.returncode == 0, check.stderr.decode()
    text = check.stdout.decode()
    # The simulator is not DocuSign: no rate-limit warning against it (the warning against
    # DocuSign: tests/unit/test_settings.py::test_poll_interval_below_a_minute_warns_...).
    assert "30 s" in text and "is below 60 s" not in text


@pytest.mark.parametrize(
    "command", [("status",), ("checkpoint", "show"), ("consent-url",), ("check",)]
)
def test_a_closed_stdout_is_74_with_one_line_not_an_internal_error(connector, command):
    """`status | head -1` with the reader gone before the write: it was exit 70, "internal error
    (BrokenPipeError) ... This is a bug"; a closed stdout is the table's 74 ("stdout closed")."""
    import os
    import subprocess

    from connector_support import connector_command

    assert connector.run("run").returncode == 0  # a checkpoint for status and show
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes anything
    try:
        proc = subprocess.run(
            connector_command() + list(command), env=connector.env, stdout=write_end,
            stderr=subprocess.PIPE, timeout=60,
        )
    finally:
        os.close(write_end)
    lines = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == 74, proc.stderr.decode()
    assert [ln for ln in lines if "error" in ln] == lines[-1:], lines
    assert "stdout was closed" in lines[-1]
    assert "internal error" not in proc.stderr.decode()
    assert "Traceback" not in proc.stderr.decode()
