"""The connector's diagnostics reach each SIEM under their own name, parsed, with their time."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

vrl = pytest.importorskip("vrl_python", reason="pip install -e '.[test]' (vrl-python)")

VECTOR = Path(__file__).resolve().parents[2] / "vector"
SYNC_DONE = (
    '{"time":"2026-12-01T11:00:00.123Z","level":"info","message":"sync done","pages":1,'
    '"events":5,"duplicates":0,"lag_s":3.2,"newest_event_time":"2026-12-01T10:59:57.0000000Z"}'
)


def _diagnostics(dest: str) -> tuple[dict, dict]:
    config = yaml.safe_load((VECTOR / f"{dest}.yaml").read_text(encoding="utf-8"))
    transform = config["transforms"][f"docusign_{dest}_diagnostics_parse"]
    [sink] = [
        s for c, s in config["sinks"].items()
        if s["inputs"] == [f"docusign_{dest}_diagnostics_parse"]
    ]  # fmt: skip
    return transform, sink


def _run(transform: dict, line: str) -> dict:
    runtime = vrl.VRLRuntime()
    program = ".timestamp = now()\n" + transform["source"]
    runtime.compile(program)
    event = {"message": line, "stream": "stderr", "host": "collector-1", "pid": 7}
    return dict(runtime.execute(program, event).processed_event)


@pytest.mark.parametrize("dest", ["splunk", "elasticsearch", "loki"])
def test_a_json_diagnostic_keeps_its_figures_and_its_own_time(dest):
    transform, _ = _diagnostics(dest)
    out = _run(transform, SYNC_DONE)
    assert out["message"] == "sync done" and out["events"] == 5 and out["lag_s"] == 3.2
    assert out["newest_event_time"] == "2026-12-01T10:59:57.0000000Z"
    assert out["collector_host"] == "collector-1"
    stamp = out["timestamp" if dest == "loki" else "@timestamp"]
    assert stamp == "2026-12-01 11:00:00.123 UTC"


@pytest.mark.parametrize("dest", ["splunk", "elasticsearch", "loki"])
def test_a_line_that_is_not_json_is_kept_as_an_error_message(dest):
    transform, _ = _diagnostics(dest)
    out = _run(transform, "Traceback (most recent call last):")
    assert out == {**out, "level": "error", "message": "Traceback (most recent call last):"}


def test_each_siem_files_diagnostics_apart_from_the_events():
    _, splunk = _diagnostics("splunk")
    assert splunk["sourcetype"] == "docusign:input:diagnostics"
    _, elastic = _diagnostics("elasticsearch")
    assert elastic["mode"] == "data_stream"
    assert elastic["data_stream"] == {
        "type": "logs", "dataset": "docusign.collector", "namespace": "default",
    }  # fmt: skip
    _, loki = _diagnostics("loki")
    assert loki["labels"] == {"source": "docusign", "service_name": "docusign-input"}
