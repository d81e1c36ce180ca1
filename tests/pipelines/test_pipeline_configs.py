"""Every shipped pipeline config parses, uses only options Vector 0.57 / Fluent Bit 5.1.1 accept,
with values of the right type, and says what the pipeline facts require."""

from __future__ import annotations

import pytest
import yaml
from pipeline_support import (
    FLUENT_BIT_CONFIGS,
    FLUENT_BIT_DIR,
    VECTOR_CONFIGS,
    connector_command,
    fb_normalized,
    fb_on,
    fluent_bit_problems,
    fluent_bit_size,
    load_fluent_bit,
    load_shared,
    parse_classic,
    vector_component_ids,
    vector_outputs,
    vector_problems,
)

DESTINATIONS = ("splunk", "elasticsearch", "loki")
LARGEST_TEST_EVENT = 40_000  # the simulator's biggest events are 20-40 KB


def test_every_destination_has_each_config():
    names = {p.name for p in VECTOR_CONFIGS} | {p.name for p in FLUENT_BIT_CONFIGS}
    for dest in DESTINATIONS:
        assert f"{dest}.yaml" in {p.name for p in VECTOR_CONFIGS}
        for suffix in (".yaml", ".conf", "-follow.yaml", "-follow.conf"):
            assert f"{dest}{suffix}" in names
    assert {"forward-splunk.yaml", "forward-splunk.conf"} <= names
    assert (FLUENT_BIT_DIR / "parsers.conf").is_file()


# --- Vector ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vector_options():
    return load_shared("vector-options.json")


