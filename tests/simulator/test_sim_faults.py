"""Rate limits and injected faults: the failures a connector must ride through."""

from __future__ import annotations

import time

import pytest
import requests

from docusign_input.simulator import Fault, Simulator
from docusign_input.simulator.testing import bearer_session, request_token

LEGACY = "/api/v2.0/datasets/monitor/stream"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0 + 600  # ten minutes into an hour

    def __call__(self) -> float:
        return self.now


def stream(session: requests.Session, sim: Simulator, **params) -> requests.Response:
    return session.get(sim.base_url + LEGACY, params=params, timeout=10)


def test_rate_limit_headers_count_down(simulator: Simulator) -> None:
    session = bearer_session(simulator)
    first, second = stream(session, simulator), stream(session, simulator)
    assert first.headers["X-RateLimit-Limit"] == "3000"
    assert first.headers["X-BurstLimit-Limit"] == "200"
    assert int(first.headers["X-RateLimit-Remaining"]) - 1 == int(
        second.headers["X-RateLimit-Remaining"]
    )
    assert int(first.headers["X-BurstLimit-Remaining"]) - 1 == int(
        second.headers["X-BurstLimit-Remaining"]
    )
    assert int(first.headers["X-RateLimit-Reset"]) % 3600 == 0
    assert int(first.headers["X-RateLimit-Reset"]) > time.time()


def test_burst_limit_answers_429_with_retry_after(simulator_factory) -> None:
    clock = FakeClock()
    sim = simulator_factory(clock=clock, burst_limit=3, burst_window_s=30)
    session = bearer_session(sim)
    assert [stream(session, sim).status_code for _ in range(3)] == [200, 200, 200]
    refused = stream(session, sim)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "30"
    assert refused.headers["X-BurstLimit-Remaining"] == "0"
    assert refused.json()["error"] == "too_many_requests"
    clock.now += 30
    assert stream(session, sim).status_code == 200


def test_hourly_limit_resets_on_the_hour(simulator_factory) -> None:
    clock = FakeClock()
    sim = simulator_factory(clock=clock, hourly_limit=2)
    session = bearer_session(sim)
    assert [stream(session, sim).status_code for _ in range(3)] == [200, 200, 429]
    assert stream(session, sim).headers["Retry-After"] == str(3000)
    clock.now += 3000
    assert stream(session, sim).status_code == 200


def test_limits_can_be_switched_off_and_reconfigured(simulator_factory) -> None:
    sim = simulator_factory(rate_limits=False, burst_limit=2)
    session = bearer_session(sim)
    assert {stream(session, sim).status_code for _ in range(6)} == {200}
    sim.set_rate_limits(enabled=True, burst_limit=1)
    assert [stream(session, sim).status_code for _ in range(2)] == [200, 429]


@pytest.mark.parametrize("kind, status", [("http_500", 500), ("http_502", 502), ("http_503", 503)])
def test_server_errors_hit_the_next_count_requests(
    simulator: Simulator, kind: str, status: int
) -> None:
    session = bearer_session(simulator)
    simulator.inject(Fault(kind, count=2))
    codes = [stream(session, simulator).status_code for _ in range(3)]
    assert codes == [status, status, 200]
    assert [r.fault for r in simulator.requests[-3:]] == [kind, kind, None]


def test_injected_429_carries_retry_after(simulator: Simulator) -> None:
    simulator.inject(Fault("http_429", count=1, retry_after=7))
    response = stream(bearer_session(simulator), simulator)
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"


def test_reset_before_closes_without_an_answer(simulator: Simulator) -> None:
    session = bearer_session(simulator)
    simulator.inject(Fault("reset_before", count=1))
    with pytest.raises(requests.ConnectionError):
        stream(session, simulator)
    assert stream(session, simulator).status_code == 200
    assert simulator.requests[-2].status == 0


def test_reset_mid_cuts_the_body(simulator_factory) -> None:
    sim = simulator_factory(backlog=50)
    session = bearer_session(sim)
    sim.inject(Fault("reset_mid", count=1))
    with pytest.raises(requests.RequestException):
        stream(session, sim).json()
    assert stream(session, sim).status_code == 200


@pytest.mark.parametrize("kind", ["truncated_json", "malformed_json"])
def test_bodies_that_are_not_json(simulator_factory, kind: str) -> None:
    sim = simulator_factory(backlog=50)
    session = bearer_session(sim)
    sim.inject(Fault(kind, count=1))
    response = stream(session, sim)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert len(stream(session, sim).json()["data"]) == 50


def test_slow_answers_after_the_delay(simulator: Simulator) -> None:
    session = bearer_session(simulator)
    simulator.inject(Fault("slow", count=1, delay_s=0.3))
    started = time.monotonic()
    assert stream(session, simulator).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_repeat_previous_starts_the_page_a_few_events_early(simulator_factory) -> None:
    sim = simulator_factory(backlog=20)
    session = bearer_session(sim)
    first = stream(session, sim, limit=10).json()
    sim.inject(Fault("repeat_previous", count=1, overlap=3))
    second = stream(session, sim, limit=10, cursor=first["endCursor"]).json()
    ids = sim.event_ids()
    assert [e["eventId"] for e in second["data"]] == ids[7:17]


def test_faults_skip_the_token_endpoint_unless_asked(simulator: Simulator) -> None:
    simulator.inject(Fault("http_503", count=1))
    assert request_token(simulator).status_code == 200
    simulator.clear_faults()
    simulator.inject(Fault("http_503", count=1, path_prefix="/oauth/token"))
    assert request_token(simulator).status_code == 503
    assert request_token(simulator).status_code == 200


def test_probability_faults_follow_the_seed(simulator_factory) -> None:
    runs = []
    for _ in range(2):
        sim = simulator_factory(seed=5, rate_limits=False)
        session = bearer_session(sim)
        sim.inject(Fault("http_500", probability=0.5))
        runs.append([stream(session, sim).status_code for _ in range(20)])
    assert runs[0] == runs[1] and {200, 500} == set(runs[0])


def test_unknown_fault_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        Fault("meteor")
    assert Fault.parse("http_500:3").count == 3
    assert Fault.parse("slow@0.25").probability == 0.25
