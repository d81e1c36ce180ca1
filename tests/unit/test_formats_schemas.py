"""Every normalized document is valid against the vendored ECS 9.4 and OCSF 1.8.0 schemas, and
every mapping branch is exercised by events of the simulator's vocabulary."""

from __future__ import annotations

import json

import pytest
from format_events import every_kind, odd_events
from schema_checks import OCSF_FILES, ecs_problems, ocsf_problems

from docusign_input.formats import classes, ecs, ocsf
from docusign_input.formats.countries import iso_code
from docusign_input.simulator import Simulator, SimulatorConfig
from docusign_input.simulator.scenarios import SCENARIOS

EVENTS = every_kind() + odd_events()


def _ids(events):
    return [f"{e['object']}.{e['action']}:{e['eventId']}" for e in events]


@pytest.mark.parametrize("event", EVENTS, ids=_ids(EVENTS))
def test_ecs_document_is_valid_ecs(event) -> None:
    doc = ecs.document(event)
    assert ecs_problems(doc) == []
    assert doc["event"].get("id") == (event["eventId"] or None)
    json.dumps(doc, allow_nan=False)


@pytest.mark.parametrize("event", EVENTS, ids=_ids(EVENTS))
def test_ocsf_document_is_valid_ocsf(event) -> None:
    doc = ocsf.document(event)
    assert ocsf_problems(doc) == []
    assert doc["metadata"].get("uid") == (event["eventId"] or None)
    json.dumps(doc, allow_nan=False)


def test_every_class_and_every_known_kind_is_exercised() -> None:
    docs = [ocsf.document(e) for e in every_kind()]
    assert {d["class_uid"] for d in docs} == set(OCSF_FILES)
    codes = {d["metadata"]["event_code"] for d in docs}
    for obj, action in classes.KNOWN:
        if obj != "Alert":
            assert f"{obj}.{action}" in codes
    activities = {(d["class_uid"], d["activity_id"]) for d in docs}
    assert {(3001, 10), (3001, 11), (3002, 1), (3002, 2), (6001, 8), (6003, 2)} <= activities


def test_a_simulated_backlog_maps_to_valid_documents_of_every_class() -> None:
    """What `run --format ...` will see: the simulator's background activity and its attack
    scenarios (DocuSign's alerts are only in those), as served."""
    sim = Simulator(SimulatorConfig(backlog=2000, seed=4))
    for name in SCENARIOS:
        sim.play_scenario(name)
    events = [json.loads(sim.event_bytes(i)) for i in sim.event_ids()]
    classes_seen = set()
    for event in events:
        ecs_doc, ocsf_doc = ecs.document(event), ocsf.document(event)
        assert ecs_problems(ecs_doc) == [], event["eventId"]
        assert ocsf_problems(ocsf_doc) == [], event["eventId"]
        classes_seen.add(ocsf_doc["class_uid"])
    assert classes_seen == set(OCSF_FILES)


def test_login_failure_in_both_schemas() -> None:
    login = [e for e in every_kind() if (e["action"], e["result"]) == ("Login", "Failure")][0]
    doc = ecs.document(login)
    assert doc["event"]["category"] == ["authentication"] and doc["event"]["type"] == ["start"]
    assert doc["event"]["outcome"] == "failure" and doc["event"]["code"] == "User.Login"
    assert doc["docusign"]["result"] == "Failure" and doc["docusign"]["object"] == "User"
    assert doc["user"]["id"] == login["userId"] and doc["related"]["ip"] == [login["ipAddress"]]
    out = ocsf.document(login)
    assert (out["class_uid"], out["activity_id"], out["type_uid"]) == (3002, 1, 300201)
    assert (out["status_id"], out["status"]) == (2, "Failure")
    assert out["user"] == {"uid": login["userId"]}
    assert out["src_endpoint"]["ip"] == login["ipAddress"]


