"""Real Fluent Bit running our shipped configs, against the simulator and real-protocol receivers.

Binaries come from ``FLUENT_BIT_BIN`` (colon-separated paths; ``.ci/run`` sets it when the
team's build is beside the repository). A config runs unmodified but for addresses, ports, paths
and secrets (`localize`). Every run (a `Scenario`) is independent: its own simulator, receiver,
storage and checkpoint, so all of them run at once (`Fleet`) and the exec configs' one-minute
first interval is waited out once, not once per config.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List

from pipeline_support import FLUENT_BIT_DIR, iso_to_ns, load_fluent_bit
from receivers import ElasticsearchReceiver, LokiReceiver, SplunkHecReceiver

from docusign_input.formats import mapper, record_timestamp

CONNECTOR = shutil.which("docusign-input", path=str(Path(sys.executable).parent))
INSTALLED = "/usr/local/bin/docusign-input"
ENV_VAR = "FLUENT_BIT_BIN"
BIG_EVENT_BYTES = 200_000
HEC_TOKEN = "hec-token-for-tests"
ES_USER, ES_PASSWORD = "elastic", "es-password-for-tests"


def binaries() -> Dict[str, str]:
    """{version: path} of every binary named in FLUENT_BIT_BIN."""
    found: Dict[str, str] = {}
    for path in filter(None, os.environ.get(ENV_VAR, "").split(":")):
        try:
            out = subprocess.run([path, "--version"], capture_output=True, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        match = re.search(rb"Fluent Bit v(\d+\.\d+\.\d+)", out)
        if match:
            found[match.group(1).decode()] = path
    return found


SKIP_REASON = (f"no Fluent Bit binary: set {ENV_VAR} to a colon-separated list of fluent-bit "
               "executables (.ci/run does when they are beside the repository)")


_HANDED_OUT: set = set()
_PORTS_LOCK = threading.Lock()


def _below_ephemeral_range() -> range:
    """Ports under the kernel's range for outgoing connections' local ports. A port the kernel
    hands out for `bind(0)` lies inside that range, so a client connection (Fluent Bit's, Loki's,
    the connector's) can take it as its own local port between our probe and a receiver's bind,
    or while a destination is down before it comes back on the same port: `Address already in
    use`, seen in CI with the Loki runs beside these."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(max(1024, low - 12000), low)


_CANDIDATES = _below_ephemeral_range()


def free_port() -> int:
    """A port nothing listens on, outside the ephemeral range, never the same twice in a session
    (the runs start at once: two of them must not be given one port between its probe and its
    bind)."""
    with _PORTS_LOCK:
        start = (os.getpid() * 7919 + len(_HANDED_OUT) * 104729) % len(_CANDIDATES)
        for step in range(len(_CANDIDATES)):
            port = _CANDIDATES[(start + step) % len(_CANDIDATES)]
            if port in _HANDED_OUT:
                continue
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free port below the ephemeral range")


# -- configs ----------------------------------------------------------------------------------


def localize(path: Path, work: Path, forward_port: int) -> Path:
    """The config with its paths in `work`, the installed connector swapped for the venv's, and
    the forward input on `forward_port`; nothing else changes."""
    text = path.read_text(encoding="utf-8")
    swaps = [("/var/lib/fluent-bit/storage", str(work / "storage")),
             ("/var/lib/fluent-bit/docusign-input/", str(work / "checkpoints") + "/"),
             ("/var/log/docusign-input/", str(work / "checkpoints") + "/"),
             (INSTALLED, str(CONNECTOR))]
    for old, new in swaps:
        text = text.replace(old, new)
    if path.name.startswith("forward-"):
        text, n = re.subn(r"(\n\s*-?\s*port:?\s+)24224\b", rf"\g<1>{forward_port}", text)
        assert n == 1, f"{path.name}: the forward input's port was not found"
    (work / "checkpoints").mkdir(parents=True, exist_ok=True)
    (work / "storage").mkdir(parents=True, exist_ok=True)
    target = work / path.name
    target.write_text(text, encoding="utf-8")
    shutil.copy(FLUENT_BIT_DIR / "parsers.conf", work / "parsers.conf")
    return target


# -- destinations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    """One record as the destination stored it."""

    event_id: str
    time_ns: int
    #: How far from the event's own time (ns) the destination's resolution lets it be: Loki
    #: keeps nanoseconds; Fluent Bit's HEC `time` is a double (about a microsecond at today's
    #: epoch); Elasticsearch's @timestamp has milliseconds.
    precision_ns: int
    record: Dict[str, Any]


class Destination:
    """A real-protocol receiver behind the variables the config reads; can go down and come back
    on the same port."""

    def __init__(self, kind: str, delay_s: float = 0.0) -> None:
        self.kind = kind
        self.delay_s = delay_s
        self.port = free_port()
        self.receivers: List[Any] = []
        self.current: Any = None

    def up(self) -> None:
        make: Callable[..., Any] = {
            "splunk": lambda **kw: SplunkHecReceiver(token=HEC_TOKEN, **kw),
            "es": lambda **kw: ElasticsearchReceiver(ES_USER, ES_PASSWORD, **kw),
            "loki": lambda **kw: LokiReceiver(**kw),
        }[self.kind]
        self.current = make(port=self.port, delay_s=self.delay_s)
        self.current.__enter__()
        self.receivers.append(self.current)

    def down(self) -> None:
        if self.current is not None:
            self.current.__exit__(None, None, None)
            self.current = None

    def env(self) -> Dict[str, str]:
        port = str(self.port)
        return {
            "splunk": {"SPLUNK_HEC_HOST": "127.0.0.1", "SPLUNK_HEC_PORT": port,
                       "SPLUNK_HEC_TLS": "off", "SPLUNK_HEC_TOKEN": HEC_TOKEN,
                       "SPLUNK_INDEX": "docusign"},
            "es": {"ES_HOST": "127.0.0.1", "ES_PORT": port, "ES_TLS": "off", "ES_USER": ES_USER,
                   "ES_PASSWORD": ES_PASSWORD},
            "loki": {"LOKI_HOST": "127.0.0.1", "LOKI_PORT": port, "LOKI_TLS": "off"},
        }[self.kind]

    def arrivals(self) -> List[Arrival]:
        out: List[Arrival] = []
        for receiver in self.receivers:
            out += getattr(self, "_" + self.kind)(receiver)
        return out

    @staticmethod
    def _splunk(receiver: Any) -> List[Arrival]:
        out = []
        exact = json.JSONDecoder(parse_float=str)  # HEC `time` exactly as Fluent Bit wrote it
        for request in list(receiver.requests):
            if request.status != 200 or request.method != "POST":
                continue
            text, pos = request.body.decode("utf-8"), 0
            while pos < len(text):
                while pos < len(text) and text[pos] in " \r\n\t":
                    pos += 1
                if pos >= len(text):
                    break
                start = pos
                envelope, pos = exact.raw_decode(text, pos)
                record = json.loads(text[start:pos])["event"]
                seconds, _, fraction = str(envelope["time"]).partition(".")
                out.append(Arrival(_event_id(record),
                                   int(seconds) * 10**9 + int(fraction.ljust(9, "0")[:9]),
                                   1000, record))
        return out

    @staticmethod
    def _es(receiver: Any) -> List[Arrival]:
        """The documents Elasticsearch holds (a replayed `create` of an _id is refused, 409):
        what a search returns. @timestamp is the document's own (ECS) or Fluent Bit's."""
        out = []
        for (_index, doc_id), source in sorted(receiver.documents.items()):
            record = dict(source)
            out.append(Arrival(doc_id, iso_to_ns(record["@timestamp"]), 10**6, record))
        return out

    @staticmethod
    def _loki(receiver: Any) -> List[Arrival]:
        out = []
        for labels, ns, line in list(receiver.entries):
            if labels.get("service_name") == "docusign-input":
                continue  # the connector's diagnostics, not events
            record = json.loads(line)
            out.append(Arrival(_event_id(record), ns, 1, record))
        return out


def _event_id(record: Dict[str, Any]) -> str:
    return str(record.get("eventId") or record.get("event", {}).get("id"))


# -- processes ----------------------------------------------------------------------------------


class FluentBit:
    """One Fluent Bit process (and what it spawns) in its own session."""

    def __init__(self, binary: str, config: Path, env: Dict[str, str], log: Path) -> None:
        self.binary, self.config, self.env, self.log = binary, config, env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([self.binary, "-c", str(self.config)], env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, kill_after_s: float = 8.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `kill_after_s`."""
        if self.proc is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(kill_after_s)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(10)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def wait_until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return predicate()


def kill_strays(marker: str) -> None:
    """End the connectors a Fluent Bit we started left behind (4.2 never signals its exec
    child; a SIGKILLed 5.1 cannot): found by the checkpoint path only this run uses."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


# -- scenarios ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    expected: Dict[str, Dict[str, Any]]
    arrivals: List[Arrival]
    logs: str
    notes: Dict[str, Any] = field(default_factory=dict)
    #: exec configs: Fluent Bit's JSON parser turns the time into a double on its way to the
    #: record time, within a microsecond; forward carries EventTime's nanoseconds unchanged.
    parser_rounding_ns: int = 0

    def counts(self) -> Counter:
        return Counter(a.event_id for a in self.arrivals)

    def problems(self, exactly_once: bool) -> List[str]:
        """What a user would find wrong at the destination: a missing, repeated, altered or
        mistimed event."""
        found: List[str] = []
        counts = self.counts()
        missing = sorted(set(self.expected) - set(counts))
        if missing:
            found.append(f"{len(missing)} of {len(self.expected)} events missing, e.g. "
                         f"{missing[:3]}")
        extra = sorted(set(counts) - set(self.expected))
        if extra:
            found.append(f"unexpected records {extra[:3]}")
        if exactly_once:
            repeated = sorted(k for k, n in counts.items() if n > 1)
            if repeated:
                found.append(f"{len(repeated)} events delivered more than once")
        for arrival in self.arrivals:
            want = self.expected.get(arrival.event_id)
            if want is None:
                continue
            record = arrival.record
            if "@timestamp" not in want:  # added by Fluent Bit's es output
                record = {k: v for k, v in record.items() if k != "@timestamp"}
            if record != want:
                diff = sorted(k for k in set(want) | set(record)
                              if want.get(k) != record.get(k))
                found.append(f"{arrival.event_id}: record differs in {diff[:5]}")
                break
            own = iso_to_ns(record_timestamp(want))
            if abs(arrival.time_ns - own) >= max(arrival.precision_ns, self.parser_rounding_ns):
                found.append(f"{arrival.event_id}: record time {arrival.time_ns}, not the "
                             f"event's own {own}")
                break
        return found


class Fleet:
    """Runs scenarios concurrently, each once; tests ask for their outcome by key."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="fluent-bit")
        self._futures: Dict[str, Future] = {}
        self._lock = threading.Lock()

    def submit(self, key: str, job: Callable[[], Outcome]) -> None:
        with self._lock:
            if key not in self._futures:
                self._futures[key] = self._pool.submit(job)

    def outcome(self, key: str, timeout_s: float = 600) -> Outcome:
        return self._futures[key].result(timeout_s)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# -- one run of a shipped config ------------------------------------------------------------------

#: The simulator's backlog for each run (plus one 200 KB event, and for forward configs one event
#: holding an integer beyond 64 bits).
BACKLOG = 300
HUGE = 123456789012345678901234567890


def _odd_events(sim: Any, forward: bool) -> Dict[str, Dict[str, Any]]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 60)) + ".1234567Z"
    rows = [{"UserId": f"{i:08d}-0000-4000-8000-000000000000", "Email": f"user{i}@example.com",
             "UserName": "Zoë 🌟 Brooks"} for i in range(BIG_EVENT_BYTES // 100)]
    big = {"timestamp": stamp, "eventId": "b16e0000-0000-4000-8000-000000000200",
           "object": "Account", "action": "BulkUsersImported", "source": "API",
           "result": "Success", "data": {"Users": rows, "Count": str(len(rows))}}
    raw = json.dumps(big, separators=(",", ":"), ensure_ascii=False).encode()
    assert len(raw) >= BIG_EVENT_BYTES
    sim.append_event_bytes(raw)
    expected = {big["eventId"]: big}
    if forward:
        huge = (b'{"timestamp":"' + stamp.encode() + b'","eventId":"b1612000-0000-4000-8000-'
                b'000000000064","object":"User","action":"Login","source":"API",'
                b'"result":"Success","data":{"Huge":' + str(HUGE).encode() + b',"Small":-1}}')
        event_id = sim.append_event_bytes(huge)
        expected[event_id] = json.loads(huge)
    return expected


def _beyond_64_bits_as_text(value: Any) -> Any:
    """What the forward output sends for an integer msgpack cannot carry: its exact digits."""
    if isinstance(value, dict):
        return {k: _beyond_64_bits_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_beyond_64_bits_as_text(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and not (
            -(2**63) <= value < 2**64):
        return str(value)
    return value


@dataclass
class Case:
    """What to run: a shipped config on one Fluent Bit, in one of the scenarios."""

    kind: str  # "deliver" | "restart" | "outage"
    version: str
    binary: str
    config: Path

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.version}:{self.config.name}"

    @property
    def forward(self) -> bool:
        return self.config.name.startswith("forward-")

    @property
    def event_format(self) -> str:
        """What the config has the connector send (its command, or its header for forward)."""
        text = self.config.read_text(encoding="utf-8")
        found = re.search(r"(?:--format |DOCUSIGN_FORMAT=)(raw|ecs|ocsf)\b", text)
        return found.group(1) if found else "raw"


def run_case(case: Case, work: Path) -> Outcome:
    from docusign_input.simulator import Simulator, SimulatorConfig
    from docusign_input.simulator.faults import Fault

    work.mkdir(parents=True, exist_ok=True)
    forward_port = free_port()
    config = localize(case.config, work, forward_port)
    output = load_fluent_bit(case.config).events_output
    slow = case.kind == "restart"
    dest = Destination(output["name"], delay_s=0.3 if slow else 0.0)
    notes: Dict[str, Any] = {}
    with Simulator(SimulatorConfig(seed=len(case.key), backlog=BACKLOG,
                                   rate_limits=False)) as sim:
        raw = {i: json.loads(sim.event_bytes(i)) for i in sim.event_ids()}
        raw.update(_odd_events(sim, case.forward))
        to_document = mapper(case.event_format) or (lambda event: event)
        expected = {i: _beyond_64_bits_as_text(to_document(e)) for i, e in raw.items()}
        if slow:
            sim.inject(Fault("slow", delay_s=0.4))
        key = sim.write_private_key(work / "key.pem")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUSIGN_")}
        env.update(sim.env(key))
        env.update({"DOCUSIGN_BACKFILL_START": "earliest", "XDG_STATE_HOME": str(work / "xdg"),
                    "XDG_CACHE_HOME": str(work / "cache"), **dest.env()})
        if slow:
            env["DOCUSIGN_PAGE_SIZE"] = "20"
        if case.kind != "outage":
            dest.up()
        fluent_bit = FluentBit(case.binary, config, env, work / "fluent-bit.log")
        connector: subprocess.Popen | None = None
        started = time.monotonic()
        try:
            fluent_bit.start()
            if case.forward:
                # Another program on the machine may take the port between probe and bind.
                for _attempt in range(3):
                    if wait_until(lambda port=forward_port: _listening(port), 15):
                        break
                    fluent_bit.stop()
                    forward_port = free_port()
                    fluent_bit.config = localize(case.config, work, forward_port)
                    fluent_bit.start()
                connector = subprocess.Popen(
                    [str(CONNECTOR), "run", "--follow", "--format", case.event_format,
                     "--output", f"forward://127.0.0.1:{forward_port}?tag=docusign.monitor"],
                    env={**env, "DOCUSIGN_CHECKPOINT": str(work / "checkpoints" / "beside.json"),
                         "DOCUSIGN_FORWARD_ACK_TIMEOUT": "10"},
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=open(work / "connector.log", "ab"), start_new_session=True)
            all_in = lambda: set(expected) <= {a.event_id for a in dest.arrivals()}  # noqa: E731
            # The exec input's first run waits one interval (60 s): allow for two.
            budget_s = 150 if not case.forward else 90
            if case.kind == "restart":
                _restart_mid_drain(case, fluent_bit, dest, len(expected), notes)
            elif case.kind == "outage":
                _outage(work, dest, notes)
                budget_s += 60
            notes["all_arrived"] = wait_until(all_in, budget_s)
            notes["seconds"] = round(time.monotonic() - started, 1)
            time.sleep(2)  # a repeat would arrive now
            notes["checkpoint"] = _delivered(work)
        finally:
            fluent_bit.stop()
            if connector is not None:
                connector.send_signal(signal.SIGTERM)
                try:
                    connector.wait(10)
                except subprocess.TimeoutExpired:
                    connector.kill()
            kill_strays(str(work))
            dest.down()
    logs = fluent_bit.log_text()
    if (work / "connector.log").exists():
        logs += "\n--- connector ---\n" + (work / "connector.log").read_text(errors="replace")
    return Outcome(expected, dest.arrivals(), logs, notes,
                   parser_rounding_ns=0 if case.forward else 1000)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _delivered(work: Path) -> Dict[str, int]:
    """events_delivered of each checkpoint of the run (the connector's own count of acks)."""
    out = {}
    for path in (work / "checkpoints").glob("*.json"):
        try:
            out[path.name] = int(json.loads(path.read_text())["health"]["events_delivered"])
        except (OSError, ValueError, KeyError):
            continue
    return out


def _restart_mid_drain(case: Case, fluent_bit: FluentBit, dest: Destination, total: int,
                       notes: Dict[str, Any]) -> None:
    """Once some events reached the destination: SIGTERM, and SIGKILL a second later (a stop
    that did not finish in time); start again on the same storage. Forward configs, where the
    connector keeps sending, are then killed outright a second time."""
    stops = [(total // 6, True)] + ([(total // 2, False)] if case.forward else [])
    for threshold, term_first in stops:
        if not wait_until(lambda n=threshold: len(dest.arrivals()) >= n, 150):
            notes.setdefault("restarts", []).append(f"never reached {threshold}")
            return
        before = len({a.event_id for a in dest.arrivals()})
        if term_first:
            fluent_bit.signal(signal.SIGTERM)
            time.sleep(1.0)
        fluent_bit.signal(signal.SIGKILL)
        assert fluent_bit.proc is not None
        fluent_bit.proc.wait(10)
        time.sleep(1.0)
        fluent_bit.start()
        notes.setdefault("restarts", []).append(
            f"{'SIGTERM+SIGKILL' if term_first else 'SIGKILL'} after {before} of {total}")


OUTAGE_S = 30.0


def _outage(work: Path, dest: Destination, notes: Dict[str, Any]) -> None:
    """The destination is down from the start; it comes up OUTAGE_S after the connector's
    checkpoint first counted events as delivered (to Fluent Bit's storage)."""
    if not wait_until(lambda: any(_delivered(work).values()), 150):
        notes["outage"] = "the connector never delivered"
        dest.up()
        return
    time.sleep(OUTAGE_S)
    notes["outage"] = f"{OUTAGE_S:.0f} s with events in Fluent Bit's storage"
    dest.up()
