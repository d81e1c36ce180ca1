"""Settings: sources and precedence, defaults, and one clear line for every bad value."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from docusign_input.errors import ConfigError
from docusign_input.settings import (
    FILE_KEYS,
    FLAG_KEYS,
    Settings,
    SettingsProblems,
    load_settings,
    pem_line,
    specs_for,
)

#: The first line of a PKCS#1 key, assembled (see pem_line) for the fakes below.
RSA_BEGIN = pem_line("BEGIN", "RSA PRIVATE KEY").encode()

NOW = datetime(2026, 11, 28, 15, 0, 0, tzinfo=timezone.utc)
USER = "9cfb472b-ef1f-4116-8df2-17c53841fd6c"
IKEY = "1f2e3d4c-0000-4000-8000-123456789abc"


@pytest.fixture(scope="module")
def pems() -> dict[str, str]:
    """Keys generated at test time (no key files are committed)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    none = serialization.NoEncryption()
    pem = serialization.Encoding.PEM
    return {
        "pkcs1": key.private_bytes(
            pem, serialization.PrivateFormat.TraditionalOpenSSL, none
        ).decode(),
        "pkcs8": key.private_bytes(pem, serialization.PrivateFormat.PKCS8, none).decode(),
        "encrypted": key.private_bytes(
            pem,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        ).decode(),
        "public": key.public_key()
        .public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    }


@pytest.fixture
def env(tmp_path: Path, pems: dict[str, str]) -> dict[str, str]:
    key_file = tmp_path / "key.pem"
    key_file.write_text(pems["pkcs1"])
    key_file.chmod(0o600)
    return {
        "HOME": str(tmp_path / "home"),
        "DOCUSIGN_ENVIRONMENT": "development",
        "DOCUSIGN_USER_ID": USER,
        "DOCUSIGN_INTEGRATION_KEY": IKEY,
        "DOCUSIGN_PRIVATE_KEY_FILE": str(key_file),
    }


def load(
    env: dict[str, str], flags: dict[str, Any] | None = None, config: Path | None = None, **kw: Any
) -> Settings:
    return load_settings(flags or {}, env, config_file=config, now=NOW, **kw)


def config_error(
    env: dict[str, str], flags: dict[str, Any] | None = None, config: Path | None = None, **kw: Any
) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(env, flags, config, **kw)
    error = caught.value
    assert error.exit_code == 78
    assert "\n" not in error.line()
    return error


# -- defaults -------------------------------------------------------------------------------------


def test_defaults_for_development(env: dict[str, str]) -> None:
    settings = load(env)
    assert settings.environment == "development"
    assert settings.auth_url == "https://account-d.docusign.com"
    assert settings.monitor_url == "https://lens-d.docusign.net"
    assert settings.monitor_api == "lens"
    assert settings.page_size == 2000
    assert settings.poll_interval_s == 60.0
    assert settings.output == "stdout"
    assert (settings.log_format, settings.log_level) == ("text", "info")
    assert settings.token_cache is True
    assert settings.backfill_start is None
    assert settings.organization_id is None


def test_production_and_organizations_defaults(env: dict[str, str]) -> None:
    env.update(DOCUSIGN_ENVIRONMENT="production", DOCUSIGN_MONITOR_API="organizations")
    settings = load(env)
    assert settings.auth_url == "https://account.docusign.com"
    assert settings.monitor_url == "https://api.docusign.com"
    env["DOCUSIGN_ENVIRONMENT"] = "development"
    assert load(env).monitor_url == "https://api-d.docusign.com"


def test_demo_is_an_alias_of_development(env: dict[str, str]) -> None:
    env["DOCUSIGN_ENVIRONMENT"] = "Demo"
    assert load(env).environment == "development"


def test_checkpoint_defaults_under_xdg_state_home(env: dict[str, str], tmp_path: Path) -> None:
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    assert load(env).checkpoint_path == tmp_path / "state" / "docusign-input" / (
        f"development-{USER}.json"
    )


def test_checkpoint_defaults_to_local_state_without_xdg(env: dict[str, str]) -> None:
    expected = Path(env["HOME"]) / ".local/state/docusign-input" / f"development-{USER}.json"
    assert load(env).checkpoint_path == expected
    env["XDG_STATE_HOME"] = "relative/path"  # the XDG spec says to ignore relative paths
    assert load(env).checkpoint_path == expected