@pytest.mark.parametrize("path", VECTOR_CONFIGS, ids=lambda p: p.name)
class TestVectorConfig:
    def test_every_option_exists_in_vector_057_with_the_right_type(self, path, vector_options):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert vector_problems(config, vector_options) == []

    def test_graph_is_connected_and_every_output_is_consumed(self, path):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        known = vector_outputs(config)
        consumed = set()
        for kind in ("transforms", "sinks"):
            for cid, comp in config[kind].items():
                for inp in comp["inputs"]:
                    assert inp in known, f"{cid} reads unknown input {inp}"
                    consumed.add(inp)
        # nothing produced is left unread (an unread `dropped` or route output loses events)
        produced = known - {c for c, k in vector_component_ids(config).items() if k == "sinks"}
        assert produced <= consumed, f"unconsumed outputs: {sorted(produced - consumed)}"

    def test_exec_source_streams_the_connector_with_absolute_paths(self, path):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        [source] = config["sources"].values()
        dest = path.stem
        assert source["type"] == "exec" and source["mode"] == "streaming"
        assert source["command"] == ["/usr/local/bin/docusign-input", "run", "--follow"]
        # the checkpoint as a setting, so check/status/checkpoint show find it the same way
        assert source["environment"]["DOCUSIGN_CHECKPOINT"] == (
            f"/var/lib/vector/docusign-input/{dest}.json")
        # the event format per destination: ECS into Elasticsearch's data stream, else raw
        assert source["environment"].get("DOCUSIGN_FORMAT", "raw") == (
            "ecs" if dest == "elasticsearch" else "raw")
        # and JSON diagnostics, which the config routes to the SIEM for the collector-health panels
        assert source["environment"]["DOCUSIGN_LOG_FORMAT"] == "json"
        assert source["streaming"]["respawn_on_exit"] is True
        assert source["streaming"]["respawn_interval_secs"] >= 5
        assert source["clear_environment"] is False
        assert source["decoding"]["codec"] == "bytes"
        assert source["framing"]["method"] == "newline_delimited"
        assert source["framing"]["newline_delimited"]["max_length"] >= 1 << 20

    def test_stderr_never_reaches_the_data_sink(self, path):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        [(sid, source)] = config["sources"].items()
        routes = [(cid, t) for cid, t in config["transforms"].items() if t["type"] == "route"]
        assert source["include_stderr"] is True
        [(rid, route)] = routes
        assert route["inputs"] == [sid]
        data_route = [k for k, cond in route["route"].items() if cond == '.stream != "stderr"']
        diag_route = [k for k, cond in route["route"].items() if cond == '.stream == "stderr"']
        assert data_route and diag_route
        [parse] = [t for c, t in config["transforms"].items()
                   if t["type"] == "remap" and "diagnostics" not in c]
        assert parse["inputs"] == [f"{rid}.{data_route[0]}"]
        [diag_sink] = [s for s in config["sinks"].values()
                       if s["inputs"] == [f"{rid}.{diag_route[0]}"]]
        assert diag_sink["type"] == "console" and diag_sink["target"] == "stderr"
        # ...and, parsed, to the SIEM under their own sourcetype, data stream or label
        [(did, diag_parse)] = [(c, t) for c, t in config["transforms"].items()
                               if t["inputs"] == [f"{rid}.{diag_route[0]}"]]
        assert diag_parse["type"] == "remap"
        [siem] = [s for s in config["sinks"].values() if s["inputs"] == [did]]
        assert siem["type"] in ("splunk_hec_logs", "elasticsearch", "loki")

    def test_bad_lines_are_routed_aside_not_dropped(self, path):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        [(pid, parse)] = [(c, t) for c, t in config["transforms"].items()
                          if t["type"] == "remap" and "diagnostics" not in c]
        assert parse["drop_on_abort"] is True and parse["drop_on_error"] is True
        assert parse["reroute_dropped"] is True
        [rejects] = [s for s in config["sinks"].values() if s["inputs"] == [f"{pid}.dropped"]]
        assert rejects["type"] == "file" and "rejected" in rejects["path"]
        assert rejects["path"].startswith("/var/lib/vector/docusign-input/")
        stamp = '"@timestamp"' if path.stem == "elasticsearch" else "timestamp"  # ECS there
        assert f'parse_timestamp(event.{stamp}, "%+")' in parse["source"]

    def test_every_sink_has_a_blocking_disk_buffer(self, path):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        for cid, sink in config["sinks"].items():
            assert sink["buffer"] == {"type": "disk", "max_size": sink["buffer"]["max_size"],
                                      "when_full": "block"}, cid
            assert sink["buffer"]["max_size"] >= 268435488, cid

    def test_no_env_interpolation_and_no_inline_secret(self, path):
        text = path.read_text(encoding="utf-8")
        config = yaml.safe_load(text)
        # 0.57 does not interpolate ${VAR} by default: a ${...} would be sent literally
        assert "${" not in "\n".join(ln for ln in text.splitlines()
                                     if not ln.lstrip().startswith("#"))
        backends = config["secret"]
        for _name, backend in backends.items():
            assert backend["type"] == "directory" and backend["path"].startswith("/")
        sinks = [s for s in config["sinks"].values()
                 if s["type"] in ("splunk_hec_logs", "elasticsearch", "loki")]
        assert len(sinks) == 2  # the events and the connector's diagnostics
        for sink in sinks:
            self._secrets_only(sink, backends)

    @staticmethod
    def _secrets_only(sink, backends):
        secret_fields = {"splunk_hec_logs": [sink.get("default_token", ""), sink.get("endpoint")],
                         "elasticsearch": [sink.get("auth", {}).get("user", ""),
                                           sink.get("auth", {}).get("password", ""),
                                           *sink.get("endpoints", [])],
                         "loki": [sink.get("endpoint", "")]}[sink["type"]]
        for value in secret_fields:
            assert value.startswith("SECRET[") and value.split("[")[1].split(".")[0] in backends

    def test_component_ids_are_unique_across_the_three_files(self, path):
        ids = {}
        for other in VECTOR_CONFIGS:
            for cid in vector_component_ids(yaml.safe_load(other.read_text(encoding="utf-8"))):
                assert cid not in ids, f"{cid} in {other.name} and {ids.get(cid)}"
                ids[cid] = other.name


def _vector(name):
    return yaml.safe_load((VECTOR_CONFIGS[0].parent / name).read_text(encoding="utf-8"))


def test_vector_splunk_sink_sends_event_time_and_sourcetype():
    [sink] = [s for c, s in _vector("splunk.yaml")["sinks"].items()
              if s["type"] == "splunk_hec_logs" and "diagnostics" not in c]
    assert sink["sourcetype"] == "docusign:monitor"
    assert sink["timestamp_key"] == "@timestamp" and sink["index"]
    assert sink["encoding"]["codec"] == "json"


