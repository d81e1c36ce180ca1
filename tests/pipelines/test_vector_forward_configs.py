"""The Vector forward configs (vector/forward-*.yaml): options Vector 0.57 accepts, a `fluent`
source on loopback, end-to-end acknowledgements on every sink and no disk buffer that would
acknowledge early, the same sink settings as the exec twin, and a VRL program (run by
vrl-python) that gives each event its own time and leaves the record as DocuSign sent it."""

from __future__ import annotations

import json

import pytest
import yaml
from pipeline_support import (
    VECTOR_CONFIGS,
    VECTOR_DIR,
    VECTOR_FORWARD_CONFIGS,
    iso_to_ns,
    load_shared,
    vector_component_ids,
    vector_outputs,
    vector_problems,
    vrl_available,
    vrl_timestamp_ns,
)

DESTINATIONS = ("splunk", "elasticsearch", "loki")
SAMPLE = {"timestamp": "2023-03-03T09:10:06.0512813Z",
          "eventId": "a8010d32-b9f5-4948-9195-50c867d7c3a5", "object": "Account",
          "action": "UserAdded", "data": {"AffectedUserId": "2020ac66", "note": "café",
                                          "Huge": "123456789012345678901234567890"}}


def _load(path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_each_destination_has_a_forward_config():
    assert [p.name for p in VECTOR_FORWARD_CONFIGS] == sorted(
        f"forward-{d}.yaml" for d in DESTINATIONS)


@pytest.mark.parametrize("path", VECTOR_FORWARD_CONFIGS, ids=lambda p: p.name)
class TestVectorForwardConfig:
    def test_every_option_exists_in_vector_057_with_the_right_type(self, path):
        assert vector_problems(_load(path), load_shared("vector-options.json")) == []

    def test_graph_is_connected(self, path):
        config = _load(path)
        known = vector_outputs(config)
        consumed = {i for kind in ("transforms", "sinks") for c in config[kind].values()
                    for i in c["inputs"]}
        assert consumed <= known
        sinks = {c for c, k in vector_component_ids(config).items() if k == "sinks"}
        assert known - sinks <= consumed

    def test_fluent_source_listens_on_loopback_24224_over_tcp(self, path):
        [source] = _load(path)["sources"].values()
        assert source == {"type": "fluent", "mode": "tcp", "address": "127.0.0.1:24224"}

    def test_every_sink_acknowledges_end_to_end_and_none_buffers_on_disk(self, path):
        """A disk buffer acknowledges once the event is on Vector's disk, and an explicit
        acknowledgements setting on the source or globally would override the sink's."""
        config = _load(path)
        assert "acknowledgements" not in config
        for source in config["sources"].values():
            assert "acknowledgements" not in source
        for cid, sink in config["sinks"].items():
            assert sink["acknowledgements"] == {"enabled": True}, cid
            assert sink.get("buffer", {}).get("type", "memory") == "memory", cid

    def test_sink_says_what_the_exec_twin_says(self, path):
        """Same index, sourcetype, _id, labels and credentials as vector/<dest>.yaml: choosing
        forward over exec changes the delivery guarantee, not what the SIEM receives."""
        dest = path.stem.removeprefix("forward-")
        [(_, mine)] = _load(path)["sinks"].items()
        [twin] = [s for c, s in _load(VECTOR_DIR / f"{dest}.yaml")["sinks"].items()
                  if s["type"] == mine["type"] and "diagnostics" not in c]
        def comparable(sink, backend):
            text = json.dumps({k: v for k, v in sink.items()
                               if k not in ("inputs", "buffer", "acknowledgements")})
            return json.loads(text.replace(f"SECRET[{backend}.", "SECRET[x."))
        [backend] = _load(path)["secret"]
        [twin_backend] = _load(VECTOR_DIR / f"{dest}.yaml")["secret"]
        if dest == "elasticsearch":
            # One documented difference: Elasticsearch chooses the _id. The data stream takes only
            # `create`, which refuses an indexed _id with 409, and Vector rejects a whole batch
            # with any item error, which under end-to-end acknowledgements the connector would
            # resend forever; a resend is indexed again instead (at least once, event.id kept).
            assert "id_key" not in mine and twin["id_key"] == "event.id"
            twin = {k: v for k, v in twin.items() if k != "id_key"}
        assert comparable(mine, backend) == comparable(twin, twin_backend)

    def test_no_env_interpolation_and_secrets_from_a_directory(self, path):
        text = path.read_text(encoding="utf-8")
        code = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
        assert "${" not in code
        for backend in _load(path)["secret"].values():
            assert backend["type"] == "directory" and backend["path"] == "/etc/vector/secrets"


def test_component_ids_are_unique_across_every_vector_config():
    seen = {}
    for path in VECTOR_CONFIGS + VECTOR_FORWARD_CONFIGS:
        for cid in vector_component_ids(_load(path)):
            assert cid not in seen, f"{cid} in {path.name} and {seen.get(cid)}"
            seen[cid] = path.name


# --- the VRL program, run by vrl-python on what the fluent source makes of a record ------------

needs_vrl = pytest.mark.skipif(not vrl_available(), reason="vrl-python is not installed")


def _run(path, event, prelude=""):
    from vrl_python import VRLRuntime

    [transform] = _load(path)["transforms"].values()
    program = prelude + transform["source"]
    runtime = VRLRuntime()
    runtime.compile(program)
    return dict(runtime.execute(program, event).processed_event)


def _from_fluent(record):
    """The legacy-namespace event of Vector's fluent source: its fields, then every record key
    at top level (a record's `timestamp` string replaces the protocol time)."""
    return {"source_type": "fluent", "tag": "docusign.monitor", "host": "127.0.0.1", **record}


RAW_FORWARD_CONFIGS = [p for p in VECTOR_FORWARD_CONFIGS if p.stem != "forward-elasticsearch"]
ECS = {"@timestamp": "2023-03-03T09:10:06.0512813Z", "event": {"id": SAMPLE["eventId"]},
       "docusign": {"object": "Account", "data": {"note": "café"}}}


@needs_vrl
@pytest.mark.parametrize("path", RAW_FORWARD_CONFIGS, ids=lambda p: p.name)
def test_the_event_keeps_its_record_and_gets_its_own_time_to_the_nanosecond(path):
    out = _run(path, _from_fluent(SAMPLE))
    if path.stem == "forward-loki":
        assert set(out) == {"message", "timestamp"}
        assert json.loads(out["message"]) == SAMPLE
        assert vrl_timestamp_ns(out["timestamp"]) == iso_to_ns(SAMPLE["timestamp"])
    else:
        assert {k: v for k, v in out.items() if k != "@timestamp"} == SAMPLE
        assert vrl_timestamp_ns(out["@timestamp"]) == iso_to_ns(SAMPLE["timestamp"])


@needs_vrl
@pytest.mark.parametrize("path", RAW_FORWARD_CONFIGS, ids=lambda p: p.name)
def test_a_record_without_its_own_timestamp_keeps_the_protocol_time_and_no_extra_field(path):
    """An ECS or OCSF document has no `timestamp` key: the source's EventTime is the time."""
    record = {"@timestamp": "2023-03-03T09:10:06.0512813Z", "event": {"id": "x"}}
    out = _run(path, _from_fluent(record),
               prelude='.timestamp = t\'2023-03-03T09:10:06.0512813Z\'\n')
    body = json.loads(out["message"]) if path.stem == "forward-loki" else {
        k: v for k, v in out.items() if k != "@timestamp"}
    time_field = out["timestamp"] if path.stem == "forward-loki" else out["@timestamp"]
    if path.stem != "forward-loki":
        body["@timestamp"] = record["@timestamp"]  # ECS's own field is overwritten by the time
    assert body == record
    assert vrl_timestamp_ns(time_field) == iso_to_ns("2023-03-03T09:10:06.0512813Z")


@needs_vrl
def test_the_elasticsearch_forward_config_sends_the_ecs_document_as_the_connector_wrote_it():
    """What lands in logs-docusign.monitor-default is the document the exec config sends: its
    own `@timestamp` string (seven digits, date_nanos), nothing the fluent source added."""
    path = VECTOR_DIR / "forward-elasticsearch.yaml"
    out = _run(path, _from_fluent(ECS), prelude=".timestamp = t'2023-03-03T09:10:06.0512813Z'\n")
    assert out == ECS


@needs_vrl
def test_the_elasticsearch_forward_config_still_sends_a_raw_event_with_its_time():
    """A connector left on the raw format: the event is not lost, its time is `@timestamp`."""
    out = _run(VECTOR_DIR / "forward-elasticsearch.yaml", _from_fluent(SAMPLE))
    assert out == {**{k: v for k, v in SAMPLE.items() if k != "timestamp"},
                   "@timestamp": SAMPLE["timestamp"]}


def test_the_elasticsearch_forward_config_fills_the_data_stream_the_detections_read():
    [sink] = _load(VECTOR_DIR / "forward-elasticsearch.yaml")["sinks"].values()
    stream = sink["data_stream"]
    index = f"{stream['type']}-{stream['dataset']}-{stream['namespace']}"
    rules = (VECTOR_DIR.parent / "detections/elasticsearch/detection-rules.ndjson").read_text()
    assert sink["mode"] == "data_stream" and index == "logs-docusign.monitor-default"
    assert all("logs-docusign.monitor-*" in line for line in rules.splitlines())


@needs_vrl
def test_an_unreadable_timestamp_is_delivered_with_the_arrival_time():
    out = _run(VECTOR_DIR / "forward-splunk.yaml", _from_fluent(dict(SAMPLE, timestamp="soon")))
    assert out["timestamp"] == "soon" and vrl_timestamp_ns(out["@timestamp"]) is not None