def test_token_cache_path_sits_beside_the_checkpoint(env: dict[str, str], tmp_path: Path) -> None:
    env["DOCUSIGN_CHECKPOINT"] = str(tmp_path / "cp.json")
    assert load(env).token_cache_path == tmp_path / "cp.json.token"


def test_tilde_in_paths_uses_home(env: dict[str, str]) -> None:
    env["DOCUSIGN_CHECKPOINT"] = "~/cp.json"
    assert load(env).checkpoint_path == Path(env["HOME"]) / "cp.json"


# -- precedence -----------------------------------------------------------------------------------


def write_config(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "docusign.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_flag_beats_env_beats_file_beats_default(env: dict[str, str], tmp_path: Path) -> None:
    config = write_config(tmp_path, "page_size = 10\npoll_interval = 5\nlog_level = 'debug'\n")
    env["DOCUSIGN_PAGE_SIZE"] = "20"
    env["DOCUSIGN_POLL_INTERVAL"] = "7.5"
    settings = load(env, {"page_size": "30", "poll_interval": None}, config)
    assert settings.page_size == 30  # flag
    assert settings.poll_interval_s == 7.5  # env (flag given as None = not given)
    assert settings.log_level == "debug"  # file
    assert settings.log_format == "text"  # default
    assert settings.sources["page_size"] == "--page-size"
    assert settings.sources["poll_interval"] == "DOCUSIGN_POLL_INTERVAL"
    assert settings.sources["log_level"] == f"log_level in {config}"


def test_empty_env_var_counts_as_unset(env: dict[str, str]) -> None:
    env["DOCUSIGN_BACKFILL_START"] = ""
    env["DOCUSIGN_PAGE_SIZE"] = " "
    settings = load(env)
    assert settings.backfill_start is None and settings.page_size == 2000


def test_every_setting_from_the_config_file(
    env: dict[str, str], tmp_path: Path, pems: dict[str, str]
) -> None:
    (tmp_path / "ik").write_text(IKEY + "\n")
    config = write_config(
        tmp_path,
        f"""
environment = "production"
user_id = "{USER}"
integration_key_file = "ik"
private_key_file = "key.pem"
backfill_start = "36h"
checkpoint = "state/cp.json"
page_size = 500
poll_interval = 120
auth_url = "https://account.docusign.com/"
monitor_url = "https://api.docusign.com"
monitor_api = "organizations"
organization_id = "9e294b2af5b7-f1fc-4c95-8949bd2a"
output = "forward://127.0.0.1:24224?tag=docusign.monitor"
log_format = "json"
log_level = "warning"
token_cache = false
redirect_uri = "https://example.com/callback"
""",
    )
    settings = load({"HOME": env["HOME"]}, {}, config)
    assert settings.environment == "production"
    assert settings.integration_key.reveal() == IKEY
    assert settings.private_key_pem.reveal() == pems["pkcs1"]
    assert settings.private_key_source == str(tmp_path / "key.pem")  # relative to the file
    assert settings.checkpoint_path == tmp_path / "state" / "cp.json"
    assert settings.backfill_start == "36h"
    assert (settings.page_size, settings.poll_interval_s) == (500, 120.0)
    assert settings.auth_url == "https://account.docusign.com"
    assert settings.monitor_api == "organizations"
    assert settings.organization_id == "9e294b2af5b7-f1fc-4c95-8949bd2a"
    assert settings.output == "forward://127.0.0.1:24224?tag=docusign.monitor"
    assert (settings.log_format, settings.log_level) == ("json", "warning")
    assert settings.token_cache is False
    assert settings.redirect_uri == "https://example.com/callback"
    assert settings.warnings == ()


def test_config_file_with_secret_readable_by_others_warns(
    env: dict[str, str], tmp_path: Path
) -> None:
    config = write_config(tmp_path, f'integration_key = "{IKEY}"\n', mode=0o644)
    del env["DOCUSIGN_INTEGRATION_KEY"]
    settings = load(env, {}, config)
    assert settings.integration_key.reveal() == IKEY
    assert any("chmod 600" in w for w in settings.warnings)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("page_sise = 10\n", "unknown setting 'page_sise'"),
        ("page_size = \n", "not valid TOML"),
        # not "quote the value": "5.5" would fail the same way
        ("page_size = 5.5\n", "must be a whole number, not 5.5. Give e.g. 2000"),
    ],
)
def test_bad_config_file(env: dict[str, str], tmp_path: Path, text: str, needle: str) -> None:
    error = config_error(env, {}, write_config(tmp_path, text))
    assert needle in error.line()


