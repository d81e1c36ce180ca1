"""The forward output's failures, each classified once where it arises: a receiver that garbles
its answers is reconnected to; a shared key it requires and nobody configured, or TLS material
that cannot be used, is a configuration error (78) at once; an unacknowledged large frame says
its size is the likely cause, and the frame size is a setting."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Callable

import msgpack
import pytest
from cryptography.hazmat.primitives import serialization
from receivers import ForwardReceiver
from receivers.certs import make_pki

from docusign_input.errors import ConfigError
from docusign_input.forward import ForwardOutput, ForwardTarget

# What a scripted receiver does on each connection, in order; then `ack` for the rest.
Script = Callable[[socket.socket], None]


def _garbage(sock: socket.socket) -> None:
    sock.recv(65536)
    sock.sendall(b"\xc1\xc1\xc1")  # 0xc1 is never used in msgpack: undecodable


def _unfinished(sock: socket.socket) -> None:
    sock.recv(65536)
    # A str32 header announcing 2 GiB, then 1.1 MiB of it: a message that never ends.
    sock.sendall(b"\xdb\x80\x00\x00\x00" + b"a" * (1_100_000))


def _helo(sock: socket.socket) -> None:
    sock.sendall(msgpack.packb(["HELO", {"nonce": "n" * 16, "auth": "", "keepalive": True}]))
    try:
        while sock.recv(65536):
            pass  # reads the frames, never acknowledges them (what a keyed input does)
    except OSError:
        pass


def _ack(sock: socket.socket) -> None:
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    while True:
        data = sock.recv(65536)
        if not data:
            return
        unpacker.feed(data)
        for message in unpacker:
            sock.sendall(msgpack.packb({"ack": message[2]["chunk"]}))


class ScriptedReceiver:
    """A forward receiver on 127.0.0.1 that treats connection N as ``scripts[N]`` says."""

    def __init__(self, *scripts: Script, rest: Script = _ack) -> None:
        self.scripts = list(scripts)
        self.rest = rest
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            script = self.scripts.pop(0) if self.scripts else self.rest
            self.connections += 1
            threading.Thread(target=self._run, args=(script, sock), daemon=True).start()

    @staticmethod
    def _run(script: Script, sock: socket.socket) -> None:
        with sock:
            try:
                script(sock)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()


def _events(n: int, size: int = 10) -> list[dict]:
    return [{"timestamp": "2026-11-27T09:10:06.0512813Z", "eventId": f"ev-{i}",
             "data": {"pad": "x" * size}} for i in range(n)]


@pytest.mark.parametrize("first", [_garbage, _unfinished], ids=["undecodable", "unfinished"])
def test_a_receiver_answering_what_msgpack_cannot_read_is_reconnected_to(first):
    receiver = ScriptedReceiver(first)
    warnings: list[str] = []
    out = ForwardOutput(ForwardTarget("127.0.0.1", receiver.port, ack_timeout_s=5.0),
                        warn=warnings.append, give_up_after_s=None, rand=lambda: 0.0)
    try:
        out.deliver(_events(3), lambda: False)  # raised (exit 70) before
    finally:
        out.close()
        receiver.close()
    assert receiver.connections == 2
    assert len(warnings) == 1 and "not a forward protocol message" in warnings[0] or (
        "without finishing a message" in warnings[0])


def test_a_receiver_requiring_a_shared_key_none_is_configured_for_is_a_configuration_error(
    simulator, connector,
):
    simulator.seed_backlog(5, days=1)
    receiver = ScriptedReceiver(rest=_helo)
    url = f"forward://127.0.0.1:{receiver.port}"
    try:
        check = connector.run("check", "--output", url)
        run = connector.run("run", "--output", url, "--forward-ack-timeout", "3",
                            "--backfill-start", "2d")
        follow = connector.run("run", "--follow", "--output", url, "--forward-ack-timeout", "3",
                               "--backfill-start", "2d", timeout=30)
    finally:
        receiver.close()
    for proc in (check, run, follow):
        text = proc.stdout.decode() + proc.stderr.decode()
        assert proc.returncode == 78, text
        assert "requires a shared key" in text and "DOCUSIGN_FORWARD_SHARED_KEY" in text
    assert "Output OK" not in check.stdout.decode().replace("  ", " ")


def _tls_receiver(pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    return ForwardReceiver(tls=context)


def _encrypted_copy(pki, tmp_path):
    key = serialization.load_pem_private_key(pki.client_key.read_bytes(), None)
    path = tmp_path / "client-key-encrypted.pem"
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase")))
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("case", ["encrypted key", "key of another certificate"])
def test_unusable_client_tls_material_is_exit_78_at_start_without_a_prompt(
    simulator, connector, tmp_path, case
):
    simulator.seed_backlog(2, days=1)
    pki = make_pki(tmp_path / "pki")
    key = (_encrypted_copy(pki, tmp_path) if case == "encrypted key" else pki.server_key)
    with _tls_receiver(pki) as fwd:
        proc = connector.run(
            "run", "--output", f"forward+tls://localhost:{fwd.port}", "--forward-ack-timeout",
            "3", "--backfill-start", "2d", env={"REQUESTS_CA_BUNDLE": str(pki.ca),
                      "DOCUSIGN_FORWARD_TLS_CERT_FILE": str(pki.client_cert),
                      "DOCUSIGN_FORWARD_TLS_KEY_FILE": str(key)},
            stdin=subprocess.DEVNULL, timeout=30)
    err = proc.stderr.decode()
    assert proc.returncode == 78, err
    assert "pass phrase" not in err.lower() and len(err.strip().splitlines()) == 1
    assert ("encrypted" if case == "encrypted key" else "does not belong") in err
    assert fwd.entries == []


def test_config_error_for_tls_material_comes_before_any_connection(tmp_path):
    pki = make_pki(tmp_path)
    target = ForwardTarget("localhost", 9, tls=True, ca_bundle=str(pki.ca),
                           client_cert_file=str(pki.client_cert),
                           client_key_file=str(pki.server_key))
    with pytest.raises(ConfigError):
        ForwardOutput(target)


def test_the_frame_size_is_a_setting_and_a_large_unacknowledged_frame_is_named():
    with ForwardReceiver() as fwd:
        out = ForwardOutput(ForwardTarget("127.0.0.1", fwd.port, max_frame_bytes=4096))
        try:
            out.deliver(_events(40, size=500), lambda: False)
        finally:
            out.close()
        assert len(fwd.wait_for(40)) == 40
        assert out.acked_frames >= 5  # 40 entries of ~600 bytes in frames of at most 4 KiB
    warnings: list[str] = []
    with ForwardReceiver(["close", "close"]) as fwd:
        out = ForwardOutput(ForwardTarget("127.0.0.1", fwd.port, ack_timeout_s=2.0),
                            warn=warnings.append, give_up_after_s=None, rand=lambda: 0.0)
        try:
            out.deliver(_events(1, size=300_000), lambda: False)
        finally:
            out.close()
    assert len(warnings) == 2
    assert "300" in warnings[0] and "--forward-frame-size" in warnings[0]
    assert "DOCUSIGN_FORWARD_FRAME_SIZE" in warnings[0]
