"""The command line: parse, build the pieces, run a command, turn errors into exit codes.

This is the only place that catches `ConnectorError` and exits, and (with `settings`) the only
place that reads the process environment.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from . import __version__
from .errors import (
    EXIT_CONFIG,
    EXIT_INTERNAL,
    EXIT_IO,
    EXIT_OK,
    EXIT_UNHEALTHY,
    ConfigError,
    ConnectorError,
)
from .report import Reporter

if TYPE_CHECKING:
    import requests

    from .preflight import Preflight
    from .settings import Settings

__all__ = ["main", "build_parser"]

#: The commands whose --help lists settings (the others have no settings of their own).
COMMANDS_WITH_SETTINGS = frozenset(
    {"run", "check", "consent-url", "status", "checkpoint show", "checkpoint reset"}
)


# -- parser ---------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one stderr line (cause and fix), like every other exit, and
    an option is never matched by a prefix (``--private-key`` is not ``--private-key-file``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:  # argparse: NoReturn
        from .redact import hide_secret_looking

        # argparse quotes the offending value: a GUID or key pasted as an argument stays unshown.
        message = hide_secret_looking(message)
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def _non_negative(value: str) -> float:
    """Seconds or a rate: a finite number, 0 or more (argparse makes the error an exit 2)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 <= number < float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r}: give a finite number, 0 or more")
    return number


def _duration(value: str) -> float:
    """``900``, ``90s``, ``15m``, ``2h``: seconds, 0 or more."""
    from .timestamps import parse_duration_s

    try:
        seconds = parse_duration_s(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a duration (give seconds or e.g. 90s, 15m, 2h)"
        ) from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{value!r}: give a duration of 0 or more")
    return seconds


#: What each exit code means (the contract's table); a command's --help lists its own.
_EXIT_MEANINGS = {
    0: "success",
    1: "unhealthy or stale",
    2: "wrong command-line usage",
    65: "DocuSign sent unreadable data",
    70: "internal error (a bug)",
    74: "output or checkpoint cannot be written (or read: permissions, full disk)",
    75: "temporary: DocuSign unreachable or rate-limited, or the checkpoint is locked",
    77: "DocuSign refused access (consent, key, user, Monitor not enabled)",
    78: "configuration error (a setting missing or malformed, a checkpoint unreadable)",
}

#: The codes each command can return, with the meanings that differ for it.
_COMMAND_EXITS: dict[str, tuple[tuple[int, str], ...]] = {
    "run": ((0, "caught up; or stopped by SIGTERM/SIGINT"), (2, ""), (65, ""), (70, ""),
            (74, ""), (75, ""), (77, ""), (78, "")),
    "check": ((0, "every check passed"), (2, ""), (65, ""), (70, ""),
              (74, "the checkpoint cannot be written, or the output refused"), (75, ""),
              (77, ""), (78, "")),
    "consent-url": ((0, "the URL is printed"), (2, ""), (70, ""), (74, ""),
                    (78, "the environment or the integration key is missing or malformed")),
    "status": ((0, "healthy"), (1, ""), (2, ""), (70, ""),
               (74, "the checkpoint cannot be read (permissions)"),
               (78, "the checkpoint is unreadable, or a setting is malformed")),
    "checkpoint show": ((0, "printed"), (2, ""), (70, ""),
                        (74, "the checkpoint cannot be read (permissions)"),
                        (78, "no checkpoint yet, or it is unreadable")),
    "checkpoint reset": ((0, "reset (or nothing to reset)"), (2, ""), (70, ""),
                         (74, "the checkpoint cannot be written"),
                         (75, "the checkpoint is in use by a running collector"),
                         (78, "")),
    "checkpoint": ((0, "done"), (2, ""), (70, ""), (74, ""), (75, ""), (78, "")),
    "demo": ((0, "events flowed and the connector stopped cleanly"), (2, ""), (70, "")),
}

#: A line after a command's table.
_EXIT_NOTES = {
    "demo": "  any other code is the connector's own, passed on (see `docusign-input run --help`)",
    "checkpoint": "  each action's own codes: `checkpoint show --help`, `checkpoint reset --help`",
}


