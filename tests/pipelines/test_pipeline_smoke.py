"""What our configs make of a line, and what they would send, accepted by real-protocol receivers.

No connector needed: the lines are built here (a DocuSign sample event, one without fraction
digits, one of ~30 KB), read as the shipper reads them, and posted as the sink would post them.
"""

from __future__ import annotations

import json

import pytest
import requests
import yaml
from pipeline_support import (
    FLUENT_BIT_DIR,
    VECTOR_DIR,
    VectorRemap,
    expand_env,
    fgets_records,
    fluent_bit_es_bulk,
    fluent_bit_json_parser,
    fluent_bit_loki_push,
    fluent_bit_parse_time,
    fluent_bit_size,
    fluent_bit_splunk_body,
    iso_to_ns,
    load_fluent_bit,
    vector_es_bulk,
    vector_loki_push,
    vector_newline_frames,
    vector_splunk_body,
    vrl_timestamp_ns,
)
from receivers import ElasticsearchReceiver, LokiReceiver, SplunkHecReceiver

from docusign_input.formats import ecs

SAMPLE = {"timestamp": "2023-03-03T09:10:06.0512813Z",
          "eventId": "a8010d32-b9f5-4948-9195-50c867d7c3a5", "site": "DEMO",
          "userId": "9cfb472b-ef1f-4116-8df2-17c53841fd6c", "ipAddress": "162.248.186.11",
          "ipAddressLocation": {"latitude": 47.6, "longitude": -122.33, "city": "akota"},
          "object": "Account", "action": "UserAdded", "result": "", "source": "API",
          "data": {"AffectedUserId": "2020ac66-26b5-4367-aff3-f33bd9a007b7", "note": "café"}}
NO_FRACTION = dict(SAMPLE, timestamp="2023-03-03T09:10:07Z", eventId="no-fraction")
BIG = dict(SAMPLE, eventId="big-one", object="Alert", action="TooManyLoginFailures",
           data={"EventIds": [f"{i:08d}-0000-0000-0000-000000000000" for i in range(900)],
                 "Count": "900", "Severity": "High"})
EVENTS = [SAMPLE, NO_FRACTION, BIG]


def _line(event):
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


STDOUT = b"".join(_line(e) for e in EVENTS)
# What the Elasticsearch configs read: the connector runs there with DOCUSIGN_FORMAT=ecs.
ECS_DOCS = [ecs.document(e) for e in EVENTS]
ECS_STDOUT = b"".join(_line(d) for d in ECS_DOCS)
ENV = {"SPLUNK_HEC_HOST": "127.0.0.1", "SPLUNK_HEC_TOKEN": "hec-token", "SPLUNK_INDEX": "docusign"}


def test_big_sample_is_big():
    assert len(_line(BIG)) > 30_000


# --- Fluent Bit ------------------------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("2023-03-03T09:10:06.0512813Z", "2023-03-03T09:10:06.0512813Z"),
    ("2023-03-03T09:10:06Z", "2023-03-03T09:10:06Z"),
    ("2023-03-03T09:10:06.5+01:00", "2023-03-03T08:10:06.5Z"),
])
def test_fluent_bit_time_format_reads_docusign_timestamps(text, expected):
    parser = load_fluent_bit(FLUENT_BIT_DIR / "splunk.conf").parser("docusign_monitor")
    assert fluent_bit_parse_time(text, parser["time_format"], strict=False) == iso_to_ns(expected)


def test_fluent_bit_strict_time_would_have_refused_a_timestamp_without_fraction():
    """Why time_strict is off: the same format, strict, cannot read `...06Z`."""
    assert fluent_bit_parse_time("2023-03-03T09:10:06Z", "%Y-%m-%dT%H:%M:%S.%L%z", True) is None


def test_fluent_bit_buf_size_boundary_is_buf_size_minus_two():
    cfg = load_fluent_bit(FLUENT_BIT_DIR / "splunk.conf")
    [inp] = cfg.inputs
    size = fluent_bit_size(inp["buf_size"])
    parser = cfg.parser(inp["parser"])
    pad = size - 2 - len(_line(dict(SAMPLE, pad=""))) + 1
    fits = _line(dict(SAMPLE, pad="x" * pad))
    assert len(fits) - 1 == size - 2
    records = fgets_records(fits + fits[:-1] + b"y\n", size)  # second line one byte too long
    assert fluent_bit_json_parser(records[0], parser) is not None
    assert len(records) == 3 and all(fluent_bit_json_parser(r, parser) is None
                                     for r in records[1:])


