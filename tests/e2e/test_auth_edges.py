"""Auth and URL edges through the installed command: a revoked token at /oauth/userinfo, a wrong
Monitor URL, an upper-case user ID, the consent URL's instructions, the first run's start."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from connector_support import lines_of


def test_a_401_from_userinfo_drops_the_cached_token_and_mints_once(simulator, connector):
    simulator.seed_backlog(4, days=1)
    orgs = {"DOCUSIGN_MONITOR_API": "organizations"}
    first = connector.run("run", "--backfill-start", "earliest", env=orgs)
    assert first.returncode == 0, first.stderr.decode()
    saved = connector.saved()
    saved["organization_id"] = None  # as before the lookup: the next run asks /oauth/userinfo
    connector.checkpoint.write_text(json.dumps(saved))
    simulator.expire_tokens()  # the cached token is now refused everywhere
    tokens = simulator.token_requests
    new_ids = simulator.append_events(2)
    second = connector.run("run", env=orgs)
    assert second.returncode == 0, second.stderr.decode()
    assert [e["eventId"] for e in lines_of(second.stdout)] == new_ids
    assert simulator.token_requests == tokens + 1


class _NotFound(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).hits += 1
        body = b"<html>Not Found</html>"
        self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_a_wrong_monitor_url_is_a_configuration_error_at_once(simulator, connector):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        proc = connector.run("run", "--monitor-url", url)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 78, proc.stderr.decode()
    line = proc.stderr.decode().strip().splitlines()[-1]
    assert f"--monitor-url {url}" in line and "404" in line and "lens-d.docusign.net" in line
    assert _NotFound.hits == 1  # not retried


def test_an_upper_case_user_id_is_the_same_user_checkpoint_and_lock(simulator, connector):
    del connector.env["DOCUSIGN_CHECKPOINT"]  # the default path, derived from the user ID
    simulator.seed_backlog(3, days=1)
    upper = connector.run("run", "--backfill-start", "earliest",
                          env={"DOCUSIGN_USER_ID": simulator.user_id.upper()})
    assert upper.returncode == 0 and len(lines_of(upper.stdout)) == 3, upper.stderr.decode()
    new_ids = simulator.append_events(2)
    lower = connector.run("run")
    assert [e["eventId"] for e in lines_of(lower.stdout)] == new_ids
    state = connector.workdir / "xdg" / "docusign-input"
    assert [p.name for p in state.glob("*.json")] == [f"development-{simulator.user_id}.json"]


def test_consent_url_prints_the_url_on_stdout_and_what_to_do_on_stderr(simulator, connector):
    proc = connector.run("consent-url", "--redirect-uri", "https://example.com/cb")
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode().strip().splitlines()
    assert len(out) == 1 and "/oauth/auth?" in out[0] and simulator.integration_key in out[0]
    err = proc.stderr.decode()
    assert "administrator opens this URL" in err and "https://example.com/cb" in err
    assert "Redirect URI" in err and simulator.integration_key not in err


def test_consent_url_refuses_a_redirect_uri_that_is_not_https(simulator, connector):
    proc = connector.run("consent-url", "--redirect-uri", "http://example.com/cb")
    assert proc.returncode == 78 and proc.stdout == b""
    assert "--redirect-uri" in proc.stderr.decode() and "https" in proc.stderr.decode()


def test_a_first_run_without_backfill_says_once_that_it_starts_now(simulator, connector):
    simulator.seed_backlog(5, days=1)
    first = connector.run("run")
    assert first.returncode == 0 and first.stdout == b""
    said = [ln for ln in first.stderr.decode().splitlines() if "starting from now" in ln]
    assert len(said) == 1 and "checkpoint reset --to 7d" in said[0]
    second = connector.run("run")
    assert "starting from now" not in second.stderr.decode()
