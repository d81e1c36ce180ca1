"""The installed `docusign-input run --output forward://...` against receivers that misbehave:
the checkpoint moves only past what the receiver acknowledged."""

from __future__ import annotations

import json
import socket
import threading

from receivers import ForwardReceiver


def _black_hole():
    """A receiver that accepts connections, reads nothing, and dies (closes) after a moment."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []

    def serve():
        server.settimeout(1.5)
        try:
            while True:
                held.append(server.accept()[0])
        except OSError:
            pass
        for conn in held:
            conn.close()
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1]


def test_a_receiver_that_accepts_reads_nothing_and_dies_loses_nothing(simulator, connector):
    """The bug this output fixes: 300 events were 'sent' into a dead receiver's socket buffer,
    the run exited 0 and the next run sent nothing."""
    simulator.seed_backlog(300, days=1)
    port = _black_hole()
    proc = connector.run("run", "--backfill-start", "earliest", "--forward-ack-timeout", "2",
                         "--output", f"forward://127.0.0.1:{port}", timeout=60)
    assert proc.returncode == 74, proc.stderr.decode()
    assert "has not acknowledged the events" in proc.stderr.decode().strip().splitlines()[-1]
    assert connector.saved()["health"]["events_delivered"] == 0
    with ForwardReceiver() as fwd:
        proc = connector.run("run", "--output", f"forward://127.0.0.1:{fwd.port}")
        assert proc.returncode == 0, proc.stderr.decode()
        entries = fwd.wait_for(300)
    assert [e.record["eventId"] for e in entries] == simulator.event_ids()


def test_refusals_and_hang_ups_are_resent_and_the_run_succeeds(simulator, connector):
    simulator.seed_backlog(200, days=1)
    with ForwardReceiver(["empty", "close", "reset_mid"]) as fwd:
        proc = connector.run("run", "--backfill-start", "earliest", "--page-size", "50",
                             "--output", f"forward://127.0.0.1:{fwd.port}", timeout=60)
        assert proc.returncode == 0, proc.stderr.decode()
        entries = fwd.wait_for(200)
    assert [e.record["eventId"] for e in entries] == simulator.event_ids()
    assert proc.stderr.decode().count("unacknowledged events again") == 3


def test_an_integer_beyond_64_bits_arrives_as_a_string_and_the_run_goes_on(simulator, connector):
    simulator.seed_backlog(5, days=1)
    odd = simulator.append_event_bytes(
        b'{"timestamp":"2026-11-27T09:10:06.0512813Z","eventId":"big-int-1","object":"User",'
        b'"action":"Login","data":{"Huge":123456789012345678901234567890,"Small":-1}}')
    with ForwardReceiver() as fwd:
        proc = connector.run("run", "--backfill-start", "earliest",
                             "--output", f"forward://127.0.0.1:{fwd.port}")
        assert proc.returncode == 0, proc.stderr.decode()
        entries = fwd.wait_for(6)
    [big] = [e for e in entries if e.record["eventId"] == odd]
    assert big.record["data"] == {"Huge": "123456789012345678901234567890", "Small": -1}
    assert connector.saved()["health"]["events_delivered"] == 6


def test_check_probes_the_forward_receiver(simulator, connector):
    simulator.seed_backlog(3, days=1)
    with ForwardReceiver() as fwd:
        proc = connector.run("check", "--output", f"forward://127.0.0.1:{fwd.port}")
        assert proc.returncode == 0, proc.stderr.decode()
        assert f"Output                   OK (forward://127.0.0.1:{fwd.port}: connected)" in (
            proc.stdout.decode())
        assert fwd.entries == []  # a probe sends no event
    port = fwd.port
    proc = connector.run("check", "--output", f"forward://127.0.0.1:{port}")
    assert proc.returncode == 74
    assert f"cannot reach the forward receiver forward://127.0.0.1:{port}" in (
        proc.stderr.decode())


def test_the_shared_key_is_a_secret_never_shown(simulator, connector, tmp_path):
    key_file = tmp_path / "shared-key"
    key_file.write_text("very-secret-shared-key\n")
    key_file.chmod(0o600)
    with ForwardReceiver() as fwd:  # no handshake: the run must fail, naming no secret
        proc = connector.run(
            "check", "--output", f"forward://127.0.0.1:{fwd.port}",
            env={"DOCUSIGN_FORWARD_SHARED_KEY_FILE": str(key_file)}, timeout=60)
    everything = proc.stdout.decode() + proc.stderr.decode()
    assert "forward shared key" in proc.stdout.decode() and "set (hidden)" in everything
    assert "very-secret-shared-key" not in everything
    assert proc.returncode == 74
    assert "did not start the shared-key handshake" in proc.stderr.decode()
    assert "very-secret" not in json.dumps(connector.saved() if connector.checkpoint.exists()
                                           else {})
