"""Proof of the Sigma rules: each fires on its own scenario, on no other, and not on a quiet day.

Every rule in detections/sigma/ goes through pySigma's SQLite backend; the queries run over the
events the simulator served (its exact JSON bytes, flattened into one column per field path, as
the Splunk and Loki `json` parsers see them). A scenario is played at noon of a simulated day of
background activity, exactly as the simulator serves it: an ordinary organization's day, with no
event that is a finding on its own (alerts, administrator grants, ...: `scenarios.is_finding`);
its logins with their usual failures, downloads, voids and deletions are where the counting rules
must stay quiet.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

pytest.importorskip("sigma.backends.sqlite", reason="pip install -e '.[detections]'")

from sigma_sqlite import EXPECTED, RULES, Events, queries  # noqa: E402

from docusign_input.simulator import Simulator  # noqa: E402
from docusign_input.simulator.scenarios import SCENARIOS, is_finding  # noqa: E402

DAY_END = 1_796_083_200.0  # 2026-12-01T00:00:00Z, a fixed clock: the same day on every run
DAY_EVENTS = 20_000  # about 14 a minute: a busy account's day
NOON = DAY_END - 12 * 3600


@pytest.fixture(scope="module")
def day() -> List[Dict[str, Any]]:
    """The quiet day as the simulator serves it."""
    sim = Simulator(seed=11, clock=lambda: DAY_END)
    sim.seed_backlog(DAY_EVENTS, days=1)
    return [json.loads(raw) for raw in sim.events()]


@pytest.fixture(scope="module")
def rule_queries() -> Dict[str, str]:
    return queries()


def test_every_rule_has_a_scenario_and_every_scenario_a_rule():
    assert set(EXPECTED) == set(SCENARIOS)
    assert sorted(EXPECTED.values()) == [p.stem for p in RULES]


def test_a_quiet_day_of_background_activity_fires_no_rule(day, rule_queries):
    events = Events(day)
    failures = "SELECT count(*) FROM logs WHERE action='Login' AND result='Failure'"
    assert events.db.execute(failures).fetchone()[0] > 300  # the counting rules had work to do
    assert not [e for e in day if is_finding(e)]
    assert events.firing(rule_queries) == {}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_a_scenario_fires_its_own_rule_and_no_other(day, rule_queries, scenario):
    """Played at noon over the two hours of background around it (every rule's window is
    shorter), through the simulator as a backlog would be."""
    window = [e for e in day if "T11:" in e["timestamp"] or "T12:" in e["timestamp"]]
    sim = Simulator(seed=11, clock=lambda: DAY_END)
    played = [json.loads(sim.event_bytes(i)) for i in sim.play_scenario(scenario, start_s=NOON)]
    assert Events(window + played).firing(rule_queries).keys() == {EXPECTED[scenario]}
