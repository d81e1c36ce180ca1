"""pytest fixtures: ``from docusign_input.simulator.testing import simulator, simulator_factory``.

The only module of the simulator that imports pytest.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, List

import jwt
import pytest
import requests

from .config import SimulatorConfig
from .simulator import Simulator

__all__ = ["simulator", "simulator_factory", "make_assertion", "request_token", "bearer_session"]

SimulatorFactory = Callable[..., Simulator]


@pytest.fixture
def simulator_factory() -> Iterator[SimulatorFactory]:
    """Call with SimulatorConfig fields (``seed=2, backlog=100, ...``); all stopped after."""
    started: List[Simulator] = []

    def make(**config: Any) -> Simulator:
        sim = Simulator(SimulatorConfig(**config)).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """A running simulator with DocuSign's defaults (rate limits on, no events)."""
    with Simulator(SimulatorConfig()) as sim:
        yield sim


def make_assertion(
    sim: Simulator, key_pem: bytes | None = None, drop: tuple = (), **claims: Any
) -> str:
    """A JWT Grant assertion the simulator accepts, unless claims/key_pem/drop spoil it."""
    now = int(sim.config.clock())
    body = {
        "iss": sim.integration_key,
        "sub": sim.user_id,
        "aud": sim.audience,
        "iat": now,
        "exp": now + 3600,
        "scope": "signature impersonation",
        **claims,
    }
    for name in drop:
        body.pop(name, None)
    return jwt.encode(body, key_pem or sim.private_key_pem(), algorithm="RS256")


def request_token(sim: Simulator, assertion: str | None = None) -> requests.Response:
    """POST the JWT Grant to the simulator's token endpoint."""
    return requests.post(
        f"{sim.base_url}/oauth/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": assertion or make_assertion(sim),
        },
        timeout=10,
    )


def bearer_session(sim: Simulator) -> requests.Session:
    """A keep-alive session already holding a valid access token."""
    response = request_token(sim)
    response.raise_for_status()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    return session
