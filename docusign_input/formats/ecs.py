"""Monitor events as Elastic Common Schema 9.x documents (``--format ecs``).

Pure: an event in, a document out, no I/O. ECS names what it has a field for (time, id, action,
outcome, user, target user, source IP and geo, user agent, organization); everything else stays
under ``docusign.`` with DocuSign's own names and values, so nothing DocuSign sent is lost and rules
can still match DocuSign's words (``docusign.object``, ``docusign.result``, ``docusign.data.*``).
Values ECS types strictly (an IP, a coordinate, a date) are mapped only when valid: Elasticsearch
rejects a whole document for one bad ``ip``. An invalid one stays under ``docusign.`` instead.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Dict, Mapping, Tuple

from .classes import PerKind, classify
from .common import (
    LOCATION_COPIES,
    NO_VALUE,
    BoundedCache,
    Place,
    read_place,
    text,
    value_key,
    version,
)
from .values import canonical_ip, epoch_ms

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
_NO_VALUE = NO_VALUE
_text = text
_ECS = {"version": ECS_VERSION}


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
    rest: Dict[str, Any] = {
        k: v for k, v in event.items() if k not in _TAKEN and v != "" and v != {}
    }
    static = _static(obj, action, _text(get("source")), _text(get("field")), result)
    out: Dict[str, Any] = {"@timestamp": _timestamp(get("timestamp"), rest, now)}
    ev = dict(static.event)
    event_id = get("eventId")
    if event_id not in _NO_VALUE:
        ev["id"] = event_id if type(event_id) is str else str(event_id)
    if static.alert:
        severity = SEVERITY.get(_text(data.get("Severity")).lower())
        if severity is not None:
            ev["severity"] = severity
    out["event"] = ev
    out["ecs"] = _ECS
    if static.message:
        out["message"] = static.message

    user_id = _text(get("userId"))
    target = _target(event, data)
    if user_id or target:
        user: Dict[str, Any] = {"id": user_id} if user_id else {}
        if target:
            user["target"] = {"id": target}
        out["user"] = user

    ip = canonical_ip(get("ipAddress"))
    if ip is not None:
        out["source"] = {"ip": ip}
    elif get("ipAddress") not in _NO_VALUE:
        rest["ipAddress"] = get("ipAddress")
    location = get("ipAddressLocation")
    if isinstance(location, dict):
        geo, place = _geos.get(value_key(location), lambda: _geo(read_place(location)))
        if geo:
            out.setdefault("source", {})["geo"] = geo
        if place.bad_coordinates:  # unusable coordinates: keep the location as sent
            rest["ipAddressLocation"] = location
        else:
            if place.left:  # keys ECS has no field for (and odd values): kept as sent
                rest["ipAddressLocation"] = dict(place.left)
            for top, inner in LOCATION_COPIES:
                if top in rest and inner not in place.left and rest[top] == location.get(inner):
                    del rest[top]
    elif location not in _NO_VALUE:
        rest["ipAddressLocation"] = location

    info = get("userAgentClientInfo")
    agent = _user_agent(_text(get("userAgent")), info)
    if agent:
        out["user_agent"] = agent
    if isinstance(info, dict):
        for top, inner in _AGENT_COPIES:
            part = info.get(inner)
            if top in rest and isinstance(part, dict) and rest[top] == part.get("family"):
                del rest[top]
    org = get("organizationId")
    if org not in _NO_VALUE:
        out["organization"] = {"id": org if type(org) is str else str(org)}
    related: Dict[str, Any] = {}
    if user_id:
        related["user"] = [user_id, target] if target and target != user_id else [user_id]
    elif target:
        related["user"] = [target]
    if ip is not None:
        related["ip"] = [ip]
    if related:
        out["related"] = related
    out["docusign"] = rest
    return out


class _Static:
    """What a kind of event always gets: its ``event.*`` categorization and its message."""

    __slots__ = ("event", "message", "alert")

    def __init__(self, obj: str, action: str, source: str, field: str, result: str) -> None:
        kind = classify(obj, action, source, field)
        event: Dict[str, Any] = {
            "kind": kind.kind,
            "category": list(kind.categories),
            "type": list(kind.types),
            "outcome": _OUTCOME.get(result.lower(), "unknown"),
            "dataset": DATASET,
            "module": "docusign",
        }
        if action:
            event["action"] = action
        if obj or action:
            event["code"] = f"{obj}.{action}"
        self.event = event
        self.message = " ".join(p for p in (obj, action, result) if p)
        self.alert = kind.kind == "alert"


_static = PerKind(_Static).get


def _timestamp(value: Any, rest: Dict[str, Any], now: Callable[[], datetime]) -> str:
    """DocuSign's stamp as sent (all seven digits: the template maps it as date_nanos); an
    unreadable one is kept as ``docusign.timestamp`` and the document takes the time now."""
    if epoch_ms(value) is not None:
        return str(value)
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


_geos: BoundedCache[Tuple[Any, ...], Tuple[Dict[str, Any], Place]] = BoundedCache()


def _geo(place: Place) -> Tuple[Dict[str, Any], Place]:
    """``source.geo`` of a place, and the place (cached by the caller, since places users sign
    in from repeat)."""
    geo: Dict[str, Any] = {}
    if place.latitude is not None:
        geo["location"] = {"lat": place.latitude, "lon": place.longitude}
    if place.country:
        geo["country_name"] = place.country
        if place.country_code:
            geo["country_iso_code"] = place.country_code
    if place.state:
        geo["region_name"] = place.state
    if place.city:
        geo["city_name"] = place.city
    return geo, place


_AGENT_COPIES = (("device", "device"), ("browser", "browser"), ("os", "os"))


_agents: BoundedCache[Tuple[Any, ...], Dict[str, Any]] = BoundedCache()


def _user_agent(original: str, info: Any) -> Dict[str, Any]:
    """``user_agent.*`` from the raw string and DocuSign's parsed ``userAgentClientInfo``;
    cached, since a user agent and its parsed parts repeat."""
    if not isinstance(info, dict):
        return {"original": original} if original else {}
    try:
        key = _agent_key(original, info)
    except TypeError:  # not all strings: no caching
        return _read_user_agent(original, info)
    return _agents.get(key, lambda: _read_user_agent(original, info))


def _read_user_agent(original: str, info: Dict[str, Any]) -> Dict[str, Any]:
    agent: Dict[str, Any] = {"original": original} if original else {}
    browser, device, system = (info.get(k) for k in ("browser", "device", "os"))
    if isinstance(browser, dict) and browser.get("family") not in _NO_VALUE:
        agent["name"] = _text(browser["family"])
        browser_version = version(browser)
        if browser_version:
            agent["version"] = browser_version
    if isinstance(device, dict) and device.get("family") not in _NO_VALUE:
        agent["device"] = {"name": _text(device["family"])}
    if isinstance(system, dict) and system.get("family") not in _NO_VALUE:
        name = _text(system["family"])
        os_fields = {"name": name, "full": name}
        os_version = version(system)
        if os_version:
            os_fields.update(version=os_version, full=f"{name} {os_version}")
        agent["os"] = os_fields
    return agent


def _agent_key(original: str, info: Dict[str, Any]) -> Tuple[Any, ...]:
    """The cache key of a parsed user agent; TypeError unless every part holds only strings
    (``str.join`` checks that in C), so 1, True and "1" never share an entry."""
    key: list[Any] = [original]
    for name, part in info.items():
        if type(part) is not dict:
            raise TypeError(name)
        values = tuple(part.values())
        "".join(values)
        key += (name, tuple(part), values)
    return tuple(key)
