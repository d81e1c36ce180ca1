"""The protocol receivers answer like the real servers and record exactly what a client sent."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import time

import msgpack
import pytest
import requests

from . import (
    ElasticsearchReceiver,
    EventTime,
    ForwardReceiver,
    LokiReceiver,
    SplunkHecReceiver,
    parse_concatenated_json,
)

EVENT = {
    "timestamp": "2023-03-03T09:10:06.0512813Z",
    "eventId": "a8010d32-b9f5-4948-9195-50c867d7c3a5",
    "object": "Account",
    "action": "UserAdded",
    "data": {"AffectedUserId": "2020ac66", "note": "café"},
}


def test_concatenated_json_splits_objects_written_back_to_back():
    assert parse_concatenated_json('{"a":1}{"b":[2]} \n{"c":"}{"}') == [
        {"a": 1}, {"b": [2]}, {"c": "}{"}]


class TestSplunkHec:
    def test_accepts_concatenated_envelopes_with_the_right_token(self):
        with SplunkHecReceiver(token="s3cret") as hec:
            body = "".join(json.dumps({"time": 1677834606.051, "event": EVENT, "index": "docusign",
                                       "sourcetype": "docusign:monitor"}) for _ in range(2))
            r = requests.post(hec.url + "/services/collector/event", data=body.encode(),
                              headers={"Authorization": "Splunk s3cret"}, timeout=5)
            assert r.status_code == 200
            assert r.json() == {"text": "Success", "code": 0}
            assert [e["event"] for e in hec.events] == [EVENT, EVENT]
            assert hec.events[0]["sourcetype"] == "docusign:monitor"

    def test_gzip_body_is_accepted(self):
        with SplunkHecReceiver(token="t") as hec:
            r = requests.post(hec.url + "/services/collector/event",
                              data=gzip.compress(json.dumps({"event": EVENT}).encode()),
                              headers={"Authorization": "Splunk t", "Content-Encoding": "gzip"},
                              timeout=5)
            assert r.status_code == 200 and hec.events == [{"event": EVENT}]

    @pytest.mark.parametrize("headers,status,code", [
        ({}, 401, 2),
        ({"Authorization": "Splunk wrong"}, 403, 4),
        ({"Authorization": "Bearer s3cret"}, 403, 4),
    ])
    def test_refuses_missing_or_wrong_token(self, headers, status, code):
        with SplunkHecReceiver(token="s3cret") as hec:
            r = requests.post(hec.url + "/services/collector/event",
                              data=json.dumps({"event": EVENT}), headers=headers, timeout=5)
            assert (r.status_code, r.json()["code"]) == (status, code)
            assert hec.events == []

    def test_refuses_a_body_that_is_not_json_envelopes(self):
        with SplunkHecReceiver(token="t") as hec:
            for body, code in [(b"not json", 6), (b'{"time": 1}', 12), (b"", 5)]:
                r = requests.post(hec.url + "/services/collector/event", data=body,
                                  headers={"Authorization": "Splunk t"}, timeout=5)
                assert r.status_code == 400 and r.json()["code"] == code
            assert hec.events == []

    def test_health_endpoint(self):
        with SplunkHecReceiver() as hec:
            r = requests.get(hec.url + "/services/collector/health/1.0", timeout=5)
            assert r.status_code == 200 and r.json()["code"] == 17


class TestElasticsearch:
    def test_info_answer_names_a_version_for_api_version_auto(self):
        with ElasticsearchReceiver() as es:
            info = requests.get(es.url + "/", timeout=5).json()
            assert info["version"]["number"].split(".")[0] == "8"

    def test_bulk_stores_documents_and_answers_per_item(self):
        with ElasticsearchReceiver(user="elastic", password="pw") as es:
            body = "".join(
                json.dumps(a) + "\n" + json.dumps(d) + "\n"
                for a, d in [({"index": {"_index": "docusign-monitor", "_id": "e1"}}, EVENT),
                             ({"create": {"_index": "docusign-monitor", "_id": "e2"}}, {"x": 1})])
            auth = base64.b64encode(b"elastic:pw").decode()
            r = requests.post(es.url + "/_bulk", data=body.encode(), timeout=5,
                              headers={"Content-Type": "application/x-ndjson",
                                       "Authorization": f"Basic {auth}"})
            answer = r.json()
            assert r.status_code == 200 and answer["errors"] is False
            assert [list(i) for i in answer["items"]] == [["index"], ["create"]]
            assert [i[k]["status"] for i in answer["items"] for k in i] == [201, 201]
            assert es.documents[("docusign-monitor", "e1")] == EVENT
            # the bytes on the wire carry no separator but "\n": compact JSON in the answer
            assert b'"errors":false' in r.content

    def test_replay_index_overwrites_and_create_conflicts(self):
        with ElasticsearchReceiver() as es:
            def bulk(op):
                line = json.dumps({op: {"_index": "i", "_id": "same"}}) + "\n" + json.dumps(EVENT)
                return requests.post(es.url + "/_bulk", data=line + "\n", timeout=5).json()
            assert bulk("index")["errors"] is False
            again = bulk("index")
            assert again["errors"] is False and again["items"][0]["index"]["result"] == "updated"
            conflict = bulk("create")
            assert conflict["errors"] is True
            assert conflict["items"][0]["create"]["status"] == 409
            assert len(es.documents) == 1

    def test_wrong_credentials_are_refused(self):
        with ElasticsearchReceiver(user="elastic", password="pw") as es:
            r = requests.post(es.url + "/_bulk", data=b"{}\n", auth=("elastic", "nope"), timeout=5)
            assert r.status_code == 401 and es.documents == {}

    def test_type_in_action_is_an_item_error_in_v8(self):
        with ElasticsearchReceiver() as es:
            line = json.dumps({"index": {"_index": "i", "_type": "_doc"}}) + "\n{}\n"
            answer = requests.post(es.url + "/_bulk", data=line, timeout=5).json()
            assert answer["errors"] is True and es.documents == {}


class TestLoki:
    def test_json_push_is_recorded_and_answered_204(self):
        with LokiReceiver() as loki:
            push = {"streams": [{"stream": {"source": "docusign"},
                                 "values": [["1677834606051281300", json.dumps(EVENT)]]}]}
            r = requests.post(loki.url + "/loki/api/v1/push", data=gzip.compress(
                json.dumps(push).encode()), headers={"Content-Type": "application/json",
                                                     "Content-Encoding": "gzip"}, timeout=5)
            assert r.status_code == 204 and r.content == b""
            assert loki.entries == [({"source": "docusign"}, 1677834606051281300,
                                     json.dumps(EVENT))]

    def test_protobuf_and_malformed_pushes_are_refused(self):
        with LokiReceiver() as loki:
            r = requests.post(loki.url + "/loki/api/v1/push", data=b"\x00snappy",
                              headers={"Content-Type": "application/x-protobuf"}, timeout=5)
            assert r.status_code == 415
            bad = {"streams": [{"stream": {"a": "b"}, "values": [[1677834606, "x"]]}]}
            r = requests.post(loki.url + "/loki/api/v1/push", json=bad, timeout=5)
            assert r.status_code == 400
            assert loki.entries == []


class TestForward:
    def test_message_mode_with_event_time_arrives_without_an_ack(self):
        with ForwardReceiver() as fwd:
            t = msgpack.ExtType(0, (1677834606).to_bytes(4, "big") + (51281300).to_bytes(4, "big"))
            with socket.create_connection(("127.0.0.1", fwd.port), timeout=5) as sock:
                sock.sendall(msgpack.packb(["docusign.monitor", t, EVENT]))
            [entry] = fwd.wait_for(1)
            assert entry.tag == "docusign.monitor"
            assert entry.time == EventTime(1677834606, 51281300)
            assert entry.record == EVENT

    @pytest.mark.parametrize("behaviour,answer,closed", [
        ("empty", [{}], True), ("close", [], True), ("silent", [], False),
        ("reset_mid", [], True),
    ])
    def test_scripted_misbehaviour_then_acks_again(self, behaviour, answer, closed):
        with ForwardReceiver([behaviour]) as fwd:
            frame = msgpack.packb(["t", [[1, {"n": 1}]], {"chunk": "c1"}])
            with socket.create_connection(("127.0.0.1", fwd.port), timeout=1) as sock:
                sock.sendall(frame)
                got, eof = _read_answers(sock)
            assert got == answer and eof is closed
            assert fwd.entries == []
            assert len(fwd.refused) == (0 if behaviour == "reset_mid" else 1)
            with socket.create_connection(("127.0.0.1", fwd.port), timeout=1) as sock:
                sock.sendall(frame)
                got, _ = _read_answers(sock, until_answers=1)
            assert got == [{"ack": "c1"}] and [e.record for e in fwd.entries] == [{"n": 1}]

    def test_forward_and_packed_forward_modes_and_ack(self):
        with ForwardReceiver() as fwd:
            t = msgpack.ExtType(0, (1677834606).to_bytes(4, "big") + (51281300).to_bytes(4, "big"))
            packed = b"".join(msgpack.packb([t, {"n": i}]) for i in range(2))
            with socket.create_connection(("127.0.0.1", fwd.port), timeout=5) as sock:
                sock.sendall(msgpack.packb(["a", [[t, {"n": 9}]], {}]))
                sock.sendall(msgpack.packb(["b", packed, {"chunk": "abc"}]))
                unpacker = msgpack.Unpacker(raw=False)
                deadline = time.monotonic() + 5
                acks = []
                while not acks and time.monotonic() < deadline:
                    unpacker.feed(sock.recv(1024))
                    acks.extend(unpacker)
            assert acks == [{"ack": "abc"}]
            entries = fwd.wait_for(3)
            assert [(e.tag, e.record) for e in entries] == [("a", {"n": 9}), ("b", {"n": 0}),
                                                           ("b", {"n": 1})]
            assert entries[0].time == EventTime(1677834606, 51281300)

    def test_garbage_is_recorded_as_an_error_not_an_entry(self):
        with ForwardReceiver() as fwd:
            with socket.create_connection(("127.0.0.1", fwd.port), timeout=5) as sock:
                sock.sendall(msgpack.packb(["tag", "not-a-time", {"a": 1}]))
            deadline = time.monotonic() + 5
            while not fwd.errors and time.monotonic() < deadline:
                time.sleep(0.01)
            assert fwd.errors and fwd.entries == []


def _read_answers(sock, until_answers=None):
    """Answers read until EOF, a reset, 1 s of silence, or `until_answers` of them."""
    unpacker = msgpack.Unpacker(raw=False)
    answers, eof = [], False
    while until_answers is None or len(answers) < until_answers:
        try:
            data = sock.recv(1024)
        except socket.timeout:
            break
        except ConnectionResetError:
            eof = True
            break
        if not data:
            eof = True
            break
        unpacker.feed(data)
        answers.extend(unpacker)
    return answers, eof
