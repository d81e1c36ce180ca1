"""Monitor events as Elastic Common Schema 9.x documents (``--format ecs``).

Pure: an event in, a document out, no I/O. ECS names what it has a field for (time, id, action,
outcome, user, target user, source IP and geo, user agent, organization); everything else stays
under ``docusign.`` with DocuSign's own names and values, so nothing DocuSign sent is lost and rules
can still match DocuSign's words (``docusign.object``, ``docusign.result``, ``docusign.data.*``).
Values ECS types strictly (an IP, a coordinate, a date) are mapped only when valid: Elasticsearch
rejects a whole document for one bad ``ip``. An invalid one stays under ``docusign.`` instead.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping

from ..timestamps import parse_event_time
from .classes import classify
from .countries import iso_code

__all__ = ["ECS_VERSION", "FIELDS", "SEVERITY", "document", "ecs_field"]

ECS_VERSION = "9.4.0"
DATASET = "docusign.monitor"

#: Where each raw DocuSign field lands in ECS with its value unchanged (dotted raw paths for nested
#: fields). Every raw field not named here is at ``docusign.<raw name>``, also unchanged: that is
#: where ``object``, ``result``, ``source``, ``property``, ``field`` and ``data.*`` are. Derived
#: fields come in addition: ``event.code`` (object.action), ``event.outcome`` (result lower-cased:
#: success, failure, else unknown), ``user.target.id`` falling back to ``data.AffectedUserId``
#: then ``referencedUserId``, ``source.geo.country_iso_code``, ``related.*``, ``event.category``
#: and ``event.type``.
#: Sigma's field renaming (raw name -> ECS name) reads this through ``ecs_field``.
FIELDS: Mapping[str, str] = {
    "timestamp": "@timestamp",
    "eventId": "event.id",
    "action": "event.action",
    "userId": "user.id",
    "affectedUserId": "user.target.id",
    "ipAddress": "source.ip",
    "ipAddressLocation.latitude": "source.geo.location.lat",
    "ipAddressLocation.longitude": "source.geo.location.lon",
    "ipAddressLocation.country": "source.geo.country_name",
    "ipAddressLocation.state": "source.geo.region_name",
    "ipAddressLocation.city": "source.geo.city_name",
    "userAgent": "user_agent.original",
    "userAgentClientInfo.os.family": "user_agent.os.name",
    "userAgentClientInfo.browser.family": "user_agent.name",
    "userAgentClientInfo.device.family": "user_agent.device.name",
    "organizationId": "organization.id",
}

#: Alert ``data.Severity`` as ``event.severity``, on the scale Elastic's detection rules use.
SEVERITY: Mapping[str, int] = {"low": 21, "medium": 47, "high": 73, "critical": 99}

_OUTCOME = {"success": "success", "failure": "failure"}
# Top-level fields ECS takes whole; the rest of the event goes under docusign.
_TAKEN = frozenset(
    ("timestamp", "eventId", "action", "userId", "affectedUserId", "ipAddress", "userAgent")
    + ("organizationId", "ipAddressLocation")
)
_NO_VALUE = ("", "Other", None)  # "Other" is ua-parser's word for "not recognised"


def ecs_field(raw: str) -> str:
    """The ECS field that holds a raw field's value unchanged: ``userId`` -> ``user.id``,
    ``object`` -> ``docusign.object``, ``data.Severity`` -> ``docusign.data.Severity``."""
    return FIELDS.get(raw) or f"docusign.{raw}"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def document(event: Mapping[str, Any], now: Callable[[], datetime] = _utcnow) -> Dict[str, Any]:
    """The ECS document for one Monitor event; never raises on odd values (they stay raw)."""
    get = event.get
    obj, action, result = _text(get("object")), _text(get("action")), _text(get("result"))
    raw_data = get("data")
    data: Mapping[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    kind = classify(obj, action, _text(get("source")), _text(get("field")))
    rest: Dict[str, Any] = {
        k: v for k, v in event.items() if k not in _TAKEN and v != "" and v != {}
    }

    out: Dict[str, Any] = {"@timestamp": _timestamp(get("timestamp"), rest, now)}
    ev: Dict[str, Any] = {
        "kind": kind.kind,
        "category": list(kind.categories),
        "type": list(kind.types),
        "outcome": _OUTCOME.get(result.lower(), "unknown"),
        "dataset": DATASET,
        "module": "docusign",
    }
    if action:
        ev["action"] = action
    if obj or action:
        ev["code"] = f"{obj}.{action}"
    if get("eventId") not in _NO_VALUE:
        ev["id"] = str(get("eventId"))
    severity = SEVERITY.get(_text(data.get("Severity")).lower()) if kind.kind == "alert" else None
    if severity is not None:
        ev["severity"] = severity
    out["event"] = ev
    out["ecs"] = {"version": ECS_VERSION}
    message = " ".join(p for p in (obj, action, result) if p)
    if message:
        out["message"] = message

    users: List[str] = []
    user_id = _text(get("userId"))
    if user_id:
        users.append(user_id)
    target = _target(event, data)
    user: Dict[str, Any] = {"id": user_id} if user_id else {}
    if target:
        user["target"] = {"id": target}
        if target not in users:
            users.append(target)
    if user:
        out["user"] = user

    ip = _ip(get("ipAddress"))
    if ip is not None:
        out["source"] = {"ip": ip}
    elif get("ipAddress") not in _NO_VALUE:
        rest["ipAddress"] = get("ipAddress")
    geo = _geo(get("ipAddressLocation"), rest)
    if geo:
        out.setdefault("source", {})["geo"] = geo

    agent = _user_agent(_text(get("userAgent")), get("userAgentClientInfo"))
    if agent:
        out["user_agent"] = agent
    _drop_copies(rest, event)
    if get("organizationId") not in _NO_VALUE:
        out["organization"] = {"id": str(get("organizationId"))}
    related: Dict[str, Any] = {}
    if users:
        related["user"] = users
    if ip is not None:
        related["ip"] = [ip]
    if related:
        out["related"] = related
    out["docusign"] = rest
    return out


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _timestamp(value: Any, rest: Dict[str, Any], now: Callable[[], datetime]) -> str:
    """DocuSign's stamp as sent (all seven digits: the template maps it as date_nanos); an
    unreadable one is kept as ``docusign.timestamp`` and the document takes the time now."""
    if isinstance(value, str):
        try:
            parse_event_time(value)
            return value
        except ValueError:
            pass
    rest["timestamp"] = value
    return now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _target(event: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    for value in (
        event.get("affectedUserId"),
        data.get("AffectedUserId"),
        event.get("referencedUserId"),
    ):
        if isinstance(value, str) and value:
            return value
    return ""


def _ip(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _geo(location: Any, rest: Dict[str, Any]) -> Dict[str, Any]:
    if not isinstance(location, dict):
        if location not in _NO_VALUE:
            rest["ipAddressLocation"] = location
        return {}
    geo: Dict[str, Any] = {}
    lat, lon = location.get("latitude"), location.get("longitude")
    if _coordinate(lat, 90) and _coordinate(lon, 180):
        geo["location"] = {"lat": lat, "lon": lon}
    elif (lat, lon) != ("", ""):
        rest["ipAddressLocation"] = location  # unusable coordinates: keep them all as sent
    country = _text(location.get("country"))
    if country:
        geo["country_name"] = country
        code = iso_code(country)
        if code:
            geo["country_iso_code"] = code
    for raw, name in (("state", "region_name"), ("city", "city_name")):
        value = _text(location.get(raw))
        if value:
            geo[name] = value
    return geo


# DocuSign repeats some values at the top level (``latitude``, ``city``, ``os``...): a copy equal
# to the value mapped from ``ipAddressLocation`` or ``userAgentClientInfo`` says nothing more.
_COPIES = (
    ("latitude", ("ipAddressLocation", "latitude")),
    ("longitude", ("ipAddressLocation", "longitude")),
    ("city", ("ipAddressLocation", "city")),
    ("state", ("ipAddressLocation", "state")),
    ("country", ("ipAddressLocation", "country")),
    ("device", ("userAgentClientInfo", "device", "family")),
    ("browser", ("userAgentClientInfo", "browser", "family")),
    ("os", ("userAgentClientInfo", "os", "family")),
)


def _drop_copies(rest: Dict[str, Any], event: Mapping[str, Any]) -> None:
    for top, path in _COPIES:
        if top in rest and "ipAddressLocation" not in rest:
            value: Any = event
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if value == rest[top]:
                del rest[top]


def _coordinate(value: Any, limit: float) -> bool:
    return (
        isinstance(value, (int, float)) and not isinstance(value, bool) and -limit <= value <= limit
    )


def _user_agent(original: str, info: Any) -> Dict[str, Any]:
    """``user_agent.*`` from the raw string and DocuSign's parsed ``userAgentClientInfo``."""
    agent: Dict[str, Any] = {"original": original} if original else {}
    if not isinstance(info, dict):
        return agent
    browser, device, system = (info.get(k) for k in ("browser", "device", "os"))
    if isinstance(browser, dict) and browser.get("family") not in _NO_VALUE:
        agent["name"] = _text(browser["family"])
        version = _version(browser)
        if version:
            agent["version"] = version
    if isinstance(device, dict) and device.get("family") not in _NO_VALUE:
        agent["device"] = {"name": _text(device["family"])}
    if isinstance(system, dict) and system.get("family") not in _NO_VALUE:
        name = _text(system["family"])
        os_fields = {"name": name, "full": name}
        version = _version(system)
        if version:
            os_fields.update(version=version, full=f"{name} {version}")
        agent["os"] = os_fields
    return agent


def _version(parts: Mapping[str, Any]) -> str:
    """``major.minor.patch[.patchMinor]`` up to the first empty part."""
    out = []
    for key in ("major", "minor", "patch", "patchMinor"):
        value = _text(parts.get(key))
        if not value:
            break
        out.append(value)
    return ".".join(out)