def _fb_records(conf_name):
    cfg = load_fluent_bit(FLUENT_BIT_DIR / conf_name)
    inp = cfg.events_input
    parser = cfg.parser(inp["parser"])
    records = [fluent_bit_json_parser(r, parser)
               for r in fgets_records(STDOUT, fluent_bit_size(inp["buf_size"]))]
    assert [rec for _, rec in records] == EVENTS
    assert [t for t, _ in records] == [iso_to_ns(e["timestamp"]) for e in EVENTS]
    return cfg, records


@pytest.mark.parametrize("fmt", ["yaml", "conf"])
def test_fluent_bit_splunk_output_is_accepted_by_hec(fmt):
    cfg, records = _fb_records(f"splunk.{fmt}")
    [out] = cfg.outputs
    with SplunkHecReceiver(token="hec-token") as hec:
        r = requests.post(hec.url + "/services/collector/event",
                          data=fluent_bit_splunk_body(records, out, ENV), timeout=10,
                          headers={"Authorization":
                                   "Splunk " + expand_env(out["splunk_token"], ENV)})
        assert r.json() == {"text": "Success", "code": 0}
    assert [e["event"] for e in hec.events] == EVENTS
    assert {e["sourcetype"] for e in hec.events} == {"docusign:monitor"}
    assert {e["index"] for e in hec.events} == {"docusign"}
    assert [round(e["time"], 3) for e in hec.events] == [
        round(iso_to_ns(e["timestamp"]) / 1e9, 3) for e in EVENTS]


@pytest.mark.parametrize("fmt", ["yaml", "conf"])
def test_fluent_bit_es_output_is_idempotent_in_elasticsearch(fmt):
    """ECS documents (the command sets DOCUSIGN_FORMAT=ecs) into the data stream, DocuSign's
    eventId as `_id`: a replay is refused with 409, never indexed twice."""
    cfg = load_fluent_bit(FLUENT_BIT_DIR / f"elasticsearch.{fmt}")
    [inp], [out] = cfg.inputs, cfg.outputs
    assert "DOCUSIGN_FORMAT=ecs" in inp["command"]
    parser = cfg.parser(inp["parser"])
    records = [fluent_bit_json_parser(r, parser)
               for r in fgets_records(ECS_STDOUT, fluent_bit_size(inp["buf_size"]))]
    assert [rec for _, rec in records] == ECS_DOCS
    assert out["write_operation"] == "create"  # the only one a data stream takes
    with ElasticsearchReceiver() as es:
        answers = [
            requests.post(es.url + "/_bulk", data=fluent_bit_es_bulk(records, out),
                          headers={"Content-Type": "application/x-ndjson"}, timeout=10).json()
            for _ in range(2)  # a replay after a crash
        ]
    assert answers[0]["errors"] is False
    assert {item["create"]["status"] for item in answers[1]["items"]} == {409}
    assert len(es.documents) == len(EVENTS)
    for e, doc in zip(EVENTS, ECS_DOCS):
        assert es.documents[("logs-docusign.monitor-default", e["eventId"])] == doc


