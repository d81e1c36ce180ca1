"""Signals, token expiry, clock skew, outage longer than retention, and TLS."""

from __future__ import annotations

import datetime as dt
import json
import signal
import threading
import time

import pytest
from campaign import SEED, Connector, hook_env, ids_of, one_error_line, record, wait_for

from docusign_input.simulator import Fault


def _stop(proc, sig, twice=False) -> float:
    started = time.monotonic()
    proc.send_signal(sig)
    if twice:
        proc.send_signal(sig)
    code = proc.wait(timeout=8)
    elapsed = time.monotonic() - started
    assert code == 0 and elapsed < 5, (code, elapsed)
    return round(elapsed, 2)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
@pytest.mark.parametrize("phase", ["fetch", "backoff", "blocked-write"])
def test_stop_signal_exits_0_within_5s_and_the_next_run_loses_nothing(
    simulator_factory, tmp_path, sig, phase
):
    sim = simulator_factory(seed=SEED, rate_limits=False)
    sim.seed_backlog(2000 if phase == "blocked-write" else 300, days=1)
    conn = Connector(sim, tmp_path)
    args = ["run", "--follow", "--backfill-start", "earliest", "--page-size", "500"]
    if phase == "fetch":
        sim.inject(Fault("slow", delay_s=8))
    elif phase == "backoff":
        sim.inject(Fault("http_503"))
    proc = conn.popen(*args, env=hook_env(jitter=f"seed:{SEED}"))
    assert wait_for(lambda: sim.stream_requests >= 1 and conn.checkpoint.exists())
    time.sleep(
        1.0
    )  # inside the slow request / the backoff sleep / the write blocked on a full pipe
    took = _stop(proc, sig, twice=(sig == signal.SIGTERM))
    out, err = proc.communicate()
    assert b"Traceback" not in err
    first, partial = ids_of(out)
    json.loads(conn.checkpoint.read_bytes())
    sim.clear_faults()
    rest = conn.run("run", "--page-size", "500")
    again, _ = ids_of(rest.stdout)
    assert set(first) | set(again) == set(sim.event_ids())
    saved_before = set(first) - set(again)
    assert len(set(first) & set(again)) <= 500  # only the page being written when stopped
    record(
        "signals", phase=phase, signal=sig.name, seconds_to_exit=took,
        partial_line_bytes=partial, delivered_before_stop=len(first),
        repeated_next_run=len(set(first) & set(again)), checkpointed=len(saved_before),
    )  # fmt: skip


def test_token_expiring_during_a_slow_drain_is_reminted_and_nothing_is_lost(
    simulator_factory, tmp_path
):
    sim = simulator_factory(seed=SEED, rate_limits=False, token_lifetime_s=3)
    sim.seed_backlog(600, days=1)
    sim.inject(Fault("slow", delay_s=0.4))
    conn = Connector(sim, tmp_path)
    revoker = threading.Timer(2.0, sim.expire_tokens)  # and one revoked early: a 401 mid-drain
    revoker.start()
    proc = conn.run("run", "--backfill-start", "earliest", "--page-size", "50")
    revoker.join()
    assert proc.returncode == 0, proc.stderr.decode()
    assert ids_of(proc.stdout)[0] == sim.event_ids()
    assert sim.token_requests >= 3
    record("token-expiry", events=600, tokens_minted=sim.token_requests, lost=0)


@pytest.mark.parametrize("skew_s", [7200, -7200], ids=["connector-behind", "connector-ahead"])
def test_clock_skew_is_one_line_exit_77(simulator_factory, tmp_path, skew_s):
    sim = simulator_factory(seed=SEED, rate_limits=False, clock=lambda: time.time() + skew_s)
    conn = Connector(sim, tmp_path)
    proc = conn.run("run")
    assert proc.returncode == 77, proc.stderr.decode()
    line = one_error_line(proc)
    assert len(proc.stderr.decode().strip().splitlines()) == 1
    if skew_s > 0:  # our exp is in DocuSign's past: expired_grant
        assert "clock" in line and "NTP" in line
    else:  # our iat is in its future: DocuSign blames the key, so the fix must name the clock too
        assert "no_valid_keys_or_signatures" in line and "system clock" in line
    record("clock-skew", skew_s=skew_s, line=line[line.find("error: ") + 7 :][:200])