def test_missing_config_file(env: dict[str, str], tmp_path: Path) -> None:
    assert "does not exist" in config_error(env, {}, tmp_path / "nope.toml").line()


def test_token_cache_off_by_flag_and_env(env: dict[str, str]) -> None:
    assert load(env, {"token_cache": False}).token_cache is False
    for off in ("0", "false", "No", "off"):
        assert load({**env, "DOCUSIGN_TOKEN_CACHE": off}).token_cache is False
    assert load({**env, "DOCUSIGN_TOKEN_CACHE": "1"}).token_cache is True


def test_flag_keys_match_the_cli() -> None:
    assert set(FLAG_KEYS) >= {
        "environment",
        "user_id",
        "private_key_file",
        "backfill_start",
        "checkpoint",
        "page_size",
        "poll_interval",
        "auth_url",
        "monitor_url",
        "monitor_api",
        "organization_id",
        "output",
        "log_format",
        "log_level",
        "token_cache",
    }


# -- secrets --------------------------------------------------------------------------------------


def test_integration_key_file_is_stripped(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "ik").write_text(f"{IKEY}\n\n")
    del env["DOCUSIGN_INTEGRATION_KEY"]
    env["DOCUSIGN_INTEGRATION_KEY_FILE"] = str(tmp_path / "ik")
    assert load(env).integration_key.reveal() == IKEY


def test_secret_and_its_file_together_are_contradictory(
    env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "ik").write_text(IKEY)
    env["DOCUSIGN_INTEGRATION_KEY_FILE"] = str(tmp_path / "ik")
    line = config_error(env).line()
    assert "DOCUSIGN_INTEGRATION_KEY" in line and "DOCUSIGN_INTEGRATION_KEY_FILE" in line


def test_private_key_as_pem_text_in_env(env: dict[str, str], pems: dict[str, str]) -> None:
    del env["DOCUSIGN_PRIVATE_KEY_FILE"]
    env["DOCUSIGN_PRIVATE_KEY"] = pems["pkcs8"]
    settings = load(env)
    assert settings.private_key_pem.reveal() == pems["pkcs8"].strip()
    assert settings.private_key_source == "DOCUSIGN_PRIVATE_KEY"


def test_private_key_env_with_literal_backslash_n(
    env: dict[str, str], pems: dict[str, str]
) -> None:
    del env["DOCUSIGN_PRIVATE_KEY_FILE"]
    env["DOCUSIGN_PRIVATE_KEY"] = pems["pkcs1"].strip().replace("\n", "\\n")
    assert load(env).private_key_pem.reveal() == pems["pkcs1"].strip()


def test_private_key_file_flag_beats_env_pem(
    env: dict[str, str], tmp_path: Path, pems: dict[str, str]
) -> None:
    del env["DOCUSIGN_PRIVATE_KEY_FILE"]
    env["DOCUSIGN_PRIVATE_KEY"] = "junk"
    other = tmp_path / "other.pem"
    other.write_text(pems["pkcs8"])
    settings = load(env, {"private_key_file": str(other)})
    assert settings.private_key_pem.reveal() == pems["pkcs8"]
    assert settings.sources["private_key"] == "--private-key-file"


def test_secrets_never_in_repr_or_describe(env: dict[str, str], pems: dict[str, str]) -> None:
    settings = load(env)
    shown = repr(settings) + str(settings.describe())
    assert IKEY not in shown
    assert "PRIVATE KEY-----" not in shown and pems["pkcs1"][40:80] not in shown
    described = dict(settings.describe())
    assert described["integration key"].startswith("set (hidden)")
    assert "PKCS#1" in described["private key"]


