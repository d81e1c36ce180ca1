"""`run --format ecs|ocsf`: one valid document per event, in order, through stdout and forward
alike, the record time being the event's own timestamp in every format."""

from __future__ import annotations

import calendar
import json
import sys
import time
from pathlib import Path

import pytest
from connector_support import lines_of
from schema_checks import ecs_problems, ocsf_problems

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from receivers import ForwardReceiver  # noqa: E402

from docusign_input.formats import record_timestamp  # noqa: E402

ID_OF = {"ecs": lambda d: d["event"]["id"], "ocsf": lambda d: d["metadata"]["uid"]}
PROBLEMS = {"ecs": ecs_problems, "ocsf": ocsf_problems}


@pytest.mark.parametrize("fmt", ["ecs", "ocsf"])
def test_format_writes_one_valid_document_per_event_in_order(simulator, connector, fmt):
    simulator.seed_backlog(900, days=1)
    proc = connector.run("run", "--backfill-start", "earliest", "--format", fmt)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.endswith(b"\n") and b"\n\n" not in proc.stdout
    docs = lines_of(proc.stdout)
    assert [ID_OF[fmt](d) for d in docs] == simulator.event_ids()
    for doc in docs[:300]:
        assert PROBLEMS[fmt](doc) == []
    assert connector.saved()["health"]["events_delivered"] == 900


def test_the_format_comes_from_the_environment_too_and_raw_stays_byte_faithful(
    simulator, connector
):
    simulator.seed_backlog(50, days=1)
    proc = connector.run("run", "--backfill-start", "earliest", env={"DOCUSIGN_FORMAT": "ocsf"})
    assert proc.returncode == 0, proc.stderr.decode()
    assert all(d["metadata"]["version"] == "1.8.0" for d in lines_of(proc.stdout))
    fresh = {"DOCUSIGN_CHECKPOINT": str(connector.workdir / "raw.json")}
    raw = connector.run("run", "--backfill-start", "earliest", "--format", "raw", env=fresh)
    ids = simulator.event_ids()
    assert raw.stdout.split(b"\n")[:-1] == [simulator.event_bytes(i) for i in ids]


def test_an_unknown_format_is_one_line_and_exit_78(connector):
    proc = connector.run("run", "--format", "cef")
    assert proc.returncode == 78
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "cef" in lines[0] and "raw, ecs or ocsf" in lines[0]


@pytest.mark.parametrize("fmt", ["raw", "ecs", "ocsf"])
def test_forward_sends_the_same_documents_with_the_events_own_time(simulator, connector, fmt):
    simulator.seed_backlog(120, days=1)
    stdout = connector.run("run", "--backfill-start", "earliest", "--format", fmt)
    expected = lines_of(stdout.stdout)
    fresh = {"DOCUSIGN_CHECKPOINT": str(connector.workdir / "forward.json")}
    with ForwardReceiver() as receiver:
        spec = f"forward://127.0.0.1:{receiver.port}"
        proc = connector.run(
            "run", "--backfill-start", "earliest", "--output", spec, "--format", fmt, env=fresh
        )
        assert proc.returncode == 0, proc.stderr.decode()
        entries = receiver.wait_for(120)
    assert [e.record for e in entries] == expected
    for entry, event_id in zip(entries, simulator.event_ids()):
        stamp = json.loads(simulator.event_bytes(event_id))["timestamp"]
        assert record_timestamp(entry.record) == stamp
        assert (entry.time.seconds, entry.time.nanoseconds) == _seconds_and_nanos(stamp)


def _seconds_and_nanos(stamp: str) -> tuple[int, int]:
    """DocuSign's `2026-11-27T09:10:06.0512813Z` (or without the fraction), read independently
    of the connector's own parser."""
    seconds = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    return seconds, int(stamp[20:-1].ljust(9, "0")) if stamp[19] == "." else 0
