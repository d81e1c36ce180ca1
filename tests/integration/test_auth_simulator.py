"""The token client against the embedded simulator's account server (real HTTP, real JWT checks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from docusign_input.auth import TokenProvider, consent_url, fetch_organization_id
from docusign_input.errors import AccessDenied, ConsentRequired
from docusign_input.settings import Settings, load_settings

pytest.importorskip("docusign_input.simulator")


def settings_for(sim: Any, tmp_path: Path, fmt: str = "pkcs1", **overrides: str) -> Settings:
    key_file = sim.write_private_key(tmp_path / f"key-{fmt}.pem", fmt)
    env = {**sim.env(key_file), "HOME": str(tmp_path),
           "DOCUSIGN_CHECKPOINT": str(tmp_path / "state" / "cp.json"), **overrides}
    return load_settings({}, env)


@pytest.mark.parametrize("fmt", ["pkcs1", "pkcs8"])
def test_simulator_accepts_our_assertion(simulator: Any, tmp_path: Path, fmt: str) -> None:
    settings = settings_for(simulator, tmp_path, fmt)
    session = requests.Session()
    token = TokenProvider(settings, session).get_token()
    assert token
    org = fetch_organization_id(session, settings.auth_url, token)
    assert org == simulator.organization_id


def test_second_provider_reuses_the_cached_token(simulator: Any, tmp_path: Path) -> None:
    settings = settings_for(simulator, tmp_path)
    first = TokenProvider(settings, requests.Session())
    second = TokenProvider(settings, requests.Session())
    assert first.get_token() == second.get_token()
    assert (first.mints, second.mints) == (1, 0)


def test_consent_missing_then_granted_through_the_consent_url(simulator: Any,
                                                              tmp_path: Path) -> None:
    settings = settings_for(simulator, tmp_path, DOCUSIGN_TOKEN_CACHE="0")
    simulator.set_consent(False)
    with pytest.raises(ConsentRequired) as caught:
        TokenProvider(settings, requests.Session()).get_token()
    url = consent_url(settings)
    assert url in caught.value.line()
    # The simulator's consent page stands in for the admin clicking "Allow".
    requests.get(url + "&grant=1", timeout=10).raise_for_status()
    assert TokenProvider(settings, requests.Session()).get_token()


def test_wrong_key_is_explained(simulator: Any, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()).decode()
    settings = settings_for(simulator, tmp_path, DOCUSIGN_TOKEN_CACHE="0",
                            DOCUSIGN_PRIVATE_KEY_FILE="", DOCUSIGN_PRIVATE_KEY=pem)
    with pytest.raises(AccessDenied, match="no_valid_keys_or_signatures"):
        TokenProvider(settings, requests.Session()).get_token()


@pytest.mark.parametrize(
    ("override", "needle"),
    [({"DOCUSIGN_INTEGRATION_KEY": "00000000-0000-4000-8000-000000000000"}, "issuer_not_found"),
     ({"DOCUSIGN_USER_ID": "00000000-0000-4000-8000-000000000000"}, "user_not_found")],
)
def test_unknown_integration_key_or_user(simulator: Any, tmp_path: Path,
                                         override: dict[str, str], needle: str) -> None:
    settings = settings_for(simulator, tmp_path, DOCUSIGN_TOKEN_CACHE="0", **override)
    with pytest.raises(AccessDenied, match=needle) as caught:
        TokenProvider(settings, requests.Session()).get_token()
    assert caught.value.exit_code == 77


def test_invalidated_token_is_reminted_and_accepted(simulator: Any, tmp_path: Path) -> None:
    settings = settings_for(simulator, tmp_path)
    session = requests.Session()
    tokens = TokenProvider(settings, session)
    old = tokens.get_token()
    simulator.expire_tokens()
    tokens.invalidate()
    new = tokens.get_token()
    assert new != old and tokens.mints == 2
    assert fetch_organization_id(session, settings.auth_url, new) == simulator.organization_id
