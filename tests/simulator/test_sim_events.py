"""Events look like DocuSign's and repeat for a seed."""

from __future__ import annotations

import calendar
import json
import re
import time

from docusign_input.simulator import Simulator, SimulatorConfig
from docusign_input.simulator.events import ALERT_ACTIONS, KINDS, EventFactory
from docusign_input.simulator.scenarios import is_finding
from docusign_input.simulator.testing import bearer_session

FIELDS = {
    "timestamp",
    "eventId",
    "site",
    "accountId",
    "organizationId",
    "userId",
    "integratorKey",
    "userAgent",
    "userAgentClientInfo",
    "ipAddress",
    "ipAddressLocation",
    "object",
    "action",
    "property",
    "field",
    "result",
    "source",
    "isUserMemberOfDomain",
    "referencedUserIsMemberOfDomain",
    "referencedUserId",
    "proxyStatus",
    "proxyType",
    "proxyLevel",
    "latitude",
    "longitude",
    "city",
    "state",
    "country",
    "device",
    "browser",
    "os",
    "affectedUserId",
    "affectedUserIsMemberOfDomain",
    "data",
}
WITH_FRACTION = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z\Z")
WITHOUT_FRACTION = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")


def fixed_clock() -> float:
    return 1_800_000_000.0


def walk(value):
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def served(sim: Simulator) -> list:
    session, events, cursor = bearer_session(sim), [], ""
    while True:
        body = session.get(
            f"{sim.base_url}/api/v2.0/datasets/monitor/stream",
            params={"cursor": cursor, "limit": 2000},
        ).json()
        events += body["data"]
        if body["endCursor"] == cursor:
            return events
        cursor = body["endCursor"]


def test_backlog_events_are_realistic() -> None:
    with Simulator(SimulatorConfig(backlog=3000, rate_limits=False)) as sim:
        events = served(sim)
        raw = [sim.event_bytes(e["eventId"]) for e in events]
    assert len(events) == 3000
    assert len({e["eventId"] for e in events}) == 3000
    for event in events:
        assert set(event) == FIELDS
        assert None not in walk(event)
        assert event["organizationId"] == sim.organization_id
    stamps = [e["timestamp"] for e in events]
    assert all(WITH_FRACTION.match(s) or WITHOUT_FRACTION.match(s) for s in stamps)
    assert 0.02 < sum(bool(WITHOUT_FRACTION.match(s)) for s in stamps) / len(stamps) < 0.1
    assert not [e for e in events if e["object"] == "Alert"]  # DocuSign's alerts are findings
    text = b"".join(raw).decode("utf-8")
    assert "Zürich" in text and "São Paulo" in text and "東京" in text and "🚀" in text
    big = [r for r in raw if len(r) >= 20_000]
    assert len(big) == 3 and all(len(r) <= 45_000 for r in big)
    assert all(
        b": " not in r[:40]
        and r == json.dumps(json.loads(r), ensure_ascii=False, separators=(",", ":")).encode()
        for r in raw[:50]
    )


def test_every_thousand_events_hold_a_large_one() -> None:
    for seed in (1, 2, 3):
        sim = Simulator(SimulatorConfig(seed=seed, backlog=1000))
        assert any(len(sim.event_bytes(i)) >= 20_000 for i in sim.event_ids())


def test_timestamps_precede_ingestion_by_up_to_five_minutes_and_are_unordered() -> None:
    sim = Simulator(SimulatorConfig(clock=fixed_clock))
    ids = sim.append_events(200)
    stamps = []
    for event_id in ids:
        text = json.loads(sim.event_bytes(event_id))["timestamp"]
        stamp = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
        assert fixed_clock() - 301 <= stamp <= fixed_clock()
        stamps.append(stamp)
    assert stamps != sorted(stamps)


def test_same_seed_same_events() -> None:
    one = Simulator(SimulatorConfig(seed=9, backlog=500, clock=fixed_clock))
    two = Simulator(SimulatorConfig(seed=9, backlog=500, clock=fixed_clock))
    other = Simulator(SimulatorConfig(seed=10, backlog=500, clock=fixed_clock))
    assert one.event_ids() == two.event_ids() != other.event_ids()
    assert [one.event_bytes(i) for i in one.event_ids()] == [
        two.event_bytes(i) for i in two.event_ids()
    ]
    assert (one.integration_key, one.user_id, one.organization_id) == (
        two.integration_key,
        two.user_id,
        two.organization_id,
    )
    assert one.append_events(5) == two.append_events(5)


