"""`run --follow` through a DocuSign outage keeps its memory flat.

Measured before the fix: with a full recent-ID window (tens of thousands of IDs) each failed sync
round kept about 6 MB alive (57 MB to 107 MB in eight minutes of an unreachable DocuSign). Each
round re-read the checkpoint (a fresh copy of every remembered ID), and the failed request left
reference cycles (urllib3 keeps the exceptions it caught in frame locals) whose frames reached
that copy through `f_back`; with the relaxed collector thresholds an idle outage never allocates
enough to collect them.
"""

from __future__ import annotations

import gc
import socket
import tracemalloc
from typing import Any

import pytest
import requests

from docusign_input.checkpoint import Checkpoint, Position
from docusign_input.checkpoint_store import CheckpointStore
from docusign_input.lifecycle import relax_garbage_collector
from docusign_input.report import Reporter
from docusign_input.retry import Backoff
from docusign_input.signals import Stopped, Stopper
from docusign_input.stream import StreamClient
from docusign_input.sync import Collector

ROUNDS = 150
IDS = 40_000


class _Token:
    def get_token(self) -> str:
        return "token"

    def invalidate(self) -> None:
        pass


class _Output:
    def deliver(self, events: list[dict[str, Any]], stopping: Any) -> None:
        raise AssertionError("nothing to deliver during an outage")

    def close(self) -> None:
        pass


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_memory_stays_flat_over_many_failed_rounds_of_an_outage(tmp_path):
    ids = {
        f"{n:08d}-0000-4000-8000-000000000000": "2026-11-18T00:00:00.0000001Z" for n in range(IDS)
    }
    store = CheckpointStore(tmp_path / "cp.json")
    store.save(
        Checkpoint(
            "development",
            "u",
            position=Position(
                cursor="aa_1", newest_event_time="2026-11-18T00:00:00Z", recent_event_ids=ids
            ),
        )
    )
    del ids
    session = requests.Session()
    client = StreamClient(session, f"http://127.0.0.1:{_closed_port()}", _Token())
    memory: list[int] = []
    stopper = Stopper()

    def between_rounds(seconds: float) -> None:
        gc.collect(0)  # what a young-generation collection would do; not the full one
        memory.append(tracemalloc.get_traced_memory()[0])
        if len(memory) >= ROUNDS:
            raise Stopped()

    stopper.sleep = between_rounds  # type: ignore[method-assign]
    collector = Collector(
        source_factory=lambda cp: (client, cp),
        output=_Output(),
        store=store,
        reporter=Reporter(level="error", stream=open("/dev/null", "w")),
        stopper=stopper,
        page_size=2000,
        poll_interval_s=60,
        backfill=None,
        backoff=Backoff(base_s=0.0, cap_s=0.0, max_retries=0),  # one request per round
    )
    thresholds = gc.get_threshold()
    relax_garbage_collector()
    tracemalloc.start()
    try:
        with pytest.raises(Stopped):
            collector.follow(store.load())
    finally:
        tracemalloc.stop()
        gc.set_threshold(*thresholds)
        session.close()
    settled, last = memory[9], memory[-1]
    growth_mb = (last - settled) / 1e6
    print(f"traced memory over {ROUNDS} failed rounds: {settled / 1e6:.1f} -> {last / 1e6:.1f} MB")
    assert growth_mb < 2.0, f"grew {growth_mb:.1f} MB over {ROUNDS - 10} failed rounds"