def test_status_reads_no_secrets_and_ignores_settings_it_does_not_use(env: dict[str, str]) -> None:
    del env["DOCUSIGN_INTEGRATION_KEY"]
    env["DOCUSIGN_PRIVATE_KEY_FILE"] = "/does/not/exist"
    env["DOCUSIGN_OUTPUT"] = "not an output"
    settings = load(env, command="status")
    assert not settings.integration_key and not settings.private_key_pem
    assert settings.output == "stdout"


def test_consent_url_needs_only_the_environment_and_the_integration_key(
    env: dict[str, str],
) -> None:
    for name in ("DOCUSIGN_USER_ID", "DOCUSIGN_PRIVATE_KEY_FILE"):
        del env[name]
    settings = load(env, command="consent-url")
    assert settings.integration_key.reveal() == IKEY


def test_loading_settings_does_not_import_cryptography_or_jwt(env: dict[str, str]) -> None:
    code = (
        "import sys, json; from docusign_input.settings import load_settings; "
        "load_settings({}, json.loads(sys.argv[1])); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('cryptography', 'jwt', 'requests')]; "
        "assert not bad, bad"
    )
    import json

    subprocess.run(
        [sys.executable, "-c", code, json.dumps(env)],
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )


# -- one line per bad value -----------------------------------------------------------------------

BAD_ENV = [
    ("DOCUSIGN_ENVIRONMENT", "staging", "development or production"),
    ("DOCUSIGN_USER_ID", "admin@example.com", "e-mail"),
    ("DOCUSIGN_USER_ID", "12345", "GUID"),
    ("DOCUSIGN_INTEGRATION_KEY", "not-a-guid", "GUID"),
    ("DOCUSIGN_BACKFILL_START", "last week", "not understood"),
    ("DOCUSIGN_BACKFILL_START", "2027-01-01", "in the future"),
    ("DOCUSIGN_PAGE_SIZE", "0", "1 to 2000"),
    ("DOCUSIGN_PAGE_SIZE", "2001", "1 to 2000"),
    ("DOCUSIGN_PAGE_SIZE", "many", "whole number"),
    ("DOCUSIGN_POLL_INTERVAL", "0", "more than 0"),
    ("DOCUSIGN_POLL_INTERVAL", "-5", "more than 0"),
    ("DOCUSIGN_POLL_INTERVAL", "soon", "number of seconds"),
    ("DOCUSIGN_AUTH_URL", "http://account-d.docusign.com", "https://"),
    ("DOCUSIGN_AUTH_URL", "ftp://account-d.docusign.com", "http(s) URL"),
    ("DOCUSIGN_AUTH_URL", "account-d.docusign.com", "http(s) URL"),
    ("DOCUSIGN_AUTH_URL", "https://account-d.docusign.com/oauth/token", "path"),
    ("DOCUSIGN_AUTH_URL", "https://account-d.docusign.com:99999", "port"),
    ("DOCUSIGN_AUTH_URL", "https://account.docusign.com", "production server"),
    ("DOCUSIGN_MONITOR_URL", "https://lens.docusign.net", "production server"),
    ("DOCUSIGN_MONITOR_URL", "https://api-d.docusign.com", "organizations Monitor API"),
    ("DOCUSIGN_MONITOR_URL", "http://10.0.0.1:8080", "not loopback"),
    ("DOCUSIGN_MONITOR_API", "v3", "lens (default) or organizations"),
    ("DOCUSIGN_ORGANIZATION_ID", "acme corp", "organization ID"),
    ("DOCUSIGN_OUTPUT", "stderr", "forward://"),
    ("DOCUSIGN_OUTPUT", "forward://127.0.0.1", "no port"),
    ("DOCUSIGN_OUTPUT", "forward://127.0.0.1:port", "invalid port"),
    ("DOCUSIGN_OUTPUT", "forward://127.0.0.1:24224?tag=bad tag", "Fluentd tag"),
    ("DOCUSIGN_OUTPUT", "forward://127.0.0.1:24224?retries=3", "unknown option"),
    ("DOCUSIGN_LOG_FORMAT", "xml", "text or json"),
    ("DOCUSIGN_LOG_LEVEL", "loud", "debug, info, warning or error"),
    ("DOCUSIGN_TOKEN_CACHE", "maybe", "0/false"),
    ("DOCUSIGN_PRIVATE_KEY_FILE", "/does/not/exist", "does not exist"),
    ("DOCUSIGN_INTEGRATION_KEY_FILE", "/does/not/exist", "does not exist"),
]


