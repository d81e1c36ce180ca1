"""What a new user meets first, through the installed command: --help, usage errors, secrets
given where they do not belong."""

from __future__ import annotations

import json

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
    exit_codes = text.split("exit codes:", 1)[1].split("examples:", 1)[0]
    for code in ("0 ", "2 ", "75", "77", "78"):
        assert code in exit_codes
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
    assert "30 s" in text and "--poll-interval 30 s is below 60 s" in text
