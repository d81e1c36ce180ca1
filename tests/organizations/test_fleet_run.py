"""run --organizations: every organization's events delivered once, each naming its organization,
each its own checkpoint in the single-checkpoint format; one failing organization isolated."""

from __future__ import annotations

import json

from fleet_support import FleetConnector, events_by_organization, with_backfill

from docusign_input.simulator import Simulator


def test_three_organizations_each_delivered_once(tmp_path):
    with Simulator() as sim:
        organizations = {name: sim.add_organization(name, backlog=n, own_key=False)
                         for name, n in (("acme", 30), ("globex", 5), ("initech", 12))}
        fleet = FleetConnector(sim, tmp_path)
        fleet.write()
        fleet.file.write_text(with_backfill(fleet.file.read_text()))
        first = fleet.run("run")
        assert first.returncode == 0, first.stderr.decode()
        got = events_by_organization(first.stdout)
        assert {name: sorted(ids) for name, ids in got.items()} == {
            name: sorted(o.event_ids()) for name, o in organizations.items()}
        # in each organization's stream order; raw: DocuSign's bytes, then one appended member
        for name, organization in organizations.items():
            assert got[name] == organization.event_ids()
        line = first.stdout.splitlines()[0]
        event = json.loads(line)
        name = event["docusign_input"]["organization"]
        original = organizations[name].served.log.event_bytes(event["eventId"])
        assert line == original[:-1] + b',"docusign_input":{"organization":"%s"}}' % (
            name.encode())
        # each checkpoint is an ordinary one: status --checkpoint works on it
        for name in organizations:
            saved = fleet.checkpoint(name)
            assert saved["user_id"] == organizations[name].user_id
        organizations["globex"].append_events(4)
        second = fleet.run("run")
        assert second.returncode == 0, second.stderr.decode()
        assert {k: len(v) for k, v in events_by_organization(second.stdout).items()} == {
            "globex": 4}


def test_one_failing_organization_is_isolated_in_a_scheduled_run(tmp_path):
    with Simulator() as sim:
        good = sim.add_organization("good", backlog=20, own_key=False)
        revoked = sim.add_organization("revoked", backlog=5, own_key=False)
        broken = sim.add_organization("broken", backlog=5, own_key=False)
        fleet = FleetConnector(sim, tmp_path)
        fleet.write()
        fleet.file.write_text(with_backfill(fleet.file.read_text()))
        revoked.set_consent(False)
        # DocuSign asks it to come back in an hour: beyond a scheduled run's wait, exit 75 at once
        broken.set_stream_status(429, retry_after_s=3600)
        result = fleet.run("run")
        stderr = result.stderr.decode()
        # the most severe of 77 (consent) and 75 (rate limit), one line per failing organization
        assert result.returncode == 77, stderr
        assert events_by_organization(result.stdout) == {"good": good.event_ids()}
        failing = [line for line in stderr.splitlines()
                   if " error: " in line and "exit_code=" in line]
        assert any("organization=revoked" in line and "consent" in line.lower()
                   for line in failing), stderr
        assert any("organization=broken" in line and "exit_code=75" in line
                   for line in failing), stderr
        assert not any("organization=good" in line for line in failing)
        status = fleet.run("status", "--json")
        assert status.returncode == 1
        report = json.loads(status.stdout)
        assert report["good"]["healthy"] is True
        assert report["revoked"]["healthy"] is False
        assert report["broken"]["healthy"] is False
        text = fleet.run("status").stdout.decode().splitlines()
        assert [line.split()[0] for line in text] == ["good", "revoked", "broken"]
        assert "healthy" in text[0] and "UNHEALTHY" in text[1]


def test_a_second_process_on_the_same_state_is_refused(tmp_path):
    with Simulator() as sim:
        sim.add_organization("acme", own_key=False)
        sim.add_organization("globex", own_key=False)
        fleet = FleetConnector(sim, tmp_path)
        fleet.write()
        first = fleet.popen("run", "--follow", env={"DOCUSIGN_POLL_INTERVAL": "60"})
        try:
            import time
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not all(
                (fleet.state / f"{n}.json").exists() for n in ("acme", "globex")):
                time.sleep(0.1)
            second = fleet.run("run")
            stderr = second.stderr.decode()
            assert second.returncode == 75, stderr
            assert "held by another process" in stderr and str(first.pid) in stderr
        finally:
            first.terminate()
            first.wait(10)


def test_check_reports_each_organization_and_status_takes_a_shard(tmp_path):
    from docusign_input.sharding import Shard

    with Simulator() as sim:
        names = ["acme", "globex", "initech", "umbrella"]
        for name in names:
            sim.add_organization(name, own_key=False)
        sim.organizations["globex"].set_consent(False)
        fleet = FleetConnector(sim, tmp_path)
        fleet.write()
        check = fleet.run("check")
        out = check.stdout.decode()
        assert check.returncode == 77, check.stderr.decode()
        assert [line for line in out.splitlines() if line.startswith("== organization")] == [
            f"== organization {name}" for name in names]
        assert "organization globex:" in check.stderr.decode()
        assert not (fleet.state / "acme.json").exists()  # check saves nothing
        assert fleet.run("run").returncode == 77
        for index in range(2):
            shard = Shard(index, 2)
            status = fleet.run("status", "--json", "--shard", f"{index}/2")
            assert sorted(json.loads(status.stdout)) == sorted(
                n for n in names if shard.takes(n))
