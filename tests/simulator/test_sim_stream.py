"""The Monitor stream: cursors, limits, access errors and headers, on both API generations."""

from __future__ import annotations

import json
import time

import pytest
import requests

from docusign_input.simulator import Simulator
from docusign_input.simulator.testing import bearer_session

LEGACY = "/api/v2.0/datasets/monitor/stream"


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def current(sim: Simulator) -> str:
    return f"/v1/organizations/{sim.organization_id}/stream"


def get(session: requests.Session, sim: Simulator, path: str, **params) -> requests.Response:
    return session.get(sim.base_url + path, params=params, timeout=10)


def drain(session: requests.Session, sim: Simulator, cursor: str = "", limit: int = 2000) -> tuple:
    """All event ids from ``cursor`` until the cursor stops moving; (ids, last cursor)."""
    ids = []
    while True:
        body = get(session, sim, LEGACY, cursor=cursor, limit=limit).json()
        ids += [event["eventId"] for event in body["data"]]
        if body["endCursor"] == cursor:
            return ids, cursor
        cursor = body["endCursor"]


def test_both_generations_serve_the_same_events(simulator_factory) -> None:
    sim = simulator_factory(backlog=30)
    session = bearer_session(sim)
    legacy = get(session, sim, LEGACY, limit=2000)
    new = get(session, sim, current(sim), limit=2000)
    assert [e["eventId"] for e in legacy.json()["data"]] == sim.event_ids()
    assert [e["eventId"] for e in new.json()["resultData"]] == sim.event_ids()
    assert legacy.headers["Transfer-Encoding"] == "chunked"
    for response in (legacy, new):
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        assert response.headers["Server"] == "Kestrel"
        assert response.headers["api-supported-versions"] == "2.0"
        assert len(response.headers["X-DocuSign-TraceToken"]) == 36


def test_pages_follow_ingestion_order_and_drain_everything(simulator_factory) -> None:
    sim = simulator_factory(backlog=2500, rate_limits=False)
    session = bearer_session(sim)
    ids, cursor = drain(session, sim, limit=700)
    assert ids == sim.event_ids()
    assert cursor.startswith("aa_")


def test_default_limit_is_1000_and_pages_are_exact_bytes(simulator_factory) -> None:
    sim = simulator_factory(backlog=1200)
    response = get(bearer_session(sim), sim, LEGACY)
    events = response.json()["data"]
    assert len(events) == 1000
    assert sim.event_bytes(events[0]["eventId"]) in response.content


def test_caught_up_returns_the_identical_cursor(simulator_factory) -> None:
    sim = simulator_factory(backlog=5)
    session = bearer_session(sim)
    first = get(session, sim, LEGACY).json()
    again = get(session, sim, LEGACY, cursor=first["endCursor"]).json()
    assert again == {"endCursor": first["endCursor"], "data": []}
    new_ids = sim.append_events(3)
    after = get(session, sim, LEGACY, cursor=first["endCursor"]).json()
    assert [e["eventId"] for e in after["data"]] == new_ids
    assert after["endCursor"] != first["endCursor"]


def test_iso_cursor_starts_at_first_event_ingested_at_or_after_it(simulator_factory) -> None:
    clock = FakeClock()
    sim = simulator_factory(clock=clock)
    sim.append_events(2, backdate_s=3600)
    later = sim.append_events(3, backdate_s=60)
    session = bearer_session(sim)
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(clock.now - 600))
    for cursor in (since + "Z", since + ".1234567Z", since + "+00:00", since):
        body = get(session, sim, LEGACY, cursor=cursor).json()
        assert [e["eventId"] for e in body["data"]] == later, cursor


def test_iso_cursor_with_no_events_returns_a_fresh_opaque_cursor(simulator: Simulator) -> None:
    session = bearer_session(simulator)
    body = get(session, simulator, LEGACY, cursor="2026-01-01T00:00:00Z").json()
    assert body["data"] == [] and body["endCursor"].startswith("aa_")
    again = get(session, simulator, LEGACY, cursor=body["endCursor"]).json()
    assert again["endCursor"] == body["endCursor"]


