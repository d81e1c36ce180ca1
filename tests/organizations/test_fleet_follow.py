"""run --organizations --follow: a failing organization and a slow backlog do not hold the others
up; a stop with many organizations mid-page ends within 5 s and loses nothing; forward tags and
ECS documents name their organization."""

from __future__ import annotations

import array
import fcntl
import json
import signal
import socket
import termios
import threading
import time
from collections import Counter

from fleet_support import FleetConnector, with_backfill
from receivers import ForwardReceiver

from docusign_input.simulator import Simulator

FAST = {"DOCUSIGN_POLL_INTERVAL": "1"}


class Lines:
    """stdout read as it comes: (organization, eventId) pairs, in order."""

    def __init__(self, stream) -> None:
        self.items: list[tuple[str, str]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            event = json.loads(line)
            self.items.append((event["docusign_input"]["organization"], event["eventId"]))

    def join(self) -> None:
        self._thread.join(10)

    def of(self, name: str) -> list[str]:
        return [event_id for who, event_id in list(self.items) if who == name]

    def wait(self, condition, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_failing_organization_and_a_slow_backlog_do_not_hold_up_the_others(tmp_path):
    with Simulator() as sim:
        big = sim.add_organization("big", backlog=3000, own_key=False)
        idle = sim.add_organization("idle", own_key=False)
        broken = sim.add_organization("broken", own_key=False)
        revoked = sim.add_organization("revoked", own_key=False)
        sim.add_organization("unreachable", own_key=False)
        # the backlog is slow: small pages and a tight burst limit of its own
        big.set_rate_limits(burst_limit=6, burst_window_s=3)
        fleet = FleetConnector(sim, tmp_path)
        fleet.write()
        text = with_backfill(fleet.file.read_text())
        text = text.replace('name = "big"\n', 'name = "big"\npage_size = 50\n')
        # its DocuSign does not answer: a port nothing listens on
        text = text.replace('name = "unreachable"\n', 'name = "unreachable"\n'
                            f'monitor_url = "http://127.0.0.1:{free_port()}"\n')
        fleet.file.write_text(text)
        broken.set_stream_status(503)
        revoked.set_consent(False)
        with open(tmp_path / "stderr", "wb") as stderr_file:
            process = fleet.popen("run", "--follow", env=FAST, stderr=stderr_file)
        lines = Lines(process.stdout)
        try:
            lines.wait(lambda: len(lines.of("big")) >= 50)
            for round_ in range(3):
                idle.append_events(2)
                lines.wait(lambda n=2 * (round_ + 1): len(lines.of("idle")) >= n, timeout=20)
            # the idle organization's events came while the backlog was still draining
            assert len(lines.of("big")) < 3000
            assert broken.stream_requests >= 1 and revoked.stream_requests == 0
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
            lines.join()
        stderr = (tmp_path / "stderr").read_text()
        assert process.returncode == 0, stderr
        assert lines.of("idle") == idle.event_ids()
        said = stderr.splitlines()
        # each failure is said under its organization's name (a 503 is retried: a warning)
        assert any("organization=broken" in line and "HTTP 503" in line for line in said)
        assert any("organization=revoked" in line and "consent" in line for line in said)
        assert any("organization=unreachable" in line and "cannot reach DocuSign" in line
                   for line in said)
        assert not any(("organization=idle" in line or "organization=big" in line)
                       and (" error: " in line or "HTTP 503" in line) for line in said)
        status = json.loads(fleet.run("status", "--json").stdout)
        assert status["broken"]["healthy"] is False and status["revoked"]["healthy"] is False
        assert status["idle"]["healthy"] is True


def test_a_stop_with_many_organizations_mid_page_ends_within_5_s_and_loses_nothing(tmp_path):
    with Simulator(rate_limits=False) as sim:
        names = [f"customer-{n:02d}" for n in range(24)]
        organizations = {n: sim.add_organization(n, backlog=1000, own_key=False) for n in names}
        fleet = FleetConnector(sim, tmp_path)
        fleet.write()
        fleet.file.write_text(
            with_backfill(fleet.file.read_text()).replace("[defaults]\n", "[defaults]\n"
                                                          "page_size = 40\n"))
        with open(tmp_path / "stderr", "wb") as stderr_file:
            process = fleet.popen("run", "--follow", env=FAST, stderr=stderr_file)
        lines = Lines(process.stdout)
        lines.wait(lambda: len({who for who, _ in lines.items}) >= 10)
        asked = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        took = time.monotonic() - asked
        lines.join()  # everything it wrote before it ended
        assert took < 5, took
        stderr = (tmp_path / "stderr").read_text()
        assert "still blocked after the grace period" not in stderr  # a clean stop
        assert process.returncode == 0
        first = list(lines.items)
        assert len(first) < 24 * 1000  # stopped mid-drain
        rest = fleet.run("run")
        assert rest.returncode == 0, rest.stderr.decode()
        for line in rest.stdout.decode().splitlines():
            event = json.loads(line)
            first.append((event["docusign_input"]["organization"], event["eventId"]))
        for name, organization in organizations.items():
            got = [event_id for who, event_id in first if who == name]
            assert set(got) == set(organization.event_ids()), name  # nothing lost
            repeated = [i for i, c in Counter(got).items() if c > 1]
            assert len(repeated) <= 40, name  # at most the page being delivered


def test_forward_tags_and_ecs_documents_name_their_organization(tmp_path):
    with Simulator() as sim, ForwardReceiver() as receiver:
        acme = sim.add_organization("acme", backlog=3, own_key=False)
        globex = sim.add_organization("globex", backlog=2, own_key=False)
        fleet = FleetConnector(sim, tmp_path)
        fleet.write()
        given_id = f'name = "globex"\norganization_id = "{globex.organization_id}"\n'
        fleet.file.write_text(with_backfill(fleet.file.read_text()).replace(
            'name = "globex"\n', given_id))
        result = fleet.run("run", env={
            "DOCUSIGN_OUTPUT": f"forward://127.0.0.1:{receiver.port}?tag=soc.docusign",
            "DOCUSIGN_FORMAT": "ecs"})
        assert result.returncode == 0, result.stderr.decode()
        entries = receiver.wait_for(5)
        tags = Counter(entry.tag for entry in entries)
        assert tags == {"soc.docusign.acme": 3, "soc.docusign.globex": 2}
        for entry in entries:
            name = entry.tag.rsplit(".", 1)[1]
            assert entry.record["organization"]["name"] == name
            if name == "globex":
                assert entry.record["organization"]["id"] == globex.organization_id
        assert {e.record["event"]["id"] for e in entries} == set(
            acme.event_ids() + globex.event_ids())


def test_a_forced_stop_records_every_organizations_end(tmp_path):
    # The output's reader stopped reading: one organization's page is stuck in the write, the
    # others wait for the output, and the stop reaches the watchdog. Every organization's run
    # must still record its end, or `status` calls it killed (SIGKILL, out of memory, a reboot).
    with Simulator(rate_limits=False) as sim:
        names = [f"customer-{n:02d}" for n in range(50)]
        for name in names:
            sim.add_organization(name, backlog=100, own_key=False)
        fleet = FleetConnector(sim, tmp_path)
        fleet.write()
        fleet.file.write_text(with_backfill(fleet.file.read_text()))
        with open(tmp_path / "stderr", "wb") as stderr_file:
            process = fleet.popen("run", "--follow", env=FAST, stderr=stderr_file)
        try:  # stdout is never read: the pipe fills

            def all_started_and_stdout_full() -> bool:
                try:
                    started = all(
                        fleet.checkpoint(n)["health"]["last_run"]["pid"] == process.pid
                        for n in names)
                except (OSError, ValueError, KeyError, TypeError):
                    return False
                unread = array.array("i", [0])
                fcntl.ioctl(process.stdout.fileno(), termios.FIONREAD, unread)
                return started and unread[0] >= 60000

            Lines.wait(None, all_started_and_stdout_full)  # type: ignore[arg-type]
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
        finally:
            process.kill()
        stderr = (tmp_path / "stderr").read_text()
        assert "still blocked after the grace period" in stderr  # the watchdog ended it
        status = fleet.run("status", "--json")
        report = json.loads(status.stdout)
        killed = [n for n in names if "killed" in json.dumps(report[n])]
        assert killed == []
        for name in names:
            run = fleet.checkpoint(name)["health"]["last_run"]
            assert run.get("ended_at"), name
        stopped = {n: fleet.checkpoint(n)["health"]["last_run"].get("stopped", "")
                   for n in names}
        stopped = {n: why for n, why in stopped.items() if why}
        assert len(stopped) > 1  # ended by the watchdog's records, not by themselves
        # each names its own run's wait: one was writing, the others waited for the output
        writing = [n for n, why in stopped.items() if "output's reader was not reading" in why]
        assert len(writing) == 1, writing
        assert all("another organization's page was holding the output" in why
                   for n, why in stopped.items() if n not in writing), stopped
