"""``docusign-input simulate``: run the simulator until SIGINT/SIGTERM, printing how to reach it.

stdout carries only shell lines (``#`` comments and ``export`` lines) so that a user can paste or
``eval`` them; diagnostics go to stderr.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import List

from .config import MAX_EVENTS_PER_SECOND, PROFILES, SimulatorConfig
from .faults import FAULT_KINDS, Fault
from .scenarios import SCENARIOS
from .simulator import Simulator

__all__ = ["add_arguments", "run", "list_scenarios", "DEFAULT_PORT"]

DEFAULT_PORT = 8765  # fixed, so a pipeline config pointing at the simulator keeps working


DEFAULT_BACKLOG = 2000
DEFAULT_EVENTS_PER_MINUTE = 30.0
DEFAULT_SCENARIO_DELAY_S = 30.0


def _port(value: str) -> int:
    """A TCP port, 0 to 65535 (argparse makes anything else a usage error, exit 2)."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value}: give a port from 0 to 65535 (0: any free)")
    return port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option with a help text; the defaults give a backlog and a steady event rate."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port to bind; 0 picks a free one (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--backlog",
        type=int,
        default=DEFAULT_BACKLOG,
        metavar="N",
        help=f"events already waiting when the simulator starts (default {DEFAULT_BACKLOG}; "
        "fetch them with `run --backfill-start 1d`)",
    )
    parser.add_argument(
        "--backlog-days",
        type=float,
        default=1.0,
        metavar="D",
        help="spread the backlog over the past D days (default 1)",
    )
    parser.add_argument(
        "--events-per-minute",
        type=float,
        default=DEFAULT_EVENTS_PER_MINUTE,
        metavar="R",
        help=f"new events ingested per minute while running (default {DEFAULT_EVENTS_PER_MINUTE:g};"
        " 0 for none)",
    )
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="quiet",
        help="quiet (default: --events-per-minute, instant full pages) or busy (a large "
        "organization: --events-per-second, short pages in a backlog, --latency per answer)",
    )
    parser.add_argument(
        "--events-per-second",
        type=float,
        default=20.0,
        metavar="R",
        help=f"busy: events ingested a second, 1 to {MAX_EVENTS_PER_SECOND:g} (default 20)",
    )
    parser.add_argument(
        "--short-page-share",
        type=float,
        default=0.2,
        metavar="F",
        help="busy: share of backlog answers shorter than the limit asked for (default 0.2)",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.3,
        metavar="S",
        help="busy: mean seconds per Monitor answer, each 0.5 to 1.5 times it (default 0.3)",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME",
        help="play an attack scenario over the background activity (repeatable; "
        "--list-scenarios names them)",
    )
    parser.add_argument(
        "--scenario-delay",
        type=float,
        default=DEFAULT_SCENARIO_DELAY_S,
        metavar="S",
        help="play the scenarios S seconds after start, so a connector started meanwhile "
        f"fetches them (default {DEFAULT_SCENARIO_DELAY_S:g})",
    )
    parser.add_argument(
        "--list-scenarios",
        action="store_true",
        help="print each scenario's name and summary, one a line, and exit",
    )
    parser.add_argument("--seed", type=int, default=1, help="same seed, same events (default 1)")
    parser.add_argument(
        "--no-rate-limits", action="store_true", help="never answer 429 (headers still sent)"
    )
    parser.add_argument(
        "--hourly-limit",
        type=int,
        default=3000,
        metavar="N",
        help="requests an hour before 429 (default 3000, DocuSign's)",
    )
    parser.add_argument(
        "--burst-limit",
        type=int,
        default=200,
        metavar="N",
        help="requests per 30 seconds before 429 (default 200, DocuSign development's)",
    )
    parser.add_argument(
        "--token-lifetime",
        type=int,
        default=3600,
        metavar="S",
        help="access token lifetime in seconds (default 3600)",
    )
    parser.add_argument(
        "--retention-days",
        type=float,
        default=7.0,
        metavar="D",
        help="the stream serves events of the past D days only (default 7, DocuSign's)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[:COUNT|@PROB]",
        help=f"inject a fault (repeatable); kinds: {', '.join(FAULT_KINDS)}",
    )
    parser.add_argument(
        "--key-file",
        type=Path,
        metavar="PATH",
        help="where to write the private key (default: a temporary file, removed on exit)",
    )
    parser.add_argument(
        "--key-format",
        choices=("pkcs1", "pkcs8"),
        default="pkcs1",
        help="PEM format of the written key (default pkcs1, as DocuSign's Generate RSA)",
    )
    parser.add_argument("--tls-cert", metavar="PATH", help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key", metavar="PATH", help="private key of --tls-cert")


def list_scenarios() -> str:
    """One ``name  summary`` line per scenario."""
    width = max(len(name) for name in SCENARIOS)
    return "".join(f"{s.name:<{width}}  {s.summary}\n" for s in SCENARIOS.values())


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; 0 on a clean stop, 2 on bad options."""
    if args.list_scenarios:
        sys.stdout.write(list_scenarios())
        return 0
    unknown = [name for name in args.scenario if name not in SCENARIOS]
    if unknown:
        print(
            f"simulate: unknown scenario {unknown[0]!r}; --list-scenarios names them",
            file=sys.stderr,
        )
        return 2
    try:
        faults = [Fault.parse(text) for text in args.fault]
    except ValueError as exc:
        print(f"simulate: bad --fault: {exc}", file=sys.stderr)
        return 2
    try:
        if not 0 <= args.scenario_delay <= 86400:  # NaN fails too; a longer wait cannot happen
            raise ValueError("--scenario-delay must be from 0 to 86400 seconds")
        config = _config(args)
    except ValueError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = _on_signals(stop)
    try:
        with tempfile.TemporaryDirectory(prefix="docusign-simulator-") as tmp:
            if args.backlog > 100_000:
                print(f"simulate: generating {args.backlog} events...", file=sys.stderr)
            try:
                sim = Simulator(config).start()
            except OSError as exc:
                print(
                    f"simulate: cannot listen on {args.host}:{args.port}: {exc}; try --port 0",
                    file=sys.stderr,
                )
                return 1
            try:
                for fault in faults:
                    sim.inject(fault)
                key_file = sim.write_private_key(
                    args.key_file or Path(tmp) / "docusign-simulator-key.pem", args.key_format
                )
                sys.stdout.write(_banner(sim, key_file))
                sys.stdout.flush()
                if args.scenario and not stop.wait(max(0.0, args.scenario_delay)):
                    for name in args.scenario:
                        ids = sim.play_scenario(name)
                        print(f"simulate: played scenario {name} ({len(ids)} events)",
                              file=sys.stderr)  # fmt: skip
                stop.wait()
                print("simulate: stopping", file=sys.stderr)
            finally:
                sim.stop()
    finally:
        _restore(previous)
    return 0


def _config(args: argparse.Namespace) -> SimulatorConfig:
    """The options as one SimulatorConfig; ValueError names a value out of range."""
    return SimulatorConfig(
        seed=args.seed,
        backlog=args.backlog,
        backlog_days=args.backlog_days,
        events_per_minute=args.events_per_minute,
        profile=args.profile,
        events_per_second=args.events_per_second,
        short_page_share=args.short_page_share,
        latency_s=args.latency,
        rate_limits=not args.no_rate_limits,
        hourly_limit=args.hourly_limit,
        burst_limit=args.burst_limit,
        token_lifetime_s=args.token_lifetime,
        retention_days=args.retention_days,
        host=args.host,
        port=args.port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )


def _banner(sim: Simulator, key_file: Path) -> str:
    lines = [
        f"# DocuSign simulator at {sim.base_url} (account server and Monitor; aud={sim.audience})",
        f"# legacy stream:  {sim.base_url}/api/v2.0/datasets/monitor/stream",
        f"# current stream: {sim.base_url}/v1/organizations/{sim.organization_id}/stream",
        f"# admin:          {sim.base_url}/__simulator__/state",
        f"# {len(sim.event_ids())} events ingested, {sim.config.ingestion_per_minute:g} more a "
        f"minute ({sim.config.profile} profile); stop with Ctrl-C",
        f'# play a scenario now: curl -X POST -d \'{{"name": "brute-force"}}\' '
        f"{sim.base_url}/__simulator__/scenario",
    ]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in sim.env(key_file).items()]
    return "\n".join(lines) + "\n"


def _on_signals(stop: threading.Event) -> List[object | None]:
    if threading.current_thread() is not threading.main_thread():
        return []

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return [signal.signal(signal.SIGINT, handle), signal.signal(signal.SIGTERM, handle)]


def _restore(previous: List[object | None]) -> None:
    if previous:
        signal.signal(signal.SIGINT, previous[0])  # type: ignore[arg-type]
        signal.signal(signal.SIGTERM, previous[1])  # type: ignore[arg-type]
