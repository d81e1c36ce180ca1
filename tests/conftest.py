"""Shared fixtures: the embedded simulator and a way to run the installed command."""

from __future__ import annotations

import sys
from typing import Iterator

import pytest
from connector_support import Connector

from docusign_input.redact import REDACTOR
from docusign_input.signals import Stopper
from docusign_input.simulator.testing import simulator, simulator_factory  # noqa: F401


@pytest.fixture
def connector(simulator, tmp_path) -> Connector:  # noqa: F811
    return Connector(simulator, tmp_path)


@pytest.fixture(autouse=True, scope="session")
def _stop_watchdog_never_ends_pytest() -> Iterator[None]:
    """A Stopper that is asked to stop inside the test process arms the real watchdog, whose
    ``os._exit(0)`` would end pytest mid-suite with exit 0 and no summary (it happened: the
    rest of the suite silently did not run). In this process the watchdog only says so;
    subprocesses under test keep the real one."""

    def _say_instead(self: Stopper) -> None:
        sys.stderr.write("stop watchdog fired inside the test process (not exiting)\n")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Stopper, "_force_exit", _say_instead)
        yield


@pytest.fixture(autouse=True)
def _fresh_redactor() -> Iterator[None]:
    """Each test starts with the secrets registry of a new process: a short secret one test
    registers ("second") must not mask another test's message."""
    REDACTOR.forget()
    yield
    REDACTOR.forget()
