"""The admin plane over HTTP and the `simulate` command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from docusign_input.simulator import Simulator
from docusign_input.simulator.keys import new_private_key, private_pem, public_pem
from docusign_input.simulator.testing import bearer_session, make_assertion, request_token

REPO = Path(__file__).resolve().parents[2]


def admin(sim: Simulator, method: str, name: str, **body) -> requests.Response:
    return requests.request(method, f"{sim.base_url}/__simulator__/{name}", json=body, timeout=10)


def test_admin_state_and_events(simulator: Simulator) -> None:
    state = admin(simulator, "GET", "state").json()
    assert state["organization_id"] == simulator.organization_id and state["events"] == 0
    ids = admin(simulator, "POST", "events", count=3).json()["event_ids"]
    backlog = admin(simulator, "POST", "backlog", count=4, days=1).json()["event_ids"]
    assert admin(simulator, "GET", "event-ids").json() == simulator.event_ids() == backlog + ids
    assert admin(simulator, "POST", "event-rate", per_minute=0).json() == {"ok": True}


def test_admin_access_controls(simulator: Simulator) -> None:
    admin(simulator, "POST", "consent", granted=False)
    assert request_token(simulator).json() == {"error": "consent_required"}
    admin(simulator, "POST", "consent", granted=True)
    admin(simulator, "POST", "token-lifetime", seconds=42)
    assert request_token(simulator).json()["expires_in"] == 42
    session = bearer_session(simulator)
    url = f"{simulator.base_url}/api/v2.0/datasets/monitor/stream"
    admin(simulator, "POST", "monitor", enabled=False)
    assert session.get(url).status_code == 403
    admin(simulator, "POST", "monitor", enabled=True)
    admin(simulator, "POST", "expire-tokens")
    assert session.get(url).status_code == 401


def test_admin_keys_users_limits_faults_and_records(simulator: Simulator) -> None:
    key = new_private_key()
    ik, user = "44444444-4444-4444-8444-444444444444", "55555555-5555-4555-8555-555555555555"
    admin(simulator, "POST", "keys", integration_key=ik, public_key_pem=public_pem(key).decode())
    admin(simulator, "POST", "users", user_id=user, organizations=1)
    admin(simulator, "POST", "consent", integration_key=ik, user_id=user, granted=True)
    assertion = make_assertion(simulator, key_pem=private_pem(key), iss=ik, sub=user)
    assert request_token(simulator, assertion).status_code == 200

    admin(simulator, "POST", "rate-limits", enabled=True, burst_limit=1)
    session = bearer_session(simulator)
    url = f"{simulator.base_url}/api/v2.0/datasets/monitor/stream"
    assert [session.get(url).status_code for _ in range(2)] == [200, 429]
    admin(simulator, "POST", "rate-limits", enabled=False)

    admin(simulator, "POST", "faults", kind="http_502", count=1)
    assert admin(simulator, "GET", "faults").json()[0]["kind"] == "http_502"
    assert session.get(url).status_code == 502
    admin(simulator, "POST", "faults", kind="http_500")
    admin(simulator, "DELETE", "faults")
    assert session.get(url).status_code == 200

    records = admin(simulator, "GET", "requests").json()
    assert all(not r["path"].startswith("/__simulator__") for r in records)
    last = records[-1]
    assert last["headers"]["Authorization"] is True and last["status"] == 200
    assert "Bearer" not in str(records)
    assert admin(simulator, "GET", "state").json()["stream_requests"] == simulator.stream_requests
    pem = admin(simulator, "GET", "private-key").json()
    assert pem.encode() == simulator.private_key_pem()


def test_admin_errors_are_json(simulator: Simulator) -> None:
    assert admin(simulator, "GET", "nope").status_code == 404
    bad = admin(simulator, "POST", "faults", kind="meteor")
    assert bad.status_code == 400 and bad.json()["error"] == "bad_request"


def test_key_file_is_private_and_env_is_complete(simulator: Simulator, tmp_path: Path) -> None:
    path = simulator.write_private_key(tmp_path / "key.pem", fmt="pkcs8")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY")
    env = simulator.env(path)
    assert env == {
        "DOCUSIGN_AUTH_URL": simulator.base_url,
        "DOCUSIGN_MONITOR_URL": simulator.base_url,
        "DOCUSIGN_USER_ID": simulator.user_id,
        "DOCUSIGN_INTEGRATION_KEY": simulator.integration_key,
        "DOCUSIGN_PRIVATE_KEY_FILE": str(path),
        "DOCUSIGN_ENVIRONMENT": "development",
    }


def test_simulate_prints_exports_and_stops_on_sigterm(tmp_path: Path) -> None:
    key_file = tmp_path / "sim-key.pem"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "docusign_input.simulator",
            "--port",
            "0",
            "--backlog",
            "5",
            "--fault",
            "http_503:1",
            "--key-file",
            str(key_file),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        exports = {}
        assert child.stdout is not None
        deadline = time.monotonic() + 20
        while len(exports) < 6 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                exports[name] = value
        assert set(exports) == {
            "DOCUSIGN_AUTH_URL",
            "DOCUSIGN_MONITOR_URL",
            "DOCUSIGN_USER_ID",
            "DOCUSIGN_INTEGRATION_KEY",
            "DOCUSIGN_PRIVATE_KEY_FILE",
            "DOCUSIGN_ENVIRONMENT",
        }
        assert exports["DOCUSIGN_PRIVATE_KEY_FILE"] == str(key_file) and key_file.exists()
        assert exports["DOCUSIGN_ENVIRONMENT"] == "development"
        base = exports["DOCUSIGN_AUTH_URL"]
        state = requests.get(f"{base}/__simulator__/state", timeout=5).json()
        assert state["events"] == 5 and state["user_id"] == exports["DOCUSIGN_USER_ID"]
        assert requests.get(f"{base}/api/v2.0/datasets/monitor/stream").status_code == 503
    finally:
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=10) == 0


def test_https_with_a_given_certificate(tmp_path: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    from docusign_input.simulator import SimulatorConfig

    key = new_private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "tls-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(private_pem(key))
    config = SimulatorConfig(tls_cert=str(cert_file), tls_key=str(key_file))
    with Simulator(config) as sim:
        assert sim.base_url.startswith("https://127.0.0.1:")
        response = requests.post(
            f"{sim.base_url}/oauth/token",
            verify=str(cert_file),
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": make_assertion(sim),
            },
        )
        assert response.status_code == 200


def test_an_unknown_scenario_is_answered_with_a_sentence_not_a_repr(simulator: Simulator) -> None:
    """The control API answered ``KeyError('nope')``."""
    url = f"{simulator.base_url}/__simulator__/scenario"
    answer = requests.post(url, json={"name": "nope"}, timeout=10)
    description = answer.json()["error_description"]
    assert answer.status_code == 400 and "KeyError" not in description
    assert description.startswith("unknown scenario 'nope'; known scenarios: ")
    missing = requests.post(url, json={}, timeout=10).json()["error_description"]
    assert missing == "the request body needs the field 'name'"
