"""The simulator serves many organizations from one port: each its own integration key, user,
key pair, events and rate limits; a token of one never reads another's stream."""

from __future__ import annotations

import time

import jwt
import requests

from docusign_input.simulator import Simulator

STREAM = "/api/v2.0/datasets/monitor/stream"


def token(sim: Simulator, organization) -> str:
    now = int(time.time())
    assertion = jwt.encode(
        {"iss": organization.integration_key, "sub": organization.user_id, "aud": sim.audience,
         "iat": now, "exp": now + 600, "scope": "signature impersonation"},
        organization.private_key_pem(), algorithm="RS256")
    answer = requests.post(f"{sim.base_url}/oauth/token", timeout=10, data={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def stream_ids(sim: Simulator, bearer: str) -> list[str]:
    answer = requests.get(f"{sim.base_url}{STREAM}", params={"cursor": "", "limit": 2000},
                          headers={"Authorization": f"Bearer {bearer}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return [event["eventId"] for event in answer.json()["data"]]


def test_each_organization_has_its_own_credentials_events_and_limits():
    with Simulator(backlog=5) as sim:
        acme = sim.add_organization("acme", backlog=7)
        globex = sim.add_organization("globex", backlog=3, own_key=False)
        assert len({acme.integration_key, globex.integration_key, sim.integration_key}) == 3
        assert acme.private_key_pem() != sim.private_key_pem()
        assert stream_ids(sim, token(sim, acme)) == acme.event_ids()
        assert stream_ids(sim, token(sim, globex)) == globex.event_ids()
        assert len(acme.event_ids()) == 7 and len(globex.event_ids()) == 3
        assert not set(acme.event_ids()) & set(globex.event_ids())
        assert acme.stream_requests == 1 and globex.stream_requests == 1
        assert len(acme.poll_times) == 1

        # another organization's key is not this one's
        now = int(time.time())
        forged = jwt.encode(
            {"iss": acme.integration_key, "sub": acme.user_id, "aud": sim.audience, "iat": now,
             "exp": now + 600, "scope": "signature impersonation"},
            sim.private_key_pem(), algorithm="RS256")
        answer = requests.post(f"{sim.base_url}/oauth/token", timeout=10, data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": forged})
        assert answer.json()["error_description"] == "no_valid_keys_or_signatures"

        # failure switches act on one organization only
        bearer = token(sim, globex)
        acme.set_stream_status(503)
        assert requests.get(f"{sim.base_url}{STREAM}", timeout=10, headers={
            "Authorization": f"Bearer {token(sim, acme)}"}).status_code == 503
        assert stream_ids(sim, bearer) == globex.event_ids()
        acme.set_stream_status(None)
        acme.set_monitor_enabled(False)
        assert requests.get(f"{sim.base_url}{STREAM}", timeout=10, headers={
            "Authorization": f"Bearer {token(sim, acme)}"}).status_code == 403
        globex.set_rate_limits(burst_limit=2, burst_window_s=60)  # it made 2 requests already
        assert requests.get(f"{sim.base_url}{STREAM}", timeout=10, headers={
            "Authorization": f"Bearer {bearer}"}).status_code == 429
        acme.set_consent(False)
        now = int(time.time())
        refused = requests.post(f"{sim.base_url}/oauth/token", timeout=10, data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": jwt.encode(
                {"iss": acme.integration_key, "sub": acme.user_id, "aud": sim.audience,
                 "iat": now, "exp": now + 600, "scope": "signature impersonation"},
                acme.private_key_pem(), algorithm="RS256")})
        assert refused.json()["error"] == "consent_required"
        # the primary organization is untouched: the one-organization simulator as before
        assert len(stream_ids(sim, token(sim, sim))) == 5


def test_hundreds_of_organizations_and_their_file(tmp_path):
    with Simulator() as sim:
        for number in range(300):
            sim.add_organization(f"customer-{number:03d}", own_key=False)
        path = sim.organizations_file(tmp_path / "organizations.toml", tmp_path / "keys")
        from docusign_input.organizations import load_fleet

        fleet = load_fleet(path, {}, {"HOME": str(tmp_path)}, command="run",
                           state_dir=tmp_path / "state")
        assert len(fleet.organizations) == 300
        first = fleet.organizations[0].settings
        assert first.user_id == sim.organizations["customer-000"].user_id
        assert first.monitor_url == sim.base_url
