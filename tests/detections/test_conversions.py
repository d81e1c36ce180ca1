"""The Sigma rules are complete and their committed conversions are current."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("sigma.backends.splunk", reason="pip install -e '.[detections]'")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
import document_fields  # noqa: E402

from detections import build  # noqa: E402

RULES = sorted((REPO / "detections" / "sigma").glob("*.yml"))
TACTICS = {
    "initial-access", "credential-access", "persistence", "privilege-escalation",
    "defense-evasion", "collection", "exfiltration", "impact",
}  # fmt: skip


def _detection(path: Path) -> dict:
    return list(yaml.safe_load_all(path.read_text(encoding="utf-8")))[-1]


def test_the_committed_conversions_are_what_the_build_makes_now():
    proc = subprocess.run(
        [sys.executable, "-m", "detections.build", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    # success says so (it printed nothing, which reads the same as a check that did not run)
    total = len(build.outputs())
    assert (
        proc.stdout == f"build: all {total} generated files are current (13 Sigma rules; "
        "splunk, elasticsearch, loki)\n"
    )


def test_the_build_says_what_it_wrote_and_what_was_current(capsys):
    target = REPO / "detections" / "splunk" / "docusign_monitor_alert.spl"
    original = target.read_text(encoding="utf-8")
    try:
        target.write_text(original + "| head 1\n", encoding="utf-8")
        assert build.main([]) == 0
    finally:
        assert target.read_text(encoding="utf-8") == original  # the build rewrote it
        target.write_text(original, encoding="utf-8")
    out, err = capsys.readouterr()
    total = len(build.outputs())
    assert err == "wrote: detections/splunk/docusign_monitor_alert.spl\n"
    assert out.startswith(f"build: {total} files from 13 Sigma rules for splunk, elasticsearch, ")
    assert out.endswith(f": 1 written, {total - 1} already current\n")


def test_the_splunk_app_is_installable_as_one_folder():
    """What Splunk reads from an app folder: app.conf with its id, the saved searches, the
    dashboard view, and metadata sharing them; every search's stanza scheduled."""
    app = build.SPLUNK_APP
    conf = (app / "default" / "app.conf").read_text(encoding="utf-8")
    assert f"id = {app.name}" in conf and "[launcher]" in conf and "version = " in conf
    assert (app / "metadata" / "default.meta").read_text(encoding="utf-8").startswith("#")
    assert (app / "default" / "data" / "ui" / "views" / "docusign_monitor.xml").read_bytes() == (
        REPO / "dashboards" / "splunk" / "docusign_monitor.xml"
    ).read_bytes()
    saved = (app / "default" / "savedsearches.conf").read_text(encoding="utf-8")
    assert saved.count("enableSched = 1") == saved.count("\n[")


def test_the_check_names_a_stale_file_and_exits_1(tmp_path, monkeypatch):
    target = REPO / "detections" / "splunk" / "docusign_monitor_alert.spl"
    original = target.read_text(encoding="utf-8")
    try:
        target.write_text(original + "| head 1\n", encoding="utf-8")
        assert build.build(check=True) == [target]
        assert build.main(["--check"]) == 1
    finally:
        target.write_text(original, encoding="utf-8")
    assert build.build(check=True) == []


@pytest.mark.parametrize("path", RULES, ids=[p.stem for p in RULES])
def test_a_rule_has_logsource_level_description_false_positives_and_attack_tags(path):
    docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    for doc in docs:
        if "logsource" in doc:
            assert doc["logsource"] == {"product": "docusign", "service": "monitor"}
    rule = docs[-1]
    assert rule["level"] in ("low", "medium", "high", "critical")
    assert len(rule["description"]) > 60 and rule["falsepositives"]
    tags = rule["tags"]
    assert {t.split(".", 1)[1] for t in tags if not re.match(r"attack\.t\d", t)} <= TACTICS
    assert any(re.fullmatch(r"attack\.t\d{4}(\.\d{3})?", t) for t in tags)
    assert ("correlation" in rule) == (len(docs) > 1)  # counts over time are correlations