def test_vector_elasticsearch_sends_ecs_into_the_data_stream_with_the_event_id():
    config = _vector("elasticsearch.yaml")
    [sink] = [s for c, s in config["sinks"].items()
              if s["type"] == "elasticsearch" and "diagnostics" not in c]
    assert sink["id_key"] == "event.id"  # DocuSign's eventId in an ECS document
    assert sink["mode"] == "data_stream" and sink["bulk"]["action"] == "create"
    assert (sink["data_stream"]["type"], sink["data_stream"]["dataset"]) == (
        "logs", "docusign.monitor")  # logs-docusign.monitor-*: the index template's pattern
    [source] = config["sources"].values()
    assert source["environment"]["DOCUSIGN_FORMAT"] == "ecs"


def test_vector_loki_sink_has_only_static_low_cardinality_labels_and_sends_json():
    [sink] = [s for c, s in _vector("loki.yaml")["sinks"].items()
              if s["type"] == "loki" and "diagnostics" not in c]
    assert all("{{" not in v for v in sink["labels"].values())
    assert not {"eventId", "userId", "ipAddress"} & set(sink["labels"])
    assert sink.get("compression", "snappy") != "snappy"  # snappy would send protobuf


# --- Fluent Bit --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fluent_bit_options():
    return load_shared("fluent-bit-options.json")


def test_classic_parser_rejects_what_fluent_bit_rejects():
    with pytest.raises(ValueError):
        parse_classic("[INPUT]\nname exec\n")  # entries must be indented
    with pytest.raises(ValueError):
        parse_classic("[INPUT]\n    name exec\n  tag x\n")  # one indentation per section
    with pytest.raises(ValueError):
        parse_classic("    name exec\n")
    assert parse_classic("# c\n[OUTPUT]\n    Name  es\n    Match *\n") == [
        ("OUTPUT", [("Name", "es"), ("Match", "*")])]


