"""Monitor events as OCSF 1.8.0 events (``--format ocsf``).

Pure: an event in, an event of the class ``classes.classify`` picks out, no I/O. Each document
carries the class's required attributes (a placeholder only where DocuSign sends nothing to fill
one, e.g. an unnamed group), DocuSign's event ID as ``metadata.uid`` and its organization as
``metadata.tenant_uid``, the stamp as sent in ``metadata.original_time`` (``time`` holds only
milliseconds), and everything no attribute takes under ``unmapped`` with DocuSign's own names.
Empty strings (DocuSign's "absent") are dropped there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, Tuple

from . import classes as c
from .classes import PerKind
from .common import (
    LOCATION_COPIES,
    NO_VALUE,
    BoundedCache,
    Place,
    read_place,
    text,
    value_key,
    version,
    version_keys,
)
from .values import canonical_ip, epoch_ms

__all__ = ["OCSF_VERSION", "CLASSES", "document"]

OCSF_VERSION = "1.8.0"

#: class_uid -> (class caption, category uid, category caption, activity captions), from the schema.
CLASSES: Mapping[int, Tuple[str, int, str, Mapping[int, str]]] = {
    2004: (
        "Detection Finding",
        2,
        "Findings",
        {0: "Unknown", 1: "Create", 2: "Update", 3: "Close", 99: "Other"},
    ),
    3001: (
        "Account Change",
        3,
        "Identity & Access Management",
        {
            0: "Unknown",
            1: "Create",
            2: "Enable",
            3: "Password Change",
            4: "Password Reset",
            5: "Disable",
            6: "Delete",
            7: "Attach Policy",
            8: "Detach Policy",
            9: "Lock",
            10: "MFA Factor Enable",
            11: "MFA Factor Disable",
            12: "Unlock",
            99: "Other",
        },
    ),
    3002: (
        "Authentication",
        3,
        "Identity & Access Management",
        {0: "Unknown", 1: "Logon", 2: "Logoff", 99: "Other"},
    ),
    3004: (
        "Entity Management",
        3,
        "Identity & Access Management",
        {
            0: "Unknown",
            1: "Create",
            2: "Read",
            3: "Update",
            4: "Delete",
            8: "Enable",
            9: "Disable",
            99: "Other",
        },
    ),
    3005: (
        "User Access Management",
        3,
        "Identity & Access Management",
        {0: "Unknown", 1: "Assign Privileges", 2: "Revoke Privileges", 99: "Other"},
    ),
    3006: (
        "Group Management",
        3,
        "Identity & Access Management",
        {
            0: "Unknown",
            1: "Assign Privileges",
            2: "Revoke Privileges",
            3: "Add User",
            4: "Remove User",
            5: "Delete",
            6: "Create",
            99: "Other",
        },
    ),
    6001: (
        "Web Resources Activity",
        6,
        "Application Activity",
        {
            0: "Unknown",
            1: "Create",
            2: "Read",
            3: "Update",
            4: "Delete",
            7: "Export",
            8: "Share",
            99: "Other",
        },
    ),
    6003: (
        "API Activity",
        6,
        "Application Activity",
        {0: "Unknown", 1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"},
    ),
}

_SEVERITY = {
    "low": (2, "Low"),
    "medium": (3, "Medium"),
    "high": (4, "High"),
    "critical": (5, "Critical"),
}
_STATUS = {"success": (1, "Success"), "failure": (2, "Failure")}
_SOURCE_ENDPOINT_TYPE = {"Web": 8, "Mobile": 5}  # network_endpoint.type_id: Browser, Mobile
_OS_TYPE = (  # (lower-case family prefix, os.type_id); the first match wins
    ("windows phone", 101),
    ("windows mobile", 101),
    ("windows", 100),
    ("android", 201),
    ("ipados", 302),
    ("ios", 301),
    ("mac", 300),
    ("chrome os", 200),
    ("linux", 200),
    ("ubuntu", 200),
    ("debian", 200),
    ("fedora", 200),
    ("red hat", 200),
    ("solaris", 400),
    ("aix", 401),
    ("hp-ux", 402),
)
_INTERNAL_KEY = "##DOCUSIGN_INTERNAL_NOT_USED##"
_NO_VALUE = NO_VALUE
_text = text
_PRODUCT = {"name": "Monitor", "vendor_name": "DocuSign"}


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def document(event: Mapping[str, Any], now: Callable[[], datetime] = _utcnow) -> Dict[str, Any]:
    """The OCSF event for one Monitor event; never raises on odd values (they go to unmapped)."""
    rest: Dict[str, Any] = dict(event)
    take = rest.pop
    obj, action = _text(take("object", "")), _text(take("action", ""))
    source, field = _text(rest.get("source")), _text(rest.get("field"))
    result = _text(rest.get("result"))
    raw_data = take("data", None)
    data: Dict[str, Any] = dict(raw_data) if isinstance(raw_data, dict) else {}
    if raw_data is not None and not isinstance(raw_data, dict):
        rest["data"] = raw_data
    static = _static(obj, action, source, field, result)
    out = dict(static.header)
    out["time"] = _time(rest, now)
    out["metadata"] = _metadata(rest, static.metadata)
    if static.class_uid == c.DETECTION_FINDING:
        severity = _text(data.pop("Severity", "")) if "Severity" in data else ""
        out["severity_id"], out["severity"] = _SEVERITY.get(severity.lower(), (0, "Unknown"))
        if severity and severity.lower() not in _SEVERITY:
            data["Severity"] = severity
    else:
        take("result", None)

    ctx = _Context(
        rest=rest,
        data=data,
        actor=_actor(rest),
        endpoint=_src_endpoint(rest, source),
        http=_http(rest),
        field=field,
        obj=obj,
        action=action,
        source=source,
    )
    _BUILDERS[static.class_uid](out, static.activity_id, ctx)

    if data:
        rest["data"] = data
    unmapped = {k: v for k, v in rest.items() if v != "" and v is not None}
    if unmapped:
        out["unmapped"] = unmapped
    return out


class _Static:
    """What every event of one kind gets: class, activity, captions, status, message."""

    __slots__ = ("header", "metadata", "class_uid", "activity_id")

    def __init__(self, obj: str, action: str, source: str, field: str, result: str) -> None:
        kind = c.classify(obj, action, source, field)
        class_name, category_uid, category_name, activities = CLASSES[kind.class_uid]
        activity_name = activities.get(kind.activity_id, "Other")
        header: Dict[str, Any] = {
            "activity_id": kind.activity_id,
            "activity_name": activity_name,
            "category_uid": category_uid,
            "category_name": category_name,
            "class_uid": kind.class_uid,
            "class_name": class_name,
            "type_uid": kind.class_uid * 100 + kind.activity_id,
            "type_name": f"{class_name}: {activity_name}",
        }
        message = " ".join(p for p in (obj, action, result) if p)
        if message:
            header["message"] = message
        if kind.class_uid == c.DETECTION_FINDING:
            header.update(status_id=1, status="New")  # a finding's status, not an outcome
        else:
            header.update(severity_id=1, severity="Informational")
            status_id, status = _STATUS.get(result.lower(), (0, "Unknown"))
            if result and result.lower() not in _STATUS:
                status_id, status, header["status_detail"] = 99, "Other", result
            header.update(status_id=status_id, status=status)
        self.header = header
        self.metadata = {
            "product": _PRODUCT,
            "version": OCSF_VERSION,
            "event_code": f"{obj}.{action}",
            "log_name": "monitor",
        }
        self.class_uid, self.activity_id = kind.class_uid, kind.activity_id


_static = PerKind(_Static).get


@dataclass
class _Context:
    """What every class builder may place: the event's remaining fields and the common objects."""

    rest: Dict[str, Any]  # top-level fields not taken yet (becomes unmapped)
    data: Dict[str, Any]  # data fields not taken yet
    actor: Dict[str, Any]
    endpoint: Dict[str, Any] | None
    http: Dict[str, str] | None
    field: str
    obj: str
    action: str
    source: str

    @property
    def actor_uid(self) -> str:
        return str(self.actor.get("user", {}).get("uid", ""))

    def take_target(self) -> str:
        """The user acted on, taken out of the fields left for unmapped."""
        return _target(self.rest, self.data)

    def common(self, out: Dict[str, Any], actor: bool = True) -> None:
        if actor and self.actor:
            out["actor"] = self.actor
        if self.endpoint is not None:
            out["src_endpoint"] = self.endpoint
        if self.http:
            out["http_request"] = self.http


