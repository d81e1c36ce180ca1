"""A real Grafana Loki for the tests: one process per session, one tenant per test.

The binary comes from ``LOKI_BIN`` (``.ci/run`` sets it when the team's build is beside the
repository); elsewhere the tests skip, naming the variable. The configuration is written here,
in the repository: single process, filesystem storage in a temporary directory, the ruler on
local rule files (``<rules>/<tenant>/*.yaml``), multi-tenant (``auth_enabled``) so tests share
one Loki without seeing each other's streams.

Fluent Bit's loki output runs the shipped configs unchanged, so it sends no tenant header: each
run pushes through a `TenantProxy`, a loopback HTTP relay that adds ``X-Scope-OrgID`` and passes
every request and answer through unchanged (status and body, so Fluent Bit sees Loki's 400s).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Tuple

ENV_VAR = "LOKI_BIN"
SKIP_REASON = (f"no Grafana Loki binary: set {ENV_VAR} to a loki executable (.ci/run does when "
               "the team's build is beside the repository)")

#: Tenants whose limits differ from Loki's defaults (``runtime_config`` overrides): a Loki set
#: up as examples/loki/README.md advises for a seven-day backfill.
OVERRIDES = {"backfill-8d": {"reject_old_samples_max_age": "192h"}}

CONFIG = """\
auth_enabled: true
server:
  http_listen_address: 127.0.0.1
  http_listen_port: ${LOKI_HTTP_PORT}
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: ${LOKI_GRPC_PORT}
  log_level: warn
  # a query answer travels from querier to frontend over gRPC: at the 4 MB default an answer of
  # more than ~5,000 events never arrives and the query times out after a minute (measured)
  grpc_server_max_recv_msg_size: 104857600
  grpc_server_max_send_msg_size: 104857600
common:
  path_prefix: ${LOKI_DIR}
  instance_addr: 127.0.0.1
  storage:
    filesystem:
      chunks_directory: ${LOKI_DIR}/chunks
      rules_directory: ${LOKI_DIR}/rules
  replication_factor: 1
  ring:
    instance_addr: 127.0.0.1
    kvstore:
      store: inmemory
schema_config:
  configs:
    - from: 2020-01-01
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
frontend:
  address: 127.0.0.1
frontend_worker:
  grpc_client_config:
    max_send_msg_size: 104857600
    max_recv_msg_size: 104857600
ingester:
  lifecycler:
    min_ready_duration: 0s
    final_sleep: 0s
  # every query sees memory and store at once (an accepted backfilled entry is otherwise
  # invisible until its chunk is flushed)
  query_store_max_look_back_period: -1
# Loki's defaults, spelt out because the tests are about them: entries older than 168 h are
# refused, and within one stream entries more than max_chunk_age / 2 behind the newest.
limits_config:
  reject_old_samples: true
  reject_old_samples_max_age: 168h
  max_query_length: 0
  max_entries_limit_per_query: 20000
  # the ruler and the queries evaluate the rules' [10m] windows and absent_over_time([4h])
  split_queries_by_interval: 0
runtime_config:
  file: ${LOKI_DIR}/overrides.yaml
  period: 10s
ruler:
  storage:
    type: local
    local:
      directory: ${LOKI_DIR}/rules
  rule_path: ${LOKI_DIR}/rules-tmp
  enable_api: true
  evaluation_interval: 10s
  poll_interval: 5s
analytics:
  reporting_enabled: false