def test_outage_longer_than_retention_warns_once_and_status_reports_the_gap(
    simulator_factory, tmp_path
):
    sim = simulator_factory(seed=SEED, rate_limits=False)
    conn = Connector(sim, tmp_path)
    assert conn.run("run").returncode == 0
    body = conn.saved()
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=8, hours=3)
    body["updated_at"] = old.strftime("%Y-%m-%dT%H:%M:%SZ")
    conn.checkpoint.write_text(json.dumps(body))
    sim.append_events(3)
    warned = conn.run("run")
    assert warned.returncode == 0
    warnings = [x for x in warned.stderr.decode().splitlines() if "retention" in x]
    assert len(warnings) == 1 and "8.1 days" in warnings[0]
    status = json.loads(conn.run("status", "--json").stdout)
    assert status["possible_gap"] and status["possible_gap"]["since"] == body["updated_at"]
    quiet = conn.run("run")
    assert quiet.returncode == 0 and "retention" not in quiet.stderr.decode()
    record("retention-gap", warnings_first_run=1, warnings_next_run=0, gap=status["possible_gap"])


def _ca_and_server(tmp_path):
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key, srv_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reliability test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(srv_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    paths["ca"].write_bytes(ca.public_bytes(pem))
    paths["cert"].write_bytes(cert.public_bytes(pem))
    paths["key"].write_bytes(
        srv_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def test_tls_with_a_private_ca_works_only_when_the_ca_is_given(simulator_factory, tmp_path):
    certs = _ca_and_server(tmp_path)
    sim = simulator_factory(
        seed=SEED, rate_limits=False, tls_cert=str(certs["cert"]), tls_key=str(certs["key"])
    )
    sim.seed_backlog(20, days=1)
    conn = Connector(sim, tmp_path)
    assert sim.base_url.startswith("https://")
    refused = conn.run("check", env={"REQUESTS_CA_BUNDLE": "", "SSL_CERT_FILE": ""})
    assert refused.returncode == 75, refused.stderr.decode()
    line = one_error_line(refused)
    assert "TLS" in line and "REQUESTS_CA_BUNDLE" in line
    # `run` gives up at once: no retry within seconds can change a CA bundle (the quick retries
    # for network blips would each log a warning line and then end the same way).
    tokens_before = sim.token_requests
    no_ca = conn.run(
        "run", "--backfill-start", "earliest", env={"REQUESTS_CA_BUNDLE": "", "SSL_CERT_FILE": ""}
    )
    assert no_ca.returncode == 75, no_ca.stderr.decode()
    assert len(no_ca.stderr.decode().strip().splitlines()) == 1
    assert "TLS" in one_error_line(no_ca)
    assert sim.token_requests == tokens_before  # the handshake failed: nothing reached it
    ok = conn.run(
        "run", "--backfill-start", "earliest", env={"REQUESTS_CA_BUNDLE": str(certs["ca"])}
    )
    assert ok.returncode == 0, ok.stderr.decode()
    assert ids_of(ok.stdout)[0] == sim.event_ids()
    record("tls", without_ca_exit=75, line=line[line.find("error: ") + 7 :][:200])


def test_no_setting_turns_certificate_verification_off():
    from pathlib import Path

    import docusign_input

    package = Path(docusign_input.__file__).parent
    offenders = [
        str(p) for p in package.rglob("*.py")
        if "verify=False" in p.read_text() or "CERT_NONE" in p.read_text()
    ]  # fmt: skip
    assert offenders == [] or all("/simulator/" in o for o in offenders), offenders
