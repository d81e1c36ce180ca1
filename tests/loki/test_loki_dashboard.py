"""dashboards/grafana/docusign-monitor.json against the real Loki: a simulated day (3,000
background events) with every scenario played just now, shipped by real Fluent Bit 5.1.1 with
the shipped loki.yaml, the connector's diagnostics with it (stderr file -> tail input). Every
panel's LogQL runs without error as Grafana sends it (range panels over the day with a 5-minute
step, instant panels with $__range = the day, log panels as log queries) and shows data.

A line the connector wrote that is not JSON (a crash before its reporter starts) reaches Loki as
a level-error diagnostic, so the "warnings and errors" panel shows it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fluentbit_support import SKIP_REASON, binaries
from loki_runs import LokiRun
from pipeline_support import FLUENT_BIT_DIR

from docusign_input.simulator.scenarios import SCENARIOS

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "dashboards" / "grafana" / "docusign-monitor.json"
BINARIES = binaries()
CRASH = "Traceback (most recent call last):"


def _panels():
    return [p for p in json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]
            if p.get("targets")]


def _day_with_scenarios_now(sim, _env, work):
    sim.seed_backlog(3000, days=0.99)
    for name in sorted(SCENARIOS):
        sim.play_scenario(name)
    diagnostics = work / "checkpoints" / "loki-diagnostics.log"
    diagnostics.parent.mkdir(parents=True, exist_ok=True)
    diagnostics.write_text(CRASH + "\n")


def _runs():
    if "5.1.1" not in BINARIES:
        return [pytest.param(None, marks=pytest.mark.skip(reason=SKIP_REASON))]
    return [pytest.param(LokiRun("dashboard", "5.1.1", BINARIES["5.1.1"],
                                 FLUENT_BIT_DIR / "loki.yaml", _day_with_scenarios_now),
                         id="5.1.1-loki.yaml")]


@pytest.mark.parametrize("run", _runs())
def test_every_panel_runs_and_shows_data(loki, loki_fleet, run):
    outcome = loki_fleet.outcome(run.tenant)
    assert outcome.notes["all_stored"] and outcome.notes["diagnostics_missing"] == 0, \
        outcome.notes
    end = time.time()
    empty, shown = [], {}
    for panel in _panels():
        for target in panel["targets"]:
            expr = target["expr"].replace("$__range", "1d")
            if panel["type"] == "logs":
                result = loki.entries(run.tenant, expr, start_ns=int((end - 86400) * 1e9),
                                      end_ns=int(end * 1e9))
            elif target.get("queryType") == "instant":
                result = loki.instant(run.tenant, expr, at_s=end)
            else:
                result = loki.metric_query(run.tenant, expr, end - 86400, end, 300)
            shown[panel["title"]] = len(result)
            if not result:
                empty.append(panel["title"])
    assert not empty, f"panels without data: {empty}; {shown}"
    errors = loki.entries(run.tenant, '{source="docusign", service_name="docusign-input"} '
                                      '| json | level="error"')
    assert any(json.loads(line)["message"] == CRASH for _l, _n, line in errors)
    print(f"{run.tenant}: rows or series per panel {shown}")
