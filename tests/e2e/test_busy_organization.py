"""A busy organization (issue 17): the reported case, 20 events a second with 0.3 s answers,
against the simulator's busy profile. Before, a scheduled `run` never ended (every answer carried
a few new events and a new endCursor) and `run --follow` at the head made 288 requests in 100 s
with a 60 s poll interval. Counts come from the simulator's request log, never from wall time."""

from __future__ import annotations

import json
import signal
import threading
import time

from connector_support import Connector, lines_of

from docusign_input.simulator import Simulator, SimulatorConfig
from docusign_input.simulator.events import random_guid
from docusign_input.timestamps import format_time

HOUR_DAYS = 1 / 24


def busy(**overrides) -> Simulator:
    """The reported account: 20 events/s, answers in 0.3 s, a fifth of backlog pages short."""
    config = SimulatorConfig(profile="busy", events_per_second=20, latency_s=0.3, **overrides)
    return Simulator(config).start()


def stream_requests(sim: Simulator) -> int:
    return sum(1 for r in sim.requests if "stream" in r.path)


def test_a_scheduled_run_of_a_busy_account_ends_and_two_runs_lose_and_repeat_nothing(tmp_path):
    with busy(backlog=4200, backlog_days=HOUR_DAYS) as sim:
        connector = Connector(sim, tmp_path)
        first = connector.run("run", "--backfill-start", "2h", timeout=120)
        assert first.returncode == 0, first.stderr.decode()
        # The backlog's pages (at most 2000 events each, some short) and one at the head.
        assert stream_requests(sim) <= 4200 // 2000 + 6
        time.sleep(1.0)  # the account goes on producing meanwhile
        sim.set_event_rate(0)
        second = connector.run("run", timeout=120)
        assert second.returncode == 0, second.stderr.decode()
        delivered = [e["eventId"] for e in lines_of(first.stdout) + lines_of(second.stdout)]
        assert delivered == sim.event_ids()  # in order, none lost, none twice


def test_follow_at_the_head_makes_one_request_per_poll_interval(tmp_path):
    """At 20 events/s and a 2 s poll interval each interval brings 40 events: one page."""
    with busy() as sim:
        connector = Connector(sim, tmp_path)
        proc = connector.popen("run", "--follow", "--poll-interval", "2", "--log-level", "debug")
        lines: list[bytes] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
        reader.start()  # the connector counts a page delivered once the pipe is read
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and sim.stream_requests < 5:
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
            reader.join(timeout=10)
        stderr = err.decode()
        assert proc.returncode == 0, stderr
        syncs = stderr.count("sync done")
        events = len(lines)
        # Each sync: the pages its events need (2000 a page), then it waits the poll interval.
        assert 3 <= syncs and stream_requests(sim) <= syncs + events // 2000 + 2
        assert "short page of recent events" in stderr or "cursor did not move" in stderr


def test_a_backlog_in_short_pages_drains_in_one_sync_without_pausing(tmp_path):
    """limit is a maximum: half the pages of an hour-old backlog come short. With a one-hour
    poll interval, a sync that took a short page for the head would not come back in time."""
    config = SimulatorConfig(profile="busy", latency_s=0.0, short_page_share=0.5)
    sim = Simulator(config)
    sim.set_event_rate(0)
    with sim:
        sim.seed_backlog(3000, days=HOUR_DAYS, ago_s=3600)
        connector = Connector(sim, tmp_path)
        proc = connector.popen(
            "run", "--follow", "--poll-interval", "1h", "--backfill-start", "3h",
            "--page-size", "200", "--log-level", "debug",
        )  # fmt: skip
        lines: list[bytes] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 90  # a pause would be the poll interval: an hour
            while time.monotonic() < deadline and len(lines) < 3000:
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
            reader.join(timeout=10)
        got = [json.loads(line)["eventId"] for line in lines]
        assert got == sim.event_ids()
        pages = [r for r in sim.requests if "stream" in r.path]
        assert len(pages) > 3000 // 200 + 3  # short pages came, and were not taken for the head
        assert err.decode().count("sync done") <= 1  # one sync, then the poll interval


def test_an_event_ingested_late_with_an_older_timestamp_is_delivered_once(connector: Connector):
    """The cursor is an ingestion position: an event stamped before one already delivered, but
    ingested after it, is new; deduplication by ID must not drop it, nor repeat the first."""
    sim = connector.sim

    def event(age_s: float) -> bytes:
        stamp = format_time_ago(age_s)
        return json.dumps({"eventId": random_guid(__import__("random").Random(age_s)),
                           "timestamp": stamp, "object": "Account"}).encode()  # fmt: skip

    newer = sim.append_event_bytes(event(5))
    first = connector.run("run", "--backfill-start", "10m")
    assert [e["eventId"] for e in lines_of(first.stdout)] == [newer]
    older = sim.append_event_bytes(event(240))  # ingested now, stamped four minutes ago
    second = connector.run("run")
    assert second.returncode == 0, second.stderr.decode()
    assert [e["eventId"] for e in lines_of(second.stdout)] == [older]


def format_time_ago(seconds: float) -> str:
    from datetime import datetime, timedelta, timezone

    return format_time(datetime.now(timezone.utc) - timedelta(seconds=seconds))


def test_the_rate_limit_reserve_spreads_requests_to_the_reset_with_one_warning(
    connector: Connector,
):
    """2 % of the hourly allowance left, the reset 20 s away: one request a second (20 s / 20
    left) between pages, said once; the pauses are the checkpoint's rate_limit_wait_s."""
    from docusign_input.simulator import Fault

    sim = connector.sim
    ids = sim.append_events(25, backdate_s=3600)
    low = {"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "20",
           "X-RateLimit-Reset": str(int(time.time()) + 20)}  # fmt: skip
    sim.inject(Fault("headers", set=low))
    done = connector.run("run", "--backfill-start", "2h", "--page-size", "10")
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    assert [e["eventId"] for e in lines_of(done.stdout)] == ids
    assert stderr.count("below the reserve") == 1
    # Three pauses of about a second (after pages of 10, 10 and 5), none at the head.
    waited = connector.saved()["health"]["last_sync"]["rate_limit_wait_s"]
    assert 0.5 <= waited <= 3.5  # (the reset minus the time already passed) / 20, thrice
