"""The Elasticsearch index template agrees with ECS for every field the ECS documents carry, and
elasticsearch/setup.sh installs it (real curl against the test receiver)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from format_events import every_kind, odd_events
from schema_checks import ecs_fields, ecs_leaves

from docusign_input.formats import ecs

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "elasticsearch" / "index-template.json"
# What ECS's types may be indexed as (ECS's own templates map date fields as date; date_nanos
# keeps DocuSign's 100 ns ticks).
COMPATIBLE = {"date": {"date", "date_nanos"}}


def _mapping(path: str):
    node = json.loads(TEMPLATE.read_text())["template"]["mappings"]
    for part in path.split("."):
        node = node.get("properties", {}).get(part)
        if node is None:
            return None
    return node


def test_template_is_a_data_stream_for_logs_docusign_monitor() -> None:
    template = json.loads(TEMPLATE.read_text())
    assert template["index_patterns"] == ["logs-docusign.monitor-*"]
    assert template["data_stream"] == {}
    assert template["priority"] > 100  # above Elasticsearch's built-in logs-*-* template
    assert _mapping("@timestamp") == {"type": "date_nanos"}


def test_every_field_of_every_ecs_document_is_mapped_with_its_ecs_type() -> None:
    fields = ecs_fields()
    seen = set()
    for event in every_kind() + odd_events():
        for name, _ in ecs_leaves(ecs.document(event)):
            if name == "docusign":
                continue
            seen.add(name)
            mapped = _mapping(name)
            assert mapped is not None, f"{name} is not in the template"
            ecs_type = fields[name]["type"]
            assert mapped["type"] in COMPATIBLE.get(ecs_type, {ecs_type}), name
    assert {"source.ip", "source.geo.location", "related.ip", "event.category"} <= seen
    assert _mapping("source.ip")["type"] == "ip"
    assert _mapping("source.geo.location")["type"] == "geo_point"


def test_docusign_namespace_takes_free_form_data_without_a_mapping_explosion() -> None:
    assert _mapping("docusign.data")["type"] == "flattened"
    template = json.loads(TEMPLATE.read_text())
    dynamic = template["template"]["mappings"]["dynamic_templates"]
    strings = [d for d in dynamic if "docusign_strings" in d][0]["docusign_strings"]
    assert strings["mapping"]["type"] == "keyword"


@pytest.mark.skipif(not shutil.which("curl"), reason="curl is not installed")
def test_setup_script_installs_the_template_with_credentials_off_the_command_line() -> None:
    sys.path.insert(0, str(REPO / "tests"))
    from receivers import ElasticsearchReceiver

    with ElasticsearchReceiver(user="elastic", password="s3cret-pw") as es:
        env = dict(os.environ, ES_URL=es.url, ES_USER="elastic", ES_PASSWORD="s3cret-pw")
        done = subprocess.run(
            ["sh", str(REPO / "elasticsearch" / "setup.sh")],
            env=env,
            capture_output=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr.decode()
        assert "installed index template logs-docusign.monitor" in done.stdout.decode()
        assert es.templates["logs-docusign.monitor"] == json.loads(TEMPLATE.read_text())
        bad = subprocess.run(
            ["sh", str(REPO / "elasticsearch" / "setup.sh")],
            env=dict(env, ES_PASSWORD="wrong"),
            capture_output=True,
            timeout=30,
        )
    assert bad.returncode == 1 and b"credentials" in bad.stderr
    assert b"refused" in bad.stderr
    assert b"s3cret-pw" not in bad.stderr + bad.stdout + done.stdout + done.stderr


@pytest.mark.skipif(not shutil.which("curl"), reason="curl is not installed")
def test_setup_script_says_unreachable_not_refused_when_nothing_answers() -> None:
    """Nothing listens at ES_URL: no HTTP answer, so nothing was refused (it said "refused")."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    env = dict(os.environ, ES_URL=f"http://127.0.0.1:{port}", ES_USER="elastic",
               ES_PASSWORD="s3cret-pw")  # fmt: skip
    done = subprocess.run(
        ["sh", str(REPO / "elasticsearch" / "setup.sh")], env=env, capture_output=True, timeout=30
    )
    err = done.stderr.decode()
    assert done.returncode == 69, err
    assert "could not reach Elasticsearch" in err and "refused the template" not in err
    assert "s3cret-pw" not in err + done.stdout.decode()


@pytest.mark.skipif(not shutil.which("curl"), reason="curl is not installed")
@pytest.mark.parametrize("password", ['s3"cret', "s3\\cret"], ids=["a quote", "a backslash"])
def test_setup_script_sends_a_password_holding_a_quote_or_backslash_intact(password) -> None:
    """The credentials reach curl as a config line in double quotes: an unescaped `"` or `\\`
    changed the password, and Elasticsearch refused it ("check the credentials")."""
    sys.path.insert(0, str(REPO / "tests"))
    from receivers import ElasticsearchReceiver

    with ElasticsearchReceiver(user="elastic", password=password) as es:
        env = dict(os.environ, ES_URL=es.url, ES_USER="elastic", ES_PASSWORD=password)
        done = subprocess.run(["sh", str(REPO / "elasticsearch" / "setup.sh")], env=env,
                              capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode()
    assert password not in done.stderr.decode() + done.stdout.decode()


def test_setup_script_without_es_url_is_one_line_exit_78() -> None:
    """The header promises 78 for a missing setting; `${ES_URL:?}` exited 2 naming line 18."""
    env = {k: v for k, v in os.environ.items() if k != "ES_URL"}
    done = subprocess.run(["sh", str(REPO / "elasticsearch" / "setup.sh")], env=env,
                          capture_output=True, timeout=30)
    err = done.stderr.decode()
    assert done.returncode == 78 and "ES_URL" in err and len(err.splitlines()) == 1, err
