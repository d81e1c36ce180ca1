"""Bad input campaign: whatever the Monitor stream answers, the client returns a page whose events
are written byte-faithfully, or raises one of the connector's own errors; never a traceback, and
the checkpoint never moves past bad data.

In-process against StreamClient and a tiny local HTTP server, with both JSON back ends (orjson is
optional: CI installs without it), then end to end against the simulator.
"""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from campaign import SEED, Connector, hook_env, one_error_line, record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docusign_input import codec
from docusign_input.errors import ConnectorError
from docusign_input.output import encode_page
from docusign_input.simulator import Fault
from docusign_input.stream import StreamClient

EXAMPLES = 150
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TRIED: dict[str, int] = {}


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = self.server.body  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class _Tokens:
    def get_token(self) -> str:
        return "fuzz-token"

    def invalidate(self) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    httpd.body = b"{}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()


BACKENDS = ["json"] + (["orjson"] if codec.BACKEND == "orjson" else [])


@pytest.fixture(params=BACKENDS)
def client(request, server, monkeypatch):
    if request.param == "json":
        monkeypatch.setattr(codec, "loads", codec._std_loads)
        monkeypatch.setattr(codec, "dumps", codec._std_dumps)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    return StreamClient(requests.Session(), url, _Tokens()), server


def _answer(client_and_server, body: bytes):
    """The page, or None when the client refused the answer with a ConnectorError."""
    client, server = client_and_server
    server.body = body
    try:
        page = client.fetch("aa_1_2_3", 100)
    except ConnectorError:
        return None
    # What deliver() does next: this must not raise either.
    encode_page(page.events)
    return page


# -- strategies ---------------------------------------------------------------------------------

_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
    st.sampled_from(
        ["Zürich", "東京", "😀 agent", 'quote " back \\ slash', "\u2028\u2029", "\x00\x1f"]
    ),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)),
    max_leaves=12,
)
_events = st.lists(st.dictionaries(_text, _values, max_size=8), max_size=6)


def _deep(depth: int) -> bytes:
    return b'{"endCursor":"c","data":[{"x":' + b"[" * depth + b"]" * depth + b"}]}"


_malformed = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda t: t.encode("utf-8")),
    _values.map(lambda v: json.dumps(v).encode()),  # any JSON, mostly not a page
    st.fixed_dictionaries(
        {},
        optional={
            "endCursor": st.one_of(st.none(), st.integers(), _text, st.lists(st.integers())),
            "data": st.one_of(st.none(), _values, st.lists(_values, max_size=3)),
        },
    ).map(lambda d: json.dumps(d).encode()),
    st.sampled_from(
        [
            b'{"endCursor":"c","data":[{"a":NaN}]}',
            b'{"endCursor":"c","data":[{"a":Infinity}]}',
            b'{"endCursor":"c","data":[{"a":-Infinity}]}',
            b'{"endCursor":"c","data":[{"a":"\\ud800"}]}',  # a lone surrogate
            b'{"endCursor":"c","data":[{"a":"\\udfff x"}]}',
            b'{"endCursor":"c","data":[{"a":"\xff\xfe"}]}',  # invalid UTF-8
            b'{"endCursor":"c","data":[{"a":"\xed\xa0\x80"}]}',  # a UTF-8-encoded surrogate
            b'{"endCursor":"c","endCursor":5,"data":[]}',  # duplicate keys
            b'{"endCursor":"c","data":[{"a":1,"a":2}]}',
            b'{"endCursor":"c","data":[{"a":1}],"data":"x"}',
            b'{"endCursor":"c","data":[1e400]}',
            b'{"endCursor":"","data":[]}',
            b'{"endCursor":"c","data":{}}',
            b'{"endCursor":"c","data":[[]]}',
            b'{"endCursor":"c","data":[{}]',  # truncated
            b"<html><body>Service Unavailable</body></html>",
            b"\xef\xbb\xbf" + b'{"endCursor":"c","data":[]}',  # BOM
            b'{"endCursor":"c","data":[{"a":"' + b"x" * 5_000_000 + b'"}]}',
        ]
    ),
    st.sampled_from([10, 200, 900, 1000, 1100, 5_000, 100_000]).map(_deep),
)


# -- properties ---------------------------------------------------------------------------------


def _same(a, b) -> bool:
    """Equal values of the same JSON types, keys in the same order."""
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float):
        return isinstance(b, float) and (a == b or (math.isnan(a) and math.isnan(b)))
    return type(a) is type(b) and a == b


@FUZZ
@given(body=_malformed)
def test_malformed_answers_raise_only_connector_errors(client, body):
    TRIED["malformed"] = TRIED.get("malformed", 0) + 1
    page = _answer(client, body)  # any other exception fails the test
    if page is not None:
        assert isinstance(page.end_cursor, str) and page.end_cursor
        for line in encode_page(page.events).split(b"\n")[:-1]:
            line.decode("utf-8")  # valid UTF-8 on stdout, whatever came in
            assert json.loads(line) is not None


@FUZZ
@given(events=_events, ascii_escapes=st.booleans())
def test_valid_events_are_written_byte_faithfully(client, events, ascii_escapes):
    """Same keys, same order, same values and types, compact, non-ASCII as UTF-8."""
    TRIED["valid"] = TRIED.get("valid", 0) + 1
    body = json.dumps({"endCursor": "next", "data": events}, ensure_ascii=ascii_escapes)
    page = _answer(client, body.encode("utf-8"))
    assert page is not None, "a valid page was refused"
    lines = encode_page(page.events).split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == len(events)
    for event, line in zip(events, lines):
        assert _same(json.loads(line), event), (event, line)
        canonical = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        if not _has_float(event):  # float spelling (1e+16 / 1e16) differs between back ends
            assert line == canonical


def _has_float(value) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(map(_has_float, value.values()))
    if isinstance(value, list):
        return any(map(_has_float, value))
    return False


@pytest.fixture(scope="module", autouse=True)
def _record_figures():
    """The campaign's figures, recorded once its tests ran (a fixture: it checks nothing)."""
    yield
    record("fuzz", examples_per_property_and_backend=EXAMPLES, backends=BACKENDS, tried=TRIED)


# -- end to end ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["malformed_json", "truncated_json"])
def test_cli_against_garbage_exits_65_after_retries_and_keeps_its_place(
    simulator_factory, tmp_path, kind
):
    sim = simulator_factory(seed=SEED, rate_limits=False)
    sim.seed_backlog(300, days=1)
    conn = Connector(sim, tmp_path)
    env = hook_env(jitter="zero")  # retries without waiting; the count is the product's own
    assert conn.run("run", "--backfill-start", "earliest", env=env).returncode == 0
    before = conn.saved()
    sim.append_events(50)
    sim.inject(Fault(kind))
    stream_before = sim.stream_requests
    proc = conn.run("run", env=env)
    assert proc.returncode == 65, proc.stderr.decode()
    line = one_error_line(proc)
    assert "DocuSign" in line and "next run" in line and proc.stdout == b""
    after = conn.saved()
    for field in ("cursor", "newest_event_time", "recent_event_ids"):
        assert after[field] == before[field]
    assert after["health"]["events_delivered"] == before["health"]["events_delivered"]
    attempts = sim.stream_requests - stream_before
    assert attempts == 6  # the first try and RUN_BACKOFF's 5 retries
    record("fuzz/e2e", fault=kind, exit=proc.returncode, attempts=attempts, line=line[25:160])