# -- per class: each puts the pieces where its class has attributes for them ------------------


def _authentication(out: Dict[str, Any], activity: int, ctx: _Context) -> None:
    out["user"] = _user(ctx.actor_uid)
    out["service"] = {"name": "DocuSign"}  # the class needs a service or a dst_endpoint
    app = ctx.actor.get("app_uid")
    ctx.actor = {"app_uid": app} if app else {}  # the user logging in is `user`, not the actor
    ctx.common(out)


def _account_change(out: Dict[str, Any], activity: int, ctx: _Context) -> None:
    user = _user(ctx.take_target() or ctx.actor_uid)
    if activity in (10, 11):
        user["has_mfa"] = activity == 10
    out["user"] = user
    ctx.common(out)


def _user_access(out: Dict[str, Any], activity: int, ctx: _Context) -> None:
    out["user"] = _user(ctx.take_target() or ctx.actor_uid)
    profile_id = _take(ctx.data, "PermissionProfileId")
    profile_name = _take(ctx.data, "PermissionProfileName")
    label = profile_name or profile_id
    if not label:
        label = "Administrator" if ctx.action == "AdministratorAdded" else ctx.action
    out["privileges"] = [label]
    resource = {"type": "Permission Profile"}
    if profile_id:
        resource["uid"] = profile_id
    if profile_name:
        resource["name"] = profile_name
    if len(resource) > 1:
        out["resource"] = resource
    ctx.common(out)


