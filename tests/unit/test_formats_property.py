"""Property: for any event DocuSign could send, every format gives exactly one valid document,
never raises, and keeps the event ID."""

from __future__ import annotations

import json

from format_events import SAMPLE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schema_checks import ecs_problems, ocsf_problems

from docusign_input.formats import FORMATS, ecs, mapper, ocsf
from docusign_input.simulator.events import ALERT_ACTIONS, KINDS

_scalars = st.one_of(
    st.text(max_size=12),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_kinds = st.sampled_from(
    [(k.object, k.action, k.source, k.result) for k in KINDS]
    + [("Alert", a, "System", "") for a in ALERT_ACTIONS]
    + [("Widget", "Frobnicated", "API", "Success"), ("", "", "", "")]
)
_fields = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": st.sampled_from(
            ["2026-11-27T09:10:06.0512813Z", "2026-11-27T09:10:06Z", "", "x"]
        )
        | _json,
        "eventId": st.uuids().map(str) | _json,
        "userId": st.uuids().map(str) | _json,
        "affectedUserId": st.uuids().map(str) | _json,
        "referencedUserId": st.uuids().map(str) | _json,
        "ipAddress": st.ip_addresses().map(str) | _json,
        "ipAddressLocation": st.fixed_dictionaries(
            {},
            optional={
                "latitude": _json,
                "longitude": _json,
                "country": st.sampled_from(["united states", "atlantis", ""]) | _json,
                "state": _json,
                "city": _json,
            },
        )
        | _json,
        "userAgent": _json,
        "userAgentClientInfo": st.fixed_dictionaries(
            {},
            optional={
                "os": st.dictionaries(st.sampled_from(["family", "major"]), _json),
                "browser": _json,
                "device": _json,
            },
        )
        | _json,
        "organizationId": _json,
        "integratorKey": _json,
        "property": _json,
        "field": st.sampled_from(["Enabled", "Disabled", ""]) | _json,
        "data": st.dictionaries(
            st.sampled_from(
                [
                    "AffectedUserId",
                    "Severity",
                    "Count",
                    "EventIds",
                    "GroupId",
                    "GroupName",
                    "PermissionProfileName",
                    "SettingName",
                    "EnvelopeId",
                    "Other",
                ]
            ),
            _json,
        )
        | _json,
        "extra": _json,
    },
)


@st.composite
def events(draw):
    obj, action, source, result = draw(_kinds)
    event = {"object": obj, "action": action, "source": source, "result": result}
    event.update(draw(_fields))
    if draw(st.booleans()):
        event = dict(SAMPLE, **event)
    return event


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), min_size=1, max_size=4))
def test_every_format_maps_each_event_to_one_valid_document(batch) -> None:
    for name in FORMATS:
        mapping = mapper(name)
        if mapping is None:
            continue
        docs = [mapping(event) for event in batch]
        assert len(docs) == len(batch)
        for event, doc in zip(batch, docs):
            json.dumps(doc, allow_nan=False)
            event_id = event.get("eventId")
            if name == "ecs":
                assert ecs_problems(doc) == [], (event, doc)
                if isinstance(event_id, str) and event_id:
                    assert doc["event"]["id"] == event_id
            else:
                assert ocsf_problems(doc) == [], (event, doc)
                if isinstance(event_id, str) and event_id:
                    assert doc["metadata"]["uid"] == event_id


def test_mapping_does_not_change_the_event() -> None:
    event = json.loads(json.dumps(SAMPLE))
    for mapping in (ecs.document, ocsf.document):
        mapping(event)
        assert event == SAMPLE
