"""Shared fixtures: the embedded simulator and a way to run the installed command."""

from __future__ import annotations

import pytest
from connector_support import Connector

from docusign_input.simulator.testing import simulator, simulator_factory  # noqa: F401


@pytest.fixture
def connector(simulator, tmp_path) -> Connector:  # noqa: F811
    return Connector(simulator, tmp_path)
