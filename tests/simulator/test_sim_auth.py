"""JWT Grant and userinfo: every DocuSign answer the connector must tell apart."""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from docusign_input.simulator import Simulator, SimulatorConfig
from docusign_input.simulator.keys import new_private_key, private_pem, public_pem
from docusign_input.simulator.testing import make_assertion, request_token

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class FromNow(int):
    """Seconds from the moment the test runs: a time taken when the parameters are collected
    goes stale in a suite that reaches this test ten minutes later (an `iat` "in the future"
    is then in the past, and the assertion is valid)."""


def error_of(response: requests.Response) -> tuple:
    assert response.status_code == 400, response.text
    body = response.json()
    return body["error"], body.get("error_description")


def test_valid_assertion_gets_a_bearer_token(simulator: Simulator) -> None:
    response = request_token(simulator)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert len(body["access_token"]) > 20
    assert response.headers["X-DocuSign-TraceToken"]
    assert simulator.token_requests == 1


@pytest.mark.parametrize("fmt", ["pkcs1", "pkcs8"])
def test_both_key_formats_are_the_same_key(simulator: Simulator, fmt: str) -> None:
    pem = simulator.private_key_pem(fmt)
    assert pem.startswith(
        b"-----BEGIN RSA PRIVATE KEY" if fmt == "pkcs1" else b"-----BEGIN PRIVATE KEY"
    )
    assert request_token(simulator, make_assertion(simulator, key_pem=pem)).status_code == 200


def test_wrong_grant_type_is_unsupported(simulator: Simulator) -> None:
    response = requests.post(
        f"{simulator.base_url}/oauth/token",
        data={"grant_type": "client_credentials", "assertion": "x"},
    )
    assert response.status_code == 400
    assert response.json() == {"error": "unsupported_grant_type"}


@pytest.mark.parametrize(
    "claims, drop, expected",
    [
        (
            {"iss": "00000000-0000-4000-8000-000000000000"},
            (),
            ("invalid_grant", "issuer_not_found"),
        ),
        ({"sub": "11111111-1111-4111-8111-111111111111"}, (), ("invalid_grant", "user_not_found")),
        ({"sub": "admin@example.com"}, (), ("invalid_grant", "invalid_subject")),
        ({"aud": "account-d.docusign.com"}, (), ("invalid_grant", "no_valid_keys_or_signatures")),
        ({}, ("exp",), ("invalid_grant", "no_valid_keys_or_signatures")),
        ({"exp": FromNow(7200)}, (), ("invalid_grant", "no_valid_keys_or_signatures")),
        (
            {"iat": FromNow(600), "exp": FromNow(1200)},
            (),
            ("invalid_grant", "no_valid_keys_or_signatures"),
        ),
        (
            {"iat": FromNow(-7200), "exp": FromNow(-3600)},
            (),
            ("invalid_grant", "expired_grant"),
        ),
        ({"scope": "signature"}, (), ("invalid_scope", None)),
        ({"scope": "impersonation"}, (), ("invalid_scope", None)),
    ],
)
def test_bad_assertions_get_docusign_errors(
    simulator: Simulator, claims: dict, drop: tuple, expected: tuple
) -> None:
    now = int(simulator.config.clock())
    resolved = {k: now + v if isinstance(v, FromNow) else v for k, v in claims.items()}
    assertion = make_assertion(simulator, drop=drop, **resolved)
    assert error_of(request_token(simulator, assertion)) == expected


def test_assertion_signed_by_another_key_is_refused(simulator: Simulator) -> None:
    other = private_pem(new_private_key())
    assertion = make_assertion(simulator, key_pem=other)
    assert error_of(request_token(simulator, assertion)) == (
        "invalid_grant",
        "no_valid_keys_or_signatures",
    )


def test_unsigned_and_garbage_assertions_are_refused(simulator: Simulator) -> None:
    unsigned = jwt.encode({"iss": simulator.integration_key}, None, algorithm="none")
    for assertion in (unsigned, "not-a-jwt"):
        assert error_of(request_token(simulator, assertion))[0] == "invalid_grant"


def test_consent_is_required_and_can_be_granted(simulator: Simulator) -> None:
    simulator.set_consent(False)
    assert request_token(simulator).json() == {"error": "consent_required"}
    page = requests.get(
        f"{simulator.base_url}/oauth/auth",
        params={
            "response_type": "code",
            "scope": "signature impersonation",
            "client_id": simulator.integration_key,
            "redirect_uri": "https://localhost/cb",
        },
    )
    assert page.status_code == 200 and "grant=1" in page.text
    requests.get(
        f"{simulator.base_url}/oauth/auth",
        params={"client_id": simulator.integration_key, "grant": "1"},
    )
    assert request_token(simulator).status_code == 200


def test_registered_key_and_user_work(simulator: Simulator) -> None:
    key = new_private_key()
    ik, user = "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
    simulator.register_key(ik, public_pem(key))
    simulator.register_user(user)
    assertion = make_assertion(simulator, key_pem=private_pem(key), iss=ik, sub=user)
    assert request_token(simulator, assertion).json() == {"error": "consent_required"}
    simulator.set_consent(True, integration_key=ik, user_id=user)
    assert request_token(simulator, assertion).status_code == 200


def test_tokens_expire_on_the_server(simulator_factory) -> None:
    clock = FakeClock()
    sim = simulator_factory(clock=clock, token_lifetime_s=60)
    token = request_token(sim).json()
    assert token["expires_in"] == 60
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert requests.get(f"{sim.base_url}/oauth/userinfo", headers=headers).status_code == 200
    clock.now += 61
    expired = requests.get(f"{sim.base_url}/oauth/userinfo", headers=headers)
    assert expired.status_code == 401
    assert expired.json() == {"error": "invalid_token", "error_description": "access token expired"}


def test_token_lifetime_can_change(simulator: Simulator) -> None:
    simulator.set_token_lifetime(5)
    assert request_token(simulator).json()["expires_in"] == 5


def test_userinfo_lists_the_organization(simulator: Simulator) -> None:
    token = request_token(simulator).json()["access_token"]
    response = requests.get(
        f"{simulator.base_url}/oauth/userinfo", headers={"Authorization": f"Bearer {token}"}
    )
    body = response.json()
    assert body["sub"] == simulator.user_id and body["email"] and body["name"]
    (account,) = body["accounts"]
    assert account["account_id"] == simulator.account_id and account["is_default"] is True
    assert account["base_uri"] == simulator.base_url and account["account_name"]
    assert account["organization"] == {"organization_id": simulator.organization_id, "links": []}


def test_userinfo_without_token_is_401(simulator: Simulator) -> None:
    response = requests.get(f"{simulator.base_url}/oauth/userinfo")
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"
    assert response.headers["X-DocuSign-TraceToken"]


def test_aud_also_accepts_localhost_for_a_loopback_simulator() -> None:
    with Simulator(SimulatorConfig()) as sim:
        port = sim.base_url.rsplit(":", 1)[1]
        assert sim.audience == f"127.0.0.1:{port}"
        assertion = make_assertion(sim, aud=f"localhost:{port}")
        assert request_token(sim, assertion).status_code == 200
