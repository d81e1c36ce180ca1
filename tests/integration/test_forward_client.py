"""The forward output against a real forward receiver (tests/receivers) that acknowledges,
refuses, hangs up, resets mid-frame, never answers, restarts, or speaks TLS.

A page counts as delivered only once every frame was acknowledged; whatever the receiver does,
each event ends up accepted (a duplicate is allowed, a loss is not)."""

from __future__ import annotations

import calendar
import socket
import ssl
import threading
import time

import pytest
from receivers import EventTime, ForwardReceiver
from receivers.certs import make_pki

from docusign_input.forward import (
    ForwardError,
    ForwardOutput,
    ForwardTarget,
    encode_frames,
    event_time,
    parse_forward_url,
)


def _events(n, size=0, start=0):
    return [
        {"timestamp": f"2026-11-27T09:10:{(start + i) % 60:02d}.{(start + i) % 10**7:07d}Z",
         "eventId": f"ev-{start + i:05d}", "object": "User", "action": "Login",
         "data": {"pad": "x" * size}}
        for i in range(n)
    ]


def _output(port, *, give_up_after_s=5.0, ack_timeout_s=2.0, warnings=None, **target):
    target.setdefault("tag", "docusign.test")
    return ForwardOutput(
        ForwardTarget("127.0.0.1", port, ack_timeout_s=ack_timeout_s, connect_timeout_s=2.0,
                      **target),
        warn=(warnings.append if warnings is not None else lambda m: None),
        give_up_after_s=give_up_after_s,
        rand=lambda: 0.5,
    )


def _deliver(output, events):
    """True once `deliver` returned (every frame acknowledged); it raises otherwise."""
    try:
        output.deliver(events, lambda: False)
        return True
    finally:
        output.close()


def _ids(entries):
    return [e.record["eventId"] for e in entries]


def test_each_event_arrives_with_its_own_time_in_nanoseconds_and_is_acknowledged():
    events = _events(300)
    with ForwardReceiver() as fwd:
        out = _output(fwd.port)
        assert _deliver(out, events) is True
        entries = fwd.wait_for(300)
    assert _ids(entries) == [e["eventId"] for e in events]
    assert [e.record for e in entries] == events
    assert {e.tag for e in entries} == {"docusign.test"}
    assert all("chunk" in e.option for e in entries)
    assert out.acked_frames >= 1
    second = entries[1]  # 2026-11-27T09:10:01.0000001Z
    assert second.time == EventTime(calendar.timegm((2026, 11, 27, 9, 10, 1)), 100)
    assert [list(e.record) for e in entries] == [list(e) for e in events]  # key order kept


def test_a_page_larger_than_a_frame_goes_as_several_acknowledged_frames():
    events = _events(60, size=50_000)  # ~3 MB
    with ForwardReceiver() as fwd:
        out = _output(fwd.port)
        assert _deliver(out, events) is True
        entries = fwd.wait_for(60)
    assert _ids(entries) == [e["eventId"] for e in events]
    chunks = {e.option["chunk"] for e in entries}
    assert len(chunks) == out.acked_frames >= 3


def test_frames_stay_under_the_bound_and_an_oversized_event_travels_alone():
    events = _events(10, size=300) + _events(1, size=5000, start=10) + _events(10, size=300,
                                                                              start=11)
    frames = encode_frames(events, "t", max_frame_bytes=2000)
    assert sum(f.events for f in frames) == 21
    assert [f.events for f in frames if len(f.data) > 3000] == [1]


def test_gzip_compression_is_compressed_packed_forward():
    events = _events(50, size=2000)
    with ForwardReceiver() as fwd:
        assert _deliver(_output(fwd.port, compression="gzip"), events) is True
        entries = fwd.wait_for(50)
    assert [e.record for e in entries] == events
    assert {e.option.get("compressed") for e in entries} == {"gzip"}


def test_integers_beyond_64_bits_arrive_as_exact_strings_instead_of_crashing():
    event = dict(_events(1)[0], data={"huge": 2**70, "negative": -(2**64), "fits": 2**63 - 1,
                                      "unsigned": 2**64 - 1, "nested": [{"n": 10**30}]})
    with ForwardReceiver() as fwd:
        assert _deliver(_output(fwd.port), [event]) is True
        [entry] = fwd.wait_for(1)
    assert entry.record["data"] == {"huge": "1180591620717411303424",
                                    "negative": "-18446744073709551616", "fits": 2**63 - 1,
                                    "unsigned": 2**64 - 1, "nested": [{"n": str(10**30)}]}