def test_background_rate_ingests_while_running() -> None:
    with Simulator(SimulatorConfig(events_per_minute=1200)) as sim:  # 20 a second
        time.sleep(0.6)
        assert len(sim.event_ids()) >= 5
        sim.set_event_rate(0)
        count = len(sim.event_ids())
        time.sleep(0.3)
        assert len(sim.event_ids()) == count


def test_seeding_a_large_backlog_is_fast() -> None:
    started = time.monotonic()
    sim = Simulator(SimulatorConfig(backlog=100_000))
    assert len(sim.event_ids()) == 100_000
    assert time.monotonic() - started < 5  # a million in well under a minute


def test_background_covers_every_kind_of_the_shared_vocabulary_that_is_not_a_finding() -> None:
    """Every (object, action, source, result) the mappings classify appears in an ordinary
    backlog, so tests over it exercise every mapping branch; the kinds that are findings whatever
    their details (alerts, new administrators, sign-in policy and Connect changes) never do, and
    the others come with harmless details (2FA turned on, a Sender profile assigned)."""
    sim = Simulator(SimulatorConfig(backlog=5000, clock=fixed_clock))
    events = [json.loads(sim.event_bytes(i)) for i in sim.event_ids()]
    seen = {(e["object"], e["action"], e["source"], e["result"]) for e in events}
    findings = {
        ("Account", "AdministratorAdded", "Web", ""),
        ("Organization", "SsoSettingsChanged", "Web", ""),
        ("Organization", "IpAllowListChanged", "Web", ""),
        ("Account", "ConnectConfigurationChanged", "Web", ""),
    }
    kinds = {(k.object, k.action, k.source, k.result) for k in KINDS}
    assert seen - {("Account", "BulkUsersImported", "API", "Success")} == kinds - findings
    assert {e["object"] for e in events} <= {k.object for k in KINDS}  # no "Alert"
    logins = {(e["source"], e["result"]) for e in events if e["action"] == "Login"}
    assert logins == {(s, r) for s in ("Web", "Mobile", "API") for r in ("Success", "Failure")}
    two_factor = [e for e in events if e["action"] == "TwoFactorAuthenticationChanged"]
    assert {e["field"] for e in two_factor} == {"Enabled"}
    assert {e["property"] for e in two_factor} == {"TwoFactorAuthentication"}
    settings = {e["property"] for e in events if e["action"] == "SettingChanged"}
    assert settings and settings <= {
        "SessionTimeout",
        "allowSigningExtensions",
        "EnvelopeExpirationDays",
    }
    assigned = [e for e in events if e["action"] == "PermissionProfileAssigned"]
    assert "Account Administrator" not in {e["data"]["PermissionProfileName"] for e in assigned}
    assert all(e["affectedUserId"] == e["data"]["AffectedUserId"] for e in assigned)


def test_a_day_of_background_holds_no_finding_for_any_seed() -> None:
    """A real organization sees an alert or an administrator grant a few times a month: the
    background's day has none (the attack scenarios play them), so a quiet day fires no rule."""
    for seed in (1, 2, 3):
        sim = Simulator(SimulatorConfig(seed=seed, clock=fixed_clock))
        sim.seed_backlog(20_000, days=1)
        assert not [e for e in map(json.loads, sim.events()) if is_finding(e)]


def test_event_makes_the_findings_the_background_leaves_out() -> None:
    """Scenarios and the format tests still get every kind and detail from EventFactory.event."""
    factory = EventFactory(3, "acct", "org", ["user"])
    for action in ALERT_ACTIONS:
        assert is_finding(factory.event("Alert", action))
    assert is_finding(factory.event("Account", "AdministratorAdded"))
    fields = {factory.event("User", "TwoFactorAuthenticationChanged")["field"] for _ in range(40)}
    assert fields == {"Enabled", "Disabled"}
    settings = {factory.event("Account", "SettingChanged")["property"] for _ in range(60)}
    assert {"TwoFactorAuthentication", "IpAllowList", "SessionTimeout"} <= settings


def test_event_builds_a_complete_event_of_a_kind_for_scenarios() -> None:
    factory = EventFactory(1, "acct", "org", ["user"])
    login = factory.event("User", "Login", source="API", result="Failure", userId="u-1")
    assert set(login) == FIELDS and None not in walk(login)
    assert (login["object"], login["action"], login["source"], login["result"]) == (
        "User",
        "Login",
        "API",
        "Failure",
    )
    assert login["userId"] == "u-1" and login["eventId"] == "" and login["timestamp"] == ""
    alert = factory.event("Alert", "TooManyLoginFailures")
    assert alert["data"] == {"EventIds": [], "Count": "0", "Severity": "Medium"}
    two_factor = factory.event("User", "TwoFactorAuthenticationChanged")
    assert two_factor["property"] == "TwoFactorAuthentication"
