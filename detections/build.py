"""Convert the Sigma rules in detections/sigma/ for Splunk, Elasticsearch and Loki.

    python -m detections.build            # rewrite detections/{splunk,elasticsearch,loki}/
    python -m detections.build --check    # exit 1 and name the stale files, change nothing

The conversion is done by pySigma and the Sigma project's own backends (``pip install -e
'.[detections]'``); the results are committed so users need none of it. Each backend gets a
processing pipeline for the documents our shippers write:

- Splunk: raw DocuSign field names (sourcetype ``docusign:monitor``, JSON extracted at search
  time), with object, action and result as the add-on's ``docusign_object``,
  ``docusign_action`` and ``docusign_result`` (its CIM mapping takes ``action``);
- Elasticsearch: ECS field names (data stream ``logs-docusign.monitor-*``, ``--format ecs``);
- Loki: raw names as Loki's ``json`` parser flattens them (``data.Severity`` is
  ``data_Severity``), stream ``{source="docusign", service_name="docusign-monitor"}``.

Where a backend cannot express a rule, the query written by hand in that
SIEM's ``manual/`` folder is used instead and the output says so.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import yaml
from sigma.backends.elasticsearch import ESQLBackend
from sigma.backends.loki import LogQLBackend
from sigma.backends.splunk import SplunkBackend
from sigma.collection import SigmaCollection
from sigma.conversion.base import Backend
from sigma.exceptions import SigmaError
from sigma.pipelines.loki.loki import SetCustomAttributeTransformation
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    AddConditionTransformation,
    FieldMappingTransformation,
    SetStateTransformation,
)

from docusign_input.formats.ecs import ecs_field  # the raw -> ECS table --format ecs uses

__all__ = ["build", "main", "SIEMS"]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SIGMA = HERE / "sigma"
#: The Splunk app the detections ship in (savedsearches.conf and the dashboard are generated).
SPLUNK_APP = REPO / "splunk" / "DA-docusign-monitor-detections"
SPLUNK_DASHBOARD = REPO / "dashboards" / "splunk" / "docusign_monitor.xml"
SPLUNK_SOURCETYPE = "docusign:monitor"
ES_INDEX = "logs-docusign.monitor-*"
LOKI_STREAM = '{source="docusign", service_name="docusign-monitor"}'
_CANNOT = (NotImplementedError, SigmaError)  # how a backend says it cannot express a rule


def rule_fields() -> List[str]:
    """Every raw field a rule matches or groups on."""
    fields = set()
    for path in sorted(SIGMA.glob("*.yml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            for name, item in (doc.get("detection") or {}).items():
                for selection in item if isinstance(item, list) else [item]:
                    if name != "condition" and isinstance(selection, dict):
                        fields.update(key.split("|")[0] for key in selection)
            correlation = doc.get("correlation") or {}
            fields.update(correlation.get("group-by") or [])
            condition = correlation.get("condition") or {}
            fields.update([condition["field"]] if "field" in condition else [])
    return sorted(fields)


def _pipeline(name: str, *transformations: object) -> ProcessingPipeline:
    items = [ProcessingItem(t, identifier=f"{name}_{i}") for i, t in enumerate(transformations)]
    return ProcessingPipeline(name=f"docusign monitor for {name}", priority=20, items=items)


#: The add-on (splunk/TA-docusign-monitor) gives ``action`` its CIM value (success, created, ...)
#: and keeps DocuSign's own object, action and result under these names.
SPLUNK_FIELDS = {
    "object": "docusign_object",
    "action": "docusign_action",
    "result": "docusign_result",
}


def splunk_pipeline() -> ProcessingPipeline:
    return _pipeline(
        "splunk",
        FieldMappingTransformation(SPLUNK_FIELDS),
        AddConditionTransformation({"sourcetype": SPLUNK_SOURCETYPE}),
    )


def elasticsearch_pipeline() -> ProcessingPipeline:
    mapping = {raw: ecs_field(raw) for raw in rule_fields()}
    return _pipeline(
        "elasticsearch",
        FieldMappingTransformation(mapping),
        SetStateTransformation("index", ES_INDEX),
    )


def loki_field(raw: str) -> str:
    """Loki's ``json`` parser joins nested keys with ``_`` (``data_Severity``)."""
    return raw.replace(".", "_")


def loki_pipeline() -> ProcessingPipeline:
    mapping = {raw: loki_field(raw) for raw in rule_fields() if "." in raw}
    return _pipeline(
        "loki",
        SetCustomAttributeTransformation("logsource_loki_selection", LOKI_STREAM),
        SetCustomAttributeTransformation("loki_parser", "json"),
        FieldMappingTransformation(mapping),
    )


