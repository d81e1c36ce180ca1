"""stdout output: the contract's byte format, and a closed pipe as exit 74."""

import io
import json
import os
import threading
import time

import pytest

from docusign_input import codec
from docusign_input.errors import OutputError
from docusign_input.output import StdoutOutput, encode_page


def test_lines_are_compact_utf8_in_order_with_keys_as_given():
    events = [{"z": 1, "a": "Zürich 東京", "n": None, "f": 47.6}, {"eventId": "x"}]
    data = encode_page(events)
    assert data == '{"z":1,"a":"Zürich 東京","n":null,"f":47.6}\n{"eventId":"x"}\n'.encode()


@pytest.mark.parametrize("backend", ["json", codec.BACKEND])
def test_both_codecs_write_the_same_bytes(backend, monkeypatch):
    sample = {
        "timestamp": "2026-11-28T11:59:00.1234567Z",
        "city": "São Paulo",
        "emoji": "🔐",
        "data": {"Count": "3", "EventIds": ["a"]},
        "lat": -122.33,
    }
    expected = json.dumps(sample, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    if backend == "json":
        monkeypatch.setattr(codec, "dumps", codec._std_dumps)
    assert encode_page([sample]) == expected


def test_nan_is_not_json():
    with pytest.raises(ValueError):
        codec.loads(b'{"a": NaN}')
    with pytest.raises(ValueError):
        codec._std_loads(b'{"a": NaN}')


def test_closed_reader_is_output_error_74():
    class Closed(io.BytesIO):
        def write(self, data):
            raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(OutputError) as info:
        StdoutOutput(Closed()).write_page([{"a": 1}])
    assert info.value.exit_code == 74


def pipe_output() -> tuple[StdoutOutput, int, int]:
    r, w = os.pipe()
    return StdoutOutput(os.fdopen(w, "wb", buffering=0)), r, w


def test_page_counts_as_delivered_only_once_the_reader_took_it_from_the_pipe():
    out, r, _ = pipe_output()
    out.write_page([{"n": i} for i in range(100)])  # well under the pipe's 64 KiB: no blocking
    taken = threading.Timer(0.3, lambda: os.read(r, 1 << 20))
    started = time.monotonic()
    taken.start()
    assert out.wait_until_read(lambda: False) is True
    assert time.monotonic() - started >= 0.25
    os.close(r)


def test_reader_dying_with_the_page_unread_is_74_not_delivered():
    out, r, _ = pipe_output()
    out.write_page([{"n": 1}])
    threading.Timer(0.2, lambda: os.close(r)).start()
    with pytest.raises(OutputError) as info:
        out.wait_until_read(lambda: False)
    assert info.value.exit_code == 74 and "before reading" in info.value.line()


def test_stop_with_an_unread_page_gives_up_after_the_grace(monkeypatch):
    import docusign_input.signals

    monkeypatch.setattr(docusign_input.signals, "GIVE_UP_S", 0.2)  # the one stop deadline
    out, r, _ = pipe_output()
    out.write_page([{"n": 1}])
    started = time.monotonic()
    assert out.wait_until_read(lambda: True) is False
    assert 0.2 <= time.monotonic() - started < 2
    os.close(r)


def test_not_a_pipe_has_nothing_to_wait_for(tmp_path):
    with open(tmp_path / "events.jsonl", "wb") as f:
        out = StdoutOutput(f)
        out.write_page([{"n": 1}])
        assert out.wait_until_read(lambda: False) is True
    assert StdoutOutput(io.BytesIO()).wait_until_read(lambda: False) is True


def test_reporter_blanks_secrets_but_keeps_the_consent_url_client_id():
    from docusign_input.redact import Redactor
    from docusign_input.report import Reporter

    stream = io.StringIO()
    redactor = Redactor()
    reporter = Reporter(stream=stream, redactor=redactor)
    redactor.register("secret-key-123", "tok.en+value")
    reporter.error(
        "oops secret-key-123 and tok.en+value; open https://x/oauth/auth?client_id=secret-key-123&a=1"
    )
    line = stream.getvalue()
    assert line.count("secret-key-123") == 1 and "client_id=secret-key-123" in line
    assert "tok.en+value" not in line and line.count("\n") == 1


def test_a_page_read_after_a_stop_request_is_not_confirmed(tmp_path):
    """A reader that is stopping too may read the pipe only to discard it (Fluent Bit pauses
    its inputs on SIGTERM; 5.1 signals us at the same moment): a page whose delivery overlaps
    a stop request is not checkpointed, even when the pipe empties. It comes again next run."""
    import os
    import threading

    from docusign_input.signals import Stopped

    read_fd, write_fd = os.pipe()
    drained = threading.Thread(target=lambda: [None for _ in iter(
        lambda: os.read(read_fd, 65536), b"")], daemon=True)
    drained.start()
    out = StdoutOutput(os.fdopen(write_fd, "wb"))
    with pytest.raises(Stopped):
        out.deliver([{"eventId": "x", "pad": "p" * 1000}], lambda: True)
    out.stream.close()
    drained.join(5)
