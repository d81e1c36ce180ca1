"""Every Elasticsearch pipeline we ship fills the place the shipped detections and dashboard read.

The four ways (Vector exec and forward, Fluent Bit exec and forward, and Fluent Bit's follow
variant) must all write ECS documents (the connector with `--format ecs`) into the data stream
`logs-docusign.monitor-default`: the index template's pattern, the detections' index and the
Kibana data view all name `logs-docusign.monitor-*`. (vector/forward-elasticsearch.yaml wrote raw
events into a plain index `docusign-monitor` that none of them read.)
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import List, Tuple

import pytest
import yaml
from pipeline_support import FLUENT_BIT_DIR, REPO_ROOT, VECTOR_DIR, load_fluent_bit

DATA_STREAM = "logs-docusign.monitor-default"
PIPELINES = sorted(VECTOR_DIR.glob("*elasticsearch*.yaml")) + sorted(
    FLUENT_BIT_DIR.glob("*elasticsearch*.*")
)


def _destinations(path: Path) -> List[Tuple[str, str, str | None]]:
    """(index or data stream, bulk operation, _id) of each output that takes DocuSign events."""
    if path.parent == VECTOR_DIR:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        out = []
        for cid, sink in config["sinks"].items():
            if sink["type"] != "elasticsearch" or "diagnostics" in cid:
                continue
            assert sink["mode"] == "data_stream", cid
            stream = sink["data_stream"]
            name = f"{stream['type']}-{stream['dataset']}-{stream['namespace']}"
            out.append((name, sink["bulk"]["action"], sink.get("id_key")))
        return out
    config = load_fluent_bit(path)
    return [
        (o["index"], o.get("write_operation", "create"), o.get("id_key"))
        for o in config.outputs
        if o["name"] == "es" and "docusign.monitor" in str(o.get("match", ""))
    ]


def _writes_ecs(path: Path) -> bool:
    """The connector this pipeline runs (exec) or expects (forward: its header) writes ECS."""
    text = path.read_text(encoding="utf-8")
    if "forward" in path.name:
        header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
        return bool(re.search(r"DOCUSIGN_FORMAT=ecs|--format ecs", header))
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return bool(re.search(r"DOCUSIGN_FORMAT[=:] ?ecs", code))


def test_every_elasticsearch_pipeline_is_checked():
    names = {p.name for p in PIPELINES}
    assert {"elasticsearch.yaml", "forward-elasticsearch.yaml"} <= names  # Vector
    assert {
        "elasticsearch.conf",
        "forward-elasticsearch.conf",
        "elasticsearch-follow.yaml",
    } <= names


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_pipeline_writes_ecs_into_the_data_stream_the_detections_read(path):
    [(index, operation, _)] = _destinations(path)
    assert index == DATA_STREAM
    assert operation == "create"  # a data stream takes nothing else
    assert _writes_ecs(path)


def test_the_template_the_detections_and_the_data_view_name_that_data_stream():
    template = json.loads((REPO_ROOT / "elasticsearch/index-template.json").read_text())
    assert any(fnmatch.fnmatch(DATA_STREAM, p) for p in template["index_patterns"])
    assert "data_stream" in template
    rules = (REPO_ROOT / "detections/elasticsearch/detection-rules.ndjson").read_text()
    for line in rules.splitlines():
        rule = json.loads(line)
        patterns = rule.get("index") or [re.match(r"from (\S+)", rule["query"])[1]]
        assert any(fnmatch.fnmatch(DATA_STREAM, p) for p in patterns), rule["name"]
    views = [
        json.loads(line)["attributes"]["title"]
        for line in (REPO_ROOT / "dashboards/kibana/docusign-monitor.ndjson")
        .read_text()
        .splitlines()
        if json.loads(line)["type"] == "index-pattern"
    ]
    assert any(fnmatch.fnmatch(DATA_STREAM, v) for v in views)


def test_the_example_page_names_the_data_view_and_no_other_index():
    page = (REPO_ROOT / "examples/elasticsearch/README.md").read_text(encoding="utf-8")
    assert "logs-docusign.monitor-*" in page
    assert "`docusign-monitor`" not in page and "object:Alert" not in page
