"""`docusign-input simulate` as a user runs it: defaults that show events, scenarios, help."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time
from pathlib import Path

from connector_support import connector_command, lines_of

from docusign_input.simulator.cli import add_arguments
from docusign_input.simulator.scenarios import SCENARIOS


def _start(*args: str) -> tuple[subprocess.Popen, dict]:
    """Start `simulate`, read its exports; returns the process and the connector's env."""
    sim = subprocess.Popen(
        connector_command() + ["simulate", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUSIGN_")}
    assert sim.stdout is not None
    while True:
        line = sim.stdout.readline()
        assert line, sim.stderr.read() if sim.stderr else ""
        if line.startswith("export "):
            name, _, value = line[len("export ") :].strip().partition("=")
            env[name] = value
            if name == "DOCUSIGN_ENVIRONMENT":
                return sim, env


def _stop(sim: subprocess.Popen) -> None:
    sim.send_signal(signal.SIGTERM)
    assert sim.wait(timeout=10) == 0


def _run(env: dict, checkpoint: Path, *args: str) -> list[dict]:
    proc = subprocess.run(
        connector_command() + ["run", *args],
        env={**env, "DOCUSIGN_CHECKPOINT": str(checkpoint)},
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return lines_of(proc.stdout)


def test_default_simulate_has_a_backlog_and_keeps_ingesting(tmp_path):
    """Without options, `run` finds a day of backlog, and a later `run` finds new events."""
    sim, env = _start()
    try:
        first = _run(env, tmp_path / "cp.json", "--backfill-start", "2d")
        assert len(first) >= 2000
        time.sleep(5)  # 30 a minute: a few new events in 5 s
        later = _run(env, tmp_path / "cp.json")
        assert later and not {e["eventId"] for e in later} & {e["eventId"] for e in first}
    finally:
        _stop(sim)


def test_a_scenario_named_on_the_command_line_reaches_a_run_started_before_it(tmp_path):
    """The flow of the examples: start simulate with a scenario, start the connector, see it."""
    sim, env = _start(
        "--backlog", "0", "--events-per-minute", "0", "--scenario", "brute-force",
        "--scenario", "mfa-disabled", "--scenario-delay", "3",
    )  # fmt: skip
    try:
        checkpoint = tmp_path / "cp.json"
        assert _run(env, checkpoint) == []  # starts from now: nothing yet
        deadline = time.monotonic() + 30
        events: list[dict] = []
        while len(events) < 32 and time.monotonic() < deadline:
            time.sleep(1)
            events += _run(env, checkpoint)
        kinds = [(e["object"], e["action"], e["result"]) for e in events]
        assert kinds.count(("User", "Login", "Failure")) == 30
        assert ("User", "TwoFactorAuthenticationChanged", "") in kinds
        assert len(events) == 32
    finally:
        _stop(sim)


def test_list_scenarios_prints_one_name_and_summary_a_line():
    proc = subprocess.run(
        connector_command() + ["simulate", "--list-scenarios"], capture_output=True, timeout=30
    )
    assert proc.returncode == 0 and proc.stderr == b""
    lines = proc.stdout.decode().splitlines()
    assert [line.split()[0] for line in lines] == list(SCENARIOS)
    assert all(len(line.split(None, 1)) == 2 for line in lines)


def test_an_unknown_scenario_is_one_usage_line_and_exit_2():
    proc = subprocess.run(
        connector_command() + ["simulate", "--port", "0", "--scenario", "brute"],
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 2 and proc.stdout == b""
    err = proc.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "brute" in err[0] and "--list-scenarios" in err[0]


def test_every_simulate_option_has_a_help_text():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    missing = [a.option_strings for a in parser._actions if not a.help]
    assert missing == []
