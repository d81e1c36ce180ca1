"""Secrets canary: a canary private key, integration key and the minted access token never appear
in anything this campaign produces, except the token in its own 0600 cache file and the
integration key inside consent URLs."""

from __future__ import annotations

import json
import re
import uuid

from campaign import HERE, SEED, Connector, record
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from docusign_input.simulator import Fault


def canary_setup(simulator_factory, tmp_path):
    """A simulator and connector whose integration key and private key are canaries."""
    sim = simulator_factory(seed=SEED, rate_limits=False)
    sim.seed_backlog(30, days=1)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    canary_ik = str(uuid.UUID(int=0xC0FFEE_C0FFEE_C0FFEE_C0FFEE))
    sim.register_key(
        canary_ik,
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    sim.set_consent(True, integration_key=canary_ik)
    conn = Connector(sim, tmp_path)
    conn.key_file.write_text(pem)
    conn.env["DOCUSIGN_INTEGRATION_KEY"] = canary_ik
    return sim, conn, pem, canary_ik


def test_no_secret_leaks_anywhere(simulator_factory, tmp_path, scanner):
    sim, conn, pem, canary_ik = canary_setup(simulator_factory, tmp_path)
    body_lines = [ln for ln in pem.splitlines() if ln and not ln.startswith("-----")]

    runs = [
        ("run", ["run", "--backfill-start", "earliest", "--log-level", "debug"], {}),
        ("run-json", ["run", "--log-format", "json", "--log-level", "debug"], {}),
        ("check", ["check", "--log-level", "debug"], {}),
        ("status", ["status"], {}),
        ("status-json", ["status", "--json"], {}),
        ("checkpoint-show", ["checkpoint", "show"], {}),
        ("consent-url", ["consent-url"], {}),
        (
            "pem-in-env",
            ["run", "--log-level", "debug"],
            {"DOCUSIGN_PRIVATE_KEY_FILE": "", "DOCUSIGN_PRIVATE_KEY": pem},
        ),
        (
            "bad-pem-in-env",
            ["run"],
            {"DOCUSIGN_PRIVATE_KEY_FILE": "", "DOCUSIGN_PRIVATE_KEY": pem.replace("A", "!", 3)},
        ),
        ("bad-setting", ["run", "--page-size", "0"], {}),
        ("pem-in-file-variable", ["run"], {"DOCUSIGN_PRIVATE_KEY_FILE": pem}),
        ("pem-in-file-variable-json", ["run", "--log-format", "json"],
         {"DOCUSIGN_PRIVATE_KEY_FILE": pem}),
        ("pem-in-path-flag", ["run", "--private-key-file", pem], {}),
        ("pem-in-checkpoint-flag", ["check", "--checkpoint", pem], {}),
        ("private-key-flag", ["run", "--private-key", pem], {}),
        ("integration-key-flag", ["run", "--integration-key", canary_ik], {}),
        ("abbreviated-secret-flag", ["run", "--integration", canary_ik], {}),
        ("ik-in-key-file-flag", ["check", "--private-key-file", canary_ik], {}),
        ("bad-ik-format", ["run"], {"DOCUSIGN_INTEGRATION_KEY": canary_ik + "x"}),
    ]
    for label, args, env in runs:
        scanner.add_proc(label, conn.run(*args, env=env))
    token_cache = conn.checkpoint.with_name(conn.checkpoint.name + ".token")
    access_token = json.loads(token_cache.read_text())["access_token"]
    assert token_cache.stat().st_mode & 0o777 == 0o600
    # Failures with a live token around: Monitor off, 5xx, a revoked token (consent: below).
    sim.set_monitor_enabled(False)
    scanner.add_proc("monitor-off", conn.run("run", "--log-level", "debug"))
    sim.set_monitor_enabled(True)
    sim.expire_tokens()
    sim.inject(Fault("http_500", count=2))
    scanner.add_proc("5xx", conn.run("run", "--log-level", "debug"))
    state = conn.checkpoint.parent
    scanner.add_files(p for p in state.iterdir() if p != token_cache)
    scanner.add_files((HERE.parent / "cassettes").glob("*"))

    secrets = {"integration key": canary_ik, "access token": access_token, "pem": body_lines[1]}
    secrets.update({f"pem line {i}": ln for i, ln in enumerate(body_lines) if len(ln) >= 32})
    # The integration key may appear only inside a consent URL an admin must open: on
    # `consent-url`'s stdout. Nowhere else: no `client_id=` exemption for every text.
    leaks = scanner.leaks(secrets, allowed={"integration key": ["consent-url stdout"]})
    jwt_like = [lbl for lbl, data in scanner.texts if re.search(rb"eyJ[A-Za-z0-9_-]{10,}\.", data)]
    record("secrets", texts_scanned=len(scanner.texts), secrets=len(secrets), leaks=leaks,
           jwt_like=jwt_like)  # fmt: skip
    assert leaks == [] and jwt_like == []


def test_a_consent_failure_shows_the_integration_key_only_in_its_own_stderr_line(
    simulator_factory, tmp_path, scanner
):
    sim, conn, _, canary_ik = canary_setup(simulator_factory, tmp_path)
    assert conn.run("run").returncode == 0
    sim.expire_tokens()
    sim.set_consent(False, integration_key=canary_ik)
    scanner.add_proc("consent", conn.run("run", "--log-format", "json"))
    scanner.add_proc("check-consent", conn.run("check"))
    scanner.add_proc("status", conn.run("status"))
    scanner.add_proc("status-json", conn.run("status", "--json"))
    scanner.add_proc("checkpoint-show", conn.run("checkpoint", "show"))
    # A second failed run prints its own consent_required line (allowed); the third one backs off
    # and must name the stored cause without the key.
    scanner.add_proc("consent-again", conn.run("run"))
    backing_off = conn.run("run")
    assert b"not contacting DocuSign" in backing_off.stderr
    scanner.add_proc("backing-off", backing_off)
    token_cache = conn.checkpoint.with_name(conn.checkpoint.name + ".token")
    scanner.add_files(p for p in conn.checkpoint.parent.iterdir() if p != token_cache)
    own_lines = ["consent stderr", "check-consent stderr", "consent-again stderr"]
    allowed = {"integration key": own_lines}
    assert scanner.leaks({"integration key": canary_ik}, allowed=allowed) == []
