"""One run of a shipped Fluent Bit Loki config into the real Loki, with its own tenant.

Reuses tests/fluentbit's machinery (`localize`, `FluentBit`, strays, ports); what differs is the
destination (real Loki behind a `TenantProxy`) and what the simulator holds (`Setup`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

from fluentbit_support import (
    CONNECTOR,
    FluentBit,
    _listening,
    free_port,
    kill_strays,
    localize,
    wait_until,
)
from loki_support import LokiServer, TenantProxy

#: Runs a step against the simulator, the run's environment and work directory.
Step = Callable[[Any, Dict[str, str], Path], None]
#: Runs once the events are in Loki: (simulator, environment, work, Loki, tenant, notes).
Then = Callable[[Any, Dict[str, str], Path, LokiServer, str, Dict[str, Any]], None]


@dataclass
class LokiRun:
    """What to run and what to do meanwhile."""

    tenant: str
    version: str
    binary: str
    config: Path
    #: fills the simulator before Fluent Bit starts (a backlog, scenarios, ...)
    setup: Step
    backfill: str = "earliest"
    #: after every event the simulator holds is in Loki (or the wait ran out): e.g. a replay
    then: Then | None = None
    #: a ruler rule file installed for the tenant before Fluent Bit starts
    rules: Path | None = None
    wait_s: float = 150
    #: SimulatorConfig fields beyond the seed (e.g. retention_days)
    simulator: Dict[str, Any] = field(default_factory=dict)


@dataclass
class LokiOutcome:
    #: eventId -> the event exactly as the simulator served it
    expected: Dict[str, Dict[str, Any]]
    #: (labels, time ns, line) of every entry the tenant holds
    entries: List[Any]
    logs: str
    notes: Dict[str, Any] = field(default_factory=dict)
    proxy_statuses: List[int] = field(default_factory=list)


def run_into_loki(run: LokiRun, loki: LokiServer, work: Path) -> LokiOutcome:
    from docusign_input.simulator import Simulator, SimulatorConfig

    work.mkdir(parents=True, exist_ok=True)
    forward = run.config.name.startswith("forward-")
    forward_port = free_port()
    config = localize(run.config, work, forward_port)
    notes: Dict[str, Any] = {}
    with Simulator(SimulatorConfig(seed=len(run.tenant), rate_limits=False,
                                   **run.simulator)) as sim, \
            _proxy(loki, run.tenant) as proxy:
        run.setup(sim, {}, work)
        if run.rules is not None:
            loki.write_rules(run.tenant, run.rules)
        key = sim.write_private_key(work / "key.pem")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUSIGN_")}
        env.update(sim.env(key))
        env.update({"DOCUSIGN_BACKFILL_START": run.backfill,
                    "XDG_STATE_HOME": str(work / "xdg"), "XDG_CACHE_HOME": str(work / "cache"),
                    "LOKI_HOST": "127.0.0.1", "LOKI_PORT": str(proxy.port), "LOKI_TLS": "off"})
        fluent_bit = FluentBit(run.binary, config, env, work / "fluent-bit.log")
        connector: subprocess.Popen | None = None
        beside = {**env, "DOCUSIGN_CHECKPOINT": str(work / "checkpoints" / "beside.json"),
                  "DOCUSIGN_FORWARD_ACK_TIMEOUT": "10", "DOCUSIGN_POLL_INTERVAL": "5",
                  "DOCUSIGN_LOG_FORMAT": "json"}

        def start_connector() -> subprocess.Popen:
            return subprocess.Popen(
                [str(CONNECTOR), "run", "--follow", "--output",
                 f"forward://127.0.0.1:{forward_port}?tag=docusign.monitor"],
                env=beside, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                # as its unit does: stderr appended to the file the config's tail input reads
                stderr=open(work / "checkpoints" / "diagnostics.log", "ab"),
                start_new_session=True)

        def stored() -> set:
            return {_event_id(line) for _labels, _ns, line in loki.entries(run.tenant)}

        started = time.monotonic()
        try:
            fluent_bit.start()
            if forward:
                wait_until(lambda: _listening(forward_port), 15)
                connector = start_connector()
            ids = lambda: set(sim.event_ids())  # noqa: E731
            notes["all_stored"] = wait_until(lambda: ids() <= stored(), run.wait_s, 1.0)
            notes["seconds"] = round(time.monotonic() - started, 1)
            # the connector's diagnostics written so far reach Loki too (tail input)
            wait_until(lambda: not _diagnostics_missing(loki, run.tenant, work), 60, 2.0)
            notes["diagnostics_written"] = len(_diagnostics_written(work))
            notes["diagnostics_missing"] = _diagnostics_missing(loki, run.tenant, work)
            if run.then is not None:
                run.then(sim, {**env, **(beside if forward else {})}, work, loki, run.tenant,
                         notes)
                notes["after_then"] = wait_until(lambda: ids() <= stored(), run.wait_s, 1.0)
                time.sleep(3)  # what Fluent Bit still pushes arrives now
        finally:
            fluent_bit.stop()
            if connector is not None:
                _stop(connector)
            kill_strays(str(work))
        expected = {i: json.loads(sim.event_bytes(i)) for i in sim.event_ids()}
    logs = fluent_bit.log_text()
    for diagnostics in sorted((work / "checkpoints").glob("*diagnostics.log")):
        logs += "\n--- connector ---\n" + diagnostics.read_text(errors="replace")
    return LokiOutcome(expected, loki.entries(run.tenant), logs, notes, list(proxy.statuses))


DIAGNOSTICS = '{source="docusign", service_name="docusign-input"}'


def _diagnostic_key(line: str) -> Tuple[str | None, str]:
    """(time, message) of a diagnostics line; a line that is not JSON is its own message."""
    try:
        obj = json.loads(line)
        return str(obj["time"]), str(obj["message"])
    except (ValueError, KeyError, TypeError):
        return None, line


def _diagnostics_written(work: Path) -> List[Tuple[str | None, str]]:
    out = []
    for path in sorted((work / "checkpoints").glob("*diagnostics.log")):
        out += [_diagnostic_key(ln) for ln in path.read_text(errors="replace").splitlines()
                if ln.strip()]
    return out


def _diagnostics_missing(loki: LokiServer, tenant: str, work: Path) -> int:
    """How many lines of the diagnostics files Loki does not hold (as level error if not JSON)."""
    held = set()
    for _labels, _ns, line in loki.entries(tenant, DIAGNOSTICS):
        obj = json.loads(line)
        held.add((str(obj["time"]), str(obj["message"])) if "time" in obj
                 else (None, str(obj["message"])))
    return sum(1 for key in _diagnostics_written(work) if key not in held)


def _proxy(loki: LokiServer, tenant: str) -> TenantProxy:
    """On a free port (another program may take one between probe and bind: try again)."""
    for _attempt in range(5):
        try:
            return TenantProxy(loki, tenant, free_port())
        except OSError:
            continue
    return TenantProxy(loki, tenant, free_port())


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _event_id(line: str) -> str:
    return str(json.loads(line).get("eventId"))
