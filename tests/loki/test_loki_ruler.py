"""detections/loki/rules.yaml in the real Loki ruler, fed through the shipped forward-loki.yaml
by real Fluent Bit.

- Live: every simulator scenario played just now, over an hour of the simulator's background
  (an ordinary organization's day, no finding in it): the ruler lists each scenario's rule as
  firing at /prometheus/api/v1/alerts, and no other rule.
- Silent collector: with the newest event 4 h 10 min old the ruler fires
  docusign_silent_collector; events resume and it resolves.
- Scheduler view: a simulated day (6,000 background events) with the scenarios played at
  100-minute intervals. Each rule's expression is evaluated by Loki at every one-minute
  evaluation instant of the day (query_range, step 1m: what the ruler runs each interval with
  `for: 0m`); a run of consecutive firing instants is one alert. Every finding raises exactly
  one alert, of its own rule; the background raises none.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from fluentbit_support import SKIP_REASON, binaries, wait_until
from loki_runs import LokiRun
from pipeline_support import FLUENT_BIT_DIR
from scenario_rules import EXPECTED

from docusign_input.simulator.scenarios import SCENARIOS

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "detections" / "loki" / "rules.yaml"
BINARIES = binaries()
VERSION = max(BINARIES) if BINARIES else None
CONFIG = FLUENT_BIT_DIR / "forward-loki.yaml"
SPACING_S = 100 * 60
DAY_S = 86400



def _rules() -> Dict[str, str]:
    [group] = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return {r["alert"]: r["expr"] for r in group["rules"]}


def _firing(loki, tenant) -> set:
    return {a["labels"]["alertname"] for a in loki.alerts(tenant) if a["state"] == "firing"}


# -- runs -----------------------------------------------------------------------------------


def _live(sim, _env, _work):
    sim.seed_backlog(300, days=1 / 24)
    for name in sorted(SCENARIOS):
        sim.play_scenario(name)


def _wait_for_alerts(_sim, _env, _work, loki, tenant, notes):
    want = set(EXPECTED.values())
    started = time.monotonic()
    wait_until(lambda: want <= _firing(loki, tenant), 180, 5.0)
    notes["firing_after_s"] = round(time.monotonic() - started, 1)
    notes["alerts"] = loki.alerts(tenant)


def _stopped_4h10m_ago(sim, _env, _work):
    sim.append_events(5, backdate_s=4 * 3600 + 600)


def _silence_then_resume(sim, _env, _work, loki, tenant, notes):
    started = time.monotonic()
    notes["fired"] = wait_until(lambda: "docusign_silent_collector" in _firing(loki, tenant),
                                180, 5.0)
    notes["fired_after_s"] = round(time.monotonic() - started, 1)
    sim.append_events(3)  # events resume: the connector polls every 5 s
    started = time.monotonic()
    notes["resolved"] = wait_until(
        lambda: "docusign_silent_collector" not in _firing(loki, tenant), 180, 5.0)
    notes["resolved_after_s"] = round(time.monotonic() - started, 1)


#: scenario -> when the day's run played it (unix s)
PLAYED: Dict[str, float] = {}


def _day_with_scenarios(sim, _env, _work):
    sim.seed_backlog(6000, days=0.99)
    now = time.time()
    for i, name in enumerate(sorted(SCENARIOS)):
        PLAYED[name] = now - (i + 1) * SPACING_S
        sim.play_scenario(name, start_s=PLAYED[name])


def _run(tenant, setup, then=None, wait_s=150.0):
    if VERSION is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=SKIP_REASON))]
    return [pytest.param(LokiRun(tenant, VERSION, BINARIES[VERSION], CONFIG, setup,
                                 then=then, rules=RULES, wait_s=wait_s),
                         id=f"{VERSION}-{CONFIG.name}")]


# -- tests ----------------------------------------------------------------------------------


def test_every_scenario_has_a_loki_rule():
    assert set(EXPECTED) == set(SCENARIOS)
    assert set(EXPECTED.values()) | {"docusign_silent_collector"} == set(_rules())


@pytest.mark.parametrize("run", _run("ruler-live", _live, _wait_for_alerts))
def test_the_ruler_fires_each_scenarios_rule(loki, loki_fleet, run):
    outcome = loki_fleet.outcome(run.tenant)
    assert outcome.notes["all_stored"], outcome.logs[-2000:]
    [group] = loki.rule_groups(run.tenant)
    assert {r["name"] for r in group["rules"]} == set(_rules())
    assert all(r.get("health") == "ok" for r in group["rules"]), [
        (r["name"], r.get("lastError")) for r in group["rules"] if r.get("health") != "ok"]
    firing = {a["labels"]["alertname"] for a in outcome.notes["alerts"]
              if a["state"] == "firing"}
    assert firing == set(EXPECTED.values()), outcome.notes
    print(f"{run.tenant}: {len(firing)} rules firing {outcome.notes['firing_after_s']} s "
          "after the events were in Loki")


@pytest.mark.parametrize("run", _run("ruler-silent", _stopped_4h10m_ago, _silence_then_resume))
def test_the_silent_collector_rule_fires_when_events_stop_and_resolves_when_they_resume(
        loki, loki_fleet, run):
    outcome = loki_fleet.outcome(run.tenant)
    notes = outcome.notes
    assert notes["fired"] and notes["resolved"], notes
    print(f"{run.tenant}: {notes}")


def _episodes(points: List[List[Any]], step_s: int) -> List[float]:
    """The start of each run of consecutive evaluation instants (one alert each)."""
    starts, last = [], None
    for t, _value in points:
        t = float(t)
        if last is None or t - last > step_s:
            starts.append(t)
        last = t
    return starts


@pytest.mark.parametrize("run", _run("ruler-schedule", _day_with_scenarios, wait_s=200))
def test_over_a_day_every_finding_raises_one_alert_and_the_background_none(
        loki, loki_fleet, run):
    outcome = loki_fleet.outcome(run.tenant)
    assert outcome.notes["all_stored"], outcome.logs[-2000:]
    end = time.time()
    alerts: Dict[str, List[float]] = {}
    for name, expr in _rules().items():
        # the silent-collector rule looks back 4 h: from 4 h after the day's first event
        start = end - DAY_S + (4 * 3600 + 900 if name == "docusign_silent_collector" else 0)
        for series in loki.metric_query(run.tenant, expr, start, end, 60):
            alerts.setdefault(name, []).extend(_episodes(series["values"], 60))
    played = dict(PLAYED)
    assert set(played) == set(SCENARIOS)
    per_finding = {}
    for scenario, at in played.items():
        rule = EXPECTED[scenario]
        per_finding[scenario] = [t for t in alerts.get(rule, []) if at - 60 <= t <= at + 1800]
    assert all(len(v) == 1 for v in per_finding.values()), per_finding
    stray = {rule: [t for t in starts if not any(
        EXPECTED[s] == rule and played[s] - 60 <= t <= played[s] + 1800 for s in played)]
        for rule, starts in alerts.items()}
    assert {r: v for r, v in stray.items() if v} == {}, "alerts outside a finding"
    print(f"{run.tenant}: {sum(len(v) for v in alerts.values())} alerts for {len(played)} "
          f"findings over {len(outcome.expected)} events")