def test_empty_cursor_starts_seven_days_back(simulator_factory) -> None:
    sim = simulator_factory(retention_days=30)
    sim.append_events(1, backdate_s=8 * 86400)
    recent = sim.append_events(1, backdate_s=6 * 86400)
    body = get(bearer_session(sim), sim, LEGACY).json()
    assert [e["eventId"] for e in body["data"]] == recent


@pytest.mark.parametrize("cursor", ["garbage", "aa_1_2_3", "aa_x", "2024-13-45T00:00:00Z"])
def test_unknown_or_malformed_cursor_is_400(simulator: Simulator, cursor: str) -> None:
    response = get(bearer_session(simulator), simulator, LEGACY, cursor=cursor)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_cursor"


def test_cursor_of_another_seed_is_unknown(simulator_factory) -> None:
    one, two = simulator_factory(seed=1, backlog=3), simulator_factory(seed=2, backlog=3)
    cursor = get(bearer_session(one), one, LEGACY).json()["endCursor"]
    assert get(bearer_session(two), two, LEGACY, cursor=cursor).status_code == 400


@pytest.mark.parametrize(
    "limit, status",
    [("0", 400), ("2001", 400), ("abc", 400), ("-1", 400), ("1", 200), ("2000", 200)],
)
def test_limit_bounds(simulator_factory, limit: str, status: int) -> None:
    sim = simulator_factory(backlog=3)
    response = get(bearer_session(sim), sim, LEGACY, limit=limit)
    assert response.status_code == status
    if status == 200:
        assert len(response.json()["data"]) == min(3, int(limit))


@pytest.mark.parametrize("path", ["legacy", "current"])
def test_missing_unknown_and_expired_tokens_are_401(simulator_factory, path: str) -> None:
    clock = FakeClock()
    sim = simulator_factory(clock=clock)
    url = sim.base_url + (LEGACY if path == "legacy" else current(sim))
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}):
        response = requests.get(url, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
        assert response.headers["X-DocuSign-TraceToken"]
    session = bearer_session(sim)
    assert session.get(url).status_code == 200
    clock.now += 3601
    expired = session.get(url)
    assert expired.status_code == 401 and "expired" in expired.json()["error_description"]


def test_monitor_disabled_is_403_empty_on_legacy_json_on_current(simulator: Simulator) -> None:
    session = bearer_session(simulator)
    simulator.set_monitor_enabled(False)
    legacy = get(session, simulator, LEGACY)
    assert legacy.status_code == 403 and legacy.content == b""
    new = get(session, simulator, current(simulator))
    assert new.status_code == 403 and new.json()["error"] == "forbidden"
    simulator.set_monitor_enabled(True)
    assert get(session, simulator, LEGACY).status_code == 200


def test_admin_of_two_organizations_is_403(simulator: Simulator) -> None:
    simulator.register_user(simulator.user_id, organizations=2)
    session = bearer_session(simulator)
    response = get(session, simulator, LEGACY)
    assert response.status_code == 403 and response.content == b""


def test_unknown_organization_is_404(simulator: Simulator) -> None:
    response = get(
        bearer_session(simulator),
        simulator,
        "/v1/organizations/00000000-0000-4000-8000-000000000000/stream",
    )
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_retention_drops_old_events_and_old_cursors_restart_at_oldest(simulator_factory) -> None:
    clock = FakeClock()
    sim = simulator_factory(clock=clock, retention_days=1, rate_limits=False)
    old = sim.append_events(2)
    session = bearer_session(sim)
    cursor = get(session, sim, LEGACY, limit=1).json()["endCursor"]  # served old[0] only
    clock.now += 2 * 86400
    kept = sim.append_events(2)
    session = bearer_session(sim)
    body = get(session, sim, LEGACY, cursor=cursor).json()
    assert [e["eventId"] for e in body["data"]] == kept
    assert sim.retained_event_ids() == kept and sim.event_ids() == old + kept


def test_keep_alive_connection_is_reused(simulator_factory) -> None:
    sim = simulator_factory(backlog=10)
    session = bearer_session(sim)
    first = session.get(sim.base_url + LEGACY, stream=True)
    sock = first.raw._fp.fp.raw._sock  # the underlying socket
    json.loads(first.content)
    second = session.get(sim.base_url + LEGACY, stream=True)
    assert second.raw._fp.fp.raw._sock is sock
    second.close()
