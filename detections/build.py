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
SIGMA = HERE / "sigma"
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


@dataclass(frozen=True)
class Siem:
    """One target: its backend and pipeline, and how its files are named and bundled."""

    name: str
    backend: Callable[[], Backend]
    suffix: str
    bundle: str
    render_bundle: Callable[[List[Tuple[dict, str]]], str]


def _meta(path: Path) -> dict:
    """The rule that carries the detection's title, level and tags: the file's last document."""
    return list(yaml.safe_load_all(path.read_text(encoding="utf-8")))[-1]


def _splunk_bundle(rules: List[Tuple[dict, str]]) -> str:
    out = ["# DocuSign Monitor detections, generated by `python -m detections.build`.\n"]
    for meta, query in rules:
        search = " \\\n".join(query.splitlines())
        out.append(
            f"\n[{meta['title']}]\n"
            f"description = {' '.join(meta['description'].split())}\n"
            f"search = {search}\n"
            "dispatch.earliest_time = -30m@m\n"
            "dispatch.latest_time = now\n"
            "cron_schedule = */10 * * * *\n"
            "enableSched = 1\n"
            "counttype = number of events\n"
            "relation = greater than\n"
            "quantity = 0\n"
            "alert.track = 1\n"
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
        rule = {
            "rule_id": meta["id"],
            "name": meta["title"],
            "description": " ".join(meta["description"].split()),
            "type": language,
            "language": language,
            "query": query,
            "severity": _ELASTIC_SEVERITY.get(meta["level"], "critical"),
            "risk_score": _ELASTIC_RISK[meta["level"]],
            "from": "now-30m",
            "interval": "10m",
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
        "splunk", lambda: SplunkBackend(splunk_pipeline()), ".spl", "savedsearches.conf",
        _splunk_bundle,
    ),
    "elasticsearch": Siem(
        "elasticsearch", lambda: ESQLBackend(elasticsearch_pipeline()), ".esql",
        "detection-rules.ndjson", _elastic_bundle,
    ),
    "loki": Siem(
        "loki", lambda: LogQLBackend(loki_pipeline()), ".logql", "rules.yaml", _loki_bundle
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
    return str(queries[-1]).strip() + "\n", False


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
        files[HERE / siem.name / siem.bundle] = siem.render_bundle(bundle)
    return files


def build(check: bool = False) -> List[Path]:
    """Write (or, with ``check``, only compare) every output; returns the stale files."""
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
    return stale


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detections.build", description=__doc__)
    parser.add_argument("--check", action="store_true", help="report stale files, write nothing")
    args = parser.parse_args(argv)
    stale = build(check=args.check)
    for path in stale:
        verb = "stale" if args.check else "wrote"
        print(f"{verb}: {path.relative_to(HERE.parent)}", file=sys.stderr)
    if args.check and stale:
        print("build: run `python -m detections.build` and commit the result", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
