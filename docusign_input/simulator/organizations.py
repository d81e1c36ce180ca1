"""More organizations on one simulator: each its own integration key, user, RSA key pair, event
log (backlog), rate limits and failure switches, all served from the simulator's one port.

``Simulator.add_organization`` makes one; ``organizations_toml`` writes the organizations file a
connector reads for them. A connector tells them apart by its user: the token, the userinfo
answer and the stream are the user's organization's.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, List

from .api import Served, Tenant
from .events import EventFactory, random_guid
from .keys import new_private_key, private_pem, public_pem, shared_private_key
from .ratelimit import RateLimiter
from .store import EventLog

if TYPE_CHECKING:
    from .simulator import Simulator

__all__ = ["SimulatedOrganization", "organizations_toml"]

_DAY_S = 86400.0


class SimulatedOrganization:
    """One more DocuSign organization of a running (or not yet started) simulator."""

    def __init__(
        self,
        simulator: Simulator,
        name: str,
        *,
        seed: int,
        backlog: int = 0,
        backlog_days: float = 1.0,
        own_key: bool = True,
    ) -> None:
        cfg = simulator.config
        self.name = name
        self._simulator = simulator
        self._clock = cfg.clock
        ids = random.Random(f"organization-{name}-{seed}")
        self.integration_key = random_guid(ids)
        self.user_id = random_guid(ids)
        self.account_id = random_guid(ids)
        self.organization_id = random_guid(ids)
        # A 2,048-bit key takes ~0.1 s to make: benchmarks with hundreds share the process's one.
        self._key = new_private_key() if own_key else shared_private_key()
        simulator.register_key(self.integration_key, public_pem(self._key))
        simulator.register_user(self.user_id)
        simulator.set_consent(True, self.integration_key, self.user_id)
        factory = _LazyFactory(seed, self.account_id, self.organization_id, [self.user_id])
        log = EventLog(factory, seed, cfg.retention_days * _DAY_S, self._clock)  # type: ignore[arg-type]
        limiter = RateLimiter(
            self._clock, cfg.rate_limits, cfg.hourly_limit, cfg.burst_limit, cfg.burst_window_s
        )
        tenant = Tenant(self.account_id, self.organization_id, f"Simulated {name}",
                        admin_user_id=self.user_id)
        self.served = Served(tenant, log, limiter)
        if backlog:
            self.seed_backlog(backlog, backlog_days)

    # -- credentials -----------------------------------------------------------------------

    def private_key_pem(self, fmt: str = "pkcs1") -> bytes:
        return private_pem(self._key, fmt)

    def write_credentials(self, directory: os.PathLike) -> tuple[Path, Path]:
        """``<name>.key`` (the integration key) and ``<name>.pem`` (the private key), 0600."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for suffix, data in ((".key", self.integration_key.encode() + b"\n"),
                             (".pem", self.private_key_pem())):
            path = folder / f"{self.name}{suffix}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            written.append(path)
        return written[0], written[1]

    # -- what can go wrong ---------------------------------------------------------------------

    def set_consent(self, granted: bool) -> None:
        self._simulator.set_consent(granted, self.integration_key, self.user_id)

    def set_monitor_enabled(self, enabled: bool) -> None:
        """Off: the stream answers 403, as for an organization without Monitor."""
        self.served.tenant.monitor_enabled = enabled

    def set_stream_status(self, status: int | None, retry_after_s: int | None = None) -> None:
        """The stream answers this HTTP status (e.g. 503, or 429 with ``retry_after_s``) to this
        organization, until None."""
        self.served.forced_status = status
        self.served.retry_after_s = retry_after_s

    def set_rate_limits(self, enabled: bool = True, hourly_limit: int = 3000,
                        burst_limit: int = 200, burst_window_s: float = 30.0) -> None:
        self.served.limiter.configure(enabled, hourly_limit, burst_limit, burst_window_s)

    # -- events ----------------------------------------------------------------------------

    def append_events(self, n: int, backdate_s: float = 0.0) -> List[str]:
        at = self._clock() - backdate_s
        return self.served.log.ingest([at] * n)

    def seed_backlog(self, n: int, days: float) -> List[str]:
        if n <= 0:
            return []
        now, span = self._clock(), days * _DAY_S
        return self.served.log.ingest([now - span + span * i / n for i in range(n)])

    def event_ids(self) -> List[str]:
        return self.served.log.event_ids()

    # -- observation -----------------------------------------------------------------------

    @property
    def stream_requests(self) -> int:
        return self.served.stream_requests

    @property
    def poll_times(self) -> List[float]:
        """Clock times of the stream requests answered 200 (the last 1,000)."""
        return list(self.served.poll_times)


class _LazyFactory:
    """An ``EventFactory`` made on the first event: its template pool costs ~25 ms and ~1 MB,
    which a thousand organizations that never see an event should not pay."""

    def __init__(self, seed: int, account_id: str, organization_id: str, users: List[str]):
        self._args = (seed, account_id, organization_id, users)
        self._factory: EventFactory | None = None

    def make(self, ingested_at: float) -> tuple[str, bytes]:
        if self._factory is None:
            self._factory = EventFactory(*self._args)
        return self._factory.make(ingested_at)


def organizations_toml(
    organizations: Iterable[SimulatedOrganization], base_url: str, key_dir: os.PathLike
) -> str:
    """An organizations file for these organizations, their keys written under ``key_dir``."""
    lines = [
        "[defaults]",
        'environment = "development"',
        f'auth_url = "{base_url}"',
        f'monitor_url = "{base_url}"',
        "",
    ]
    for organization in organizations:
        key_file, pem_file = organization.write_credentials(key_dir)
        lines += [
            "[[organization]]",
            f'name = "{organization.name}"',
            f'user_id = "{organization.user_id}"',
            f'integration_key_file = "{key_file}"',
            f'private_key_file = "{pem_file}"',
            "",
        ]
    return "\n".join(lines)
