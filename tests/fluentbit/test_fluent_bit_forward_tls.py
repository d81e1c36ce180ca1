"""`forward+tls://` with a shared key, against real Fluent Bit's forward input: the certificate
the test makes is verified through REQUESTS_CA_BUNDLE, the client certificate is presented, the
shared-key handshake passes, and the events reach Fluent Bit; a wrong key is refused with one
line that does not show it."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from fluentbit_support import CONNECTOR, SKIP_REASON, FluentBit, binaries, free_port, wait_until
from receivers.certs import make_pki

BINARIES = binaries()
KEY = "shared-key-made-by-the-test"


def _config(pki, port):
    return f"""
service:
  flush: 1
  log_level: info
pipeline:
  inputs:
    - name: forward
      listen: 127.0.0.1
      port: {port}
      shared_key: {KEY}
      self_hostname: fluent-bit-under-test
      tls: on
      tls.verify: on
      tls.ca_file: {pki.ca}
      tls.crt_file: {pki.server_cert}
      tls.key_file: {pki.server_key}
  outputs:
    - name: stdout
      match: docusign.monitor
      format: json_lines
"""


@pytest.mark.parametrize("version", sorted(BINARIES) or [
    pytest.param("none", marks=pytest.mark.skip(reason=SKIP_REASON))])
def test_forward_tls_with_client_certificate_and_shared_key(version, tmp_path):
    from docusign_input.simulator import Simulator, SimulatorConfig

    pki = make_pki(tmp_path / "pki")
    port = free_port()
    config = tmp_path / "tls.yaml"
    config.write_text(_config(pki, port))
    key_file = tmp_path / "shared-key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    fluent_bit = FluentBit(BINARIES[version], config, dict(os.environ), tmp_path / "fb.log")
    with Simulator(SimulatorConfig(seed=7, backlog=40, rate_limits=False)) as sim:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUSIGN_")}
        env.update(sim.env(sim.write_private_key(tmp_path / "key.pem")))
        env.update({"DOCUSIGN_BACKFILL_START": "earliest",
                    "DOCUSIGN_CHECKPOINT": str(tmp_path / "cp.json"),
                    "REQUESTS_CA_BUNDLE": str(pki.ca),
                    "DOCUSIGN_FORWARD_SHARED_KEY_FILE": str(key_file),
                    "DOCUSIGN_FORWARD_TLS_CERT_FILE": str(pki.client_cert),
                    "DOCUSIGN_FORWARD_TLS_KEY_FILE": str(pki.client_key),
                    "DOCUSIGN_FORWARD_ACK_TIMEOUT": "5"})
        url = f"forward+tls://localhost:{port}"
        fluent_bit.start()
        try:
            assert wait_until(lambda: "listening on" in fluent_bit.log_text()
                              or "listen" in fluent_bit.log_text(), 10)
            check = subprocess.run([CONNECTOR, "check", "--output", url], env=env,
                                   capture_output=True, timeout=60)
            assert check.returncode == 0, check.stderr.decode()
            assert (f"{url}: connected, TLS verified, client certificate sent, shared key "
                    "accepted") in check.stdout.decode()
            run = subprocess.run([CONNECTOR, "run", "--output", url], env=env,
                                 capture_output=True, timeout=60)
            assert run.returncode == 0, run.stderr.decode()
            expected = set(sim.event_ids())

            def arrived():
                return {json.loads(line)["eventId"] for line in fluent_bit.log_text()
                        .splitlines() if line.startswith("{") and "eventId" in line}

            assert wait_until(lambda: arrived() >= expected, 15)
            wrong = tmp_path / "wrong-key"
            wrong.write_text("not-the-key\n")
            wrong.chmod(0o600)
            refused = subprocess.run(
                [CONNECTOR, "run", "--output", url],
                env={**env, "DOCUSIGN_FORWARD_SHARED_KEY_FILE": str(wrong),
                     "DOCUSIGN_CHECKPOINT": str(tmp_path / "cp2.json")},
                capture_output=True, timeout=60)
        finally:
            fluent_bit.stop()
    assert refused.returncode == 74
    [line] = refused.stderr.decode().strip().splitlines()[-1:]
    assert "refused the key" in line and "not-the-key" not in refused.stderr.decode()
    assert KEY not in run.stderr.decode() + check.stdout.decode() + check.stderr.decode()
