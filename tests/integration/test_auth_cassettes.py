"""The token client and the lens stream client replayed against DocuSign's documented exchanges.

The cassettes in tests/cassettes are hand-written from docs/docusign-monitor.md (the network is not
reachable from CI) in the same scrubbed form ``record_cassettes.py`` records; they replay with
``record_mode="none"``, so any request the cassette does not hold fails the test.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from record_cassettes import CASSETTES, VCR_CONFIG, find_secrets, scrub_response  # noqa: E402

from docusign_input.auth import TokenProvider  # noqa: E402
from docusign_input.errors import AccessDenied, ConsentRequired  # noqa: E402
from docusign_input.settings import Settings, load_settings  # noqa: E402

vcr = pytest.importorskip("vcr")

USER = "9cfb472b-ef1f-4116-8df2-17c53841fd6c"
IKEY = "1f2e3d4c-0000-4000-8000-123456789abc"


@pytest.fixture(scope="module")
def key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


@pytest.fixture
def settings(tmp_path: Path, key_pem: str) -> Settings:
    return load_settings({}, {
        "HOME": str(tmp_path),
        "DOCUSIGN_ENVIRONMENT": "development",
        "DOCUSIGN_USER_ID": USER,
        "DOCUSIGN_INTEGRATION_KEY": IKEY,
        "DOCUSIGN_PRIVATE_KEY": key_pem,
        "DOCUSIGN_TOKEN_CACHE": "0",
    })


def replay(name: str) -> Any:
    return vcr.VCR(record_mode="none", **VCR_CONFIG).use_cassette(f"{name}.yaml")


def test_token_success(settings: Settings) -> None:
    with replay("token_success") as cassette:
        token = TokenProvider(settings, requests.Session()).get_token()
    assert token == "SCRUBBED_ACCESS_TOKEN"
    assert cassette.all_played


@pytest.mark.parametrize(
    ("name", "error", "needle"),
    [("token_consent_required", ConsentRequired, f"client_id={IKEY}"),
     ("token_no_valid_keys_or_signatures", AccessDenied, "account-d.docusign.com"),
     ("token_issuer_not_found", AccessDenied, "unknown in development"),
     ("token_user_not_found", AccessDenied, "not an e-mail"),
     ("token_expired_grant", AccessDenied, "NTP")],
)
def test_token_refusals(settings: Settings, name: str, error: type, needle: str) -> None:
    with replay(name), pytest.raises(error) as caught:
        TokenProvider(settings, requests.Session()).get_token()
    assert caught.value.exit_code == 77
    assert needle in caught.value.line()
    assert caught.value.trace_token  # DocuSign's X-DocuSign-TraceToken is passed on


def test_lens_stream_page_then_caught_up(settings: Settings) -> None:
    from docusign_input.stream import StreamClient

    session = requests.Session()
    with replay("lens_stream_page") as cassette:
        client = StreamClient(session, settings.monitor_url, TokenProvider(settings, session))
        first = client.fetch("2023-03-03T00:00:00Z", 2000)
        again = client.fetch(first.end_cursor, 2000)
    assert cassette.all_played
    assert [e["eventId"] for e in first.events] == ["a8010d32-b9f5-4948-9195-50c867d7c3a5",
                                                    "5d1c1f0e-6a52-4d8e-b4f3-0c2b9e7a1d10"]
    assert first.events[0]["timestamp"] == "2023-03-03T09:10:06.0512813Z"
    assert again.events == [] and again.end_cursor == first.end_cursor  # caught up


@pytest.mark.parametrize("path", sorted(CASSETTES.glob("*.yaml")), ids=lambda p: p.name)
def test_no_cassette_holds_a_secret(path: Path) -> None:
    text = path.read_text()
    assert find_secrets(text) == []
    assert not re.search(r"^\s*authorization:", text, re.IGNORECASE | re.MULTILINE)
    assert "assertion=SCRUBBED" in text or "oauth/token" not in text


def test_the_scrubbers_remove_what_a_recording_would_hold() -> None:
    """The same filters a real recording goes through: header, form field, token answer."""
    from vcr.request import Request

    jwt_like = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl"
    request = Request("POST", "https://account-d.docusign.com/oauth/token",
                      f"grant_type=x&assertion={jwt_like}".encode(),
                      {"Authorization": "Bearer abcdefgh12345678"})
    before_record = vcr.VCR(**VCR_CONFIG).get_merged_config()["before_record_request"]
    filtered = before_record(request)
    assert jwt_like not in filtered.body.decode()
    assert "Authorization" not in filtered.headers
    response = {"body": {"string": b'{"access_token":"real-token-123456","expires_in":3600}'},
                "headers": {"Set-Cookie": ["x=1"]}}
    scrubbed = scrub_response(response)
    assert b"real-token" not in scrubbed["body"]["string"]
    assert "Set-Cookie" not in scrubbed["headers"]