@pytest.mark.parametrize(("name", "value", "needle"), BAD_ENV)
def test_bad_env_value_is_one_line_naming_the_variable(
    env: dict[str, str], name: str, value: str, needle: str
) -> None:
    if name == "DOCUSIGN_INTEGRATION_KEY_FILE":
        del env["DOCUSIGN_INTEGRATION_KEY"]
    env[name] = value
    line = config_error(env).line()
    assert line.startswith(name) or f" {name}" in line
    assert needle in line


@pytest.mark.parametrize(
    ("flag", "value", "label"),
    [
        ("page_size", "0", "--page-size"),
        ("user_id", "x@y.z", "--user-id"),
        ("auth_url", "http://example.com", "--auth-url"),
        ("output", "tcp://x:1", "--output"),
        ("backfill_start", "2030-01-01", "--backfill-start"),
        ("poll_interval", "0", "--poll-interval"),
    ],
)
def test_bad_flag_value_names_the_flag(
    env: dict[str, str], flag: str, value: str, label: str
) -> None:
    assert config_error(env, {flag: value}).line().startswith(label)


def test_bad_file_value_names_the_key_and_file(env: dict[str, str], tmp_path: Path) -> None:
    config = write_config(tmp_path, "page_size = 9000\n")
    assert config_error(env, {}, config).line().startswith(f"page_size in {config}")


def test_integer_page_size_as_string_in_file_is_wrong_type(
    env: dict[str, str], tmp_path: Path
) -> None:
    config = write_config(tmp_path, "log_level = 3\n")
    assert "must be a string" in config_error(env, {}, config).line()


@pytest.mark.parametrize(
    "missing",
    [
        "DOCUSIGN_ENVIRONMENT",
        "DOCUSIGN_USER_ID",
        "DOCUSIGN_INTEGRATION_KEY",
        "DOCUSIGN_PRIVATE_KEY_FILE",
    ],
)
def test_required_setting_missing(env: dict[str, str], missing: str) -> None:
    del env[missing]
    assert missing in config_error(env).line()


def test_bad_integration_key_is_not_echoed(env: dict[str, str]) -> None:
    env["DOCUSIGN_INTEGRATION_KEY"] = "s3cr3t-value-that-is-not-a-guid"
    assert "s3cr3t" not in config_error(env).line()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.9.9", "localhost", "[::1]"])
def test_plain_http_allowed_for_loopback(env: dict[str, str], host: str) -> None:
    env["DOCUSIGN_AUTH_URL"] = f"http://{host}:8080/"
    env["DOCUSIGN_MONITOR_URL"] = f"http://{host}:8080"
    settings = load(env)
    assert settings.auth_url == f"http://{host}:8080"


def test_backfill_older_than_seven_days_is_kept_as_a_warning(env: dict[str, str]) -> None:
    env["DOCUSIGN_BACKFILL_START"] = "2026-11-01"
    settings = load(env)
    assert settings.backfill_start == "2026-11-01"
    assert settings.backfill_warning and "DOCUSIGN_BACKFILL_START" in settings.backfill_warning
    assert load({**env, "DOCUSIGN_BACKFILL_START": "earliest"}).backfill_warning is None


# -- private key plausibility (no cryptography at settings time) ---------------------------------


def key_error(env: dict[str, str], tmp_path: Path, content: bytes) -> str:
    path = tmp_path / "bad.pem"
    path.write_bytes(content)
    env["DOCUSIGN_PRIVATE_KEY_FILE"] = str(path)
    line = config_error(env).line()
    assert line.startswith("DOCUSIGN_PRIVATE_KEY_FILE")
    return line


def test_encrypted_key_refused(env: dict[str, str], tmp_path: Path, pems: dict[str, str]) -> None:
    line = key_error(env, tmp_path, pems["encrypted"].encode())
    assert "encrypted keys are not supported" in line and "openssl" in line


def test_legacy_encrypted_pkcs1_refused(env: dict[str, str], tmp_path: Path) -> None:
    content = RSA_BEGIN + b"\nProc-Type: 4,ENCRYPTED\nDEK-Info: x\n\nAAAA\n"
    assert "encrypted" in key_error(env, tmp_path, content)