def _group_management(out: Dict[str, Any], activity: int, ctx: _Context) -> None:
    group: Dict[str, Any] = {}
    for raw, name in (("GroupId", "uid"), ("GroupName", "name")):
        value = _take(ctx.data, raw)
        if value:
            group[name] = value
    out["group"] = group or {"name": "unknown"}  # required; DocuSign sent neither id nor name
    member = ctx.take_target() if activity in (3, 4) else ""
    if member:
        out["user"] = _user(member)
    ctx.common(out)


def _entity_management(out: Dict[str, Any], activity: int, ctx: _Context) -> None:
    prop = _take(ctx.rest, "property")
    name = _take(ctx.data, "SettingName")
    if name and prop and name != prop:
        ctx.data["SettingName"] = name  # keep what the entity's name does not say
    name = prop or name or _take(ctx.data, "DomainName") or ctx.action or "unknown"
    entity: Dict[str, Any] = {"name": name, "type": ctx.obj or "Unknown"}
    for key in ("ConnectId", "IntegratorKey", "PermissionProfileId", "ImportId"):
        uid = _take(ctx.data, key)
        if uid:
            entity["uid"] = uid
            break
    type_ids = {"Organization": 4, "User": 2}
    entity["type_id"] = type_ids.get(ctx.obj, 5 if "Permission" in ctx.action else 99)
    out["entity"] = entity
    field = _take(ctx.rest, "field")
    if field:
        out["entity_result"] = {"name": name, "type": entity["type"], "data": {"value": field}}
    ctx.common(out)


def _web_resources(out: Dict[str, Any], activity: int, ctx: _Context) -> None:
    out["web_resources"] = [_resource(ctx.data, ctx.obj)]
    ctx.common(out, actor=False)  # 6001 has no actor: the user stays under unmapped
    if ctx.actor.get("user"):
        ctx.rest["userId"] = ctx.actor["user"]["uid"]
    if ctx.actor.get("app_uid"):
        ctx.rest["integratorKey"] = ctx.actor["app_uid"]


def _api_activity(out: Dict[str, Any], activity: int, ctx: _Context) -> None:
    out["api"] = {
        "operation": f"{ctx.obj}.{ctx.action}",
        "service": {"name": "DocuSign eSignature"},
    }
    out["resources"] = [_resource(ctx.data, ctx.obj)]
    if not ctx.actor:
        ctx.actor = {"app_name": "DocuSign"}  # required; DocuSign named no one
    if ctx.endpoint is None:
        ctx.endpoint = {"name": ctx.source or "unknown"}  # required; DocuSign sent no IP
    ctx.common(out)