class SlidingSplunkBackend(SplunkBackend):
    """Counts over a window that slides with each event (``streamstats time_window``), which is
    what a Sigma ``timespan`` means, instead of the backend's fixed buckets (``bin _time``): ten
    failed logins across a bucket edge, six before it and six after, are still ten in ten
    minutes."""

    event_count_aggregation_expression = {
        "stats": "| sort 0 _time\n"
        "| streamstats time_window={timespan} count as event_count by{groupby}",
    }
    value_count_aggregation_expression = {
        "stats": "| sort 0 _time\n"
        "| streamstats time_window={timespan} dc({field}) as value_count by{groupby}",
    }


_ESQL_BUCKET = re.compile(r"\| eval timebucket=date_trunc\((\d+)minutes, @timestamp\) ")


def esql_hopping(query: str) -> str:
    """ES|QL cannot slide a window, so each event counts in two buckets of the rule's span that
    start half a span apart (``mv_append`` of two ``date_trunc``, then ``mv_expand``): a burst no
    longer than half the span lies whole in one of them, wherever the bucket edges fall."""
    match = _ESQL_BUCKET.search(query)
    if match is None:
        return query
    span = int(match[1])
    if span % 2:
        raise SystemExit(f"build: an odd ES|QL bucket span ({span} minutes) cannot be halved")
    half = f"{span // 2}minutes"
    hopping = (
        f"| eval timebucket=mv_append(date_trunc({span}minutes, @timestamp), "
        f"date_trunc({span}minutes, @timestamp + {half}) - {half}) "
        "| mv_expand timebucket "
    )
    return query[: match.start()] + hopping + query[match.end() :]


@dataclass(frozen=True)
class Siem:
    """One target: its backend and pipeline, and how its files are named and bundled."""

    name: str
    backend: Callable[[], Backend]
    suffix: str
    bundle: Path
    render_bundle: Callable[[List[Tuple[dict, str]]], str]


def _meta(path: Path) -> dict:
    """The rule that carries the detection's title, level and tags: the file's last document."""
    return list(yaml.safe_load_all(path.read_text(encoding="utf-8")))[-1]


#: How each SIEM's scheduler runs a rule: every INTERVAL it looks back LOOK_BACK over the events'
#: own time. The look-back overlaps the interval so that events arriving late (DocuSign ingests up
#: to five minutes after the event, then the connector's poll and the shipper's batch) are still
#: seen: an event up to LOOK_BACK - INTERVAL (20 minutes) late is caught. The overlap would alert
#: one finding up to three times, so each rule throttles (Splunk) or suppresses (Elastic) on the
#: fields that identify a finding for SUPPRESS, which covers the look-back and the interval.
INTERVAL_MIN = 10
LOOK_BACK_MIN = 30
SUPPRESS_MIN = 60
#: The silent-collector rule looks back four hours; it re-alerts every four hours while silent.
SILENT_LOOK_BACK_MIN = SILENT_SUPPRESS_MIN = 240
SILENT = "docusign_silent_collector"

#: The raw fields that identify one finding of a rule, where they are not the correlation's
#: group-by: whom an administrator was given to; the user and the country of a login. Any other
#: single-event rule: the user who did it (one actor's burst of changes is one finding).
FINDING_FIELDS: Dict[str, List[str]] = {
    "docusign_administrator_granted": ["affectedUserId"],
    "docusign_login_unexpected_country": ["userId", "ipAddressLocation.country"],
    "docusign_login_success_after_failures": ["userId", "ipAddress"],
    SILENT: [],
}


def finding_fields(meta: dict) -> List[str]:
    """The raw fields one finding of this rule is known by (see FINDING_FIELDS)."""
    stem = meta["stem"]
    if stem in FINDING_FIELDS:
        return FINDING_FIELDS[stem]
    group_by = (meta.get("correlation") or {}).get("group-by")
    return list(group_by) if group_by else ["userId"]


