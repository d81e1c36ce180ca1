"""One real Loki for the session; every Fluent Bit run the session collected starts at once (as
tests/fluentbit does), each into its own tenant, so the exec configs' one-minute first interval
is waited out once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
for _path in (_HERE, _HERE.parent, _HERE.parent / "pipelines", _HERE.parent / "fluentbit"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from fluentbit_support import Fleet, free_port  # noqa: E402
from loki_runs import LokiRun, run_into_loki  # noqa: E402
from loki_support import SKIP_REASON, LokiServer, loki_binary  # noqa: E402


@pytest.fixture(scope="session")
def loki(tmp_path_factory):
    binary = loki_binary()
    if binary is None:
        pytest.skip(SKIP_REASON)
    server = LokiServer(binary, tmp_path_factory.mktemp("loki"), free_port(), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def loki_fleet(request, loki, tmp_path_factory):
    fleet = Fleet()
    for item in request.session.items:
        run = getattr(item, "callspec", None) and item.callspec.params.get("run")
        if isinstance(run, LokiRun):
            work = tmp_path_factory.mktemp(run.tenant)
            fleet.submit(run.tenant, lambda run=run, work=work: run_into_loki(run, loki, work))
    yield fleet
    fleet.shutdown()
