"""One owner of redaction: secrets registered when they come into being are masked in every text
that leaves the process (both log formats, exceptions, DocuSign's error bodies, the checkpoint's
failure record, `status`), and messages never hold text the redactor would take for a secret."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from docusign_input.redact import Redactor
from docusign_input.report import Reporter
from docusign_input.settings import pem_line


class _EchoesTheToken(BaseHTTPRequestHandler):
    """A Monitor that refuses with a body quoting the request's bearer token back."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        body = json.dumps({"error": "forbidden", "message": f"token {token} is not allowed"})
        data = body.encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def test_an_access_token_echoed_in_a_monitor_error_body_is_masked_everywhere(connector):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoesTheToken)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        text = connector.run("run", "--monitor-url", url)
        as_json = connector.run("run", "--monitor-url", url, "--log-format", "json")
    finally:
        server.shutdown()
        server.server_close()
    token_cache = connector.checkpoint.with_name(connector.checkpoint.name + ".token")
    token = json.loads(token_cache.read_text())["access_token"]
    assert text.returncode == 77 and "is not allowed" in text.stderr.decode()
    status = connector.run("status")
    status_json = connector.run("status", "--json")
    assert "is not allowed" in status.stdout.decode() + status.stderr.decode()
    texts = {
        "stderr": text.stderr, "json stderr": as_json.stderr, "checkpoint":
        connector.checkpoint.read_bytes(), "status": status.stdout + status.stderr,
        "status --json": status_json.stdout + status_json.stderr,
    }
    assert [name for name, data in texts.items() if token.encode() in data] == []


@pytest.mark.parametrize("output", [
    "forward://collector:hunter2-secret@127.0.0.1:24224",
    "forward://127.0.0.1:24224?shared_key=hunter2-secret",
])
def test_a_password_or_shared_key_in_the_output_url_is_not_echoed(connector, output):
    proc = connector.run("run", env={"DOCUSIGN_OUTPUT": output})
    err = proc.stderr.decode()
    assert proc.returncode == 78, err
    assert "hunter2" not in err and "DOCUSIGN_FORWARD_SHARED_KEY" in err


@pytest.mark.parametrize("output, secret", [
    ("forward://collector:hunt/er2@127.0.0.1:24224", "hunt/er2"),
    ("forward://collector:hu nt@127.0.0.1:24224", "hu nt"),
    ("forward://127.0.0.1:24224?pass=hunt2", "hunt2"),
], ids=["a password holding a slash", "a password holding a space", "a short option value"])
def test_an_output_url_password_the_url_syntax_misreads_is_not_echoed(connector, output, secret):
    # urlsplit does not read these as a password (a "/" ends the authority, a space is not
    # URL syntax) and a value this short is below the redactor's length: the shape must hide it.
    proc = connector.run("run", env={"DOCUSIGN_OUTPUT": output})
    err = proc.stderr.decode()
    assert proc.returncode == 78, err
    assert secret not in err and "DOCUSIGN_OUTPUT" in err and len(err.splitlines()) == 1


#: The shape of a DocuSign access token: a JWT header, then a payload that is not JSON.
TOKEN = "eyJ0eXAiOiJNVCIsImFsZyI6IlJTMjU2In0.AQoAAAABAAUABwCAsecretpayload.c2lnbmF0dXJl"


@pytest.mark.parametrize("args, env", [
    (["--page-size", TOKEN], {}), (["--organization-id", TOKEN], {}),
    ([], {"DOCUSIGN_USER_ID": TOKEN}), ([], {"DOCUSIGN_ENVIRONMENT": TOKEN}),
], ids=["a flag", "an ID flag", "the user ID", "the environment"])
def test_an_access_token_put_in_a_setting_is_not_echoed(connector, args, env):
    """Settings errors quote the value given: an access token pasted into the wrong setting
    (nothing registered it: no token was minted yet) was echoed whole."""
    proc = connector.run("run", *args, env=env)
    err = proc.stderr.decode()
    assert proc.returncode == 78, err
    assert "secretpayload" not in err and len(err.splitlines()) == 1


def test_a_secret_holding_quotes_and_backslashes_is_masked_in_json_logs() -> None:
    redactor = Redactor()
    secret = 'se"cr\\et-value'
    redactor.register(secret)
    stream = io.StringIO()
    Reporter(fmt="json", stream=stream, redactor=redactor).error(
        f"the receiver said {secret}", detail=secret
    )
    record = json.loads(stream.getvalue())
    assert secret not in record["message"] and secret not in record["detail"]
    assert "cr" not in record["message"].split("said", 1)[1]


GUID = "c0ffee00-1234-4abc-8def-00000000beef"


@pytest.mark.parametrize("args", [
    ["run", GUID], [GUID], ["checkpoint", GUID], ["status", "--max-lag", GUID],
], ids=["after the command", "as the command", "as the action", "as an option's value"])
def test_a_stray_guid_is_not_echoed_in_the_usage_error(connector, args):
    proc = connector.run(*args)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1
    assert GUID not in err and "not shown" in err


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_key_path_in_the_key_variable_is_one_whole_line_with_its_fix(connector, fmt):
    env = {"DOCUSIGN_PRIVATE_KEY_FILE": "", "DOCUSIGN_PRIVATE_KEY": "/etc/docusign/private.pem"}
    proc = connector.run("run", "--log-format", fmt, env=env)
    lines = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == 78 and len(lines) == 1
    line = json.loads(lines[0])["message"] if fmt == "json" else lines[0]
    assert "no BEGIN RSA PRIVATE KEY" in line and "DOCUSIGN_PRIVATE_KEY_FILE" in line
    assert "hidden" not in line


_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt\n"


@pytest.mark.parametrize("text", [
    "/etc/docusign/private.pem",
    pem_line("BEGIN", "RSA PRIVATE KEY") + "\n" + _BODY,
    pem_line("BEGIN", "PUBLIC KEY") + "\n" + _BODY + pem_line("END", "PUBLIC KEY"),
    pem_line("BEGIN", "EC PRIVATE KEY") + "\n" + _BODY,
], ids=["a path", "cut short", "a public key", "an EC key"])
def test_key_messages_hold_nothing_the_redactor_takes_for_a_secret(text):
    """A message the redactor rewrites is a message cut short: PEM armour in the text of the
    'no BEGIN line' error blanked the rest of the line, fix included."""
    from docusign_input.errors import ConfigError
    from docusign_input.settings import _check_pem

    with pytest.raises(ConfigError) as caught:
        _check_pem(text, "DOCUSIGN_PRIVATE_KEY")
    raw = f"{caught.value.cause}. {caught.value.fix}"
    assert Redactor().scrub(raw) == raw