@pytest.mark.parametrize("fmt", ["yaml", "conf"])
def test_fluent_bit_loki_output_is_accepted_by_loki(fmt):
    cfg, records = _fb_records(f"loki.{fmt}")
    out = cfg.events_output
    with LokiReceiver() as loki:
        r = requests.post(loki.url + "/loki/api/v1/push", data=fluent_bit_loki_push(records, out),
                          headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 204
    assert [json.loads(line) for _, _, line in loki.entries] == EVENTS
    assert [ts for _, ts, _ in loki.entries] == [iso_to_ns(e["timestamp"]) for e in EVENTS]
    # the static labels only: service_name and event_hour come from the record (label_keys,
    # set by filters this emulation does not run; tests/loki checks them in a real Loki)
    assert {tuple(sorted(labels)) for labels, _, _ in loki.entries} == {("source",)}


# --- Vector ----------------------------------------------------------------------------------


def _vector(name):
    stdout = ECS_STDOUT if name == "elasticsearch.yaml" else STDOUT
    config = yaml.safe_load((VECTOR_DIR / name).read_text(encoding="utf-8"))
    [source] = config["sources"].values()
    [remap] = [t for c, t in config["transforms"].items()
               if t["type"] == "remap" and "diagnostics" not in c]
    [sink] = [s for c, s in config["sinks"].items()
              if s["type"] in ("splunk_hec_logs", "elasticsearch", "loki")
              and "diagnostics" not in c]
    frames, discarded = vector_newline_frames(
        stdout, source["framing"]["newline_delimited"]["max_length"])
    assert discarded == 0
    vrl = VectorRemap(remap)
    results = [vrl.run(f) for f in frames]
    assert not any(r.dropped for r in results)
    return vrl, [r.event for r in results], sink


@pytest.mark.parametrize("name", ["splunk.yaml", "elasticsearch.yaml", "loki.yaml"])
def test_vector_remap_routes_non_objects_aside_with_the_line_intact(name):
    vrl, _, _ = _vector(name)
    for line in (b"not json", b"[1,2]", b'"a string"', b"{\"truncated\":"):
        result = vrl.run(line)
        assert result.dropped and result.event["message"] == line.decode()


def test_vector_remap_keeps_events_whose_time_cannot_be_read():
    vrl, _, _ = _vector("splunk.yaml")
    result = vrl.run(_line(dict(SAMPLE, timestamp="yesterday"))[:-1])
    assert not result.dropped and result.event["timestamp"] == "yesterday"
    assert vrl_timestamp_ns(result.event["@timestamp"]) is not None  # ingest time


def test_vector_max_length_boundary():
    config = yaml.safe_load((VECTOR_DIR / "splunk.yaml").read_text(encoding="utf-8"))
    [source] = config["sources"].values()
    limit = source["framing"]["newline_delimited"]["max_length"]
    frames, discarded = vector_newline_frames(b"x" * limit + b"\n" + b"y" * (limit + 1) + b"\n",
                                              limit)
    assert [len(f) for f in frames] == [limit] and discarded == 1


def test_vector_splunk_sink_output_is_accepted_by_hec():
    _, events, sink = _vector("splunk.yaml")
    with SplunkHecReceiver(token="hec-token") as hec:
        r = requests.post(hec.url + "/services/collector/event",
                          data=vector_splunk_body(events, sink),
                          headers={"Authorization": "Splunk hec-token"}, timeout=10)
        assert r.json()["code"] == 0
    assert [e["event"] for e in hec.events] == EVENTS  # `@timestamp` went into HEC `time`
    assert [e["time"] for e in hec.events] == [
        round(iso_to_ns(e["timestamp"]) / 1e9, 3) for e in EVENTS]
    assert {e["sourcetype"] for e in hec.events} == {"docusign:monitor"}


def test_vector_elasticsearch_sink_output_is_idempotent():
    """ECS documents into the data stream, `event.id` as `_id`: a replay is refused with 409
    (already there), never indexed twice."""
    _, events, sink = _vector("elasticsearch.yaml")
    assert events == ECS_DOCS  # the document as the connector wrote it, @timestamp included
    index = "logs-docusign.monitor-default"
    with ElasticsearchReceiver() as es:
        info = requests.get(es.url + "/", timeout=10).json()  # api_version: auto
        assert info["version"]["number"].startswith("8.")
        answers = [
            requests.post(es.url + "/_bulk", data=vector_es_bulk(events, sink),
                          headers={"Content-Type": "application/x-ndjson"}, timeout=10).json()
            for _ in range(2)
        ]
    assert answers[0]["errors"] is False
    assert {item["create"]["status"] for item in answers[1]["items"]} == {409}
    assert len(es.documents) == len(EVENTS)
    for e, doc in zip(EVENTS, ECS_DOCS):
        stored = es.documents[(index, e["eventId"])]
        assert stored["@timestamp"] == e["timestamp"]  # all seven digits, for date_nanos
        assert {k: v for k, v in stored.items() if k != "data_stream"} == doc
        assert stored["data_stream"] == {"type": "logs", "dataset": "docusign.monitor",
                                         "namespace": "default"}


def test_vector_loki_sink_output_is_accepted_and_the_line_is_the_connector_line():
    _, events, sink = _vector("loki.yaml")
    with LokiReceiver() as loki:
        r = requests.post(loki.url + "/loki/api/v1/push", data=vector_loki_push(events, sink),
                          headers={"Content-Type": "application/json",
                                   "Content-Encoding": "gzip"}, timeout=10)
        assert r.status_code == 204
    assert [line.encode() + b"\n" for _, _, line in loki.entries] == [_line(e) for e in EVENTS]
    assert [ts for _, ts, _ in loki.entries] == [iso_to_ns(e["timestamp"]) for e in EVENTS]
    assert {labels["source"] for labels, _, _ in loki.entries} == {"docusign"}