def _detection_finding(out: Dict[str, Any], activity: int, ctx: _Context) -> None:
    data = ctx.data
    info: Dict[str, Any] = {
        "uid": out["metadata"].get("uid") or "unknown",
        "title": _words(ctx.action) or "DocuSign alert",
        "types": [ctx.action or "unknown"],
        "analytic": {"name": ctx.action or "unknown", "type_id": 1, "type": "Rule"},
        "product": {"name": "Monitor", "vendor_name": "DocuSign"},
    }
    ids = data.get("EventIds")
    if isinstance(ids, list) and all(isinstance(i, str) for i in ids):
        del data["EventIds"]
        info["related_events"] = [{"uid": i} for i in ids]
    count = data.get("Count")
    if isinstance(count, str) and count.isdigit() and len(count) < 10:
        del data["Count"]
        out["count"] = int(count)
    out["finding_info"] = info
    out["is_alert"] = True
    evidence: Dict[str, Any] = {}  # 2004 has no actor or endpoint of its own
    if ctx.actor:
        evidence["actor"] = ctx.actor
    if ctx.endpoint is not None:
        evidence["src_endpoint"] = ctx.endpoint
    if ctx.http and evidence:
        evidence["http_request"] = ctx.http
    elif ctx.http:  # an evidence needs an actor or an endpoint: the agent alone stays unmapped
        ctx.rest["userAgent"] = ctx.http["user_agent"]
    if evidence:
        out["evidences"] = [evidence]


_BUILDERS: Dict[int, Callable[[Dict[str, Any], int, _Context], None]] = {
    c.AUTHENTICATION: _authentication,
    c.ACCOUNT_CHANGE: _account_change,
    c.USER_ACCESS: _user_access,
    c.GROUP_MANAGEMENT: _group_management,
    c.ENTITY_MANAGEMENT: _entity_management,
    c.WEB_RESOURCES_ACTIVITY: _web_resources,
    c.API_ACTIVITY: _api_activity,
    c.DETECTION_FINDING: _detection_finding,
}


# -- shared pieces ---------------------------------------------------------------------------


def _take(holder: Dict[str, Any], key: str) -> str:
    """``holder[key]`` taken out of it when a non-empty string, else ``""`` (left in place)."""
    value = holder.get(key)
    if isinstance(value, str) and value:
        del holder[key]
        return value
    return ""


def _first(data: Dict[str, Any], keys: Tuple[str, ...]) -> str:
    """The first of ``keys`` that ``data`` holds as a non-empty string (taken out of it)."""
    for key in keys:
        value = _take(data, key)
        if value:
            return value
    return ""


def _http(rest: Dict[str, Any]) -> Dict[str, str] | None:
    agent = _take(rest, "userAgent")
    return {"user_agent": agent} if agent else None


def _time(rest: Dict[str, Any], now: Callable[[], datetime]) -> int:
    """Milliseconds since the epoch of DocuSign's stamp (taken out of ``rest``); now when it
    cannot be read (the stamp then stays under unmapped)."""
    value = rest.get("timestamp")
    ms = epoch_ms(value)
    if ms is not None:
        del rest["timestamp"]
        rest["_original_time"] = value
        return ms
    moment = now()
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


def _metadata(rest: Dict[str, Any], static: Dict[str, Any]) -> Dict[str, Any]:
    meta = dict(static)
    original = rest.pop("_original_time", None)
    if original:
        meta["original_time"] = original
    for raw, name in (("eventId", "uid"), ("organizationId", "tenant_uid")):
        value = rest.get(raw)
        if isinstance(value, str) and value:
            meta[name] = rest.pop(raw)
    return meta


def _user(uid: str) -> Dict[str, Any]:
    """A user by id; ``unknown`` by name where a class requires a user and DocuSign named none."""
    return {"uid": uid} if uid else {"name": "unknown"}


def _actor(rest: Dict[str, Any]) -> Dict[str, Any]:
    actor: Dict[str, Any] = {}
    user_id = rest.get("userId")
    if isinstance(user_id, str) and user_id:
        actor["user"] = {"uid": rest.pop("userId")}
    key = rest.get("integratorKey")
    if isinstance(key, str) and key and key != _INTERNAL_KEY:  # the placeholder: no app acted
        actor["app_uid"] = rest.pop("integratorKey")
    return actor


def _target(rest: Dict[str, Any], data: Dict[str, Any]) -> str:
    """The user acted on: ``affectedUserId``, else ``data.AffectedUserId``, else
    ``referencedUserId`` (each dropped from unmapped when it is the one taken or repeats it)."""
    found = ""
    for holder, key in (
        (rest, "affectedUserId"),
        (data, "AffectedUserId"),
        (rest, "referencedUserId"),
    ):
        value = holder.get(key)
        if isinstance(value, str) and value and (not found or value == found):
            found = value
            del holder[key]
    return found