def test_option_check_catches_an_unknown_key_and_a_bad_type(fluent_bit_options, tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("[INPUT]\n    name exec\n    buf_size lots\n    colour red\n")
    problems = fluent_bit_problems(load_fluent_bit(bad), fluent_bit_options)
    assert any("colour" in p for p in problems) and any("buf_size" in p for p in problems)


@pytest.mark.parametrize("path", FLUENT_BIT_CONFIGS, ids=lambda p: p.name)
class TestFluentBitConfig:
    def test_every_key_exists_in_fluent_bit_511_with_the_right_type(self, path,
                                                                    fluent_bit_options):
        assert fluent_bit_problems(load_fluent_bit(path), fluent_bit_options) == []

    def test_outputs_retry_forever_on_filesystem_storage(self, path):
        cfg = load_fluent_bit(path)
        assert cfg.service["storage.path"].startswith("/")
        for inp in cfg.inputs:
            assert inp["storage.type"] == "filesystem"
        for out in cfg.outputs:
            assert out["retry_limit"] == "no_limits"
            assert out is cfg.events_output

    def test_destination_settings_come_from_the_environment(self, path):
        cfg = load_fluent_bit(path)
        for out in cfg.outputs:
            for key in ("host", "port", "tls"):
                assert out[key].startswith("${") and out[key].endswith("}"), key
            for key in ("splunk_token", "http_passwd", "http_user"):
                if key in out:
                    assert out[key].startswith("${"), key


EXEC_CONFIGS = [p for p in FLUENT_BIT_CONFIGS if not p.name.startswith("forward")]


@pytest.mark.parametrize("path", EXEC_CONFIGS, ids=lambda p: p.name)
class TestFluentBitExec:
    def test_exec_input_runs_the_connector_as_the_facts_require(self, path):
        cfg = load_fluent_bit(path)
        inp = cfg.events_input
        dest = path.stem.replace("-follow", "")
        argv, stderr = connector_command(inp["command"])
        # the diagnostics (stderr) go to the file the tail input reads, where there is one
        tails = [i["path"] for i in cfg.inputs if i["name"] == "tail"]
        assert tails == ([stderr] if stderr else []), (tails, stderr)
        # exec env: the connector replaces the shell and gets the checkpoint as a setting
        assert argv[:3] == ["exec", "env",
                            f"DOCUSIGN_CHECKPOINT=/var/lib/fluent-bit/docusign-input/{dest}.json"]
        if dest == "elasticsearch":  # ECS documents for the data stream's index template
            assert argv.pop(3) == "DOCUSIGN_FORMAT=ecs"
        if stderr:  # diagnostics as JSON lines, for the tail input's parser
            assert argv.pop(3) == "DOCUSIGN_LOG_FORMAT=json"
            assert cfg.parser([i for i in cfg.inputs if i["name"] == "tail"][0]["parser"])[
                "format"] == "json"
        assert argv[3] == "/usr/local/bin/docusign-input"
        follow = path.stem.endswith("-follow")
        assert argv[4:] == ["run"] + (["--follow"] if follow else [])
        assert fb_on(inp["oneshot"]) is False and inp["interval_sec"] == "60"
        assert fb_on(inp["threaded"]) is True
        assert fluent_bit_size(inp["buf_size"]) - 2 >= 20 * LARGEST_TEST_EVENT

    def test_parser_takes_the_event_time_and_keeps_the_field(self, path):
        cfg = load_fluent_bit(path)
        parser = cfg.parser(cfg.events_input["parser"])
        assert parser["format"] == "json"
        assert parser["time_key"] == "timestamp"
        assert parser["time_format"] == "%Y-%m-%dT%H:%M:%S.%L%z"
        assert fb_on(parser["time_keep"]) is True and fb_on(parser["time_strict"]) is False


def test_yaml_and_classic_twins_say_the_same():
    for yaml_path in FLUENT_BIT_DIR.glob("*.yaml"):
        a = load_fluent_bit(yaml_path)
        b = load_fluent_bit(yaml_path.with_suffix(".conf"))
        for section in ("inputs", "filters", "outputs"):
            assert [fb_normalized(x) for x in getattr(a, section)] == [
                fb_normalized(x) for x in getattr(b, section)], (yaml_path.name, section)
        # the parsers each one uses (parsers.conf, shared by the classic twins, holds them all)
        used = {str(x["parser"]) for x in a.inputs + a.filters if "parser" in x}
        assert sorted(str(x["name"]) for x in a.parsers) == sorted(used), yaml_path.name
        assert [fb_normalized(a.parser(n)) for n in sorted(used)] == [
            fb_normalized(b.parser(n)) for n in sorted(used)], (yaml_path.name, "parsers")
        assert a.service == {k: v for k, v in b.service.items() if k != "parsers_file"}


def test_splunk_es_loki_outputs_carry_the_required_settings():
    out = {p.stem: load_fluent_bit(p).outputs[0] for p in FLUENT_BIT_DIR.glob("*.yaml")}
    assert out["splunk"]["name"] == "splunk"
    assert out["splunk"]["event_sourcetype"] == "docusign:monitor"
    assert out["splunk"]["splunk_token"] == "${SPLUNK_HEC_TOKEN}"
    assert out["elasticsearch"]["name"] == "es"
    assert fb_on(out["elasticsearch"]["suppress_type_name"])
    assert out["elasticsearch"]["id_key"] == "$event['id']"  # eventId in an ECS document
    assert out["elasticsearch"]["write_operation"] == "create"  # data streams take only create
    assert out["elasticsearch"]["index"] == "logs-docusign.monitor-default"
    assert out["loki"]["name"] == "loki" and out["loki"]["line_format"] == "json"
    labels = dict(x.strip().split("=") for x in out["loki"]["labels"].split(","))
    assert labels["source"] == "docusign"
    assert not {"eventId", "userId", "ipAddress"} & set(labels)


def test_forward_variant_listens_on_loopback_24224():
    cfg = load_fluent_bit(FLUENT_BIT_DIR / "forward-splunk.yaml")
    [inp] = cfg.inputs
    assert inp["name"] == "forward" and inp["listen"] == "127.0.0.1" and inp["port"] == "24224"
    assert fluent_bit_size(inp["buffer_chunk_size"]) >= 20 * LARGEST_TEST_EVENT
    assert fluent_bit_size(inp["buffer_max_size"]) >= fluent_bit_size(inp["buffer_chunk_size"])