@pytest.mark.parametrize("behaviour", ["empty", "close", "reset_mid", "silent"])
def test_a_frame_not_acknowledged_is_sent_again_on_a_new_connection(behaviour):
    """`{}` (Vector: a sink failed), a hang-up, a reset mid-frame, or silence past the ack
    timeout: the batch was not accepted, so it comes again."""
    events = _events(40)
    warnings: list = []
    with ForwardReceiver([behaviour]) as fwd:
        out = _output(fwd.port, ack_timeout_s=0.5, warnings=warnings)
        assert _deliver(out, events) is True
        entries = fwd.wait_for(40)
        assert _ids(entries) == [e["eventId"] for e in events]
        assert fwd.connections == 2
    assert len(warnings) == 1 and "sending the 40 unacknowledged events again" in warnings[0]


def test_only_the_unacknowledged_frames_of_a_page_are_sent_again():
    events = _events(30, size=40_000)  # ~1.2 MB: two frames
    with ForwardReceiver(["ack", "close"]) as fwd:
        out = _output(fwd.port)
        assert _deliver(out, events) is True
        entries = fwd.wait_for(30)
    assert sorted(_ids(entries)) == [e["eventId"] for e in events]
    assert len(entries) == 30  # the acknowledged first frame was not repeated


def test_a_receiver_that_accepts_reads_nothing_and_dies_gets_no_credit():
    """The loss the old fluent-logger output had: bytes in the socket buffer are not delivered."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True).start()
    out = _output(port, give_up_after_s=1.5, ack_timeout_s=0.5)
    out.write_page(_events(300))
    time.sleep(0.2)
    for conn in accepted:
        conn.close()
    server.close()  # dead: nobody listens any more
    started = time.monotonic()
    with pytest.raises(ForwardError) as caught:
        out.wait_until_read(lambda: False)
    out.close()
    assert time.monotonic() - started < 5
    assert "has not acknowledged the events" in caught.value.line()
    assert caught.value.exit_code == 74


def test_a_receiver_restarted_on_the_same_port_gets_everything_without_giving_up():
    events = _events(100)
    first = ForwardReceiver(["close"])
    first.__enter__()
    port = first.port
    out = _output(port, give_up_after_s=None, ack_timeout_s=1.0)
    out.write_page(events)
    time.sleep(0.3)
    first.__exit__(None, None, None)  # down while the page waits for its ack
    result = {}
    waiter = threading.Thread(target=lambda: result.update(ok=out.wait_until_read(lambda: False)))
    waiter.start()
    time.sleep(1.5)
    with ForwardReceiver(port=port) as second:
        waiter.join(20)
        assert result == {"ok": True}
        assert _ids(second.wait_for(100)) == [e["eventId"] for e in events]
    out.close()


def test_a_stop_request_ends_the_wait_within_the_grace_and_reports_not_delivered():
    with ForwardReceiver(["silent"] * 10) as fwd:
        out = _output(fwd.port, ack_timeout_s=30.0, give_up_after_s=None)
        out.write_page(_events(5))
        stop_at = time.monotonic() + 0.3
        started = time.monotonic()
        assert out.wait_until_read(lambda: time.monotonic() > stop_at) is False
        assert time.monotonic() - started < 0.3 + 2.0 + 1.0
        out.close()


def test_a_connection_the_receiver_closed_while_idle_is_replaced_before_the_next_page():
    warnings: list = []
    with ForwardReceiver() as fwd:
        out = _output(fwd.port, warnings=warnings)
        out.deliver(_events(3), lambda: False)
    time.sleep(0.1)  # the receiver is gone and closed our connection
    with ForwardReceiver(port=fwd.port) as again:
        out.deliver(_events(3, start=3), lambda: False)
        assert _ids(again.wait_for(3)) == ["ev-00003", "ev-00004", "ev-00005"]
        out.close()
    assert warnings == []  # noticed before sending, not after a lost page


# -- TLS ------------------------------------------------------------------------------------------


def _server_context(pki, require_client_cert=False):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca)
    return context


def test_tls_verified_against_the_given_ca_with_a_client_certificate(tmp_path):
    pki = make_pki(tmp_path)
    with ForwardReceiver(tls=_server_context(pki, require_client_cert=True)) as fwd:
        out = ForwardOutput(ForwardTarget(
            "localhost", fwd.port, tls=True, ca_bundle=str(pki.ca),
            client_cert_file=str(pki.client_cert), client_key_file=str(pki.client_key)))
        assert out.probe() == "connected, TLS verified, client certificate sent"
        assert _deliver(out, _events(5)) is True
        assert len(fwd.wait_for(5)) == 5
    subject = dict(x[0] for x in fwd.peer_certificates[-1]["subject"])
    assert subject["commonName"] == "docusign-input test client"


def test_tls_refuses_a_receiver_whose_certificate_does_not_verify_at_once(tmp_path):
    pki = make_pki(tmp_path)
    with ForwardReceiver(tls=_server_context(pki)) as fwd:
        out = ForwardOutput(ForwardTarget("localhost", fwd.port, tls=True,
                                          ca_bundle=str(pki.other_ca)), give_up_after_s=None)
        started = time.monotonic()
        with pytest.raises(ForwardError) as caught:
            out.deliver(_events(1), lambda: False)
        assert time.monotonic() - started < 3  # no retrying a certificate
    assert "does not verify" in caught.value.line()
    assert "REQUESTS_CA_BUNDLE" in caught.value.line()
    assert fwd.entries == []


def test_a_receiver_requiring_a_client_certificate_refuses_one_without(tmp_path):
    pki = make_pki(tmp_path)
    with ForwardReceiver(tls=_server_context(pki, require_client_cert=True)) as fwd:
        out = ForwardOutput(ForwardTarget("localhost", fwd.port, tls=True, ca_bundle=str(pki.ca),
                                          ack_timeout_s=0.5, connect_timeout_s=1.0),
                            give_up_after_s=1.0)
        with pytest.raises(ForwardError):
            out.deliver(_events(1), lambda: False)
    assert fwd.entries == []


def test_check_probe_says_what_is_wrong_when_nothing_listens():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ForwardError) as caught:
        ForwardOutput(ForwardTarget("127.0.0.1", port)).probe()
    assert f"cannot reach the forward receiver forward://127.0.0.1:{port}" in caught.value.line()


# -- record time and URLs -------------------------------------------------------------------


@pytest.mark.parametrize("event,expected", [
    ({"timestamp": "2023-03-03T09:10:06.0512813Z"}, (1677834606, 51281300)),
    ({"timestamp": "2023-03-03T09:10:06Z"}, (1677834606, 0)),
    ({"timestamp": "2023-03-03T10:10:06.5+01:00"}, (1677834606, 500000000)),
    ({"timestamp": "2023-03-03T09:10:06.123456789Z"}, (1677834606, 123456789)),
    ({"@timestamp": "2023-03-03T09:10:06.0512813Z", "event": {}}, (1677834606, 51281300)),
    ({"time": 1677834606051, "metadata": {}}, (1677834606, 51000000)),
    ({"metadata": {"original_time": "2023-03-03T09:10:06.0512813Z"}, "time": 1677834606051},
     (1677834606, 51281300)),
])
def test_record_time_is_the_events_own_time_in_every_format(event, expected):
    assert event_time(event) == expected


@pytest.mark.parametrize("event", [{}, {"timestamp": "yesterday"}, {"timestamp": 12},
                                   {"timestamp": "1969-12-31T23:59:59Z"}])
def test_an_event_without_a_readable_time_gets_now(event):
    assert event_time(event, now_ns=lambda: 5_000_000_007) == (5, 7)


def test_forward_urls():
    assert parse_forward_url("forward://127.0.0.1:24224?tag=a.b") == (
        "127.0.0.1", 24224, False, {"tag": "a.b"})
    assert parse_forward_url("forward+tls://agg.example.com:24284?compression=gzip") == (
        "agg.example.com", 24284, True, {"compression": "gzip"})
    for bad, why in [("forward://h", "no port"), ("forwards://h:1", "not an output"),
                     ("forward://h:1?retries=3", "unknown option"),
                     ("forward://h:1?compression=zstd", "compression"),
                     ("forward://h:1/path", "unexpected parts")]:
        with pytest.raises(ValueError, match=why):
            parse_forward_url(bad)
