"""The Simulator: one DocuSign account, its Monitor stream, and the controls tests need."""

from __future__ import annotations

import dataclasses
import os
import random
import ssl
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

from .api import AnswerShape, DocuSignApi, Served, Tenant
from .auth import Accounts, User
from .config import SimulatorConfig
from .control import Control
from .events import EventFactory, random_guid, render_json
from .faults import Fault, FaultPlan
from .keys import private_pem, public_pem, shared_private_key
from .organizations import SimulatedOrganization, organizations_toml
from .ratelimit import RateLimiter
from .scenarios import scenario_events
from .server import Dispatcher, RecordedRequest, SimulatorHTTPServer
from .store import EventLog

__all__ = ["Simulator"]

_DAY_S = 86400.0
_EVENT_USERS = 12  # distinct userIds that appear in events besides the admin


class Simulator:
    """A DocuSign (account server + Monitor) on loopback; use as a context manager."""

    def __init__(self, config: SimulatorConfig | None = None, **overrides: Any):
        self.config = cfg = dataclasses.replace(config or SimulatorConfig(), **overrides)
        self._clock = cfg.clock
        ids = random.Random(f"ids-{cfg.seed}")
        self.integration_key = random_guid(ids)
        self.user_id = random_guid(ids)
        self.account_id = random_guid(ids)
        self.organization_id = random_guid(ids)
        event_users = [self.user_id] + [random_guid(ids) for _ in range(_EVENT_USERS)]
        self.event_user_ids: List[str] = event_users

        self._key = shared_private_key()
        self._accounts = Accounts(clock=self._clock, token_lifetime_s=cfg.token_lifetime_s)
        self._accounts.register_key(self.integration_key, public_pem(self._key))
        self.register_user(self.user_id)
        self.set_consent(True)

        factory = EventFactory(cfg.seed, self.account_id, self.organization_id, event_users)
        self._log = EventLog(factory, cfg.seed, cfg.retention_days * _DAY_S, self._clock)
        self._limiter = RateLimiter(
            self._clock, cfg.rate_limits, cfg.hourly_limit, cfg.burst_limit, cfg.burst_window_s
        )
        self._faults = FaultPlan(cfg.seed)
        self._tenant = Tenant(
            self.account_id,
            self.organization_id,
            "Simulated Org Account",
            admin_user_id=self.user_id,
        )
        #: More organizations served from the same port, by name (``add_organization``).
        self.organizations: Dict[str, SimulatedOrganization] = {}
        self._by_user: Dict[str, Served] = {}
        self._shape = (
            AnswerShape(cfg.seed, cfg.short_page_share, cfg.latency_s)
            if cfg.busy
            else AnswerShape(cfg.seed)
        )
        api = DocuSignApi(
            self._tenant, self._accounts, self._log, self._limiter, self._by_user.get, self._shape
        )
        self._dispatcher = Dispatcher(api.handle, Control(self), self._faults)

        self._server: SimulatorHTTPServer | None = None
        self._server_thread: threading.Thread | None = None
        self._rate_per_minute = cfg.ingestion_per_minute
        self._ingest_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.base_url = ""
        if cfg.backlog:
            self.seed_backlog(cfg.backlog, cfg.backlog_days)

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def start(self) -> Simulator:
        """Bind (port 0 = ephemeral), then serve from a background thread."""
        if self._server is not None:
            return self
        cfg = self.config
        context = None
        if cfg.tls_cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
        self._server = SimulatorHTTPServer((cfg.host, cfg.port), self._dispatcher, context)
        host, port = str(self._server.server_address[0]), self._server.server_address[1]
        url_host = f"[{host}]" if ":" in host else host
        self.base_url = f"{'https' if context else 'http'}://{url_host}:{port}"
        self._tenant.base_url = self.base_url
        self._tenant.audiences = {f"{url_host}:{port}"}
        if host in ("127.0.0.1", "::1"):
            self._tenant.audiences.add(f"localhost:{port}")
        self._stopping.clear()
        self._server_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="docusign-simulator",
            daemon=True,
        )
        self._server_thread.start()
        self.set_event_rate(self._rate_per_minute)  # a rate set before start() wins
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._ingest_thread is not None:
            self._ingest_thread.join()
            self._ingest_thread = None
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None
        if self._server_thread is not None:
            self._server_thread.join()
            self._server_thread = None

    @property
    def audience(self) -> str:
        """The ``aud`` an assertion must carry: host:port of ``base_url``, no scheme."""
        return self.base_url.split("://", 1)[1]

    # -- credentials ---------------------------------------------------------------------

    def private_key_pem(self, fmt: str = "pkcs1") -> bytes:
        return private_pem(self._key, fmt)

    def write_private_key(self, path: os.PathLike, fmt: str = "pkcs1") -> Path:
        """Write the key readable by its owner only (0600), as a real key file should be."""
        target = Path(path)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(self.private_key_pem(fmt))
        os.chmod(target, 0o600)
        return target

    def env(self, key_file: os.PathLike) -> Dict[str, str]:
        """The connector's environment for this simulator."""
        return {
            "DOCUSIGN_AUTH_URL": self.base_url,
            "DOCUSIGN_MONITOR_URL": self.base_url,
            "DOCUSIGN_USER_ID": self.user_id,
            "DOCUSIGN_INTEGRATION_KEY": self.integration_key,
            "DOCUSIGN_PRIVATE_KEY_FILE": str(key_file),
            "DOCUSIGN_ENVIRONMENT": "development",
        }

    def register_key(self, integration_key: str, public_key_pem: bytes | str) -> None:
        """Add an RSA public key (PEM) to an integration key, creating the key if new."""
        if isinstance(public_key_pem, str):
            public_key_pem = public_key_pem.encode()
        self._accounts.register_key(integration_key, public_key_pem)

    def register_user(self, user_id: str, org_admin: bool = True, organizations: int = 1) -> None:
        number = int(user_id.replace("-", "")[:6], 16) % 1000 if user_id[:6].isalnum() else 0
        self._accounts.register_user(
            User(
                user_id,
                f"Admin User{number}",
                f"admin{number}@example.com",
                org_admin,
                organizations,
            )
        )

    def set_consent(
        self, granted: bool, integration_key: str | None = None, user_id: str | None = None
    ) -> None:
        self._accounts.set_consent(
            integration_key or self.integration_key, user_id or self.user_id, granted
        )

    def set_token_lifetime(self, seconds: int) -> None:
        """Applies to tokens issued from now on."""
        self._accounts.token_lifetime_s = int(seconds)

    def expire_tokens(self) -> None:
        """Every token issued so far expires now (the server answers 401 to them)."""
        self._accounts.expire_all_tokens()

    # -- more organizations ----------------------------------------------------------------

    def add_organization(
        self,
        name: str,
        *,
        backlog: int = 0,
        backlog_days: float = 1.0,
        own_key: bool = True,
    ) -> SimulatedOrganization:
        """One more organization on this simulator's port: its own integration key, user, key
        pair (``own_key=False`` shares the process's one: fast, for hundreds), backlog and rate
        limits (the config's)."""
        if name in self.organizations:
            raise ValueError(f"organization {name!r} exists already")
        seed = self.config.seed * 1_000_003 + len(self.organizations) + 1
        organization = SimulatedOrganization(
            self, name, seed=seed, backlog=backlog, backlog_days=backlog_days, own_key=own_key
        )
        self.organizations[name] = organization
        self._by_user[organization.user_id] = organization.served
        return organization

    def organizations_file(self, path: os.PathLike, key_dir: os.PathLike) -> Path:
        """Write the organizations file (and each organization's key files under ``key_dir``)
        a connector reads to serve every organization added so far."""
        target = Path(path)
        target.write_text(
            organizations_toml(self.organizations.values(), self.base_url, key_dir),
            encoding="utf-8",
        )
        return target

    # -- Monitor state -------------------------------------------------------------------

    def set_monitor_enabled(self, enabled: bool) -> None:
        self._tenant.monitor_enabled = enabled

    def set_rate_limits(
        self,
        enabled: bool = True,
        hourly_limit: int | None = None,
        burst_limit: int | None = None,
        burst_window_s: float | None = None,
    ) -> None:
        """Change limits; arguments left as None keep their current value."""
        lim = self._limiter
        lim.configure(
            enabled,
            lim.hourly_limit if hourly_limit is None else int(hourly_limit),
            lim.burst_limit if burst_limit is None else int(burst_limit),
            lim.burst_window_s if burst_window_s is None else float(burst_window_s),
        )

    def inject(self, fault: Fault) -> None:
        self._faults.add(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    def faults(self) -> List[Fault]:
        return self._faults.active()

    # -- events --------------------------------------------------------------------------

    def append_events(self, n: int, backdate_s: float = 0.0) -> List[str]:
        """Ingest ``n`` events now (or ``backdate_s`` ago); returns their eventIds in order."""
        at = self._clock() - backdate_s
        return self._log.ingest([at] * n)

    def append_event_bytes(self, payload: bytes) -> str:
        """Ingest one event given as its exact JSON bytes (it must carry an ``eventId``) now;
        it is served byte for byte. Returns its eventId."""
        return self._log.ingest_payload(payload, self._clock())

    def seed_backlog(self, n: int, days: float, ago_s: float = 0.0) -> List[str]:
        """``n`` events with ingestion times spread evenly over the past ``days``, ending
        ``ago_s`` seconds ago (a backlog older than the stream's head)."""
        if n <= 0:
            return []
        now, span = self._clock() - ago_s, days * _DAY_S
        return self._log.ingest([now - span + span * i / n for i in range(n)])

    def set_event_rate(self, per_minute: float) -> None:
        """Background ingestion while the server runs (0 stops it)."""
        self._rate_per_minute = max(0.0, float(per_minute))
        if self._rate_per_minute and self._ingest_thread is None and self._server is not None:
            self._ingest_thread = threading.Thread(
                target=self._ingest_loop, name="docusign-simulator-ingest", daemon=True
            )
            self._ingest_thread.start()

    def _ingest_loop(self) -> None:
        owed, last = 0.0, time.monotonic()
        previous_at = self._clock()
        while not self._stopping.wait(0.1):
            now, at = time.monotonic(), self._clock()
            owed += (now - last) * self._rate_per_minute / 60.0
            last = now
            count = int(owed)
            owed -= count
            if count == 1:
                self.append_events(1)
            elif count > 1:
                # Several a tick (a busy organization): spread their ingestion instants over
                # the time since the previous tick, as a steady flow would have them; never
                # before it, so nothing lands behind a cursor already served.
                step = max(0.0, at - previous_at) / count
                self._log.ingest([at - step * (count - 1 - i) for i in range(count)])
            previous_at = at

    def play_scenario(self, name: str, start_s: float | None = None) -> List[str]:
        """Ingest attack scenario ``name`` (see ``scenarios.SCENARIOS``); returns its eventIds.

        Without ``start_s`` the scenario has just happened: it ends a few seconds ago and is
        ingested now, after everything already served, so a connector that is caught up gets it
        on its next poll. With ``start_s`` (unix seconds) it is placed in the log at that time,
        each event ingested a few seconds after its timestamp (backdated, as for a backlog).
        KeyError for an unknown name.
        """
        now = self._clock()
        played = scenario_events(
            name,
            seed=self.config.seed,
            start_s=now if start_s is None else start_s,
            account_id=self.account_id,
            organization_id=self.organization_id,
            user_ids=self.event_user_ids,
        )
        if start_s is None:  # shift it into the recent past: timestamps precede ingestion
            end = max(at for at, _ in played)
            played = scenario_events(
                name,
                seed=self.config.seed,
                start_s=2 * now - end - 15.0,
                account_id=self.account_id,
                organization_id=self.organization_id,
                user_ids=self.event_user_ids,
            )
            instants = [now] * len(played)
        else:
            lag = random.Random(f"lag-{name}-{self.config.seed}")
            instants = [at + 1.0 + lag.random() * 10.0 for at, _ in played]
        items = [
            (at, event["eventId"], render_json(event)) for at, (_, event) in zip(instants, played)
        ]
        return self._log.ingest_rendered(items)

    def event_ids(self) -> List[str]:
        """Every eventId ever ingested, in ingestion order (retention does not remove them here)."""
        return self._log.event_ids()

    def ingestion_times(self) -> Dict[str, float]:
        """Every eventId with its ingestion instant (unix seconds): where a delivery lag, from
        ingestion to the connector's output, starts."""
        return self._log.ingestion_times()

    def retained_event_ids(self) -> List[str]:
        """The eventIds the stream can still serve (inside the retention window)."""
        return self._log.retained_event_ids()

    def events(self) -> List[bytes]:
        """Every event's JSON bytes, in ingestion order (what a full drain of the stream serves)."""
        return self._log.payloads()

    def event_bytes(self, event_id: str) -> bytes:
        """The exact JSON bytes served for ``event_id``."""
        return self._log.event_bytes(event_id)

    # -- observation ---------------------------------------------------------------------

    @property
    def requests(self) -> List[RecordedRequest]:
        return list(self._dispatcher.requests)

    def clear_requests(self) -> None:
        self._dispatcher.requests.clear()

    @property
    def token_requests(self) -> int:
        return self._dispatcher.token_requests

    @property
    def stream_requests(self) -> int:
        return self._dispatcher.stream_requests

    def state(self) -> Dict[str, Any]:
        lim = self._limiter
        return {
            "base_url": self.base_url,
            "audience": self.audience if self.base_url else "",
            "integration_key": self.integration_key,
            "user_id": self.user_id,
            "account_id": self.account_id,
            "organization_id": self.organization_id,
            "events": len(self._log),
            "token_requests": self.token_requests,
            "stream_requests": self.stream_requests,
            "monitor_enabled": self._tenant.monitor_enabled,
            "token_lifetime_s": self._accounts.token_lifetime_s,
            "events_per_minute": self._rate_per_minute,
            "profile": self.config.profile,
            "short_page_share": self._shape.short_page_share,
            "latency_s": self._shape.latency_s,
            "rate_limits": {
                "enabled": lim.enabled,
                "hourly_limit": lim.hourly_limit,
                "burst_limit": lim.burst_limit,
                "burst_window_s": lim.burst_window_s,
            },
        }
