"""Server hints and durations cannot break the loop (issue 17): an unusable Retry-After or
X-RateLimit-* value is ignored with one warning; a duration beyond its documented maximum is exit
78 naming the setting. Before, `Retry-After: 1e999` and `X-RateLimit-Reset: 1e999` ended a run
with OverflowError (exit 70), and `--poll-interval 1e10` was accepted and crashed after the
first sync."""

from __future__ import annotations

import pytest
from connector_support import Connector, lines_of

from docusign_input.simulator import Fault

UNUSABLE = ["1e999", "-5", "nan", "soon"]


@pytest.mark.parametrize("value", UNUSABLE)
def test_an_unusable_retry_after_is_ignored_with_one_warning(connector: Connector, value):
    sim = connector.sim
    ids = sim.append_events(3, backdate_s=60)
    sim.inject(Fault("http_429", count=1, retry_after=value))
    done = connector.run("run", "--backfill-start", "10m")
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    assert "Traceback" not in stderr and "OverflowError" not in stderr
    assert [e["eventId"] for e in lines_of(done.stdout)] == ids
    assert stderr.count("unusable Retry-After") == 1


@pytest.mark.parametrize("value", UNUSABLE)
def test_an_unusable_rate_limit_reset_is_ignored_with_one_warning(connector: Connector, value):
    sim = connector.sim
    ids = sim.append_events(3, backdate_s=60)
    sim.inject(Fault("headers", set={"X-RateLimit-Reset": value, "X-RateLimit-Remaining": "1"}))
    done = connector.run("run", "--backfill-start", "10m")
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert [e["eventId"] for e in lines_of(done.stdout)] == ids
    assert stderr.count("unusable X-RateLimit-Reset") == 1


@pytest.mark.parametrize(
    "args, env, named",
    [
        (["run", "--follow", "--poll-interval", "1e10"], {}, "--poll-interval"),
        (["run"], {"DOCUSIGN_POLL_INTERVAL": "2d"}, "DOCUSIGN_POLL_INTERVAL"),
        (["run"], {"DOCUSIGN_FORWARD_ACK_TIMEOUT": "1e10"}, "DOCUSIGN_FORWARD_ACK_TIMEOUT"),
        (["status", "--max-lag", "1e10"], {}, "--max-lag"),
        (["status", "--poll-interval", "1e10"], {}, "--poll-interval"),
    ],
    ids=["poll-flag", "poll-env", "ack-timeout", "max-lag", "status-poll"],
)
def test_a_duration_beyond_its_maximum_is_exit_78_naming_the_setting(
    connector: Connector, args, env, named
):
    done = connector.run(*args, env=env, timeout=30)
    stderr = done.stderr.decode()
    assert done.returncode == 78, stderr
    assert named in stderr and ("maximum" in stderr or "at most" in stderr)
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
