"""Real Fluent Bit runs: every case the session collected starts at once (see fluentbit_support),
so the suite waits out Fluent Bit's one-minute exec interval once, not once per config."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
for _path in (_HERE, _HERE.parent, _HERE.parent / "pipelines"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from fluentbit_support import Case, Fleet, run_case  # noqa: E402


@pytest.fixture(scope="session")
def fleet(request, tmp_path_factory):
    fleet = Fleet()
    for item in request.session.items:
        case = getattr(item, "callspec", None) and item.callspec.params.get("case")
        if isinstance(case, Case):
            work = tmp_path_factory.mktemp(case.key.replace(":", "-"))
            fleet.submit(case.key, lambda case=case, work=work: run_case(case, work))
    yield fleet
    fleet.shutdown()