"""


def loki_binary() -> str | None:
    path = os.environ.get(ENV_VAR, "")
    return path if path and os.access(path, os.X_OK) else None


class LokiServer:
    """One real Loki process, ready when `start` returns."""

    def __init__(self, binary: str, work: Path, http_port: int, grpc_port: int) -> None:
        self.binary, self.work = binary, work
        self.http_port, self.grpc_port = http_port, grpc_port
        self.proc: subprocess.Popen | None = None
        self.log = work / "loki.log"

    @property
    def rules_dir(self) -> Path:
        return self.work / "rules"

    def start(self, timeout_s: float = 90) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        (self.rules_dir).mkdir(exist_ok=True)
        config = self.work / "loki.yaml"
        config.write_text(CONFIG, encoding="utf-8")
        (self.work / "overrides.yaml").write_text(json.dumps({"overrides": OVERRIDES}))
        env = {**os.environ, "LOKI_HTTP_PORT": str(self.http_port),
               "LOKI_GRPC_PORT": str(self.grpc_port), "LOKI_DIR": str(self.work)}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, f"-config.file={config}", "-config.expand-env=true"], env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Loki exited {self.proc.returncode}: {self.log_tail()}")
            try:
                if self._request("GET", "/ready", tenant=None)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"Loki not ready after {timeout_s} s: {self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # -- HTTP ----------------------------------------------------------------------------------

    def _request(self, method: str, path: str, tenant: str | None,
                 body: bytes | None = None, timeout_s: float = 60) -> Tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout_s)
        try:
            headers = {"X-Scope-OrgID": tenant} if tenant else {}
            if body is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=body, headers=headers)
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()

    def get_json(self, path: str, tenant: str, **params: Any) -> Dict[str, Any]:
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        status, body = self._request("GET", path + query, tenant)
        if status != 200:
            raise LokiError(status, body.decode(errors="replace"))
        return json.loads(body)

    def entries(self, tenant: str,
                selector: str = '{source="docusign", service_name="docusign-monitor"}',
                start_ns: int | None = None, end_ns: int | None = None,
                ) -> List[Tuple[Dict[str, str], int, str]]:
        """Every log entry the selector finds from 8 days ago to an hour ahead, oldest first:
        (stream labels, time ns, line)."""
        now = time.time_ns()
        data = self.get_json("/loki/api/v1/query_range", tenant, query=selector,
                             start=start_ns or now - 8 * 86400 * 10**9,
                             end=end_ns or now + 3600 * 10**9, limit=20000,
                             direction="forward")
        out = [(stream["stream"], int(ts), line) for stream in data["data"]["result"]
               for ts, line in stream["values"]]
        return sorted(out, key=lambda e: e[1])

    def metric_query(self, tenant: str, query: str, start_s: float, end_s: float,
                     step_s: int) -> List[Dict[str, Any]]:
        """A metric query evaluated at every `step_s` from `start_s` to `end_s` (the ruler's
        evaluation instants); its result series (metric labels, [[t, value], ...])."""
        data = self.get_json("/loki/api/v1/query_range", tenant, query=query,
                             start=int(start_s * 10**9), end=int(end_s * 10**9), step=step_s)
        return list(data["data"]["result"])

    def instant(self, tenant: str, query: str, at_s: float | None = None) -> List[Dict[str, Any]]:
        params: Dict[str, Any] = {"query": query}
        if at_s is not None:
            params["time"] = int(at_s * 10**9)
        return list(self.get_json("/loki/api/v1/query", tenant, **params)["data"]["result"])

    def write_rules(self, tenant: str, source: Path) -> None:
        """The rule file in the ruler's local directory for `tenant` (as an operator installs
        detections/loki/rules.yaml)."""
        target = self.rules_dir / tenant
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target / "docusign.yaml")

    def rule_groups(self, tenant: str) -> List[Dict[str, Any]]:
        """The groups the ruler loaded for `tenant` (Prometheus-style rules API)."""
        data = self.get_json("/prometheus/api/v1/rules", tenant)
        return list(data["data"]["groups"])

    def alerts(self, tenant: str) -> List[Dict[str, Any]]:
        """The ruler's active alerts for `tenant` (state firing or pending)."""
        return list(self.get_json("/prometheus/api/v1/alerts", tenant)["data"]["alerts"])

    def discarded(self, tenant: str) -> Dict[str, float]:
        """reason -> entries Loki refused for `tenant` (its loki_discarded_samples_total)."""
        status, body = self._request("GET", "/metrics", tenant=None)
        out: Dict[str, float] = {}
        for line in body.decode().splitlines():
            if not line.startswith("loki_discarded_samples_total{"):
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if labels.get("tenant") == tenant:
                out[labels["reason"]] = out.get(labels["reason"], 0) + float(line.split()[-1])
        return out


class LokiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"Loki answered {status}: {body[:500]}")
        self.status, self.body = status, body


class TenantProxy:
    """A loopback HTTP relay to Loki that adds ``X-Scope-OrgID: tenant`` to every request and
    passes answers back unchanged; several connections at once, as Fluent Bit opens them."""

    def __init__(self, loki: LokiServer, tenant: str, port: int) -> None:
        self.loki, self.tenant, self.port = loki, tenant, port
        self.statuses: List[int] = []
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "connection")}
                headers["X-Scope-OrgID"] = relay.tenant
                conn = http.client.HTTPConnection("127.0.0.1", relay.loki.http_port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    data = answer.read()
                    status = answer.status
                finally:
                    conn.close()
                relay.statuses.append(status)
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET = _relay  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       name=f"loki-proxy-{tenant}")

    def __enter__(self) -> TenantProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
