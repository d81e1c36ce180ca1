"""Each Vector pipeline's exact command, run against the simulator, read the way Vector reads it.

Binary and checkpoint paths are swapped for the venv's `docusign-input` and a temporary file;
everything else (arguments, `/bin/sh -c` for Fluent Bit, argv for Vector) is as configured.
The backlog includes events of 20-40 KB: each must arrive whole, with the event's time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from pipeline_support import (
    VECTOR_CONFIGS,
    VectorRemap,
    iso_to_ns,
    vector_newline_frames,
    vrl_timestamp_ns,
)

from docusign_input.formats import ecs

CONNECTOR = shutil.which("docusign-input", path=str(Path(sys.executable).parent))
INSTALLED_PATH = "/usr/local/bin/docusign-input"


def _connector_problem():
    if CONNECTOR is None:
        return "the docusign-input command is not installed in this environment"
    try:
        proc = subprocess.run([CONNECTOR, "--help"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docusign-input does not start: {exc}"
    if proc.returncode != 0:
        return ("docusign-input --help fails (the connector's CLI is not there yet): "
                + proc.stderr.decode(errors="replace").strip().splitlines()[-1][:200])
    return None


_PROBLEM = _connector_problem()
pytestmark = pytest.mark.skipif(_PROBLEM is not None, reason=_PROBLEM or "")


@pytest.fixture
def monitor(tmp_path):
    from docusign_input.simulator import Simulator, SimulatorConfig

    with Simulator(SimulatorConfig(seed=1, backlog=300, rate_limits=False)) as sim:
        sizes = {i: len(sim.event_bytes(i)) for i in sim.event_ids()}
        assert max(sizes.values()) >= 20_000, "the backlog must hold a 20 KB+ event"
        key = sim.write_private_key(tmp_path / "key.pem")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUSIGN_")}
        env.update(sim.env(key))
        env.update({"DOCUSIGN_BACKFILL_START": "earliest", "DOCUSIGN_POLL_INTERVAL": "1",
                    "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME":
                    str(tmp_path / "cache")})
        yield sim, env


def _expected(sim, dest=""):
    """What each config's connector writes: DocuSign's events, or for Elasticsearch (the command
    sets DOCUSIGN_FORMAT=ecs) their ECS documents."""
    raw = {i: json.loads(sim.event_bytes(i)) for i in sim.event_ids()}
    if dest == "elasticsearch":
        return {i: ecs.document(e) for i, e in raw.items()}
    return raw


def _event_id(line_or_doc):
    doc = json.loads(line_or_doc) if isinstance(line_or_doc, bytes) else line_or_doc
    return doc["event"]["id"] if "ecs" in doc else doc["eventId"]


def _stamp(doc):
    return doc["@timestamp"] if "ecs" in doc else doc["timestamp"]


def _localize(text: str, checkpoint_dir: str, tmp_path: Path) -> str:
    return (text.replace(INSTALLED_PATH, CONNECTOR)
                .replace(checkpoint_dir, str(tmp_path / "checkpoints")))


def _follow_until(argv_or_cmd, env, expected_ids, shell=False, timeout_s=120):
    """Start a --follow command, read stdout until every expected event ID was written, then
    stop it with SIGTERM as the shipper does; returns (stdout, stderr, exit code)."""
    proc = subprocess.Popen(["/bin/sh", "-c", argv_or_cmd] if shell else argv_or_cmd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    out, err = bytearray(), bytearray()
    t_err = threading.Thread(target=lambda: err.extend(proc.stderr.read()), daemon=True)
    t_err.start()
    seen = set()
    deadline = time.monotonic() + timeout_s
    try:
        while seen < expected_ids and time.monotonic() < deadline:
            chunk = proc.stdout.read1(1 << 16)
            if not chunk:
                break
            out.extend(chunk)
            seen = {_event_id(x) for x in bytes(out).split(b"\n")[:-1]}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rest, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
        out.extend(rest or b"")
    t_err.join(5)
    return bytes(out), bytes(err), proc.returncode


# The Fluent Bit configs are run by real Fluent Bit 4.2.8 and 5.1.1 in tests/fluentbit (exec and
# forward alike); what stays here is Vector's side, which cannot be installed where tests run.


@pytest.mark.parametrize("path", VECTOR_CONFIGS, ids=lambda p: p.name)
def test_vector_exec_delivers_every_event_whole_with_its_time(path, monitor, tmp_path):
    sim, env = monitor
    (tmp_path / "checkpoints").mkdir()
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    [source] = config["sources"].values()
    argv = [_localize(a, "/var/lib/vector/docusign-input", tmp_path) for a in source["command"]]
    env = {**env, **{k: _localize(v, "/var/lib/vector/docusign-input", tmp_path)
                     for k, v in source.get("environment", {}).items()}}
    expected = _expected(sim, path.stem)
    stdout, stderr, code = _follow_until(argv, env, set(expected))
    assert code == 0, stderr.decode(errors="replace")[-2000:]
    assert (tmp_path / "checkpoints" / f"{path.stem}.json").is_file(), "DOCUSIGN_CHECKPOINT unused"
    frames, discarded = vector_newline_frames(
        stdout, source["framing"]["newline_delimited"]["max_length"])
    assert discarded == 0
    [remap] = [t for c, t in config["transforms"].items()
               if t["type"] == "remap" and "diagnostics" not in c]
    vrl = VectorRemap(remap)
    got = {}
    for frame in frames:
        result = vrl.run(frame)
        assert not result.dropped, frame[:200]
        ev = result.event
        if "message" in ev and set(ev) == {"message", "timestamp"}:  # Loki: the raw line
            event = json.loads(ev["message"])
            t_ns = vrl_timestamp_ns(ev["timestamp"])
        elif "ecs" in ev:  # Elasticsearch: the ECS document whole, its @timestamp a string
            event = ev
            t_ns = iso_to_ns(ev["@timestamp"])
        else:
            event = {k: v for k, v in ev.items() if k != "@timestamp"}
            t_ns = vrl_timestamp_ns(ev["@timestamp"])
        assert _event_id(event) not in got, "an event was delivered twice"
        got[_event_id(event)] = (t_ns, event)
    assert set(got) == set(expected)
    for event_id, (t_ns, event) in got.items():
        assert event == expected[event_id]
        assert t_ns == iso_to_ns(_stamp(expected[event_id])), vrl.engine