def _splunk_bundle(rules: List[Tuple[dict, str]]) -> str:
    """The app's savedsearches.conf: each rule scheduled, one alert per result row (digest mode
    off), throttled on the fields of a finding; the silent collector alerts once per outage."""
    out = [
        "# DocuSign Monitor detections, generated by `python -m detections.build`.\n"
        f"# Every {INTERVAL_MIN} minutes over the last {LOOK_BACK_MIN} (events up to "
        f"{LOOK_BACK_MIN - INTERVAL_MIN} minutes late are still seen),\n"
        f"# throttled for {SUPPRESS_MIN} minutes on the fields that identify a finding: one alert "
        "per finding.\n"
    ]
    for meta, query in rules:
        search = " \\\n".join(query.splitlines())
        silent = meta["stem"] == SILENT
        look_back = SILENT_LOOK_BACK_MIN if silent else LOOK_BACK_MIN
        fields = finding_fields(meta)
        throttle = (
            "alert.digest_mode = 0\n"
            f"alert.suppress.fields = {','.join(fields)}\n"
            f"alert.suppress.period = {SUPPRESS_MIN}m\n"
            if fields
            else f"alert.digest_mode = 1\nalert.suppress.period = {SILENT_SUPPRESS_MIN}m\n"
        )
        out.append(
            f"\n[{meta['title']}]\n"
            f"description = {' '.join(meta['description'].split())}\n"
            f"search = {search}\n"
            f"dispatch.earliest_time = -{look_back}m@m\n"
            "dispatch.latest_time = now\n"
            f"cron_schedule = */{INTERVAL_MIN} * * * *\n"
            "enableSched = 1\n"
            "counttype = number of events\n"
            "relation = greater than\n"
            "quantity = 0\n"
            "alert.track = 1\n"
            "alert.suppress = 1\n"
            f"{throttle}"
            f"alert.severity = {_SPLUNK_SEVERITY[meta['level']]}\n"
            f"# sigma id {meta['id']}\n"
        )
    return "".join(out)


_SPLUNK_SEVERITY = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
_ELASTIC_SEVERITY = {"informational": "low", "low": "low", "medium": "medium", "high": "high"}
_ELASTIC_RISK = {"informational": 21, "low": 21, "medium": 47, "high": 73, "critical": 99}