def test_every_rule_is_in_each_siems_bundle_with_its_query():
    stems = [p.stem for p in RULES] + ["docusign_silent_collector"]
    saved = (build.SPLUNK_APP / "default" / "savedsearches.conf").read_text(encoding="utf-8")
    assert saved.count("\n[") == len(stems)
    elastic = [
        json.loads(line)
        for line in (REPO / "detections/elasticsearch/detection-rules.ndjson")
        .read_text()
        .splitlines()
    ]
    assert {r["rule_id"] for r in elastic} == {_detection(p)["id"] for p in RULES} | {
        yaml.safe_load((REPO / "detections/manual/docusign_silent_collector.yml").read_text())["id"]
    }
    assert {r["type"] for r in elastic} == {"esql", "eql"}
    ruler = yaml.safe_load((REPO / "detections" / "loki" / "rules.yaml").read_text())
    assert [r["alert"] for r in ruler["groups"][0]["rules"]] == stems


def test_what_a_backend_cannot_express_is_written_by_hand_beside_it():
    """The ordered failures-then-success correlation: no backend has temporal_ordered."""
    stem = "docusign_login_success_after_failures"
    for siem, suffix in (("splunk", ".spl"), ("elasticsearch", ".eql"), ("loki", ".logql")):
        hand = REPO / "detections" / siem / "manual" / f"{stem}{suffix}"
        assert "Written by hand" in hand.read_text(encoding="utf-8")
        assert not (REPO / "detections" / siem / f"{stem}{suffix}").exists()


def test_each_siem_has_a_silent_collector_alert():
    for siem, suffix, absence in (
        ("splunk", ".spl", "count = 0"),
        ("elasticsearch", ".esql", "events == 0"),
        ("loki", ".logql", "absent_over_time("),
    ):
        text = REPO / "detections" / siem / "manual" / f"docusign_silent_collector{suffix}"
        assert absence in text.read_text(encoding="utf-8")


def _queries(siem: str, suffixes: tuple) -> dict:
    folder = REPO / "detections" / siem
    paths = [p for s in suffixes for p in (*folder.glob(f"*{s}"), *folder.glob(f"manual/*{s}"))]
    return {p.name: build._strip_comments(p.read_text(encoding="utf-8")) for p in paths}


def test_every_shipped_eql_query_parses_with_elastics_own_eql_package():
    """The EQL rule (failures then success) as Elasticsearch reads it: Elastic's `eql` parser
    with Elasticsearch's syntax and `with runs`; the ndjson carries the same query."""
    eql = pytest.importorskip("eql", reason="pip install -e '.[test]'")
    shipped = [
        json.loads(line)["query"]
        for line in (REPO / "detections/elasticsearch/detection-rules.ndjson")
        .read_text()
        .splitlines()
        if json.loads(line)["type"] == "eql"
    ]
    files = _queries("elasticsearch", (".eql",))
    assert shipped and sorted(shipped) == sorted(files.values())
    for query in shipped:
        with eql.parser.elasticsearch_syntax, eql.parser.allow_runs:
            assert "sequence" in str(eql.parse_query(query))
    with pytest.raises(eql.EqlSyntaxError), eql.parser.elasticsearch_syntax, eql.parser.allow_runs:
        eql.parse_query(shipped[0].replace(" and ", " and and ", 1))  # the check can fail


def test_elasticsearch_queries_name_only_fields_our_ecs_documents_have():
    have = document_fields.ecs_fields()
    for name, query in _queries("elasticsearch", (".esql", ".eql")).items():
        assert document_fields.esql_fields(query) - have == set(), name


def test_splunk_queries_name_only_raw_fields_and_splunk_metadata():
    have = document_fields.raw_fields() | {"sourcetype", "index", "_time", "count"}
    have |= document_fields.splunk_addon_fields()
    have -= {"object", "action", "result"}  # the add-on's CIM `action` hides DocuSign's
    for name, query in _queries("splunk", (".spl",)).items():
        assert document_fields.splunk_fields(query) - have == set(), name


def test_loki_queries_name_only_the_json_parsers_fields_and_our_labels():
    have = document_fields.loki_fields() | {"source", "service_name"}
    for name, query in _queries("loki", (".logql",)).items():
        assert document_fields.loki_query_fields(query) - have == set(), name


def test_the_field_check_catches_a_field_our_documents_lack():
    assert document_fields.esql_fields('from x | where docusign.objekt == "a"') == {
        "docusign.objekt"
    }
    assert "objekt" in document_fields.splunk_fields('objekt="User" | stats count by userId')
    assert "objekt" in document_fields.loki_query_fields('{a="b"} | json | objekt=~`x`')
