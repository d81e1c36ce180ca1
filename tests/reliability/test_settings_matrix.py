"""Settings campaign: every setting with bad values, end to end. One stderr line naming the
setting, exit 78, and not one request to DocuSign. Complements tests/unit/test_settings.py and the
e2e cases (staging, empty user, page size 5000, bad/future backfill, http non-loopback, missing key
file), which are not repeated here."""

from __future__ import annotations

import pytest
from campaign import Connector, one_error_line, record
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from docusign_input.settings import pem_line

RESULTS: list = []


def _keys(tmp_path) -> dict[str, str]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files = {
        "ec_pem": ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        "encrypted_pem": rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        ),
        "public_pem": rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "garbage_pem": (
            f"{pem_line('BEGIN', 'RSA PRIVATE KEY')}\nnot base64 at all!\n"
            f"{pem_line('END', 'RSA PRIVATE KEY')}\n"
        ).encode(),
        "empty_pem": b"",
        "ik_txt": b"",
    }
    out = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        # as a key file should be: a world-readable one adds its own warning line (tested in
        # tests/e2e/test_state_edges.py), which is not what this campaign is about
        (tmp_path / name).chmod(0o600)
        out[name] = str(tmp_path / name)
    (tmp_path / "a-directory").mkdir()
    out["dir"] = str(tmp_path / "a-directory")
    return out


# (id, env, flags, toml text or None, what the line must name)
CASES = [
    ("page-size-zero", {}, ["--page-size", "0"], None, "page"),
    ("page-size-negative", {"DOCUSIGN_PAGE_SIZE": "-1"}, [], None, "page_size"),
    ("page-size-text", {"DOCUSIGN_PAGE_SIZE": "lots"}, [], None, "page_size"),
    ("page-size-float", {}, ["--page-size", "2.5"], None, "page-size"),
    ("poll-zero", {}, ["--poll-interval", "0"], None, "poll"),
    ("poll-text", {"DOCUSIGN_POLL_INTERVAL": "soon"}, [], None, "poll_interval"),
    ("poll-nan", {"DOCUSIGN_POLL_INTERVAL": "nan"}, [], None, "poll_interval"),
    ("environment-empty", {"DOCUSIGN_ENVIRONMENT": ""}, [], None, "environment"),
    ("user-email", {"DOCUSIGN_USER_ID": "admin@example.com"}, [], None, "user"),
    ("ik-empty", {"DOCUSIGN_INTEGRATION_KEY": ""}, [], None, "integration_key"),
    ("ik-and-file", {"DOCUSIGN_INTEGRATION_KEY_FILE": "{ik_txt}"}, [], None, "integration_key"),
    (
        "ik-file-missing",
        {"DOCUSIGN_INTEGRATION_KEY": "", "DOCUSIGN_INTEGRATION_KEY_FILE": "/nonexistent/ik"},
        [],
        None,
        "integration_key_file",
    ),
    ("key-and-file", {"DOCUSIGN_PRIVATE_KEY": "x"}, [], None, "private_key"),
    ("key-file-dir", {"DOCUSIGN_PRIVATE_KEY_FILE": "{dir}"}, [], None, "private_key_file"),
    ("key-file-empty", {"DOCUSIGN_PRIVATE_KEY_FILE": "{empty_pem}"}, [], None, "private_key"),
    ("key-ec", {"DOCUSIGN_PRIVATE_KEY_FILE": "{ec_pem}"}, [], None, "rsa"),
    ("key-encrypted", {"DOCUSIGN_PRIVATE_KEY_FILE": "{encrypted_pem}"}, [], None, "encrypt"),
    ("key-public", {"DOCUSIGN_PRIVATE_KEY_FILE": "{public_pem}"}, [], None, "public"),
    ("key-garbage", {"DOCUSIGN_PRIVATE_KEY_FILE": "{garbage_pem}"}, [], None, "key"),
    (
        "key-text-not-pem",
        {
            "DOCUSIGN_PRIVATE_KEY_FILE": "",
            "DOCUSIGN_PRIVATE_KEY": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
        },
        [],
        None,
        "private_key",
    ),
    ("monitor-api", {"DOCUSIGN_MONITOR_API": "v3"}, [], None, "monitor_api"),
    ("output-bogus", {}, ["--output", "kafka://x:1"], None, "output"),
    ("output-no-host", {"DOCUSIGN_OUTPUT": "forward://"}, [], None, "output"),
    ("auth-url-ftp", {"DOCUSIGN_AUTH_URL": "ftp://127.0.0.1/"}, [], None, "auth_url"),
    ("auth-url-creds", {}, ["--auth-url", "https://u:p@account-d.docusign.com"], None, "auth-url"),
    ("token-cache", {"DOCUSIGN_TOKEN_CACHE": "maybe"}, [], None, "token_cache"),
    ("log-format", {"DOCUSIGN_LOG_FORMAT": "xml"}, [], None, "log_format"),
    ("log-level", {"DOCUSIGN_LOG_LEVEL": "loud"}, [], None, "log_level"),
    ("org-id", {"DOCUSIGN_ORGANIZATION_ID": "not an id"}, [], None, "organization_id"),
    ("checkpoint-dir", {"DOCUSIGN_CHECKPOINT": "{dir}"}, [], None, "checkpoint"),
    ("toml-syntax", {}, [], "page_size = = 3\n", "toml"),
    ("toml-type", {}, [], 'page_size = "abc"\n', "page_size"),
    ("toml-bool", {}, [], "poll_interval = true\n", "poll_interval"),
    ("toml-env-type", {"DOCUSIGN_ENVIRONMENT": ""}, [], "environment = 5\n", "environment"),
    ("toml-unknown", {}, [], "page_sise = 3\n", "page_sise"),
    (
        "toml-secret-inline",
        {"DOCUSIGN_PRIVATE_KEY_FILE": ""},
        [],
        'private_key = "-----BEGIN"\n',
        "private_key",
    ),
    ("toml-missing", {}, ["--config", "/nonexistent/c.toml"], None, "config"),
    ("toml-dir", {}, ["--config", "{dir}"], None, "config"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("command", ["run"])
def test_bad_setting_is_one_line_exit_78_and_no_request(simulator, tmp_path, case, command):
    name, env, flags, toml, needle = case
    files = _keys(tmp_path)
    conn = Connector(simulator, tmp_path)
    env = {k: v.format(**files) for k, v in env.items()}
    flags = [f.format(**files) for f in flags]
    if toml is not None:
        (tmp_path / "c.toml").write_text(toml)
        flags += ["--config", str(tmp_path / "c.toml")]
    before = (len(simulator.requests), simulator.token_requests)
    proc = conn.run(command, *flags, env=env)
    line = one_error_line(proc)
    RESULTS.append((name, proc.returncode, line[line.find(": ") + 2 :][:140]))
    assert proc.returncode == 78, (name, proc.stderr.decode())
    assert len(proc.stderr.decode().strip().splitlines()) == 1
    if needle:
        assert needle in line.lower(), line
    assert (len(simulator.requests), simulator.token_requests) == before
    assert proc.stdout == b""


@pytest.fixture(scope="module", autouse=True)
def _record_figures():
    """The campaign's figures, recorded once its tests ran (a fixture: it checks nothing)."""
    yield
    record("settings", cases=len(RESULTS), not_78=[r for r in RESULTS if r[1] != 78])