def test_public_key_refused(env: dict[str, str], tmp_path: Path, pems: dict[str, str]) -> None:
    assert "public key" in key_error(env, tmp_path, pems["public"].encode())


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"\x30\x82\x04\xa4\x02\x01\x00\xff\xfe", "binary"),
        (b"hello\n", "no PEM private key"),
        (RSA_BEGIN + b"\nMIIE\n", "cut short"),
        (b"-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n", "not an RSA key"),
        (
            b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----\n",
            "OpenSSH",
        ),
    ],
)
def test_unusable_key_files(
    env: dict[str, str], tmp_path: Path, content: bytes, needle: str
) -> None:
    assert needle in key_error(env, tmp_path, content)


def test_key_path_is_a_directory(env: dict[str, str], tmp_path: Path) -> None:
    env["DOCUSIGN_PRIVATE_KEY_FILE"] = str(tmp_path)
    assert "directory" in config_error(env).line()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads anything")
def test_unreadable_key_file(env: dict[str, str]) -> None:
    Path(env["DOCUSIGN_PRIVATE_KEY_FILE"]).chmod(0)
    assert "cannot be read" in config_error(env).line()


# -- one declaration per setting ------------------------------------------------------------------


def test_every_setting_is_declared_once_with_unique_names() -> None:
    specs = specs_for()
    envs = [name for s in specs for name in s.environment_variables]
    flags = [f for s in specs for f in (s.flag, s.file_flag) if f]
    assert len(envs) == len(set(envs)) and len(flags) == len(set(flags))
    assert not [s.key for s in specs if s.secret and s.flag], "secrets never have a flag"
    assert set(FILE_KEYS) == {k for s in specs for k in (s.key, s.file_key) if k}
    assert all(s.help and s.label for s in specs)


def test_describe_lists_every_setting_check_uses_from_the_declaration(
    env: dict[str, str],
) -> None:
    labels = [name for name, _ in load(env).describe("check")]
    assert labels == [s.label for s in specs_for("check") if s.show is not None]


@pytest.mark.parametrize("given", ["Production", "PRODUCTION", "production"])
def test_environment_names_are_accepted_alike_by_flag_variable_and_file(
    env: dict[str, str], tmp_path: Path, given: str
) -> None:
    by_flag = load(env, {"environment": given})
    by_env = load({**env, "DOCUSIGN_ENVIRONMENT": given})
    del env["DOCUSIGN_ENVIRONMENT"]
    by_file = load(env, {}, write_config(tmp_path, f'environment = "{given}"\n'))
    assert by_flag.environment == by_env.environment == by_file.environment == "production"


@pytest.mark.parametrize(
    ("given", "seconds"),
    [("90s", 90.0), ("5m", 300.0), ("2h", 7200.0), ("120", 120.0), (" 1.5M ", 90.0)],
)
def test_poll_interval_takes_durations(env: dict[str, str], given: str, seconds: float) -> None:
    assert load(env, {"poll_interval": given}).poll_interval_s == seconds
    assert load({**env, "DOCUSIGN_POLL_INTERVAL": given}).poll_interval_s == seconds


def test_poll_interval_below_a_minute_warns_naming_the_setting(env: dict[str, str]) -> None:
    settings = load(env, {"poll_interval": "10s"})
    assert [w for w in settings.warnings if w.startswith("--poll-interval 10 s is below 60 s")]


def test_a_short_poll_interval_against_a_loopback_simulator_does_not_warn(env) -> None:
    """DocuSign's request does not apply to the simulator (the demo polls it every 2 s)."""
    simulator = {**env, "DOCUSIGN_MONITOR_URL": "http://127.0.0.1:8765",
                 "DOCUSIGN_AUTH_URL": "http://127.0.0.1:8765"}
    assert not [w for w in load(simulator, {"poll_interval": "2"}).warnings if "below" in w]
    assert load(env, {"poll_interval": "60"}).warnings == ()


def test_backfill_is_resolved_once_against_the_clock_settings_were_loaded_with(
    env: dict[str, str],
) -> None:
    from datetime import timedelta

    settings = load({**env, "DOCUSIGN_BACKFILL_START": "36h"})
    assert settings.backfill == NOW - timedelta(hours=36)
    assert load({**env, "DOCUSIGN_BACKFILL_START": "earliest"}).backfill == "earliest"
    assert load(env).backfill is None


