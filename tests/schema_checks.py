"""Checks of normalized documents against the vendored schemas (tests/data/schemas/).

ECS: a small checker over ECS's own field list (names, types, arrays, allowed values and the
category/type pairs ECS expects). OCSF: the class's JSON Schema (attributes known to the class,
required ones present, enum values defined, at_least_one/just_one) plus the rules JSON Schema cannot
say (type_uid = class_uid * 100 + activity_id, captions, ISO country codes).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import jsonschema

SCHEMAS = Path(__file__).parent / "data" / "schemas"

OCSF_FILES = {
    2004: "detection_finding.json",
    3001: "account_change.json",
    3002: "authentication.json",
    3004: "entity_management.json",
    3005: "user_access.json",
    3006: "group_management.json",
    6001: "web_resources_activity.json",
    6003: "api_activity.json",
}

_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)\Z")
_STRING_TYPES = {"keyword", "constant_keyword", "wildcard", "match_only_text", "text"}
_INT_TYPES = {"long", "integer", "short", "byte"}
_FLOAT_TYPES = {"float", "double", "scaled_float", "half_float"}


@functools.cache
def ecs_fields() -> Dict[str, Dict[str, Any]]:
    return json.loads((SCHEMAS / "ecs" / "ecs_fields.json").read_text())


def ecs_leaves(doc: Dict[str, Any], prefix: str = "") -> Iterator[Tuple[str, Any]]:
    """(dotted name, value) of every ECS field a document sets; a geo_point or a field ECS types
    as object/flattened is one leaf, the ``docusign`` namespace is one leaf."""
    fields = ecs_fields()
    for key, value in doc.items():
        name = f"{prefix}{key}"
        spec = fields.get(name)
        if (
            name == "docusign"
            or not isinstance(value, dict)
            or (spec and spec["type"] in ("geo_point", "object", "flattened", "nested"))
        ):
            yield name, value
        else:
            yield from ecs_leaves(value, name + ".")


def ecs_problems(doc: Dict[str, Any]) -> List[str]:
    """Every way the document departs from ECS; empty when it conforms."""
    fields, problems = ecs_fields(), []
    for required in ("@timestamp", "ecs.version"):
        if not any(name == required for name, _ in ecs_leaves(doc)):
            problems.append(f"{required} missing")
    for name, value in ecs_leaves(doc):
        if name == "docusign":
            if not isinstance(value, dict):
                problems.append("docusign is not an object")
            continue
        spec = fields.get(name)
        if spec is None:
            problems.append(f"{name}: not an ECS field")
            continue
        values = value if isinstance(value, list) else [value]
        if isinstance(value, list) and "array" not in spec["normalize"]:
            problems.append(f"{name}: an array where ECS expects one value")
        for item in values:
            if not _ecs_type_ok(spec["type"], item):
                problems.append(f"{name}: {item!r} is not an ECS {spec['type']}")
            allowed = spec.get("allowed_values")
            if allowed and item not in allowed:
                problems.append(f"{name}: {item!r} is not an allowed value")
    event = doc.get("event", {})
    expected = fields["event.category"]["expected_event_types"]
    for category in event.get("category", []):
        for event_type in event.get("type", []):
            if event_type not in expected.get(category, []):
                problems.append(f"event.type {event_type!r} is not expected with {category!r}")
    return problems


def _ecs_type_ok(ecs_type: str, value: Any) -> bool:
    if ecs_type in _STRING_TYPES:
        return isinstance(value, str) and value != ""
    if ecs_type in _INT_TYPES:
        return isinstance(value, int) and not isinstance(value, bool)
    if ecs_type in _FLOAT_TYPES:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if ecs_type == "boolean":
        return isinstance(value, bool)
    if ecs_type == "date":
        return isinstance(value, str) and bool(_DATE.match(value))
    if ecs_type == "ip":
        try:
            ipaddress.ip_address(value)
            return True
        except (ValueError, TypeError):
            return False
    if ecs_type == "geo_point":
        return (
            isinstance(value, dict)
            and set(value) == {"lat", "lon"}
            and -90 <= value["lat"] <= 90
            and -180 <= value["lon"] <= 180
        )
    return isinstance(value, dict)


@functools.cache
def ocsf_validator(class_uid: int) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / "ocsf-1.8.0" / OCSF_FILES[class_uid]).read_text())
    return jsonschema.Draft202012Validator(schema)


def ocsf_problems(doc: Dict[str, Any]) -> List[str]:
    """Every way the document departs from its OCSF 1.8.0 class; empty when it conforms."""
    class_uid = doc.get("class_uid")
    if class_uid not in OCSF_FILES:
        return [f"class_uid {class_uid!r} is not one the mapping may emit"]
    problems = [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in ocsf_validator(class_uid).iter_errors(doc)
    ]
    if doc.get("type_uid") != class_uid * 100 + doc.get("activity_id", -1):
        problems.append(f"type_uid {doc.get('type_uid')} is not class_uid * 100 + activity_id")
    for path, location in _locations(doc):
        country = location.get("country")
        if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
            problems.append(f"{path}.country {country!r} is not ISO 3166-1 alpha-2")
    if not isinstance(doc.get("time"), int) or doc["time"] < 10**12:
        problems.append(f"time {doc.get('time')!r} is not epoch milliseconds")
    return problems


def _locations(value: Any, path: str = "") -> Iterator[Tuple[str, Dict[str, Any]]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "location" and isinstance(item, dict):
                yield f"{path}{key}", item
            elif key != "unmapped":
                yield from _locations(item, f"{path}{key}.")
    elif isinstance(value, list):
        for item in value:
            yield from _locations(item, path)
