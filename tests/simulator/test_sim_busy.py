"""The "busy" profile: a large organization's stream (sustained ingestion, ingestion lag, short
pages in the middle of a backlog, latency per answer, rate-limit headers that count down)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from docusign_input.simulator import Simulator, SimulatorConfig
from docusign_input.simulator.api import AnswerShape
from docusign_input.simulator.testing import bearer_session

LEGACY = "/api/v2.0/datasets/monitor/stream"


def page_sizes(sim: Simulator, limit: int) -> tuple[list[int], list[str], list[int]]:
    """Drain the legacy stream: (answer sizes, event ids, X-RateLimit-Remaining per answer)."""
    session = bearer_session(sim)
    sizes: list[int] = []
    ids: list[str] = []
    remaining: list[int] = []
    cursor = ""
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        answer = session.get(sim.base_url + LEGACY, params=params, timeout=10)
        remaining.append(int(answer.headers["X-RateLimit-Remaining"]))
        body = answer.json()
        sizes.append(len(body["data"]))
        ids += [event["eventId"] for event in body["data"]]
        if body["endCursor"] == cursor:
            return sizes, ids, remaining
        cursor = body["endCursor"]


def busy(**overrides) -> Simulator:
    sim = Simulator(
        SimulatorConfig(profile="busy", latency_s=0.0, short_page_share=0.5, backlog=3000),
        **overrides,
    ).start()
    sim.set_event_rate(0)  # these tests read a fixed backlog
    return sim


def test_a_backlog_comes_in_short_pages_at_the_chosen_share_and_nothing_is_lost():
    with busy() as sim:
        sizes, ids, remaining = page_sizes(sim, 200)
        assert ids == sim.event_ids()[: len(ids)] and len(ids) == 3000
        middle = sizes[:-2]
        short = [size for size in middle if size < 200]
        assert 0.25 <= len(short) / len(middle) <= 0.75
        assert all(size >= 1 for size in middle)
        # The rate-limit headers count down, one request at a time.
        assert remaining == list(range(remaining[0], remaining[0] - len(remaining), -1))


def test_the_same_seed_gives_the_same_answers():
    with busy() as first:
        one = page_sizes(first, 300)[0]
    with busy() as second:
        two = page_sizes(second, 300)[0]
    with busy(seed=2) as third:
        other = page_sizes(third, 300)[0]
    assert one == two and one != other


def test_the_stream_is_ordered_by_ingestion_not_by_timestamp():
    with busy() as sim:
        session = bearer_session(sim)
        events = session.get(sim.base_url + LEGACY, params={"limit": 2000}, timeout=10).json()
        stamps = [event["timestamp"] for event in events["data"]]
        assert stamps != sorted(stamps)


def test_latency_per_answer_is_drawn_around_the_mean_and_seeded():
    shape = AnswerShape(7, latency_s=0.3)
    draws = [shape.latency() for _ in range(200)]
    assert all(0.15 <= d <= 0.45 for d in draws)
    again = AnswerShape(7, latency_s=0.3)
    assert [again.latency() for _ in range(200)] == draws
    assert AnswerShape(7).latency() == 0.0 and AnswerShape(7).short_limit(2000) is None


def test_sustained_ingestion_at_the_chosen_rate_is_the_profile_default():
    config = SimulatorConfig(profile="busy", events_per_second=120)
    assert config.ingestion_per_minute == 7200
    assert SimulatorConfig(events_per_minute=30).ingestion_per_minute == 30
    with pytest.raises(ValueError, match="from 1 to 200"):
        SimulatorConfig(profile="busy", events_per_second=500)
    with pytest.raises(ValueError, match="unknown profile"):
        SimulatorConfig(profile="loud")


def test_simulate_profile_busy_says_so_and_refuses_an_impossible_rate():
    bad = subprocess.run(
        [sys.executable, "-m", "docusign_input", "simulate", "--profile", "busy",
         "--events-per-second", "500", "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "from 1 to 200" in bad.stderr
    assert "Traceback" not in bad.stderr
    endless = subprocess.run(
        [sys.executable, "-m", "docusign_input", "simulate", "--scenario", "brute-force",
         "--scenario-delay", "1e10", "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert endless.returncode == 2 and "--scenario-delay" in endless.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "docusign_input", "simulate", "--profile", "busy",
         "--events-per-second", "50", "--port", "0", "--backlog", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        banner = [first] + [proc.stdout.readline() for _ in range(4)]
        assert "3000 more a minute (busy profile)" in "".join(banner)
        url = first.split(" at ")[1].split()[0]
        state = requests.get(url + "/__simulator__/state", timeout=10).json()
        assert state["profile"] == "busy" and state["latency_s"] == 0.3
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