def test_upper_case_user_id_is_the_same_user_and_the_same_default_checkpoint(
    env: dict[str, str],
) -> None:
    lower = load(env)
    upper = load({**env, "DOCUSIGN_USER_ID": USER.upper()})
    assert upper.user_id == lower.user_id == USER
    assert upper.checkpoint_path == lower.checkpoint_path


@pytest.mark.parametrize(
    ("where", "label"),
    [
        ("env:DOCUSIGN_PRIVATE_KEY_FILE", "DOCUSIGN_PRIVATE_KEY_FILE"),
        ("flag:private_key_file", "--private-key-file"),
        ("env:DOCUSIGN_INTEGRATION_KEY_FILE", "DOCUSIGN_INTEGRATION_KEY_FILE"),
        ("env:DOCUSIGN_CHECKPOINT", "DOCUSIGN_CHECKPOINT"),
        ("flag:user_id", "--user-id"),
        ("env:DOCUSIGN_OUTPUT", "DOCUSIGN_OUTPUT"),
    ],
)
def test_key_material_in_any_setting_is_named_never_echoed(
    env: dict[str, str], pems: dict[str, str], where: str, label: str
) -> None:
    kind, name = where.split(":")
    flags: dict[str, Any] = {}
    if kind == "env":
        if name == "DOCUSIGN_INTEGRATION_KEY_FILE":
            del env["DOCUSIGN_INTEGRATION_KEY"]
        env[name] = pems["pkcs1"]
    else:
        flags[name] = pems["pkcs1"]
    line = config_error(env, flags).line()
    assert line.startswith(label) and "key material" in line and "_FILE" in line
    body = [ln for ln in pems["pkcs1"].splitlines() if not ln.startswith("-----")]
    assert "BEGIN" not in line and not [ln for ln in body if ln[:20] in line]


@pytest.mark.parametrize("name", ["DOCUSIGN_PRIVATE_KEY_FILE", "DOCUSIGN_CHECKPOINT"])
def test_a_guid_where_a_path_belongs_is_named_not_echoed(env: dict[str, str], name: str) -> None:
    env[name] = IKEY
    line = config_error(env).line()
    assert line.startswith(name) and "GUID" in line and IKEY not in line


def test_collect_reports_every_settings_problem_in_one_pass(env: dict[str, str]) -> None:
    env.update(DOCUSIGN_PAGE_SIZE="0", DOCUSIGN_OUTPUT="stderr", DOCUSIGN_LOG_LEVEL="loud")
    del env["DOCUSIGN_USER_ID"]
    with pytest.raises(SettingsProblems) as caught:
        load(env, collect=True)
    named = [p.line().split()[0] for p in caught.value.problems]
    assert named == ["the", "DOCUSIGN_PAGE_SIZE", "DOCUSIGN_OUTPUT", "DOCUSIGN_LOG_LEVEL"]
    assert "user ID is not set" in caught.value.problems[0].line()
    assert caught.value.exit_code == 78


def test_without_home_the_default_checkpoint_names_the_setting_to_use(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    del env["HOME"]
    monkeypatch.setattr(os.path, "expanduser", lambda path: "/nonexistent")
    line = config_error(env).line()
    assert "HOME" in line and "--checkpoint" in line and "DOCUSIGN_CHECKPOINT" in line


@pytest.mark.parametrize("uri", ["http://example.com/cb", "example.com/cb", "ftp://x/y"])
def test_redirect_uri_must_be_an_https_url(env: dict[str, str], uri: str) -> None:
    line = config_error(env, {"redirect_uri": uri}, command="consent-url").line()
    assert line.startswith("--redirect-uri") and "https" in line


def test_a_bad_monitor_url_gives_a_monitor_host_as_the_example(env: dict[str, str]) -> None:
    line = config_error({**env, "DOCUSIGN_MONITOR_URL": "lens-d.docusign.net"}).line()
    assert "e.g. https://lens-d.docusign.net" in line and "account-d" not in line
    line = config_error({**env, "DOCUSIGN_AUTH_URL": "account-d.docusign.com"}).line()
    assert "e.g. https://account-d.docusign.com" in line
