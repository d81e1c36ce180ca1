"""Loki's two time windows, met by the shipped Fluent Bit configs and a real Loki 3.4.6.

1. Within one stream Loki refuses an entry more than max_chunk_age / 2 (1 h) behind the stream's
   newest ("too far behind"); Fluent Bit (4.2.8 and 5.1.1 alike: `HTTP status=400 Not
   retrying`) drops the chunk, and the connector has already checkpointed it. The configs label
   each entry with the hour of its event time (`event_hour`), so no stream spans more than an
   hour: a day of backfill (test_loki_delivery) and a `checkpoint reset --to 3d` replay of
   events Loki never had into live streams are stored whole, once.
2. Entries older than `reject_old_samples_max_age` (168 h by default, against Loki's clock at
   push time) are refused whatever the labels. A backfill reaching past it loses those events;
   the loss is not silent: Fluent Bit logs an error with Loki's reason for each refused push, and
   Loki counts each refused entry in `loki_discarded_samples_total{reason=
   "greater_than_max_sample_age"}`. With the setting examples/loki/README.md gives for a
   seven-day backfill (192h), the same run is stored whole.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter

import pytest
from fluentbit_support import CONNECTOR, SKIP_REASON, binaries, wait_until
from loki_runs import LokiRun
from pipeline_support import FLUENT_BIT_DIR, iso_to_ns

BINARIES = binaries()
MAX_AGE_S = 168 * 3600


def _three_days(sim, _env, _work):
    sim.seed_backlog(600, days=2.99)


def _replay_three_days(sim, env, work, _loki, _tenant, _notes):
    """`checkpoint reset --to 3d` after a first run that fetched the last hour only (backfill 1h),
    between two of Fluent Bit's runs of the connector (retried while a run holds the lock), then a
    few new events: the next run sends three days the streams never had into streams that hold
    the present. (The events already delivered are not sent again: the checkpoint keeps the
    recent eventIds; and Loki silently drops an entry equal to one it holds in memory.)"""
    checkpoint = str(work / "checkpoints" / "loki.json")
    reset = lambda: subprocess.run(  # noqa: E731
        [str(CONNECTOR), "checkpoint", "reset", "--to", "3d"], capture_output=True,
        env={**env, "DOCUSIGN_CHECKPOINT": checkpoint}, timeout=60).returncode == 0
    assert wait_until(reset, 60, 2.0), "checkpoint reset never succeeded"
    sim.append_events(20)


def _past_seven_days(sim, _env, _work):
    """A backlog reaching an hour past Loki's 168 h: DocuSign keeps a week, and events that were
    inside it when the connector asked are older than 168 h by the time they reach Loki."""
    sim.seed_backlog(700, days=7.05)


def _backfill_7_05_days() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7.06 * 86400))


def _replays():
    if not BINARIES:
        return [pytest.param(None, marks=pytest.mark.skip(reason=SKIP_REASON))]
    configs = {"4.2.8": "loki.conf", "5.1.1": "loki.yaml"}
    return [pytest.param(LokiRun(f"replay-{v}", v, BINARIES[v], FLUENT_BIT_DIR / configs[v],
                                 _three_days, backfill="1h", then=_replay_three_days,
                                 wait_s=70),
                         id=f"{v}-{configs[v]}")
            for v in sorted(BINARIES) if v in configs]


def _too_old(tenant: str):
    version = max(BINARIES) if BINARIES else None
    if version is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=SKIP_REASON))]
    return [pytest.param(LokiRun(tenant, version, BINARIES[version],
                                 FLUENT_BIT_DIR / "forward-loki.yaml", _past_seven_days,
                                 backfill=_backfill_7_05_days(), wait_s=60,
                                 simulator={"retention_days": 7.1}),
                         id=f"{version}-forward-loki.yaml")]


@pytest.mark.parametrize("run", _replays())
def test_a_three_day_replay_into_live_streams_is_stored_once(loki, loki_fleet, run):
    outcome = loki_fleet.outcome(run.tenant)
    context = f"{run.tenant}: {outcome.notes}\n{outcome.logs[-2500:]}"
    counts = Counter(json.loads(line)["eventId"] for _l, _n, line in outcome.entries)
    missing = set(outcome.expected) - set(counts)
    assert not missing, f"{len(missing)} of {len(outcome.expected)} missing; {context}"
    assert set(counts) == set(outcome.expected), context
    assert max(counts.values()) == 1, "an event is in Loki twice"
    assert set(outcome.proxy_statuses) == {204}, context
    assert loki.discarded(run.tenant) == {}
    syncs = [json.loads(ln) for ln in outcome.logs.splitlines()
             if ln.startswith("{") and '"sync done"' in ln]  # the connector's diagnostics
    assert syncs[0]["events"] < 20 and any(s["events"] >= 580 for s in syncs[1:]), syncs
    print(f"{run.tenant}: {outcome.notes}; pushes {Counter(outcome.proxy_statuses)}")


@pytest.mark.parametrize("run", _too_old("past-168h"))
def test_events_past_168_hours_are_refused_and_the_loss_is_reported(loki, loki_fleet, run):
    outcome = loki_fleet.outcome(run.tenant)
    stored = {json.loads(line)["eventId"] for _l, _n, line in outcome.entries}
    missing = set(outcome.expected) - stored
    now_ns = time.time_ns()
    old = {i for i, e in outcome.expected.items()
           if now_ns - iso_to_ns(e["timestamp"]) > MAX_AGE_S * 10**9}
    assert missing and missing <= old, (len(missing), len(old))
    refused = loki.discarded(run.tenant)
    assert refused == {"greater_than_max_sample_age": len(missing)}
    errors = [ln for ln in outcome.logs.splitlines() if "HTTP status=400 Not retrying" in ln]
    assert errors and "too old" in outcome.logs, outcome.logs[-2000:]
    print(f"{run.tenant}: {len(missing)} of {len(outcome.expected)} refused as too old, "
          f"{len(errors)} error lines in Fluent Bit's log; Loki: {refused}")


@pytest.mark.parametrize("run", _too_old("backfill-8d"))
def test_with_the_documented_192h_setting_a_seven_day_backfill_is_stored_whole(
        loki, loki_fleet, run):
    outcome = loki_fleet.outcome(run.tenant)
    stored = Counter(json.loads(line)["eventId"] for _l, _n, line in outcome.entries)
    assert set(stored) == set(outcome.expected), outcome.logs[-2000:]
    assert max(stored.values()) == 1
    assert set(outcome.proxy_statuses) == {204}
    assert loki.discarded(run.tenant) == {}
