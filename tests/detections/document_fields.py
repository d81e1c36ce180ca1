"""The field names our documents have, per SIEM, and the field names a query uses.

A query may only name fields the documents we ship have: raw DocuSign names in Splunk (nested ones
dotted, as KV_MODE=json extracts them), ECS names in Elasticsearch (what ``--format ecs`` writes),
and Loki's ``json`` parser's names (nested ones joined with ``_``). The documents are every event
of every scenario plus a background sample, so every kind and every field DocuSign sends is seen.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterator, Set

from docusign_input.formats.ecs import document
from docusign_input.simulator import Simulator
from docusign_input.simulator.scenarios import SCENARIOS

REPO = Path(__file__).resolve().parents[2]

# The connector's own JSON diagnostics (sourcetype docusign:input:diagnostics, data stream
# logs-docusign.collector-default, label service_name=docusign-input): what its reporter writes.
DIAGNOSTIC_FIELDS = {
    "time", "level", "message", "events", "pages", "duplicates", "lag_s", "newest_event_time",
    "duration_s", "events_per_s", "rate_limit_wait_s", "collector_host", "exit_code",
}  # fmt: skip


def flatten(value: Any, prefix: str = "", sep: str = ".") -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}{key}{sep}", sep)
    else:
        yield prefix[: -len(sep)]


@lru_cache(maxsize=1)
def raw_events() -> tuple:
    sim = Simulator(seed=5)
    sim.seed_backlog(2000, days=1)
    for name in SCENARIOS:
        sim.play_scenario(name)
    return tuple(json.loads(raw) for raw in sim.events())


def raw_fields() -> Set[str]:
    return {f for e in raw_events() for f in flatten(e)}


def splunk_addon_fields() -> Set[str]:
    """Fields splunk/TA-docusign-monitor computes at search time (EVAL- and FIELDALIAS-)."""
    props = REPO / "splunk" / "TA-docusign-monitor" / "default" / "props.conf"
    text = props.read_text(encoding="utf-8")
    names = set(re.findall(r"^EVAL-(\w+)\s*=", text, flags=re.M))
    names.update(re.findall(r"^FIELDALIAS-\w+\s*=.*\bAS\s+(\w+)", text, flags=re.M))
    return names


def loki_fields() -> Set[str]:
    return {f for e in raw_events() for f in flatten(e, sep="_")}


def ecs_fields() -> Set[str]:
    fields: Set[str] = set()
    for event in raw_events():
        doc = document(event)
        fields.update(flatten(doc))
        fields.update(_parents(doc))
    return fields


def _parents(doc: Dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Object fields too (``source.geo.location`` is a geo_point a map can use)."""
    for key, item in doc.items():
        if isinstance(item, dict):
            yield prefix + key
            yield from _parents(item, f"{prefix}{key}.")


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`|\'(?:[^\'\\]|\\.)*\'')


def without_strings(query: str) -> str:
    return _STRINGS.sub('""', query)


def esql_fields(query: str) -> Set[str]:
    """Dotted names and @timestamp in an ES|QL or EQL query, strings and the FROM clause aside."""
    text = without_strings(query)
    text = re.sub(r"(?i)\bfrom\s+\S+(\s+metadata\s+[\w, ]+)?", " ", text)
    return set(re.findall(r"@timestamp|\b[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+", text))


def splunk_fields(query: str) -> Set[str]:
    """Names compared with = / != / IN, and names after `by`, `dc(` and `values(`."""
    text = without_strings(query)
    named = set(re.findall(r"\b(?:latfield|longfield)=([\w.]+)", text))  # options naming fields
    text = re.sub(r"\b(?:span|time_window|earliest|latest|limit|latfield|longfield)=\S+", " ", text)
    names = named | set(re.findall(r"([A-Za-z_][\w.]*)\s*(?:!=|=|\s+IN\s*\()", text))
    for group in re.findall(r"\bby\s+([\w. ]+)", text):
        names.update(group.split())
    names.update(re.findall(r"\b(?:dc|values|max|min|latest|earliest|sum|avg)\(([\w.]+)\)", text))
    return names


def loki_query_fields(query: str) -> Set[str]:
    """Names in label filters after `| json` and in `by (...)` / `without (...)` groupings."""
    text = without_strings(query)
    names = set(re.findall(r"\b([A-Za-z_]\w*)\s*(?:=~|!~|!=|>=|<=|==|=|>|<)\s*\"", text))
    for group in re.findall(r"\b(?:by|without|on)\s*\(([^)]*)\)", text):
        names.update(n.strip() for n in group.split(",") if n.strip())
    return names