def _exit_codes(command: str) -> str:
    rows = [
        f"  {code:<3} {meaning or _EXIT_MEANINGS[code]}"
        for code, meaning in sorted(_COMMAND_EXITS[command])
    ]
    if command in _EXIT_NOTES:
        rows.append(_EXIT_NOTES[command])
    return "exit codes:\n" + "\n".join(rows)


#: Two examples per command for its --help epilog.
_EXAMPLES = {
    "run": (
        "docusign-input run --backfill-start 7d          # one sync, the last week first",
        "docusign-input run --follow --output forward://127.0.0.1:24224",
    ),
    "check": (
        "docusign-input check                     # preflight with the environment's settings",
        "docusign-input check --config /etc/docusign-input/settings.toml",
    ),
    "consent-url": (
        "DOCUSIGN_ENVIRONMENT=development DOCUSIGN_INTEGRATION_KEY_FILE=ik docusign-input "
        "consent-url",
        "docusign-input consent-url --redirect-uri https://example.com/docusign/consent",
    ),
    "status": (
        "docusign-input status --checkpoint /var/lib/docusign-input/checkpoint.json",
        "docusign-input status --max-lag 15m --json",
    ),
    "checkpoint show": (
        "docusign-input checkpoint show",
        "docusign-input checkpoint show --checkpoint /var/lib/docusign-input/checkpoint.json",
    ),
    "checkpoint reset": (
        "docusign-input checkpoint reset --to 36h   # resume 36 hours back; events already "
        "delivered and still remembered are skipped",
        "docusign-input checkpoint reset            # forget the cursor: the next run starts "
        "per --backfill-start",
    ),
    "checkpoint": (
        "docusign-input checkpoint show --checkpoint /var/lib/docusign-input/checkpoint.json",
        "sudo -u docusign-input docusign-input checkpoint reset --to 2026-11-20",
    ),
    "demo": (
        "docusign-input demo                               # 15 s of events from a simulator",
        "docusign-input demo --seconds 60 --backlog 1000 --events-per-minute 600",
    ),
}

#: Help that differs for one command: (command, setting key) -> help.
_HELP_FOR = {
    ("status", "poll_interval"): "the poll interval the runs use: the staleness basis without "
    "--max-lag (stale after three intervals, at least 15 minutes); default: the interval the "
    "latest run recorded",
}


def _epilog(command: str) -> str:
    """The environment variables of the settings this command uses, the exit codes, examples."""
    from .settings import specs_for

    if command not in COMMANDS_WITH_SETTINGS:
        return _exit_codes(command) + "\n\nexamples:\n" + _examples(command)
    rows = []
    for spec in specs_for(command):
        names = ", ".join(spec.environment_variables)
        if names:
            flag = spec.flag or spec.file_flag
            note = f" (secret; no flag{', or ' + flag + ' for the file' if flag else ''})" \
                if spec.secret else ""
            rows.append(f"  {names}: {spec.label}{note}")
    return (
        "environment variables (a flag wins over the environment, which wins over --config):\n"
        + "\n".join(rows)
        + "\n  secrets come only from the environment or a _FILE variable, never from a flag\n\n"
        + _exit_codes(command)
        + "\n\nexamples:\n"
        + _examples(command)
    )


def _examples(command: str) -> str:
    return "\n".join(f"  {line}" for line in _EXAMPLES[command])


def _add_setting_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """The flags of the settings this command uses, straight from their declaration."""
    from .settings import specs_for

    group = parser.add_argument_group("settings (flag > environment > --config file)")
    group.add_argument("--config", metavar="FILE", help="TOML file with settings")
    for spec in specs_for(command):
        if spec.switch is not None and spec.flag:
            group.add_argument(spec.flag, dest=spec.key, action="store_const",
                               const=spec.switch, default=None, help=spec.help)
        elif spec.flag:
            group.add_argument(spec.flag, dest=spec.key, metavar=spec.metavar,
                               help=_HELP_FOR.get((command, spec.key), spec.help))
        elif spec.file_flag and spec.file_key:
            group.add_argument(spec.file_flag, dest=spec.file_key, metavar=spec.metavar,
                               help=f"file holding {spec.help}")


def _command(
    commands: Any, name: str, *, help: str, description: str, handler: Callable[..., int],
    command: str | None = None,
) -> argparse.ArgumentParser:
    command = command or name
    parser = commands.add_parser(
        name, help=help, description=description, epilog=_epilog(command),
    )
    _add_setting_flags(parser, command)
    parser.set_defaults(handler=handler, settings_command=command)
    return parser


