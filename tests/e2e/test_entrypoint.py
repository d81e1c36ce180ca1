"""examples/docker-entrypoint.sh, run by /bin/sh as the images run it, in front of the installed
command: a production container (settings in --config, no DOCUSIGN_USER_ID in the environment)
starts at once; only the demo's explicit opt-in waits for the simulator's settings."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import threading
import time
from pathlib import Path

from connector_support import REPO, connector_command

ENTRYPOINT = REPO / "examples" / "docker-entrypoint.sh"


def _bare_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The process environment with no DOCUSIGN_* at all, as in a fresh container."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUSIGN_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
    env.update(extra)
    return env


def _config_file(simulator, tmp_path: Path, **override: str) -> Path:
    """A --config TOML file holding every setting, secrets included, as a production one would."""
    key = simulator.write_private_key(tmp_path / "key.pem")
    values = {
        "environment": "development",
        "user_id": simulator.user_id,
        "integration_key": simulator.integration_key,
        "private_key_file": str(key),
        "auth_url": simulator.base_url,
        "monitor_url": simulator.base_url,
        "checkpoint": str(tmp_path / "state" / "checkpoint.json"),
        "backfill_start": "earliest",
        **override,
    }
    path = tmp_path / "docusign-input.toml"
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()))
    return path


def _entrypoint(*argv: str, env: dict[str, str], timeout: float = 60):
    started = time.monotonic()
    proc = subprocess.run(["/bin/sh", str(ENTRYPOINT), *argv], env=env, capture_output=True,
                          timeout=timeout)
    return proc, time.monotonic() - started


def test_without_the_opt_in_a_config_file_container_starts_at_once(simulator, tmp_path):
    """The reported hang: settings in --config, DOCUSIGN_USER_ID unset; it waited 120 s, exit 78."""
    simulator.seed_backlog(40, days=1)
    config = _config_file(simulator, tmp_path)
    proc, elapsed = _entrypoint(*connector_command(), "run", "--config", str(config),
                                env=_bare_env(tmp_path))
    assert proc.returncode == 0, proc.stderr.decode()
    assert [json.loads(line)["eventId"] for line in proc.stdout.splitlines()] == (
        simulator.event_ids())
    assert b"docusign-entrypoint" not in proc.stderr  # it neither waited nor spoke
    assert elapsed < 30


def test_without_the_opt_in_a_bad_config_fails_with_the_connectors_own_line(simulator, tmp_path):
    config = _config_file(simulator, tmp_path, environment="nowhere")
    proc, elapsed = _entrypoint(*connector_command(), "run", "--config", str(config),
                                env=_bare_env(tmp_path))
    assert proc.returncode == 78
    [line] = proc.stderr.decode().strip().splitlines()
    assert "environment" in line and "docusign-entrypoint" not in line
    assert elapsed < 30


def test_opted_in_it_waits_for_the_simulator_settings_then_uses_them(simulator, tmp_path):
    simulator.seed_backlog(25, days=1)
    settings = tmp_path / "shared" / "simulator.env"
    settings.parent.mkdir()
    key = simulator.write_private_key(tmp_path / "shared" / "key.pem")
    env = _bare_env(tmp_path, DOCUSIGN_SIMULATOR_SETTINGS=str(settings),
                    DOCUSIGN_CHECKPOINT=str(tmp_path / "state" / "checkpoint.json"))

    def simulator_service_writes_its_settings() -> None:
        time.sleep(1.5)
        lines = [f"export {k}={shlex.quote(v)}\n" for k, v in simulator.env(key).items()]
        settings.write_text("# the simulator's settings\n" + "".join(lines))

    writer = threading.Thread(target=simulator_service_writes_its_settings)
    writer.start()
    proc, elapsed = _entrypoint(*connector_command(), "run", env=env)
    writer.join()
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(proc.stdout.splitlines()) == 25  # the demo's backfill default: earliest
    assert b"waiting up to 120 s for the simulator's settings" in proc.stderr
    assert elapsed >= 1.5


def test_opted_in_without_a_simulator_it_gives_up_with_exit_78_and_the_fix(tmp_path):
    env = _bare_env(tmp_path, DOCUSIGN_SIMULATOR_SETTINGS=str(tmp_path / "missing.env"),
                    DOCUSIGN_SIMULATOR_WAIT="1")
    proc, elapsed = _entrypoint("true", env=env)
    assert proc.returncode == 78
    last = proc.stderr.decode().strip().splitlines()[-1]
    assert "no simulator settings" in last and "unset DOCUSIGN_SIMULATOR_SETTINGS" in last
    assert elapsed < 10


def test_opted_in_but_given_a_user_id_it_uses_the_given_settings(tmp_path):
    env = _bare_env(tmp_path, DOCUSIGN_SIMULATOR_SETTINGS=str(tmp_path / "missing.env"),
                    DOCUSIGN_USER_ID="00000000-0000-0000-0000-000000000001")
    proc, elapsed = _entrypoint("sh", "-c", 'echo "user=$DOCUSIGN_USER_ID"', env=env)
    assert proc.returncode == 0
    assert proc.stdout == b"user=00000000-0000-0000-0000-000000000001\n"
    assert elapsed < 10
