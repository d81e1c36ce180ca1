"""The three dashboards parse, share the same sections, and query only fields our documents have
with query types that fit their data source."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import document_fields as fields
import yaml

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "dashboards"
SECTIONS = [
    "Collector health",
    "Alerts by action and severity",
    "Authentication",
    "Privilege and configuration changes",
    "Agreement activity",
    "API use",
]


# -- Splunk (Simple XML) -----------------------------------------------------------------------


def _splunk() -> ET.Element:
    return ET.parse(DASHBOARDS / "splunk" / "docusign_monitor.xml").getroot()


def test_splunk_dashboard_parses_and_has_the_sections():
    root = _splunk()
    assert root.tag == "form"
    titles = [
        row.find("panel/title").text
        for row in root.findall("row")
        if row.find("panel/title") is not None
    ]
    assert titles == SECTIONS


def test_splunk_panels_search_our_sourcetypes_with_fields_they_have():
    have = fields.raw_fields() | fields.splunk_addon_fields() | fields.DIAGNOSTIC_FIELDS
    have |= {"sourcetype", "_time", "docusign_source"}  # docusign_source: spath of the raw field
    have -= {"object", "action", "result"}  # the add-on's CIM `action` hides DocuSign's
    queries = [q.text for q in _splunk().iter("query")]
    assert len(queries) >= 14
    for query in queries:
        assert query.startswith(
            ('sourcetype="docusign:monitor"', 'sourcetype="docusign:input:diagnostics"')
        )
        text = re.sub(r"\bspath\s+output=\w+\s+path=\S+", " ", query)
        assert fields.splunk_fields(text) - have == set(), query


def test_splunk_panel_types_fit_their_searches():
    for panel in _splunk().iter("panel"):
        for element in panel:
            if element.tag == "chart":
                kind = element.find("option[@name='charting.chart']").text
                assert kind in ("line", "column", "pie", "bar", "area")
                if kind in ("line", "column", "area"):
                    assert re.search(r"\b(timechart|chart)\b", element.find("search/query").text)
            if element.tag == "map":
                assert "geostats" in element.find("search/query").text


# -- Grafana (Loki) -----------------------------------------------------------------------------


def _grafana() -> dict:
    return json.loads(
        (DASHBOARDS / "grafana" / "docusign-monitor.json").read_text(encoding="utf-8")
    )


def test_grafana_dashboard_parses_and_has_the_sections():
    dash = _grafana()
    assert dash["uid"] and dash["title"] == "DocuSign Monitor"
    assert [p["title"] for p in dash["panels"] if p["type"] == "row"] == SECTIONS


def test_grafana_panels_use_the_provisioned_loki_data_source():
    provisioned = yaml.safe_load((REPO / "examples/loki/grafana/datasources.yaml").read_text())
    [loki] = [d for d in provisioned["datasources"] if d["type"] == "loki"]
    for panel in _grafana()["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "loki", "uid": loki["uid"]}
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == loki["uid"]


def test_grafana_queries_fit_their_panels_and_name_only_fields_we_ship():
    have = fields.loki_fields() | fields.DIAGNOSTIC_FIELDS | {"source", "service_name"}
    have |= {"source_extracted"}  # Loki renames a parsed `source` that clashes with the label
    for panel in _grafana()["panels"]:
        if panel["type"] == "row":
            continue
        for target in panel["targets"]:
            expr = target["expr"]
            assert expr.count('{source="docusign"') >= 1
            metric = not expr.startswith("{")
            if panel["type"] == "logs":
                assert not metric and target["queryType"] == "range"
            else:
                assert metric, panel["title"]  # graphs, tables and maps need a metric query
                assert target["queryType"] == (
                    "range" if panel["type"] == "timeseries" else "instant"
                )
            names = fields.loki_query_fields(expr) | set(re.findall(r"\bunwrap\s+(\w+)", expr))
            assert names - have == set(), expr
            label = re.search(r'service_name="([\w-]+)"', expr).group(1)
            assert label in ("docusign-monitor", "docusign-input")


def test_grafana_loads_in_the_loki_example_provisioning():
    compose = yaml.safe_load((REPO / "examples/loki/compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    provider_mount = [m for m in mounts if "provisioning/dashboards" in m]
    [provider_file] = [m.split(":")[0] for m in provider_mount if m.split(":")[0].endswith(".yaml")]
    provider = yaml.safe_load((REPO / "examples/loki" / provider_file).read_text())
    [entry] = provider["providers"]
    path = entry["options"]["path"]
    [dash_mount] = [m for m in mounts if m.split(":")[1] == path]
    source = (REPO / "examples/loki" / dash_mount.split(":")[0]).resolve()
    assert (source / "docusign-monitor.json").is_file()


# -- Kibana (saved objects) ---------------------------------------------------------------------


def _kibana() -> list:
    text = (DASHBOARDS / "kibana" / "docusign-monitor.ndjson").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_kibana_saved_objects_parse_and_every_reference_resolves():
    objects = _kibana()
    ids = {(o["type"], o["id"]) for o in objects}
    for obj in objects:
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in ids, (obj["id"], ref)
    [dash] = [o for o in objects if o["type"] == "dashboard"]
    panels = json.loads(dash["attributes"]["panelsJSON"])
    assert {p["panelRefName"] for p in panels} == {r["name"] for r in dash["references"]}


def test_kibana_dashboard_has_the_sections():
    titles = [
        json.loads(o["attributes"]["visState"])["params"].get("markdown", "")
        for o in _kibana()
        if o["type"] == "visualization" and '"markdown"' in o["attributes"]["visState"]
    ]
    assert titles == [f"## {s}" for s in SECTIONS]


def _kql_fields(query: str) -> set:
    return set(re.findall(r"([A-Za-z_@][\w.@]*)\s*:", fields.without_strings(query)))


def test_kibana_queries_and_aggregations_name_only_fields_of_their_index():
    patterns = {
        o["id"]: o["attributes"]["title"] for o in _kibana() if o["type"] == "index-pattern"
    }
    assert set(patterns.values()) == {"logs-docusign.monitor-*", "logs-docusign.collector-*"}
    ecs = fields.ecs_fields() | {"@timestamp"}
    diagnostics = fields.DIAGNOSTIC_FIELDS | {"@timestamp"}
    for obj in _kibana():
        if obj["type"] not in ("visualization", "search", "map"):
            continue
        refs = {r["id"] for r in obj["references"] if r["type"] == "index-pattern"}
        if not refs:
            continue  # a section heading
        [pattern] = refs
        have = ecs if patterns[pattern] == "logs-docusign.monitor-*" else diagnostics
        attrs = obj["attributes"]
        used = set()
        if obj["type"] == "map":
            for layer in json.loads(attrs["layerListJSON"]):
                used |= _kql_fields(layer.get("query", {}).get("query", ""))
                if "geoField" in layer["sourceDescriptor"]:
                    used.add(layer["sourceDescriptor"]["geoField"])
        else:
            source = json.loads(attrs["kibanaSavedObjectMeta"]["searchSourceJSON"])
            used |= _kql_fields(source["query"]["query"])
            used |= set(attrs.get("columns", []))
            if obj["type"] == "visualization":
                for agg in json.loads(attrs["visState"])["aggs"]:
                    if "field" in agg["params"]:
                        used.add(agg["params"]["field"])
        assert used - have == set(), attrs["title"]
