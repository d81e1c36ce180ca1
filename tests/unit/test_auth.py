"""JWT grant: the assertion DocuSign expects, token reuse and re-mint, the private cache file,
and one precise error per DocuSign refusal. HTTP goes to a tiny local server with canned bodies."""

from __future__ import annotations

import json
import os
import re
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from docusign_input.auth import (
    JWT_BEARER,
    TokenProvider,
    build_assertion,
    consent_url,
    fetch_organization_id,
    jwt_audience,
    load_private_key,
    retry_after_s,
)
from docusign_input.errors import (
    AccessDenied,
    ConfigError,
    ConsentRequired,
    RateLimited,
    TemporaryError,
    TokenRejected,
)
from docusign_input.settings import Settings, load_settings

USER = "9cfb472b-ef1f-4116-8df2-17c53841fd6c"
IKEY = "1f2e3d4c-0000-4000-8000-123456789abc"
TOKEN = "test-access-token-abc123"


# -- keys (generated per session, never committed) ------------------------------------------------


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(key: Any, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


@pytest.fixture(scope="session")
def pkcs1(rsa_key: rsa.RSAPrivateKey) -> str:
    return pem_of(rsa_key, serialization.PrivateFormat.TraditionalOpenSSL)


# -- a canned DocuSign account server -------------------------------------------------------------


class FakeAccountServer:
    """Answers /oauth/token and /oauth/userinfo from a queue of (status, headers, body)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, str], bytes]] = []
        self.default: tuple[int, dict[str, str], bytes] = token_answer()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                server.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "form": parse_qs(body),
                    }
                )
                status, headers, payload = (
                    server.answers.pop(0) if server.answers else server.default
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def token_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == "/oauth/token"]


def token_answer(token: str = TOKEN, expires_in: int = 3600) -> tuple[int, dict[str, str], bytes]:
    body = {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def error_answer(body: dict[str, str], status: int = 400) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "X-DocuSign-TraceToken": "trace-123"}
    return status, headers, json.dumps(body).encode()


@pytest.fixture
def server() -> Iterator[FakeAccountServer]:
    fake = FakeAccountServer()
    yield fake
    fake.close()


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.debugs: list[str] = []

    def warning(self, message: str, **fields: Any) -> None:
        self.warnings.append(message)

    def debug(self, message: str, **fields: Any) -> None:
        self.debugs.append(message)


def make_settings(tmp_path: Path, auth_url: str, pem: str, **env: str) -> Settings:
    key_file = tmp_path / "key.pem"
    key_file.write_text(pem)
    environ = {
        "HOME": str(tmp_path),
        "DOCUSIGN_ENVIRONMENT": "development",
        "DOCUSIGN_USER_ID": USER,
        "DOCUSIGN_INTEGRATION_KEY": IKEY,
        "DOCUSIGN_PRIVATE_KEY_FILE": str(key_file),
        "DOCUSIGN_AUTH_URL": auth_url,
        "DOCUSIGN_MONITOR_URL": auth_url,
        "DOCUSIGN_CHECKPOINT": str(tmp_path / "state" / "cp.json"),
        **env,
    }
    return load_settings({}, environ)


@pytest.fixture
def settings(tmp_path: Path, server: FakeAccountServer, pkcs1: str) -> Settings:
    return make_settings(tmp_path, server.url, pkcs1)


def provider(settings: Settings, clock: Clock, **kw: Any) -> TokenProvider:
    return TokenProvider(settings, requests.Session(), clock=clock, **kw)


# -- the assertion --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "aud"),
    [
        ("https://account-d.docusign.com", "account-d.docusign.com"),
        ("https://account.docusign.com:443", "account.docusign.com"),
        ("https://auth.example.com:8443", "auth.example.com:8443"),
        ("http://127.0.0.1:8080", "127.0.0.1:8080"),
        ("http://localhost:80", "localhost"),
        ("http://[::1]:9000", "[::1]:9000"),
    ],
)
def test_audience_is_host_with_port_only_when_not_default(url: str, aud: str) -> None:
    assert jwt_audience(url) == aud


@pytest.mark.parametrize("fmt", ["pkcs1", "pkcs8"])
def test_assertion_claims_verify_with_the_public_key(rsa_key: rsa.RSAPrivateKey, fmt: str) -> None:
    private_format = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if fmt == "pkcs1"
        else serialization.PrivateFormat.PKCS8
    )
    pem = pem_of(rsa_key, private_format)
    key = load_private_key(pem, "test")
    assertion = build_assertion(key, IKEY, USER, "https://account-d.docusign.com", 1000.7)
    header = jwt.get_unverified_header(assertion)
    assert header["alg"] == "RS256" and header["typ"] == "JWT"
    claims = jwt.decode(
        assertion,
        rsa_key.public_key(),
        algorithms=["RS256"],
        audience="account-d.docusign.com",
        options={"verify_exp": False},
    )
    assert claims["iss"] == IKEY and claims["sub"] == USER
    assert claims["iat"] == 1000 and isinstance(claims["iat"], int)
    assert 0 < claims["exp"] - claims["iat"] <= 3600
    assert claims["scope"] == "signature impersonation"


def test_ec_key_is_a_config_error() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ConfigError) as caught:
        load_private_key(pem_of(key, serialization.PrivateFormat.PKCS8), "key.pem")
    assert caught.value.exit_code == 78
    assert "not an RSA key" in caught.value.line()


def test_damaged_key_is_a_config_error_without_the_key_text(pkcs1: str) -> None:
    damaged = pkcs1.replace(pkcs1[100:140], "A" * 40)
    with pytest.raises(ConfigError) as caught:
        load_private_key(damaged, "key.pem")
    assert "AAAA" not in caught.value.line()


def test_the_token_request_is_the_jwt_bearer_form(
    settings: Settings, server: FakeAccountServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    assert provider(settings, Clock()).get_token() == TOKEN
    (request,) = server.token_requests
    assert request["method"] == "POST"
    assert request["form"]["grant_type"] == [JWT_BEARER]
    claims = jwt.decode(
        request["form"]["assertion"][0],
        rsa_key.public_key(),
        algorithms=["RS256"],
        audience=server.url.split("://")[1],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iss"] == IKEY


# -- reuse and re-mint ----------------------------------------------------------------------------


def test_token_is_reused_until_the_safety_margin(
    settings: Settings, server: FakeAccountServer
) -> None:
    clock = Clock()
    tokens = provider(settings, clock, use_cache=False)
    server.answers = [token_answer("first"), token_answer("second")]
    assert tokens.get_token() == "first"
    clock.now += 3600 - 301  # 5 min margin not reached
    assert tokens.get_token() == "first"
    clock.now += 2  # inside the margin: a long drain re-mints midway
    assert tokens.get_token() == "second"
    assert tokens.mints == 2


def test_short_lived_token_uses_ten_percent_margin(
    settings: Settings, server: FakeAccountServer
) -> None:
    clock = Clock()
    tokens = provider(settings, clock, use_cache=False)
    server.answers = [token_answer("a", expires_in=100), token_answer("b")]
    assert tokens.get_token() == "a"
    clock.now += 89
    assert tokens.get_token() == "a"
    clock.now += 2
    assert tokens.get_token() == "b"


def test_invalidate_forces_a_new_token(settings: Settings, server: FakeAccountServer) -> None:
    tokens = provider(settings, Clock())
    server.answers = [token_answer("a"), token_answer("b")]
    assert tokens.get_token() == "a"
    tokens.invalidate()
    assert not settings.token_cache_path.exists()
    assert tokens.get_token() == "b"


# -- the cache file -------------------------------------------------------------------------------


def test_cache_file_is_0600_and_holds_only_token_expiry_and_fingerprint(
    settings: Settings, server: FakeAccountServer, pkcs1: str
) -> None:
    clock = Clock()
    provider(settings, clock).get_token()
    path = settings.token_cache_path
    assert path == settings.checkpoint_path.with_name("cp.json.token")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert set(saved) == {"access_token", "expires_at", "fingerprint"}
    assert (saved["access_token"], saved["expires_at"]) == (TOKEN, int(clock.now) + 3600)
    assert re.fullmatch(r"[0-9a-f]{64}", saved["fingerprint"])
    text = path.read_text()
    assert IKEY not in text and USER not in text and pkcs1.splitlines()[1] not in text
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("change", ["integration key", "user", "private key", "auth server"])
def test_cached_token_is_dropped_when_what_it_was_minted_for_changes(
    tmp_path: Path, server: FakeAccountServer, pkcs1: str, change: str
) -> None:
    clock = Clock()
    server.answers = [token_answer("old"), token_answer("new")]
    provider(make_settings(tmp_path, server.url, pkcs1), clock).get_token()
    env: dict[str, str] = {}
    pem, url = pkcs1, server.url
    if change == "integration key":
        env["DOCUSIGN_INTEGRATION_KEY"] = "0b9a3a4e-1111-4222-8333-444455556666"
    elif change == "user":
        env["DOCUSIGN_USER_ID"] = "0b9a3a4e-1111-4222-8333-444455556666"
    elif change == "private key":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = pem_of(other, serialization.PrivateFormat.PKCS8)
    else:
        url = server.url.replace("127.0.0.1", "localhost")
    changed = make_settings(tmp_path, url, pem, **env)
    assert changed.token_cache_path == tmp_path / "state" / "cp.json.token"  # the same file
    again = provider(changed, clock)
    assert again.get_token() == "new" and again.mints == 1
    assert json.loads(changed.token_cache_path.read_text())["access_token"] == "new"


def test_the_same_key_in_pkcs8_form_keeps_the_cached_token(
    tmp_path: Path, server: FakeAccountServer, pkcs1: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    clock = Clock()
    provider(make_settings(tmp_path, server.url, pkcs1), clock).get_token()
    pkcs8 = pem_of(rsa_key, serialization.PrivateFormat.PKCS8)
    again = provider(make_settings(tmp_path, server.url, pkcs8), clock)
    assert again.get_token() == TOKEN and again.mints == 0


def test_a_1024_bit_key_warns_in_one_reporter_line_and_pyjwt_stays_quiet(
    tmp_path: Path, server: FakeAccountServer
) -> None:
    import warnings

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    settings = make_settings(tmp_path, server.url,
                             pem_of(weak, serialization.PrivateFormat.TraditionalOpenSSL))
    recorder = Recorder()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        provider(settings, Clock(), reporter=recorder).get_token()
    assert [str(w.message) for w in caught] == []
    assert len(recorder.warnings) == 1
    assert "1024-bit" in recorder.warnings[0] and "2048-bit" in recorder.warnings[0]


def test_next_run_within_token_life_mints_nothing(
    settings: Settings, server: FakeAccountServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    provider(settings, clock).get_token()
    clock.now += 1800
    again = provider(settings, clock)
    assert again.get_token() == TOKEN
    assert again.mints == 0 and len(server.token_requests) == 1


def test_expired_cache_is_replaced(settings: Settings, server: FakeAccountServer) -> None:
    clock = Clock()
    server.answers = [token_answer("old"), token_answer("new")]
    provider(settings, clock).get_token()
    clock.now += 3500
    assert provider(settings, clock).get_token() == "new"
    assert json.loads(settings.token_cache_path.read_text())["access_token"] == "new"


def test_cache_readable_by_others_is_ignored_with_a_warning(
    settings: Settings, server: FakeAccountServer
) -> None:
    clock = Clock()
    provider(settings, clock).get_token()
    settings.token_cache_path.chmod(0o644)
    recorder = Recorder()
    again = provider(settings, clock, reporter=recorder)
    again.get_token()
    assert again.mints == 1
    assert any("others can read it" in w for w in recorder.warnings)
    assert stat.S_IMODE(settings.token_cache_path.stat().st_mode) == 0o600  # rewritten private


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{not json",
        '{"access_token": 5, "expires_at": 1}',
        '["x"]',
        '{"access_token": "x", "expires_at": true}',
    ],
)
def test_corrupt_cache_is_ignored(
    settings: Settings, server: FakeAccountServer, content: str
) -> None:
    path = settings.token_cache_path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, content.encode())
    os.close(fd)
    recorder = Recorder()
    tokens = provider(settings, Clock(), reporter=recorder)
    assert tokens.get_token() == TOKEN
    assert tokens.mints == 1 and recorder.warnings


def test_no_token_cache_neither_reads_nor_writes(
    tmp_path: Path, server: FakeAccountServer, pkcs1: str
) -> None:
    settings = make_settings(tmp_path, server.url, pkcs1, DOCUSIGN_TOKEN_CACHE="0")
    path = settings.token_cache_path
    path.parent.mkdir(parents=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, json.dumps({"access_token": "cached", "expires_at": 2_000_000_000}).encode())
    os.close(fd)
    assert provider(settings, Clock()).get_token() == TOKEN
    assert json.loads(path.read_text())["access_token"] == "cached"


def test_cache_write_failure_warns_and_continues(
    tmp_path: Path, server: FakeAccountServer, pkcs1: str
) -> None:
    settings = make_settings(tmp_path, server.url, pkcs1)
    recorder = Recorder()
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a directory should be")
    tokens = TokenProvider(
        settings,
        requests.Session(),
        clock=Clock(),
        reporter=recorder,
        cache_path=blocked / "cp.json.token",
    )
    assert tokens.get_token() == TOKEN
    assert any("cannot write the token cache" in w for w in recorder.warnings)


def test_cached_token_run_never_imports_cryptography_or_jwt(
    settings: Settings, server: FakeAccountServer
) -> None:
    import subprocess
    import sys

    clock = Clock()
    provider(settings, clock).get_token()
    code = f"""
import sys, time
from pathlib import Path
from docusign_input.settings import load_settings
from docusign_input.auth import TokenProvider
env = {{"HOME": "/nonexistent", "DOCUSIGN_ENVIRONMENT": "development",
       "DOCUSIGN_USER_ID": "{USER}", "DOCUSIGN_INTEGRATION_KEY": "{IKEY}",
       "DOCUSIGN_PRIVATE_KEY_FILE": {settings.private_key_source!r},
       "DOCUSIGN_AUTH_URL": "{server.url}", "DOCUSIGN_MONITOR_URL": "{server.url}",
       "DOCUSIGN_CHECKPOINT": {str(settings.checkpoint_path)!r}}}
settings = load_settings({{}}, env)
token = TokenProvider(settings, None, clock=lambda: {clock.now + 60}).get_token()
assert token == "{TOKEN}", token
bad = [m for m in sys.modules if m.split(".")[0] in ("cryptography", "jwt")]
assert not bad, bad
"""
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )


# -- DocuSign's refusals --------------------------------------------------------------------------


def refusal(
    settings: Settings, server: FakeAccountServer, answer: tuple[int, dict[str, str], bytes]
) -> Exception:
    server.answers = [answer]
    tokens = provider(settings, Clock(), use_cache=False)
    with pytest.raises(Exception) as caught:
        tokens.get_token()
    error = caught.value
    line = str(error)
    assert "\n" not in line
    assert IKEY not in line or isinstance(error, ConsentRequired)
    assert "eyJ" not in line and "PRIVATE KEY" not in line
    # No chained exception may carry the request (and its assertion) into a traceback.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    return error


def test_consent_required_gives_the_consent_url(
    settings: Settings, server: FakeAccountServer
) -> None:
    error = refusal(settings, server, error_answer({"error": "consent_required"}))
    assert isinstance(error, ConsentRequired) and error.exit_code == 77
    assert consent_url(settings) in error.line()
    assert f"client_id={IKEY}" in error.line()
    assert "trace-123" in error.line()


@pytest.mark.parametrize(
    ("description", "needle"),
    [
        ("no_valid_keys_or_signatures", "account-d.docusign.com"),
        ("issuer_not_found", "integration key is unknown in development"),
        ("user_not_found", "not an e-mail"),
        ("invalid_subject", "API Username GUID"),
        ("expired_grant", "NTP"),
    ],
)
def test_invalid_grant_descriptions_are_explained(
    settings: Settings, server: FakeAccountServer, description: str, needle: str
) -> None:
    answer = error_answer({"error": "invalid_grant", "error_description": description})
    error = refusal(settings, server, answer)
    assert type(error) is AccessDenied and error.exit_code == 77
    assert needle in error.line() and description in error.line()


def test_code_in_the_error_field_alone_is_recognised(
    settings: Settings, server: FakeAccountServer
) -> None:
    error = refusal(settings, server, error_answer({"error": "issuer_not_found"}))
    assert "unknown in development" in str(error)


@pytest.mark.parametrize(
    "body",
    [
        {"error": "invalid_scope"},
        {"error": "unsupported_grant_type", "error_description": "x"},
        {"error": "invalid_grant", "error_description": "something new"},
    ],
)
def test_other_refusals_quote_both_fields(
    settings: Settings, server: FakeAccountServer, body: dict[str, str]
) -> None:
    error = refusal(settings, server, error_answer(body))
    assert type(error) is AccessDenied
    assert repr(body["error"]) in str(error)
    assert repr(body.get("error_description", "")) in str(error)


def test_server_echo_of_a_secret_is_scrubbed(settings: Settings, server: FakeAccountServer) -> None:
    error = refusal(
        settings,
        server,
        error_answer({"error": "invalid_request", "error_description": f"bad client_id {IKEY}"}),
    )
    assert IKEY not in str(error)


@pytest.mark.parametrize(
    "answer",
    [
        (500, {"X-DocuSign-TraceToken": "trace-123"}, b"oops"),
        (503, {}, b""),
        (400, {"Content-Type": "text/html"}, b"<html>proxy</html>"),
        (200, {"Content-Type": "application/json"}, b"not json"),
    ],
)
def test_server_trouble_is_temporary(
    settings: Settings, server: FakeAccountServer, answer: tuple[int, dict[str, str], bytes]
) -> None:
    error = refusal(settings, server, answer)
    assert type(error) is TemporaryError and error.exit_code == 75


def test_trace_token_is_reported(settings: Settings, server: FakeAccountServer) -> None:
    error = refusal(settings, server, (502, {"X-DocuSign-TraceToken": "trace-9"}, b""))
    assert isinstance(error, TemporaryError) and error.trace_token == "trace-9"


def test_429_is_rate_limited_with_retry_after(
    settings: Settings, server: FakeAccountServer
) -> None:
    error = refusal(settings, server, (429, {"Retry-After": "17"}, b""))
    assert isinstance(error, RateLimited) and error.retry_after_s == 17.0


def test_404_means_the_auth_url_is_wrong(settings: Settings, server: FakeAccountServer) -> None:
    error = refusal(settings, server, (404, {"Content-Type": "text/html"}, b"<html/>"))
    assert isinstance(error, ConfigError) and "DOCUSIGN_AUTH_URL" in str(error)


def test_unreachable_server_is_temporary_without_request_details(
    tmp_path: Path, pkcs1: str
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = make_settings(tmp_path, f"http://127.0.0.1:{port}", pkcs1)
    tokens = provider(settings, Clock(), use_cache=False)
    with pytest.raises(TemporaryError) as caught:
        tokens.get_token()
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert "assertion" not in str(caught.value) and "eyJ" not in str(caught.value)


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after_s("5", 0) == 5.0
    assert retry_after_s("Thu, 01 Jan 1970 00:01:40 GMT", 40.0) == 60.0
    assert retry_after_s("garbage", 0) is None
    assert retry_after_s(None, 0) is None


# -- consent URL and userinfo ---------------------------------------------------------------------


def test_consent_url_per_docusign(tmp_path: Path, pkcs1: str) -> None:
    settings = make_settings(
        tmp_path,
        "https://account-d.docusign.com",
        pkcs1,
        DOCUSIGN_MONITOR_URL="https://lens-d.docusign.net",
    )
    assert consent_url(settings, "https://example.com/cb?x=1") == (
        "https://account-d.docusign.com/oauth/auth?response_type=code"
        f"&scope=signature%20impersonation&client_id={IKEY}"
        "&redirect_uri=https%3A%2F%2Fexample.com%2Fcb%3Fx%3D1"
    )
    assert "redirect_uri=https%3A%2F%2Fdevelopers.docusign.com" in consent_url(settings)


def userinfo(body: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def test_fetch_organization_id_prefers_the_default_account(server: FakeAccountServer) -> None:
    server.answers = [
        userinfo(
            {
                "accounts": [
                    {
                        "account_id": "a",
                        "is_default": "false",
                        "organization": {"organization_id": "11111111-1111-1111-1111-111111111111"},
                    },
                    {
                        "account_id": "b",
                        "is_default": "true",
                        "organization": {"organization_id": "22222222-2222-2222-2222-222222222222"},
                    },
                ]
            }
        )
    ]
    org = fetch_organization_id(requests.Session(), server.url, TOKEN)
    assert org == "22222222-2222-2222-2222-222222222222"
    assert server.requests[0]["path"] == "/oauth/userinfo"
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_fetch_organization_id_without_organization(server: FakeAccountServer) -> None:
    server.answers = [userinfo({"accounts": [{"account_id": "a", "is_default": "true"}]})]
    with pytest.raises(AccessDenied, match="DOCUSIGN_ORGANIZATION_ID"):
        fetch_organization_id(requests.Session(), server.url, TOKEN)


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, TokenRejected), (429, RateLimited), (500, TemporaryError), (403, AccessDenied)],
)
def test_fetch_organization_id_errors(server: FakeAccountServer, status: int, error: type) -> None:
    server.answers = [userinfo({}, status)]
    with pytest.raises(error) as caught:
        fetch_organization_id(requests.Session(), server.url, TOKEN)
    assert TOKEN not in str(caught.value)


def test_expired_tokens_and_assertions_leave_the_redactor_the_live_one_stays_masked(
    settings: Settings, server: FakeAccountServer
) -> None:
    # A run that mints every hour for two days: 48 tokens and 48 signed assertions. Kept
    # registered forever, 1,000 organizations add ~48,000 values a day; expired ones go.
    from docusign_input.redact import REDACTOR, scrub

    clock = Clock()
    tokens = provider(settings, clock, use_cache=False)
    tokens.get_token()

    def mint_hourly(hours: range) -> None:
        for hour in hours:
            server.answers = [token_answer(f"access-token-of-hour-{hour:02d}")]
            clock.now += 3600
            assert tokens.get_token() == f"access-token-of-hour-{hour:02d}"

    mint_hourly(range(1, 49))
    assert tokens.mints == 49
    assert scrub("token access-token-of-hour-48") == "token ********"  # live: masked
    assert scrub("token access-token-of-hour-47") == "token ********"  # just expired: still
    assert scrub("token access-token-of-hour-01") == "token access-token-of-hour-01"  # gone
    size = REDACTOR.registered()
    mint_hourly(range(49, 73))  # a third day: the registry does not grow
    assert REDACTOR.registered() == size