def _elastic_bundle(rules: List[Tuple[dict, str]]) -> str:
    """Elastic Security detection rules (NDJSON, one rule a line) for Rules > Import."""
    lines = []
    for meta, query in rules:
        language = "eql" if query.lstrip().startswith("sequence") else "esql"
        silent = meta["stem"] == SILENT
        # The silent collector's only column is its count: one alert per outage, re-alerted
        # every four hours while it lasts.
        suppress_by = [ecs_field(f) for f in finding_fields(meta)] or ["events"]
        rule = {
            "rule_id": meta["id"],
            "name": meta["title"],
            "description": " ".join(meta["description"].split()),
            "type": language,
            "language": language,
            "query": query,
            "severity": _ELASTIC_SEVERITY.get(meta["level"], "critical"),
            "risk_score": _ELASTIC_RISK[meta["level"]],
            "from": f"now-{SILENT_LOOK_BACK_MIN if silent else LOOK_BACK_MIN}m",
            "interval": f"{INTERVAL_MIN}m",
            "alert_suppression": {
                "group_by": suppress_by,
                "duration": {"value": SILENT_SUPPRESS_MIN if silent else SUPPRESS_MIN, "unit": "m"},
                "missing_fields_strategy": "suppress",
            },
            "enabled": True,
            "tags": ["DocuSign", "Sigma"] + list(meta.get("tags", [])),
            "false_positives": list(meta.get("falsepositives", [])),
            "references": list(meta.get("references", [])),
            "author": [meta.get("author", "")],
            "license": "Apache-2.0",
            "version": 1,
        }
        if language == "eql":
            rule["index"] = [ES_INDEX]
        lines.append(json.dumps(rule, sort_keys=True, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def _loki_bundle(rules: List[Tuple[dict, str]]) -> str:
    """A Loki ruler rule file (the Prometheus rule-file format Loki's ruler reads)."""
    alerts = []
    for meta, query in rules:
        alerts.append(
            {
                "alert": meta["stem"],  # the ruler wants a metric-like name
                "expr": _loki_alert_expr(query),
                "for": "0m",
                "labels": {"severity": meta["level"], "sigma_id": meta["id"]},
                "annotations": {
                    "summary": meta["title"],
                    "description": " ".join(meta["description"].split()),
                },
            }
        )
    doc = {"groups": [{"name": "docusign-monitor", "interval": "1m", "rules": alerts}]}
    header = "# DocuSign Monitor detections, generated by `python -m detections.build`.\n"
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def _loki_alert_expr(query: str) -> str:
    """A log query is turned into a metric (the ruler alerts on metrics only)."""
    query = query.strip()
    if query.startswith("{"):
        return f"sum(count_over_time({query} [10m])) > 0"
    return query


SIEMS: Dict[str, Siem] = {
    "splunk": Siem(
        "splunk", lambda: SlidingSplunkBackend(splunk_pipeline()), ".spl",
        SPLUNK_APP / "default" / "savedsearches.conf", _splunk_bundle,
    ),
    "elasticsearch": Siem(
        "elasticsearch", lambda: ESQLBackend(elasticsearch_pipeline()), ".esql",
        HERE / "elasticsearch" / "detection-rules.ndjson", _elastic_bundle,
    ),
    "loki": Siem(
        "loki", lambda: LogQLBackend(loki_pipeline()), ".logql", HERE / "loki" / "rules.yaml",
        _loki_bundle,
    ),
}  # fmt: skip


def _convert(siem: Siem, path: Path) -> Tuple[str, bool]:
    """(query, written by hand); the hand-written one where the backend cannot express it."""
    manual = HERE / siem.name / "manual"
    for suffix in (siem.suffix, ".eql"):
        hand = manual / (path.stem + suffix)
        if hand.exists():
            return _strip_comments(hand.read_text(encoding="utf-8")), True
    collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"))
    try:
        queries = siem.backend().convert(collection)
    except _CANNOT as exc:
        raise SystemExit(
            f"build: {siem.name} cannot express {path.name} ({exc}); write the query by hand in "
            f"{manual.relative_to(HERE.parent)}/{path.stem}{siem.suffix}"
        ) from None
    query = str(queries[-1]).strip()
    return (esql_hopping(query) if siem.name == "elasticsearch" else query) + "\n", False


def _strip_comments(text: str) -> str:
    """Hand-written files open with ``#``/``//`` comment lines saying why; the query follows."""
    lines = text.splitlines()
    while lines and lines[0].lstrip().startswith(("#", "//")):
        lines.pop(0)
    return "\n".join(lines).strip() + "\n"


def outputs() -> Dict[Path, str]:
    """Every generated file and its content."""
    files: Dict[Path, str] = {}
    rules = sorted(SIGMA.glob("*.yml"))
    extra = sorted(
        {p.stem for siem in SIEMS.values() for p in (HERE / siem.name / "manual").glob("*.*")}
        - {p.stem for p in rules}
    )  # hand-written detections with no Sigma rule (the silent collector)
    for siem in SIEMS.values():
        bundle: List[Tuple[dict, str]] = []
        for path in rules:
            query, by_hand = _convert(siem, path)
            if not by_hand:
                files[HERE / siem.name / (path.stem + siem.suffix)] = query
            bundle.append(({**_meta(path), "stem": path.stem}, query))
        for stem in extra:
            meta = yaml.safe_load((HERE / "manual" / f"{stem}.yml").read_text(encoding="utf-8"))
            query, _ = _convert(siem, HERE / "manual" / f"{stem}.yml")
            bundle.append(({**meta, "stem": stem}, query))
        files[siem.bundle] = siem.render_bundle(bundle)
    # the app carries the dashboard too, so one copy into etc/apps installs both
    views = SPLUNK_APP / "default" / "data" / "ui" / "views" / SPLUNK_DASHBOARD.name
    files[views] = SPLUNK_DASHBOARD.read_text(encoding="utf-8")
    return files


def build(check: bool = False) -> List[Path]:
    """Write (or, with ``check``, only compare) every output; returns the stale files."""
    return _build(check)[0]


def _build(check: bool) -> Tuple[List[Path], int]:
    """The stale files, and how many files the build makes."""
    stale = []
    wanted = outputs()
    for path, content in sorted(wanted.items()):
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            stale.append(path)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content, encoding="utf-8")
    for siem in SIEMS.values():  # generated files whose rule is gone
        for path in (HERE / siem.name).glob(f"*{siem.suffix}"):
            if path not in wanted:
                stale.append(path)
                if not check:
                    path.unlink()
    return stale, len(wanted)


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detections.build", description=__doc__)
    parser.add_argument("--check", action="store_true", help="report stale files, write nothing")
    args = parser.parse_args(argv)
    stale, total = _build(check=args.check)
    for path in stale:
        verb = "stale" if args.check else "wrote"
        print(f"{verb}: {path.relative_to(REPO)}", file=sys.stderr)
    if args.check and stale:
        print(
            f"build: {len(stale)} of {total} generated files are stale; run "
            "`python -m detections.build` and commit the result",
            file=sys.stderr,
        )
        return 1
    rules = len(list(SIGMA.glob("*.yml")))
    siems = ", ".join(SIEMS)
    if args.check:
        print(f"build: all {total} generated files are current ({rules} Sigma rules; {siems})")
    else:
        print(
            f"build: {total} files from {rules} Sigma rules for {siems}: {len(stale)} written, "
            f"{total - len(stale)} already current"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
