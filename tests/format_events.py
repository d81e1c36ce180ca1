"""Events of every kind the mappings classify, and odd ones, for the format tests."""

from __future__ import annotations

import copy
from typing import Any, Dict, List

from docusign_input.simulator.events import ALERT_ACTIONS, KINDS, SEVERITIES, EventFactory

#: The sample event a SIEM vendor published (docusign-monitor facts), values fake.
SAMPLE: Dict[str, Any] = {
    "timestamp": "2023-03-03T09:10:06.0512813Z",
    "eventId": "a8010d32-b9f5-4948-9195-50c867d7c3a5",
    "site": "DEMO",
    "accountId": "8949bd2a-f1fc-4c95-ae8e-9e294b2af5b7",
    "organizationId": "9e294b2af5b7-f1fc-4c95-8949bd2a",
    "userId": "9cfb472b-ef1f-4116-8df2-17c53841fd6c",
    "integratorKey": "##DOCUSIGN_INTERNAL_NOT_USED##",
    "userAgent": "",
    "ipAddress": "162.248.186.11",
    "ipAddressLocation": {
        "latitude": 47.6,
        "longitude": -122.33,
        "country": "india",
        "state": "gujarat",
        "city": "akota",
    },
    "object": "Account",
    "action": "UserAdded",
    "property": "",
    "field": "",
    "result": "",
    "source": "API",
    "referencedUserId": "2020ac66-26b5-4367-aff3-f33bd9a007b7",
    "proxyStatus": "",
    "proxyType": "",
    "proxyLevel": "",
    "latitude": 47.6,
    "longitude": -122.33,
    "city": "akota",
    "state": "gujarat",
    "country": "india",
    "data": {
        "AffectedUserId": "2020ac66-26b5-4367-aff3-f33bd9a007b7",
        "AffectedMembershipId": "4da49358-8de5-4f62-9e9a-6029259723bc",
        "PermissionProfileId": "14414475",
    },
}


def _stamp(n: int) -> str:
    return f"2026-11-27T09:{n // 60 % 60:02d}:{n % 60:02d}.{n * 7919 % 10**7:07d}Z"


def every_kind(seed: int = 1) -> List[Dict[str, Any]]:
    """One event of each kind of the shared vocabulary, each alert at each severity, an
    unknown kind, and the published sample."""
    factory = EventFactory(seed, "acct-1", "org-1", ["user-a", "user-b", "user-c"])
    events = []
    for n, kind in enumerate(KINDS):
        events.append(
            factory.event(
                kind.object,
                kind.action,
                source=kind.source,
                result=kind.result,
                eventId=f"kind-{n}",
                timestamp=_stamp(n),
            )
        )
    for n, (action, severity) in enumerate((a, s) for a in ALERT_ACTIONS for s in SEVERITIES):
        alert = factory.event("Alert", action, source="System", eventId=f"alert-{n}")
        alert["timestamp"] = _stamp(100 + n)
        alert["data"] = {"EventIds": ["kind-4", "kind-5"], "Count": "2", "Severity": severity}
        events.append(alert)
    two_factor = [e for e in events if e["action"] == "TwoFactorAuthenticationChanged"][0]
    for value in ("Enabled", "Disabled"):
        events.append(dict(two_factor, field=value, eventId=f"2fa-{value}"))
    events.append(
        factory.event(
            "Account",
            "BulkUsersImported",
            source="API",
            eventId="bulk-1",
            timestamp="2026-11-27T10:00:00Z",
        )
    )
    events.append(
        factory.event(
            "Envelope", "Corrected", source="Web", eventId="odd-envelope", timestamp=_stamp(200)
        )
    )
    events.append(copy.deepcopy(SAMPLE))
    return events


def odd_events() -> List[Dict[str, Any]]:
    """Values DocuSign might send that a mapping must survive without an invalid document."""
    base = copy.deepcopy(SAMPLE)
    odd = []
    for n, change in enumerate(
        (
            {
                "ipAddress": "",
                "ipAddressLocation": {
                    "latitude": "",
                    "longitude": "",
                    "country": "",
                    "state": "",
                    "city": "",
                },
            },
            {
                "ipAddress": "not-an-ip",
                "ipAddressLocation": {"latitude": 999, "longitude": "x", "country": "atlantis"},
            },
            {"ipAddress": "2001:db8::1", "userId": "", "object": "Envelope", "action": "Sent"},
            {
                "timestamp": "2023-03-03T09:10:06Z",
                "object": "User",
                "action": "Login",
                "result": "Pending",
                "userId": "",
            },
            {"timestamp": "yesterday", "object": "Alert", "action": "SomethingNew", "data": {}},
            {"object": "Account", "action": "GroupMemberAdded", "data": {}},
            {"object": "Account", "action": "PermissionProfileAssigned", "data": "text"},
            {
                "object": "Template",
                "action": "Shared",
                "source": "API",
                "userId": "",
                "ipAddress": "",
                "integratorKey": "",
            },
            {
                "ipAddressLocation": None,
                "userAgentClientInfo": {"os": {"family": "Windows", "major": "10"}},
            },
            {"object": "", "action": "", "eventId": ""},
        )
    ):
        event = dict(base, eventId=f"odd-{n}")
        event.update(change)
        odd.append(event)
    return odd