def _src_endpoint(rest: Dict[str, Any], source: str) -> Dict[str, Any] | None:
    """IP, location and OS of the client; None without a valid IP (the object needs one)."""
    ip = canonical_ip(rest.get("ipAddress"))
    if ip is None:
        return None
    del rest["ipAddress"]
    endpoint: Dict[str, Any] = {"ip": ip}
    type_id = _SOURCE_ENDPOINT_TYPE.get(source)
    if type_id:
        endpoint["type_id"] = type_id
    location = _location(rest)
    if location:
        endpoint["location"] = location
    system = _os(rest)
    if system:
        endpoint["os"] = system
    return endpoint


_locations: BoundedCache[Tuple[Any, ...], Tuple[Dict[str, Any] | None, Place]] = BoundedCache()


def _location(rest: Dict[str, Any]) -> Dict[str, Any] | None:
    """``location`` from ``ipAddressLocation`` (what it cannot take stays there), the top-level
    copies of the same values dropped."""
    raw = rest.get("ipAddressLocation")
    if not isinstance(raw, dict):
        return None
    location, place = _locations.get(value_key(raw), lambda: _place_location(read_place(raw)))
    if location is None:  # the object needs a city, region or country: keep it all as sent
        return None
    left = dict(place.left)
    if place.country and not place.country_code:  # OCSF wants a code: the name stays as sent
        left["country"] = place.country
    for top, inner in LOCATION_COPIES:  # the top-level copies of the values taken
        if top in rest and inner in raw and inner not in left and rest[top] == raw[inner]:
            del rest[top]
    if left:
        rest["ipAddressLocation"] = left
    else:
        del rest["ipAddressLocation"]
    return location


def _place_location(place: Place) -> Tuple[Dict[str, Any] | None, Place]:
    location: Dict[str, Any] = {}
    if place.city:
        location["city"] = place.city
    if place.state:
        location["region"] = place.state
    if place.country_code:
        location["country"] = place.country_code
    if not location:
        return None, place
    if place.latitude is not None:
        location["lat"], location["long"] = place.latitude, place.longitude
    return location, place


def _os(rest: Dict[str, Any]) -> Dict[str, Any] | None:
    info = rest.get("userAgentClientInfo")
    if not isinstance(info, dict) or not isinstance(info.get("os"), dict):
        return None
    raw = info["os"]
    system, os_left = _systems.get(value_key(raw), lambda: _system(raw))
    if system is None:
        return None
    left = {k: v for k, v in info.items() if k != "os"}
    if os_left:  # parts OCSF has no attribute for: kept as sent
        left["os"] = dict(os_left)
    rest["userAgentClientInfo"] = left
    if rest.get("os") == system["name"]:
        del rest["os"]
    return system


_systems: BoundedCache[
    Tuple[Any, ...], Tuple[Dict[str, Any] | None, Dict[str, Any]]
] = BoundedCache()


def _system(raw: Dict[str, Any]) -> Tuple[Dict[str, Any] | None, Dict[str, Any]]:
    """``os`` from DocuSign's parsed OS (its family and full version), and the parts it did not
    take (cached by the caller: a handful of systems repeat)."""
    family = raw.get("family")
    if not isinstance(family, str) or family in _NO_VALUE:
        return None, {}
    system: Dict[str, Any] = {"name": family, "type_id": _os_type(family)}
    system_version = version(raw)
    if system_version:
        system["version"] = system_version
    taken = ("family", *version_keys(raw))
    return system, {k: v for k, v in raw.items() if k not in taken and v != ""}


def _os_type(family: str) -> int:
    lowered = family.lower()
    for prefix, type_id in _OS_TYPE:
        if lowered.startswith(prefix):
            return type_id
    return 99


def _resource(data: Dict[str, Any], obj: str) -> Dict[str, Any]:
    """The envelope, document or template acted on (a resource needs a uid or a name)."""
    resource: Dict[str, Any] = {"type": obj or "Unknown"}
    uid = _first(data, ("EnvelopeId", "TemplateId", "DocumentId"))
    name = _first(data, ("DocumentName", "TemplateName", "EnvelopeName"))
    if uid:
        resource["uid"] = uid
    resource["name"] = name or obj or "unknown"
    return resource


def _words(action: str) -> str:
    """``TooManyLoginFailures`` -> ``Too Many Login Failures``."""
    out: List[str] = []
    for ch in action:
        if ch.isupper() and out and not out[-1].isupper():
            out.append(" ")
        out.append(ch)
    return "".join(out)
