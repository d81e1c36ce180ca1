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
import sqlite3
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

sigma_collection = pytest.importorskip("sigma.collection", reason="pip install -e '.[detections]'")
sqlite_backend = pytest.importorskip("sigma.backends.sqlite")

from docusign_input.simulator import Simulator  # noqa: E402
from docusign_input.simulator.scenarios import SCENARIOS, is_finding  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RULES = sorted((REPO / "detections" / "sigma").glob("*.yml"))
DAY_END = 1_796_083_200.0  # 2026-12-01T00:00:00Z, a fixed clock: the same day on every run
DAY_EVENTS = 20_000  # about 14 a minute: a busy account's day
NOON = DAY_END - 12 * 3600

#: The rule (file stem) each scenario must fire, and it alone.
EXPECTED = {
    "brute-force": "docusign_brute_force_one_user",
    "password-spray": "docusign_password_spray_one_ip",
    "failures-then-success": "docusign_login_success_after_failures",
    "new-country": "docusign_login_unexpected_country",
    "credential-leak": "docusign_credential_leak_alert",
    "outside-ip-ranges": "docusign_ip_outside_allowed_ranges_alert",
    "mass-download": "docusign_mass_envelope_download",
    "mass-deletion": "docusign_mass_envelope_deletion",
    "admin-granted": "docusign_administrator_granted",
    "mfa-disabled": "docusign_two_factor_disabled",
    "sign-in-policy-weakened": "docusign_sign_in_policy_weakened",
    "connect-changed": "docusign_connect_configuration_changed",
    "monitor-alert": "docusign_monitor_alert",
}


def _flatten(value: Any, prefix: str = "") -> Iterator[Tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        yield prefix[:-1], json.dumps(value, ensure_ascii=False)
    elif isinstance(value, bool):
        yield prefix[:-1], "true" if value else "false"
    else:
        yield prefix[:-1], value


def _queries() -> Dict[str, str]:
    """rule file stem -> the SQLite query pySigma made of it (the last: the correlation)."""
    out = {}
    for path in RULES:
        rules = sigma_collection.SigmaCollection.from_yaml(path.read_text(encoding="utf-8"))
        out[path.stem] = sqlite_backend.sqliteBackend().convert(rules)[-1]
    return out


class _Events:
    """A SQLite table `logs` of flattened events, one column per field path."""

    def __init__(self, events: List[Dict[str, Any]]) -> None:
        self.db = sqlite3.connect(":memory:")
        rows = [dict(_flatten(e)) for e in events]
        columns = sorted({key for row in rows for key in row})
        self.db.execute(
            f"CREATE TABLE logs ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in columns)})"
        )
        self.db.executemany(
            f"INSERT INTO logs VALUES ({', '.join('?' for _ in columns)})",
            [[row.get(c, "") for c in columns] for row in rows],
        )

    def firing(self, queries: Dict[str, str]) -> Dict[str, int]:
        """rule -> rows its query returns, for the rules that return any."""
        hits = {rule: len(self.db.execute(query).fetchall()) for rule, query in queries.items()}
        return {rule: n for rule, n in hits.items() if n}


@pytest.fixture(scope="module")
def day() -> List[Dict[str, Any]]:
    """The quiet day as the simulator serves it."""
    sim = Simulator(seed=11, clock=lambda: DAY_END)
    sim.seed_backlog(DAY_EVENTS, days=1)
    return [json.loads(raw) for raw in sim.events()]


@pytest.fixture(scope="module")
def queries() -> Dict[str, str]:
    return _queries()


def test_every_rule_has_a_scenario_and_every_scenario_a_rule():
    assert set(EXPECTED) == set(SCENARIOS)
    assert sorted(EXPECTED.values()) == [p.stem for p in RULES]


def test_a_quiet_day_of_background_activity_fires_no_rule(day, queries):
    events = _Events(day)
    failures = "SELECT count(*) FROM logs WHERE action='Login' AND result='Failure'"
    assert events.db.execute(failures).fetchone()[0] > 300  # the counting rules had work to do
    assert not [e for e in day if is_finding(e)]
    assert events.firing(queries) == {}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_a_scenario_fires_its_own_rule_and_no_other(day, queries, scenario):
    """Played at noon over the two hours of background around it (every rule's window is
    shorter), through the simulator as a backlog would be."""
    window = [e for e in day if "T11:" in e["timestamp"] or "T12:" in e["timestamp"]]
    sim = Simulator(seed=11, clock=lambda: DAY_END)
    played = [json.loads(sim.event_bytes(i)) for i in sim.play_scenario(scenario, start_s=NOON)]
    assert _Events(window + played).firing(queries).keys() == {EXPECTED[scenario]}
