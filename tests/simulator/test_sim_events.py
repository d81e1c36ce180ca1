"""Events look like DocuSign's and repeat for a seed."""

from __future__ import annotations

import calendar
import json
import re
import time

from docusign_input.simulator import Simulator, SimulatorConfig
from docusign_input.simulator.events import ALERT_ACTIONS, KINDS, SEVERITIES, EventFactory
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
    alerts = [e for e in events if e["object"] == "Alert"]
    assert 0.01 < len(alerts) / len(events) < 0.06
    for alert in alerts:
        assert alert["action"] in (
            "IpAddressOutsideAllowedRanges",
            "TooManyLoginFailures",
            "CredentialLeakDetected",
        )
        assert isinstance(alert["data"]["EventIds"], list) and alert["data"]["EventIds"]
        assert isinstance(alert["data"]["Count"], str)
        assert alert["data"]["Severity"] in ("Low", "Medium", "High")
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


def test_background_covers_every_kind_of_the_shared_vocabulary() -> None:
    """Every (object, action, source, result) the mappings classify, and each alert at each
    severity, appears in an ordinary backlog, so tests over it exercise every mapping branch."""
    sim = Simulator(SimulatorConfig(backlog=5000, clock=fixed_clock))
    events = [json.loads(sim.event_bytes(i)) for i in sim.event_ids()]
    seen = {(e["object"], e["action"], e["source"], e["result"]) for e in events}
    for kind in KINDS:
        assert (kind.object, kind.action, kind.source, kind.result) in seen
    alerts = {(e["action"], e["data"]["Severity"]) for e in events if e["object"] == "Alert"}
    assert alerts == {(a, s) for a in ALERT_ACTIONS for s in SEVERITIES}
    logins = {(e["source"], e["result"]) for e in events if e["action"] == "Login"}
    assert logins == {(s, r) for s in ("Web", "Mobile", "API") for r in ("Success", "Failure")}
    two_factor = [e for e in events if e["action"] == "TwoFactorAuthenticationChanged"]
    assert {e["field"] for e in two_factor} == {"Enabled", "Disabled"}
    assert {e["property"] for e in two_factor} == {"TwoFactorAuthentication"}
    settings = {e["property"] for e in events if e["action"] == "SettingChanged"}
    assert {"TwoFactorAuthentication", "IpAllowList", "SessionTimeout"} <= settings
    assigned = [e for e in events if e["action"] == "PermissionProfileAssigned"]
    assert "Account Administrator" in {e["data"]["PermissionProfileName"] for e in assigned}
    assert all(e["affectedUserId"] == e["data"]["AffectedUserId"] for e in assigned)


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
