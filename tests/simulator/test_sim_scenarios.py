"""Attack scenarios: deterministic, in the shared vocabulary, shaped like DocuSign's events."""

from __future__ import annotations

import json

import pytest

from docusign_input.simulator import Simulator
from docusign_input.simulator.scenarios import SCENARIOS, is_finding, scenario_events
from docusign_input.simulator.testing import bearer_session

# The (object, action, result) pairs agreed with the mapping code (the shared vocabulary).
VOCABULARY = {
    ("User", "Login", "Success"), ("User", "Login", "Failure"), ("User", "Logout", ""),
    ("User", "AccountLocked", ""), ("User", "AccountUnlocked", ""),
    ("User", "PasswordChanged", ""), ("User", "PasswordReset", ""),
    ("User", "TwoFactorAuthenticationChanged", ""), ("Account", "UserAdded", ""),
    ("Account", "UserClosed", ""), ("Account", "UserDeleted", ""),
    ("Account", "PermissionProfileChanged", ""), ("Account", "PermissionProfileAssigned", ""),
    ("Account", "AdministratorAdded", ""), ("Account", "GroupCreated", ""),
    ("Account", "GroupDeleted", ""), ("Account", "GroupMemberAdded", ""),
    ("Account", "GroupMemberRemoved", ""), ("Envelope", "Sent", ""), ("Envelope", "Viewed", ""),
    ("Envelope", "Downloaded", ""), ("Envelope", "Voided", ""), ("Envelope", "Deleted", ""),
    ("Envelope", "Purged", ""), ("Document", "Downloaded", ""), ("Template", "Created", ""),
    ("Template", "Modified", ""), ("Template", "Deleted", ""), ("Template", "Shared", ""),
    ("Account", "SettingChanged", ""), ("Organization", "SsoSettingsChanged", ""),
    ("Organization", "IpAllowListChanged", ""), ("Organization", "DomainAdded", ""),
    ("Account", "ConnectConfigurationChanged", ""), ("Integration", "IntegratorKeyCreated", ""),
    ("Alert", "IpAddressOutsideAllowedRanges", ""), ("Alert", "TooManyLoginFailures", ""),
    ("Alert", "CredentialLeakDetected", ""),
}  # fmt: skip


def _play(name: str, seed: int = 1, start_s: float = 1_790_000_000.0) -> list:
    sim = Simulator(seed=seed)
    ids = sim.play_scenario(name, start_s=start_s)
    return [sim.event_bytes(i) for i in ids]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_scenario_repeats_byte_for_byte_for_a_seed_and_changes_with_it(name):
    assert _play(name) == _play(name)
    assert _play(name) != _play(name, seed=2)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_events_use_the_vocabulary_and_every_field_of_background_events(name):
    sim = Simulator(seed=4)
    background = json.loads(sim.event_bytes(sim.append_events(1)[0]))
    events = [json.loads(sim.event_bytes(i)) for i in sim.play_scenario(name)]
    assert events
    for event in events:
        assert (event["object"], event["action"], event["result"]) in VOCABULARY
        assert list(event) == list(background)  # same fields, same order as DocuSign's
        assert event["accountId"] == sim.account_id
        assert event["timestamp"].endswith("Z") and len(event["timestamp"]) == 28
    assert len({e["eventId"] for e in events}) == len(events)


def test_a_scenario_played_live_reaches_a_connector_that_is_caught_up():
    """Played after the cursor reached the end, its events come on the next poll, in order."""
    with Simulator(seed=2, backlog=50) as sim:
        session = bearer_session(sim)
        url = f"{sim.base_url}/api/v2.0/datasets/monitor/stream"
        page = session.get(url, params={"limit": 2000, "cursor": "2000-01-01T00:00:00Z"}).json()
        assert len(page["data"]) == 50
        played = sim.play_scenario("brute-force")
        after = session.get(url, params={"limit": 2000, "cursor": page["endCursor"]}).json()
        assert [e["eventId"] for e in after["data"]] == played
        assert all(e["result"] == "Failure" for e in after["data"])
        stamps = [e["timestamp"] for e in after["data"]]
        assert stamps == sorted(stamps)  # a burst that has just happened


def test_the_admin_plane_plays_a_scenario_and_lists_them():
    with Simulator(seed=3) as sim:
        session = bearer_session(sim)
        names = session.get(f"{sim.base_url}/__simulator__/scenarios").json()
        assert set(names) == set(SCENARIOS)
        answer = session.post(
            f"{sim.base_url}/__simulator__/scenario", json={"name": "mfa-disabled"}
        )
        assert answer.status_code == 200 and len(answer.json()["event_ids"]) == 2
        bad = session.post(f"{sim.base_url}/__simulator__/scenario", json={"name": "nope"})
        assert bad.status_code == 400 and "brute-force" in bad.json()["error_description"]


def test_unknown_scenario_names_the_known_ones():
    with pytest.raises(KeyError, match="password-spray"):
        scenario_events(
            "nope", seed=1, start_s=0, account_id="a", organization_id="o", user_ids=["u"]
        )


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_attackers_come_from_documentation_ranges_the_background_never_uses(name):
    events = [json.loads(b) for b in _play(name)]
    for event in events:
        ip = event["ipAddress"]
        assert ip == "" or ip.startswith(("198.51.100.", "203.0.113."))


def test_is_finding_separates_single_event_findings_from_normal_activity():
    base = {"object": "User", "action": "Login", "result": "Failure", "property": "", "field": ""}
    assert not is_finding(base)
    assert is_finding({**base, "object": "Alert", "action": "TooManyLoginFailures"})
    assert is_finding({**base, "action": "TwoFactorAuthenticationChanged",
                       "property": "TwoFactorAuthentication", "field": "Disabled"})  # fmt: skip
    assert not is_finding({**base, "action": "TwoFactorAuthenticationChanged",
                           "property": "TwoFactorAuthentication", "field": "Enabled"})  # fmt: skip
    profile = {**base, "object": "Account", "action": "PermissionProfileAssigned"}
    assert is_finding({**profile, "data": {"PermissionProfileName": "Account Administrator"}})
    assert not is_finding({**profile, "data": {"PermissionProfileName": "DocuSign Sender"}})
