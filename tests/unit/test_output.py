"""stdout output: the contract's byte format, and a closed pipe as exit 74."""

import io
import json

import pytest

from docusign_input import codec
from docusign_input.errors import OutputError
from docusign_input.output import StdoutOutput, encode_page, event_time


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


def test_event_time_keeps_seven_digit_fraction_as_nanoseconds():
    assert event_time("2023-03-03T09:10:06.0512813Z") == (1677834606, 51281300)
    assert event_time("2023-03-03T09:10:06Z") == (1677834606, 0)


def test_reporter_blanks_secrets_but_keeps_the_consent_url_client_id():
    from docusign_input.report import Reporter

    stream = io.StringIO()
    reporter = Reporter(stream=stream)
    reporter.redact("secret-key-123", "tok.en+value")
    reporter.error(
        "oops secret-key-123 and tok.en+value; open https://x/oauth/auth?client_id=secret-key-123&a=1"
    )
    line = stream.getvalue()
    assert line.count("secret-key-123") == 1 and "client_id=secret-key-123" in line
    assert "tok.en+value" not in line and line.count("\n") == 1
