"""Nothing DocuSign sent is dropped by a mapping: what a schema has no field for stays under
``docusign.*`` (ECS) or ``unmapped`` (OCSF) with DocuSign's own names, and the documents stay
valid against the vendored schemas."""

from __future__ import annotations

import copy
import json
from typing import Any, Dict, Iterator, Tuple

import pytest
from format_events import every_kind
from schema_checks import ecs_problems, ocsf_problems

from docusign_input.formats import ecs, ocsf

#: Objects inside an event that a newer DocuSign may extend with keys of its own.
NESTED = (
    ("ipAddressLocation",),
    ("userAgentClientInfo", "os"),
    ("userAgentClientInfo", "browser"),
    ("userAgentClientInfo", "device"),
    ("userAgentClientInfo",),
    ("data",),
    (),
)


def _with_markers(event: Dict[str, Any]) -> Tuple[Dict[str, Any], list[str]]:
    """The event with an unknown key holding a unique marker in each object it has."""
    event = copy.deepcopy(event)
    markers = []
    for path in NESTED:
        holder: Any = event
        for key in path:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(holder, dict):
            marker = "marker-" + "-".join(path or ("top",))
            holder["newField"] = marker
            markers.append(marker)
    return event, markers


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


EVENTS = every_kind()


@pytest.mark.parametrize(
    "fmt, mapping, problems",
    [("ecs", ecs.document, ecs_problems), ("ocsf", ocsf.document, ocsf_problems)],
)
def test_no_field_docusign_sent_is_dropped_and_documents_stay_valid(fmt, mapping, problems):
    for event in EVENTS:
        marked, markers = _with_markers(event)
        doc = mapping(marked)
        found = set(_strings(doc))
        missing = [m for m in markers if m not in found]
        assert not missing, (fmt, event["object"], event["action"], missing)
        assert problems(doc) == [], (fmt, event["object"], event["action"])
        json.dumps(doc, allow_nan=False)


def _login() -> Dict[str, Any]:
    login = next(e for e in EVENTS if e["object"] == "User" and e["action"] == "Login")
    return copy.deepcopy(login)


def test_ecs_keeps_ip_address_location_keys_it_has_no_field_for():
    """ECS took five keys of ipAddressLocation and dropped the rest."""
    event = _login()
    event["ipAddressLocation"].update(postalCode="75001", timeZone="Europe/Paris")
    doc = ecs.document(event)
    assert doc["docusign"]["ipAddressLocation"] == {"postalCode": "75001",
                                                    "timeZone": "Europe/Paris"}
    assert doc["source"]["geo"]["city_name"] == event["ipAddressLocation"]["city"]


def test_ocsf_os_version_keeps_patch_minor():
    """OCSF built the OS version from major.minor.patch and dropped patchMinor."""
    event = _login()
    event["userAgentClientInfo"]["os"] = {"family": "Windows", "major": "10", "minor": "0",
                                          "patch": "19045", "patchMinor": "4"}
    doc = ocsf.document(event)
    assert doc["src_endpoint"]["os"]["version"] == "10.0.19045.4"
    assert ecs.document(event)["user_agent"]["os"]["version"] == "10.0.19045.4"


def test_an_ocsf_finding_with_only_a_user_agent_stays_valid_and_keeps_it():
    """Found by the property test: an alert naming no user and no IP, only a user agent, gave an
    evidence holding only http_request, which OCSF 1.8.0 rejects."""
    event = {"object": "Alert", "action": "IpAddressOutsideAllowedRanges", "source": "System",
             "result": "", "userAgent": "curl/8.5"}
    doc = ocsf.document(event)
    assert ocsf_problems(doc) == []
    assert doc["unmapped"]["userAgent"] == "curl/8.5"