def _add_organization_flags(parser: argparse.ArgumentParser, *, shard: bool) -> None:
    group = parser.add_argument_group("many organizations (see the README)")
    group.add_argument(
        "--organizations", metavar="FILE",
        help="serve every organization of this TOML file in one process "
        "(DOCUSIGN_ORGANIZATIONS); per-organization settings come only from it")
    group.add_argument(
        "--state-dir", metavar="DIR",
        help="with --organizations: where DIR/<name>.json checkpoints live (DOCUSIGN_STATE_DIR; "
        "default $XDG_STATE_HOME/docusign-input/organizations)")
    if shard:
        group.add_argument(
            "--shard", metavar="I/N",
            help="with --organizations: only the organizations of shard I of N (DOCUSIGN_SHARD; "
            "auto: I from the host name's ordinal, N from DOCUSIGN_SHARDS)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="docusign-input",
        description="DocuSign Monitor events as JSON lines on stdout, for Vector, Fluent Bit and "
        "other log shippers.",
        epilog="run `docusign-input COMMAND --help` for a command's settings, exit codes and "
        "examples; `docusign-input demo` shows events flowing from a local simulator",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    run = _command(
        commands, "run", help="deliver every new event, then exit", handler=cmd_run,
        description="Fetch every event not yet delivered, write them to the output, save the "
        "checkpoint, exit 0 once caught up (for a scheduler); --follow keeps polling.",
    )
    run.add_argument("--follow", action="store_true", help="keep polling until SIGTERM/SIGINT")
    _add_organization_flags(run, shard=True)

    check = _command(
        commands, "check", help="preflight: every setting, a token, one page; saves nothing",
        handler=cmd_check,
        description="A preflight that saves nothing: every settings problem at once, the "
        "checkpoint directory and lock, a token, one page, the output; then a report.",
    )
    _add_organization_flags(check, shard=False)
    _command(
        commands, "consent-url", help="print the URL an admin opens to grant consent",
        handler=cmd_consent_url,
        description="Print the consent URL on stdout (and on stderr what to do with it). An "
        "admin opens it once, signs in as the impersonated user and accepts. The integration "
        "key has no flag: set DOCUSIGN_INTEGRATION_KEY_FILE or DOCUSIGN_INTEGRATION_KEY.",
    )
    status = _command(
        commands, "status", help="health from the checkpoint", handler=cmd_status,
        description="Print the health recorded in the checkpoint; exit 0 when healthy, 1 when "
        "stale or failing. Needs only the checkpoint path.",
    )
    status.add_argument(
        "--max-lag",
        type=_duration,
        metavar="DURATION",
        help="unhealthy when the last success is older than this (900, 15m, 2h)",
    )
    status.add_argument("--json", action="store_true", help="print the health as one JSON object")
    _add_organization_flags(status, shard=True)

    checkpoint = commands.add_parser(
        "checkpoint", help="inspect or rewind the saved position",
        description="Inspect (show) or rewind (reset) the checkpoint: the saved position, the "
        "recent event IDs that deduplicate, and the health `status` reads. Run it as the user "
        "the service runs as; `checkpoint ACTION --help` lists each action's settings.",
        epilog=_epilog("checkpoint"),
    )
    cp_commands = checkpoint.add_subparsers(dest="checkpoint_command", metavar="ACTION")
    cp_commands.required = True
    _command(
        cp_commands, "show", command="checkpoint show", help="print the checkpoint",
        handler=cmd_checkpoint_show, description="Print the checkpoint file as JSON.",
    )
    reset = _command(
        cp_commands, "reset", command="checkpoint reset", help="rewind the saved position",
        handler=cmd_checkpoint_reset,
        description="Rewind the saved position (--to) or forget it. Events delivered recently "
        "are remembered by ID and skipped when fetched again, so a rewind re-delivers only what "
        "is no longer remembered; to deliver everything again, give the collector a new "
        "--checkpoint with --backfill-start instead. The file keeps its owner.",
    )
    reset.add_argument(
        "--to",
        metavar="WHEN",
        help="date, date-time, 90m/36h/7d or earliest "
        "(default: forget the cursor; the next run starts per --backfill-start)",
    )

    # The simulator parses its own options, so that no other command pays for importing it.
    simulate = commands.add_parser(
        "simulate", add_help=False, help="run the embedded DocuSign simulator (simulate --help)"
    )
    simulate.add_argument("simulator_args", nargs=argparse.REMAINDER)
    simulate.set_defaults(handler=cmd_simulate)

    demo = commands.add_parser(
        "demo", help="watch events flow from a throwaway simulator",
        description="Start the embedded DocuSign simulator with a throwaway key, run the real "
        "`run --follow` against it as a child process, show the events on stdout and the "
        "connector's messages on stderr, then stop it and print its `status`. No DocuSign "
        "account and no network beyond loopback.",
        epilog=_epilog("demo"),
    )
    demo.add_argument(
        "--seconds", type=_non_negative, default=15.0, help="how long to follow (default 15)"
    )
    demo.add_argument(
        "--backlog", type=int, default=100, help="events already waiting (default 100)"
    )
    demo.add_argument(
        "--events-per-minute",
        type=_non_negative,
        default=120.0,
        help="new events while following (default 120)",
    )
    demo.set_defaults(handler=cmd_demo)
    return parser


#: Words in an option's name that make it look like it carries a secret.
_SECRET_WORDS = ("key", "secret", "password", "passwd", "token", "credential")


def refuse_unknown_options(parser: argparse.ArgumentParser, extras: list[str]) -> None:
    """Options argparse did not know, named without any value: ``--private-key "$(cat k)"`` or
    ``--integration-key GUID`` must not print the secret in the usage error."""
    from .redact import looks_like_secret
    from .settings import specs_for

    options = [extra.split("=", 1)[0] for extra in extras if extra.startswith("-")]
    if not options:
        if any(looks_like_secret(x) for x in extras):
            parser.exit(
                2,
                f"{parser.prog}: error: unexpected argument, which looks like a key or an ID "
                "(not shown): secrets and IDs come from the environment, a _FILE variable or "
                "their --option\n",
            )
        parser.error(f"unexpected argument {extras[0]!r}")
    name = options[0]
    if any(word in name.lower() for word in _SECRET_WORDS):
        secret = next(
            (s for s in specs_for() if s.secret and name.lstrip("-").replace("-", "_")
             in (s.key, s.file_key)),
            None,
        )
        where = (" (" + ", ".join(secret.environment_variables) + ")") if secret else ""
        parser.exit(
            2,
            f"{parser.prog}: error: {name} is not an option: secrets come only from the "
            f"environment or a _FILE variable{where}; the value given is not shown\n",
        )
    parser.error(f"unrecognized arguments: {name}")


# -- entry point ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulate"]:
        # argparse's REMAINDER cannot capture options after a sub-command: hand them over as is.
        return run_simulator(argv[1:])
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        refuse_unknown_options(parser, extras)
    reporter = Reporter(
        level=args.__dict__.get("log_level") or os.environ.get("DOCUSIGN_LOG_LEVEL", "info"),
        fmt=args.__dict__.get("log_format") or os.environ.get("DOCUSIGN_LOG_FORMAT", "text"),
    )
    handler: Callable[[argparse.Namespace, Reporter], int] = args.handler
    from .signals import Stopped

    try:
        return handler(args, reporter)
    except ConnectorError as exc:
        reporter.error(exc.line(), exit_code=exc.exit_code)
        return exc.exit_code
    except Stopped:
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        # The reader of stdout went away (`status | head -1`): an output that cannot be written,
        # not a bug. `run` never gets here: its output turns a closed pipe into an OutputError.
        from .output import silence_stdout

        silence_stdout()
        reporter.error(
            "stdout was closed by its reader before the output was written in full; nothing "
            "was changed (read the whole output, or send it to a file)",
            exit_code=EXIT_IO,
        )
        return EXIT_IO
    except Exception as exc:  # a bug of ours: one line, no traceback unless asked for
        if reporter.threshold <= 10:
            import traceback

            from .redact import scrub

            # Through the redactor like every other text: a frame's values may hold a secret.
            sys.stderr.write(scrub(traceback.format_exc()))
        reporter.error(
            f"internal error ({type(exc).__name__}); the checkpoint is unchanged. This is a bug: "
            "please report it with the output of the same command run with --log-level debug",
            exit_code=EXIT_INTERNAL,
        )
        return EXIT_INTERNAL


# -- settings and pieces --------------------------------------------------------------------------

def _flags(args: argparse.Namespace) -> dict[str, Any]:
    from .settings import FLAG_KEYS

    return {name: getattr(args, name, None) for name in FLAG_KEYS}


def load(args: argparse.Namespace, reporter: Reporter, *, collect: bool = False) -> Settings:
    """The settings of the command being run (``args.settings_command``), read once."""
    from .settings import load_settings

    config = getattr(args, "config", None)
    settings = load_settings(
        _flags(args),
        os.environ,
        command=getattr(args, "settings_command", "run"),
        config_file=Path(config) if config else None,
        now=datetime.now(timezone.utc),
        collect=collect,
    )
    reporter.configure(level=settings.log_level, fmt=settings.log_format)
    return settings


# -- commands -------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, reporter: Reporter) -> int:
    from .lifecycle import CheckpointRun, relax_garbage_collector
    from .signals import Stopper

    relax_garbage_collector()
    if organizations_file(args):
        return cmd_run_organizations(args, reporter)
    run: CheckpointRun | None = None

    def last_words() -> str:
        from .lifecycle import stop_line

        return reporter.render("warning", run.stop_line(True) if run else stop_line(None, True))

    stopper = Stopper(last_words=last_words)
    stopper.install()
    run = CheckpointRun(load(args, reporter), reporter, stopper, follow=args.follow)
    run.execute()
    return EXIT_OK


def cmd_check(args: argparse.Namespace, reporter: Reporter) -> int:
    """A full preflight (see ``preflight``): every problem it can find, in one report."""
    from .lifecycle import new_session, now_utc
    from .preflight import Preflight

    if organizations_file(args):
        return cmd_check_organizations(args, reporter)
    check = Preflight(sys.stdout, now_utc())
    settings = check.settings(lambda: load(args, reporter, collect=True))
    if settings is None:
        check.result()
        return EXIT_OK
    preflight_steps(check, settings, new_session(), reporter)
    check.result()
    return EXIT_OK


def preflight_steps(
    check: Preflight, settings: Settings, session: requests.Session, reporter: Reporter
) -> None:
    """`check`'s steps after the settings: checkpoint, token, one page, output, backoff."""
    from .lifecycle import build_source_factory, build_tokens, check_owner

    checkpoint = check.checkpoint(settings, check_owner)
    tokens = build_tokens(settings, session, reporter, cache=False)
    if check.token(tokens):
        check.first_page(settings, checkpoint, build_source_factory(settings, session, tokens))
    check.output(settings)
    if not check.problems:
        check.clear_backoff(settings)


def cmd_consent_url(args: argparse.Namespace, reporter: Reporter) -> int:
    from .auth import consent_url
    from .settings import DEFAULT_REDIRECT_URI

    settings = load(args, reporter)
    print(consent_url(settings), flush=True)
    redirect = settings.redirect_uri or DEFAULT_REDIRECT_URI
    reporter.info(
        f"an administrator opens this URL once, signs in as the user the connector impersonates "
        f"and accepts; DocuSign then sends the browser to {redirect}, which must be registered "
        "as a Redirect URI on the integration key (Apps and Keys); afterwards "
        "`docusign-input check` confirms the grant"
    )
    return EXIT_OK


def checkpoint_path_for_reading(args: argparse.Namespace, reporter: Reporter) -> Path:
    """`status` and `checkpoint show` only read a file: an explicit path is all they need, so a
    liveness probe does not have to carry the DocuSign settings."""
    explicit = getattr(args, "checkpoint", None) or os.environ.get("DOCUSIGN_CHECKPOINT")
    if explicit and not getattr(args, "config", None):
        return Path(explicit).expanduser()
    return Path(load(args, reporter).checkpoint_path)


def cmd_status(args: argparse.Namespace, reporter: Reporter) -> int:
    from .checkpoint_store import CheckpointStore
    from .health import assess
    from .lifecycle import now_utc, recorded_process_alive
    from .settings import MAX_LAG_S, format_duration

    if args.max_lag is not None and args.max_lag > MAX_LAG_S:
        raise ConfigError(
            f"--max-lag {args.max_lag:g} s is longer than the maximum of "
            f"{format_duration(MAX_LAG_S)}",
            f"give at most {format_duration(MAX_LAG_S)} ({MAX_LAG_S:g} s): DocuSign keeps "
            "seven days of events",
        )
    if organizations_file(args):
        return cmd_status_organizations(args, reporter)
    path = checkpoint_path_for_reading(args, reporter)
    store = CheckpointStore(path)
    checkpoint = store.load()
    process_alive = recorded_process_alive(store)
    report = assess(checkpoint, now_utc(), max_lag_s=args.max_lag, process_alive=process_alive,
                    poll_interval_s=_status_poll_interval(args))
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        print(f"checkpoint            {path}")
        for name, value in report.lines():
            print(f"{name:<21} {value}")
    if report.healthy:
        return EXIT_OK
    reporter.error(
        f"unhealthy: {'; '.join(report.problems)} (fix: {report.fix})", exit_code=EXIT_UNHEALTHY
    )
    return EXIT_UNHEALTHY


def _status_poll_interval(args: argparse.Namespace) -> float | None:
    """The staleness basis given to `status` (--poll-interval or DOCUSIGN_POLL_INTERVAL, the
    runs' own setting, read by its own parser), or None: the interval the latest run recorded."""
    from .settings import parse_setting

    given = getattr(args, "poll_interval", None)
    name = "--poll-interval" if given else "DOCUSIGN_POLL_INTERVAL"
    text = given or os.environ.get("DOCUSIGN_POLL_INTERVAL")
    if not text:
        return None
    return float(parse_setting("poll_interval", text, name))


def cmd_checkpoint_show(args: argparse.Namespace, reporter: Reporter) -> int:
    from .checkpoint_store import CheckpointStore

    path = checkpoint_path_for_reading(args, reporter)
    checkpoint = CheckpointStore(path).load()
    if checkpoint is None:
        raise ConfigError(
            f"no checkpoint at {path} yet",
            "run `docusign-input run` first, or pass --checkpoint",
        )
    body = json.loads(checkpoint.to_json())
    body["recent_event_ids"] = (
        f"{len(checkpoint.recent_event_ids)} IDs remembered for deduplication"
    )
    print(json.dumps({"file": str(path), **body}, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_checkpoint_reset(args: argparse.Namespace, reporter: Reporter) -> int:
    from .lifecycle import now_utc, reset_checkpoint
    from .timestamps import format_time, parse_when

    settings = load(args, reporter)
    cursor: str | None = None
    where = "the next run starts per --backfill-start (or now)"
    if args.to is not None:
        now = now_utc()
        try:
            when = parse_when(args.to, now)
        except ValueError as exc:
            raise ConfigError(
                f"--to {args.to!r}: {exc}",
                "use e.g. 2026-11-20, 2026-11-20T08:00:00Z, 36h, 7d or earliest",
            ) from None
        if isinstance(when, datetime) and when > now:
            raise ConfigError(f"--to {args.to!r} is in the future", "give a past time")
        cursor = format_time(when) if isinstance(when, datetime) else ""
        where = f"the next run starts from {cursor or 'the earliest event DocuSign holds'}"
    reset_checkpoint(settings, cursor, where, reporter)
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace, reporter: Reporter) -> int:
    return run_simulator(args.simulator_args)


def run_simulator(argv: list[str]) -> int:
    from .simulator import cli as simulator_cli

    parser = _Parser(
        prog="docusign-input simulate", description="Run the embedded DocuSign simulator."
    )
    simulator_cli.add_arguments(parser)
    return simulator_cli.run(parser.parse_args(argv))


def cmd_demo(args: argparse.Namespace, reporter: Reporter) -> int:
    from .demo import run_demo

    return run_demo(args, reporter)


# -- many organizations ---------------------------------------------------------------------------


def organizations_file(args: argparse.Namespace) -> Path | None:
    """``--organizations`` or ``DOCUSIGN_ORGANIZATIONS``: the organizations file, if any."""
    text = getattr(args, "organizations", None) or os.environ.get("DOCUSIGN_ORGANIZATIONS", "")
    return Path(text).expanduser() if text.strip() else None


def load_organizations(args: argparse.Namespace, reporter: Reporter, *, shard: bool) -> Any:
    """The fleet of this command's organizations (its shard's), every problem one line each
    (raised as one SettingsProblems, which `say_problems` prints)."""
    from .fleet import environment_shard
    from .organizations import load_fleet, state_dir_from
    from .settings import read_toml_file
    from .sharding import ALL

    path = organizations_file(args)
    assert path is not None
    config = getattr(args, "config", None)
    config_keys = read_toml_file(Path(config), f"--config {config}", "give a TOML file",
                                 "") if config else {}
    fleet = load_fleet(
        path, _flags(args), os.environ, command=getattr(args, "settings_command", "run"),
        state_dir=state_dir_from(getattr(args, "state_dir", None), os.environ),
        shard=environment_shard(getattr(args, "shard", None), os.environ) if shard else ALL,
        config_file=Path(config) if config else None, config_keys=config_keys,
        now=datetime.now(timezone.utc),
    )
    if fleet.organizations:
        first = fleet.organizations[0].settings
        reporter.configure(level=first.log_level, fmt=first.log_format)
    return fleet


def say_problems(reporter: Reporter, exc: ConfigError) -> int:
    """Each problem of the organizations file on its own stderr line; exit 78."""
    for problem in getattr(exc, "problems", [exc]):
        reporter.error(problem.line(), exit_code=problem.exit_code)
    return EXIT_CONFIG


def cmd_run_organizations(args: argparse.Namespace, reporter: Reporter) -> int:
    from .fleet import FleetRun
    from .settings import SettingsProblems
    from .signals import Stopper

    run: FleetRun | None = None

    def last_words() -> str:
        line = run.stop_line(True) if run else "stopping now; nothing was delivered"
        return reporter.render("warning", line)

    stopper = Stopper(last_words=last_words)
    stopper.install()
    try:
        fleet = load_organizations(args, reporter, shard=True)
    except SettingsProblems as exc:
        return say_problems(reporter, exc)
    run = FleetRun(fleet, reporter, stopper, follow=args.follow)
    return run.execute()


def cmd_status_organizations(args: argparse.Namespace, reporter: Reporter) -> int:
    from .fleet import environment_shard, fleet_status, status_exit
    from .organizations import read_entries, state_dir_from
    from .settings import SettingsProblems

    path = organizations_file(args)
    assert path is not None
    _, raws, problems = read_entries(path)
    if problems:
        return say_problems(reporter, SettingsProblems(problems))
    shard = environment_shard(getattr(args, "shard", None), os.environ)
    names = [raw.name for raw in raws if raw.name and shard.takes(raw.name)]
    state_dir = state_dir_from(getattr(args, "state_dir", None), os.environ)
    healthy, reports, lines = fleet_status(names, state_dir, max_lag_s=args.max_lag)
    if args.json:
        print(json.dumps(reports, ensure_ascii=False))
    else:
        print("\n".join(lines))
    if not healthy:
        unhealthy = [name for name, report in reports.items() if not report["healthy"]]
        reporter.error(
            f"unhealthy: {len(unhealthy)} of {len(names)} organizations "
            f"({', '.join(unhealthy[:10])}{', ...' if len(unhealthy) > 10 else ''})",
            exit_code=EXIT_UNHEALTHY,
        )
    return status_exit(healthy)


def cmd_check_organizations(args: argparse.Namespace, reporter: Reporter) -> int:
    """`check` for each organization of the file, one report each under its name; exits with the
    most severe code."""
    from .fleet import most_severe
    from .lifecycle import new_session, now_utc
    from .preflight import Preflight
    from .settings import SettingsProblems

    try:
        fleet = load_organizations(args, reporter, shard=False)
    except SettingsProblems as exc:
        print(f"organizations file: {len(exc.problems)} problems", flush=True)
        for problem in exc.problems:
            print(f"  FAIL  {problem.line()}", flush=True)
        return say_problems(reporter, exc)
    session = new_session()
    codes = []
    for organization in fleet.organizations:
        print(f"== organization {organization.name}", flush=True)
        check = Preflight(sys.stdout, now_utc())
        settings = check.settings(functools.partial(getattr, organization, "settings"))
        if settings is None:
            continue
        preflight_steps(check, settings, session, reporter)
        try:
            check.result()
            codes.append(EXIT_OK)
        except ConnectorError as exc:
            codes.append(exc.exit_code)
            reporter.error(f"organization {organization.name}: {exc.line()}",
                           exit_code=exc.exit_code)
    return most_severe(codes)