def test_alert_severity_maps_to_both_schemas() -> None:
    alerts = {e["data"]["Severity"]: e for e in every_kind() if e["object"] == "Alert"}
    assert set(alerts) == {"Low", "Medium", "High"}
    for severity, ecs_severity, ocsf_id in (("Low", 21, 2), ("Medium", 47, 3), ("High", 73, 4)):
        doc = ecs.document(alerts[severity])
        assert doc["event"]["kind"] == "alert" and doc["event"]["severity"] == ecs_severity
        assert doc["docusign"]["data"]["Severity"] == severity
        out = ocsf.document(alerts[severity])
        assert (out["class_uid"], out["severity_id"], out["severity"]) == (2004, ocsf_id, severity)
        assert [r["uid"] for r in out["finding_info"]["related_events"]] == ["kind-4", "kind-5"]
        assert out["count"] == 2 and out["finding_info"]["uid"] == alerts[severity]["eventId"]


def test_countries_become_iso_codes() -> None:
    event = every_kind()[0]
    for name, code in (
        ("united states", "US"),
        ("switzerland", "CH"),
        ("russia", "RU"),
        ("south korea", "KR"),
        ("united kingdom", "GB"),
    ):
        event["ipAddressLocation"]["country"] = name
        assert ecs.document(event)["source"]["geo"]["country_iso_code"] == code
        assert ocsf.document(event)["src_endpoint"]["location"]["country"] == code


def test_an_unknown_country_keeps_its_name_and_gets_no_code() -> None:
    event = every_kind()[0]
    event["ipAddressLocation"]["country"] = "atlantis"
    geo = ecs.document(event)["source"]["geo"]
    assert geo["country_name"] == "atlantis" and "country_iso_code" not in geo
    out = ocsf.document(event)
    assert "country" not in out["src_endpoint"]["location"]
    assert out["unmapped"]["ipAddressLocation"]["country"] == "atlantis"


def test_values_ecs_cannot_type_stay_under_docusign() -> None:
    event = odd_events()[1]  # an IP that is none, coordinates out of range
    doc = ecs.document(event)
    assert "ip" not in doc.get("source", {}) and doc["docusign"]["ipAddress"] == "not-an-ip"
    assert doc["docusign"]["ipAddressLocation"]["latitude"] == 999


def test_ocsf_time_is_milliseconds_and_the_stamp_is_kept_whole() -> None:
    event = every_kind()[0]
    event["timestamp"] = "2026-11-27T09:10:06.0512813Z"
    out = ocsf.document(event)
    assert out["time"] == 1795770606051
    assert out["metadata"]["original_time"] == "2026-11-27T09:10:06.0512813Z"
    assert ecs.document(event)["@timestamp"] == "2026-11-27T09:10:06.0512813Z"


def test_nothing_docusign_sent_is_lost() -> None:
    """Every non-empty raw value appears somewhere in each document (mapped or kept)."""
    for event in every_kind():
        for doc in (ecs.document(event), ocsf.document(event)):
            text = json.dumps(doc, ensure_ascii=False)
            code = f'"{event["object"]}.{event["action"]}"'
            assert code in text  # ECS event.code, OCSF metadata.event_code
            for key, value in event.items():
                if isinstance(value, str) and value and key not in ("object", "action"):
                    if key == "country":  # OCSF holds the ISO code of the name
                        value = iso_code(value) if f'"{value}"' not in text else value
                    assert json.dumps(value, ensure_ascii=False) in text, (key, doc)


def test_the_raw_to_ecs_table_names_only_ecs_fields() -> None:
    """The declaration the Sigma pipeline reuses: each target is an ECS field (or docusign.*)."""
    from schema_checks import ecs_fields

    for raw, target in ecs.FIELDS.items():
        assert target in ecs_fields() or target.rsplit(".", 1)[0] in ecs_fields(), raw
    assert ecs.ecs_field("userId") == "user.id"
    assert ecs.ecs_field("data.PermissionProfileName") == "docusign.data.PermissionProfileName"
