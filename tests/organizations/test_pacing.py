"""At the stream's head each organization polls on its own phase of the poll interval: the wait
ends on its grid (phase + k intervals), so polls keep the spread drawn at start instead of
bunching where the first syncs ended, and never drift by a sync's duration."""

from __future__ import annotations

from docusign_input.fleet import PhasedStopper, most_severe


class Recorder:
    stopping = False

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.blocked_on = "nothing"

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_the_head_wait_ends_on_the_organizations_grid():
    now = [75.0]
    inner = Recorder()
    paced = PhasedStopper(inner, 60.0, 10.0, monotonic=lambda: now[0])
    paced.sleep(60.0)  # synced at 75 (late start): next grid point at least 30 s away is 130
    now[0] = 130.4  # that sync took 0.4 s
    paced.sleep(60.0)
    now[0] = 190.0
    paced.sleep(60.0)
    paced.sleep(7.5)  # any other wait (backoff, pacing) is left alone
    assert [round(s, 6) for s in inner.slept] == [55.0, 59.6, 60.0, 7.5]
    assert paced.blocked_on == "nothing" and paced.stopping is False  # the rest is the fleet's


def test_the_fleet_exit_code_is_the_most_severe():
    assert most_severe([0, 0]) == 0
    assert most_severe([75, 65, 0]) == 65
    assert most_severe([75, 77, 78, 70]) == 78
    assert most_severe([74, 70, 75]) == 70


def test_each_format_names_the_organization_where_the_contract_says():
    from docusign_input.fleet import annotate
    from docusign_input.formats import mapper

    event = {"eventId": "e1", "timestamp": "2026-12-06T10:00:00Z", "action": "Login",
             "organizationId": "0a0b0c0d-0000-4000-8000-000000000009"}
    raw = annotate("raw", "acme", None)(dict(event))
    assert list(raw)[-1] == "docusign_input" and raw["docusign_input"] == {"organization": "acme"}
    assert {k: raw[k] for k in event} == event
    known = "0a0b0c0d-0000-4000-8000-000000000001"
    assert annotate("raw", "acme", known)(dict(event))["docusign_input"] == {
        "organization": "acme", "organization_id": known}
    ecs = mapper("ecs")
    assert annotate("ecs", "acme", None)(ecs(dict(event)))["organization"] == {
        "id": event["organizationId"], "name": "acme"}
    assert annotate("ecs", "acme", known)(ecs(dict(event)))["organization"]["id"] == known
    ocsf = annotate("ocsf", "acme", known)(mapper("ocsf")(dict(event)))
    assert ocsf["metadata"]["tenant_uid"] == known
    assert {"name": "organization", "value": "acme"} in ocsf["metadata"]["tags"]
    from schema_checks import ecs_problems, ocsf_problems

    assert ocsf_problems(ocsf) == []
    assert ecs_problems(annotate("ecs", "acme", known)(ecs(dict(event)))) == []
