"""Realistic Monitor events, rendered to JSON bytes once and cheaply.

A pool of templates is rendered at start-up from the seeded RNG; each event then only fills in its
``eventId`` and ``timestamp`` by byte formatting. That keeps seeding a million events to seconds
while the pool still covers every shape a connector must take: both timestamp forms, non-ASCII
text, emoji, and a few events of tens of kilobytes.

The background is an ordinary day of a real organization: logins (with their usual failures),
agreements, users and groups, harmless settings. What is a finding on its own (a DocuSign alert,
a new administrator, two-factor authentication turned off, a sign-in policy or Connect change:
``scenarios.is_finding``) happens a few times a month in a real account, not hundreds of times a
day, so the background never draws one: the attack scenarios play them. A quiet simulated day
then fires no detection, and a dashboard over the demo shows the scenarios, not noise.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

__all__ = [
    "ALERT_ACTIONS",
    "EventFactory",
    "KINDS",
    "Kind",
    "monitor_event",
    "SEVERITIES",
    "random_guid",
    "render_json",
]

_TEMPLATE_POOL = 256
_LARGE_EVERY = 1000  # one event in this many is tens of kilobytes
_NO_FRACTION_SHARE = 0.05
_MAX_INGESTION_LAG_S = 300.0  # timestamps precede ingestion by up to five minutes

_LOCATIONS: Sequence[Tuple[str, str, str, float, float]] = (
    ("united states", "washington", "seattle", 47.6, -122.33),
    ("united states", "california", "san francisco", 37.77, -122.42),
    ("india", "gujarat", "akota", 22.3, 73.17),
    ("switzerland", "zürich", "Zürich", 47.37, 8.54),
    ("brazil", "são paulo", "São Paulo", -23.55, -46.63),
    ("japan", "東京都", "東京", 35.68, 139.69),
    ("germany", "bayern", "München", 48.14, 11.58),
    ("poland", "małopolskie", "Kraków", 50.06, 19.94),
    ("canada", "québec", "Montréal", 45.5, -73.57),
    ("iceland", "höfuðborgarsvæðið", "Reykjavík", 64.15, -21.94),
    ("united kingdom", "england", "london", 51.51, -0.13),
    ("australia", "new south wales", "sydney", -33.87, 151.21),
    ("mexico", "ciudad de méxico", "Ciudad de México", 19.43, -99.13),
    ("russia", "москва", "Москва", 55.76, 37.62),
)

_USER_AGENTS: Sequence[Tuple[str, str, str, str, str]] = (
    # userAgent, browser family, os family, device family, major version
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "Chrome",
        "Windows",
        "Other",
        "120",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.1 Safari/605.1.15",
        "Safari",
        "Mac OS X",
        "Mac",
        "17",
    ),
    ("DocuSign/6.12 (iPhone; iOS 17.1; Scale/3.00)", "DocuSign", "iOS", "iPhone", "6"),
    ("SignBot/2.3 🚀 (Linux; contrat-signé)", "Other", "Linux", "Other", "2"),
    ("Go-http-client/1.1", "Go-http-client", "Other", "Other", "1"),
    ("", "", "", "", ""),
)


@dataclass(frozen=True)
class Kind:
    """One (object, action) DocuSign records, with the source and result it comes with."""

    object: str
    action: str
    source: str = "Web"
    result: str = ""
    weight: int = 1  # relative share of the background activity; 0: never in the background


# Every kind the connector's schema mappings classify (the vocabulary shared with the attack
# scenarios): logins and account changes, permissions, groups, agreements, settings. Alerts
# (ALERT_ACTIONS x SEVERITIES) and the kinds of weight 0 are findings whatever their details:
# only the attack scenarios (and EventFactory.event) make them. Kinds that are findings only with
# some details (an Administrator profile assigned, 2FA turned off, a sign-in setting changed) come
# with harmless details in the background.
KINDS: Tuple[Kind, ...] = (
    Kind("User", "Login", "Web", "Success", 8),
    Kind("User", "Login", "Mobile", "Success", 3),
    Kind("User", "Login", "API", "Success", 3),
    Kind("User", "Login", "Web", "Failure", 2),
    Kind("User", "Login", "Mobile", "Failure"),
    Kind("User", "Login", "API", "Failure"),
    Kind("User", "Logout", "Web", "", 4),
    Kind("User", "AccountLocked", "Web"),
    Kind("User", "AccountUnlocked", "Web"),
    Kind("User", "PasswordChanged", "Web", "Success"),
    Kind("User", "PasswordReset", "Web"),
    Kind("User", "TwoFactorAuthenticationChanged", "Web"),
    Kind("Account", "UserAdded", "API", "", 2),
    Kind("Account", "UserClosed", "Web"),
    Kind("Account", "UserDeleted", "Web"),
    Kind("Account", "PermissionProfileChanged", "Web"),
    Kind("Account", "PermissionProfileAssigned", "Web"),
    Kind("Account", "AdministratorAdded", "Web", weight=0),
    Kind("Account", "GroupCreated", "Web"),
    Kind("Account", "GroupDeleted", "Web"),
    Kind("Account", "GroupMemberAdded", "Web"),
    Kind("Account", "GroupMemberRemoved", "Web"),
    Kind("Envelope", "Sent", "API", "", 8),
    Kind("Envelope", "Viewed", "Web", "", 6),
    Kind("Envelope", "Downloaded", "Web", "", 3),
    Kind("Envelope", "Voided", "API"),
    Kind("Envelope", "Deleted", "Web"),
    Kind("Envelope", "Purged", "System"),
    Kind("Document", "Downloaded", "API", "", 3),
    Kind("Template", "Created", "Web"),
    Kind("Template", "Modified", "Web"),
    Kind("Template", "Deleted", "Web"),
    Kind("Template", "Shared", "Web"),
    Kind("Account", "SettingChanged", "Web"),
    Kind("Organization", "SsoSettingsChanged", "Web", weight=0),
    Kind("Organization", "IpAllowListChanged", "Web", weight=0),
    Kind("Organization", "DomainAdded", "Web"),
    Kind("Account", "ConnectConfigurationChanged", "Web", weight=0),
    Kind("Integration", "IntegratorKeyCreated", "Web"),
)

ALERT_ACTIONS = ("IpAddressOutsideAllowedRanges", "TooManyLoginFailures", "CredentialLeakDetected")
SEVERITIES = ("Low", "Medium", "High")
_DOCUMENT_NAMES = ("Contrat de vente – Müller.pdf", "NDA 2026.pdf", "見積書.pdf", "Offer 💼.docx")
_TEMPLATE_NAMES = ("Offer letter", "Mutual NDA", "Kaufvertrag – Fahrzeug", "発注書")
_PROFILES = (
    ("14414475", "Account Administrator"),
    ("14414476", "DocuSign Sender"),
    ("14414477", "DocuSign Viewer"),
)
_GROUPS = ("Everyone", "Legal", "Sales – EMEA", "経理")
_BACKGROUND_PROFILES = _PROFILES[1:]  # an Administrator profile assigned is a finding
_SETTINGS = (  # property (the setting's name), old value, new value (the field)
    ("SessionTimeout", "20", "480"),
    ("allowSigningExtensions", "false", "true"),
    ("EnvelopeExpirationDays", "120", "90"),
    ("TwoFactorAuthentication", "Enabled", "Disabled"),
    ("IpAllowList", "10.0.0.0/8", "0.0.0.0/0"),
)
_BACKGROUND_SETTINGS = _SETTINGS[:3]  # 2FA off and any allow-list change are findings
_AFFECTING = {  # actions done to another user: data.AffectedUserId names them
    "UserAdded",
    "UserClosed",
    "UserDeleted",
    "PermissionProfileAssigned",
    "AdministratorAdded",
    "GroupMemberAdded",
    "GroupMemberRemoved",
    "AccountUnlocked",
    "PasswordReset",
}

# Placeholders replaced per event; chosen so they cannot occur in rendered JSON otherwise.
_TS, _ID = "@@ts@@", "@@id@@"


def render_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, the exact form events are served in."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def random_guid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng``, so ids repeat for a given seed."""
    n = rng.getrandbits(128)
    n = (n & ~(0xF << 76)) | (0x4 << 76)
    n = (n & ~(0xC << 60)) | (0x8 << 60)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def monitor_event(
    *,
    timestamp: str,
    event_id: str,
    account_id: str,
    organization_id: str,
    user_id: str,
    integrator_key: str,
    agent: str,
    client_info: Tuple[str, str, str, str, str],
    ip: str,
    place: Tuple[str, str, str, float, float],
    obj: str,
    action: str,
    prop: str,
    field: str,
    result: str,
    source: str,
    user_member: bool,
    referenced: str,
    referenced_member: bool,
    affected: str,
    affected_member: bool,
    data: Dict[str, Any],
) -> Dict[str, Any]:
    """One Monitor event with every SDK 2.x field, absent values as empty strings, in the order
    DocuSign sends them: the one layout the background and the attack scenarios share.
    ``client_info`` is (browser family, major, minor, device family, os family); ``place`` is
    (country, state, city, latitude, longitude), also repeated at the top level as DocuSign does."""
    browser, major, minor, device, os_family = client_info
    country, state, city, lat, lon = place
    return {
        "timestamp": timestamp,
        "eventId": event_id,
        "site": "DEMO",
        "accountId": account_id,
        "organizationId": organization_id,
        "userId": user_id,
        "integratorKey": integrator_key,
        "userAgent": agent,
        "userAgentClientInfo": {
            "browser": {"family": browser, "major": major, "minor": minor, "patch": ""},
            "device": {"family": device, "brand": "", "model": ""},
            "os": {"family": os_family, "major": "", "minor": "", "patch": "", "patchMinor": ""},
        },
        "ipAddress": ip,
        "ipAddressLocation": {
            "latitude": lat,
            "longitude": lon,
            "country": country,
            "state": state,
            "city": city,
        },
        "object": obj,
        "action": action,
        "property": prop,
        "field": field,
        "result": result,
        "source": source,
        "isUserMemberOfDomain": user_member,
        "referencedUserIsMemberOfDomain": referenced_member,
        "referencedUserId": referenced,
        "proxyStatus": "",
        "proxyType": "",
        "proxyLevel": "",
        "latitude": lat,
        "longitude": lon,
        "city": city,
        "state": state,
        "country": country,
        "device": device,
        "browser": browser,
        "os": os_family,
        "affectedUserId": affected,
        "affectedUserIsMemberOfDomain": affected_member,
        "data": data,
    }


@dataclass(frozen=True)
class _Template:
    """Event JSON split around its placeholders: ``parts[0] + v0 + parts[1] + v1 ...``."""

    parts: Tuple[bytes, ...]
    slots: Tuple[str, ...]

    @classmethod
    def of(cls, event: Dict[str, Any]) -> _Template:
        text = render_json(event)
        parts: List[bytes] = []
        slots: List[str] = []
        while True:
            hits = [(text.find(p.encode()), p) for p in (_TS, _ID)]
            hits = [h for h in hits if h[0] >= 0]
            if not hits:
                parts.append(text)
                return cls(tuple(parts), tuple(slots))
            at, placeholder = min(hits)
            end = at + len(placeholder)
            parts.append(text[:at])
            slots.append(placeholder)
            text = text[end:]


class EventFactory:
    """Deterministic stream of events for one seed; not thread-safe (the store serialises calls)."""

    def __init__(self, seed: int, account_id: str, organization_id: str, user_ids: Sequence[str]):
        self._rng = random.Random(f"events-{seed}")
        self._account_id = account_id
        self._organization_id = organization_id
        self._user_ids = list(user_ids)
        self._count = 0
        self._minutes: Dict[int, bytes] = {}
        self._large_phase = self._rng.randrange(_LARGE_EVERY)
        # The first templates are one of each background kind so that any backlog of a few
        # thousand events holds every one; the rest follow the weights.
        background = [k for k in KINDS if k.weight]
        kinds = background + self._rng.choices(
            background, weights=[k.weight for k in background], k=_TEMPLATE_POOL - len(background)
        )
        self._normal = [_Template.of(self._event(kind, background=True)) for kind in kinds]
        self._large = [_Template.of(self._large_event()) for _ in range(3)]

    def make(self, ingested_at: float) -> Tuple[str, bytes]:
        """The next event for ingestion at ``ingested_at`` (unix seconds): its id and JSON bytes."""
        rng = self._rng
        if self._count % _LARGE_EVERY == self._large_phase:
            template = self._large[self._count % len(self._large)]
        else:  # random() * n: randrange() costs three times as much, and a million calls add up
            template = self._normal[int(rng.random() * len(self._normal))]
        self._count += 1
        event_id = random_guid(rng)
        stamp = self._timestamp(
            ingested_at - rng.random() * _MAX_INGESTION_LAG_S,
            with_fraction=rng.random() >= _NO_FRACTION_SHARE,
        )
        parts, ordered = template.parts, template.slots == (_TS, _ID)
        first, second = (stamp, event_id.encode()) if ordered else (event_id.encode(), stamp)
        return event_id, b"".join((parts[0], first, parts[1], second, parts[2]))

    def event(
        self, obj: str, action: str, *, source: str = "Web", result: str = "", **fields: Any
    ) -> Dict[str, Any]:
        """A complete event of this kind (every SDK field, the kind's data, property and field),
        for scenarios to build on; ``fields`` replace top-level fields (``eventId``,
        ``timestamp``, ``userId``, ``ipAddress``, ``data``...). An alert gets empty ``EventIds``,
        ``Count`` "0" and ``Severity`` "Medium" unless ``data`` is given."""
        if obj == "Alert":
            event = self._alert(action, "Medium")
        else:
            event = self._event(Kind(obj, action, source, result))
        event.update(timestamp="", eventId="")
        event.update(fields)
        return event

    def _timestamp(self, unix_s: float, with_fraction: bool) -> bytes:
        """``2026-11-27T09:10:06.0512813Z`` (seven digits, as DocuSign) or ``...06Z`` (some)."""
        ticks = int(unix_s * 10_000_000)
        minute, rest = divmod(ticks, 600_000_000)
        head = self._minutes.get(minute)
        if head is None:  # strftime is the slow part, and events cluster within minutes
            if len(self._minutes) > 4096:
                self._minutes.clear()
            head = time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(minute * 60)).encode()
            self._minutes[minute] = head
        second, fraction = divmod(rest, 10_000_000)
        if with_fraction:
            return b"%s%02d.%07dZ" % (head, second, fraction)
        return b"%s%02dZ" % (head, second)

    # -- template shapes -------------------------------------------------------------------

    def _event(self, kind: Kind, background: bool = False) -> Dict[str, Any]:
        data, prop, field = self._details(kind, background)
        return self._envelope(kind.object, kind.action, kind.source, kind.result, data, prop, field)

    def _alert(self, action: str, severity: str) -> Dict[str, Any]:
        data = {"EventIds": [], "Count": "0", "Severity": severity}
        return self._envelope("Alert", action, "System", "", data)

    def _large_event(self) -> Dict[str, Any]:
        rng = self._rng
        rows = [
            {
                "UserId": random_guid(rng),
                "Email": f"user{rng.randrange(10**6)}@example.com",
                "UserName": rng.choice(("Anna Müller", "João Silva", "山田太郎", "Zoë 🌟 Brooks")),
                "PermissionProfileId": str(rng.randrange(10**8)),
            }
            for _ in range(rng.randint(150, 300))  # ~130 bytes each: 20 to 40 KB
        ]
        data = {"ImportId": random_guid(rng), "Users": rows, "Count": str(len(rows))}
        return self._envelope("Account", "BulkUsersImported", "API", "Success", data)

    def _details(self, kind: Kind, background: bool) -> Tuple[Dict[str, Any], str, str]:
        """``data``, ``property`` and ``field`` as DocuSign fills them for this kind; for the
        ``background``, only details that are not a finding."""
        rng, obj, action = self._rng, kind.object, kind.action
        data: Dict[str, Any] = {}
        prop = field = ""
        if action in _AFFECTING:
            data["AffectedUserId"] = random_guid(rng)
        if obj in ("Envelope", "Document"):
            data.update(EnvelopeId=random_guid(rng), DocumentName=rng.choice(_DOCUMENT_NAMES))
        elif obj == "Template":
            data.update(TemplateId=random_guid(rng), TemplateName=rng.choice(_TEMPLATE_NAMES))
        elif action in ("UserAdded", "UserClosed", "UserDeleted"):
            data.update(AffectedMembershipId=random_guid(rng))
            data.update(PermissionProfileId=str(rng.randrange(10**8)))
        elif action.startswith("PermissionProfile"):
            profile_id, profile_name = rng.choice(_BACKGROUND_PROFILES if background else _PROFILES)
            data.update(PermissionProfileId=profile_id, PermissionProfileName=profile_name)
        elif action.startswith("Group"):
            data.update(GroupId=str(rng.randrange(10**7)), GroupName=rng.choice(_GROUPS))
        elif action == "TwoFactorAuthenticationChanged":
            prop, field = "TwoFactorAuthentication", rng.choice(("Enabled", "Disabled"))
            if background:  # turned off is a finding; a user turning it on is an ordinary day
                field = "Enabled"
        elif action == "SettingChanged":
            prop, old, field = rng.choice(_BACKGROUND_SETTINGS if background else _SETTINGS)
            data.update(SettingName=prop, OldValue=old, NewValue=field)
        elif action == "AccountLocked":
            data.update(Reason="TooManyLoginFailures")
        elif action == "DomainAdded":
            data.update(DomainName=rng.choice(("example.com", "exemple.fr", "例え.jp")))
        elif action == "ConnectConfigurationChanged":
            data.update(ConnectId=str(rng.randrange(10**7)), Url="https://hooks.example.com/ds")
        elif action == "IntegratorKeyCreated":
            data.update(IntegratorKey=random_guid(rng))
        return data, prop, field

    def _envelope(
        self,
        obj: str,
        action: str,
        source: str,
        result: str,
        data: Dict[str, Any],
        prop: str = "",
        field: str = "",
    ) -> Dict[str, Any]:
        """Every SDK 2.x field, absent values as empty strings as DocuSign sends them."""
        rng = self._rng
        country, state, city, lat, lon = rng.choice(_LOCATIONS)
        agent, browser, os_family, device, major = rng.choice(_USER_AGENTS)
        affected = data.get("AffectedUserId", "")
        referenced = affected or (random_guid(rng) if obj == "Account" else "")
        octets = (rng.randint(11, 223), rng.randrange(256), rng.randrange(256), rng.randint(1, 254))
        ip = ".".join(map(str, octets))
        user_id = rng.choice(self._user_ids)
        integrator_key = rng.choice(("##DOCUSIGN_INTERNAL_NOT_USED##", random_guid(rng)))
        user_member = rng.random() < 0.7
        referenced_member = bool(referenced) and rng.random() < 0.5
        affected_member = bool(affected) and rng.random() < 0.5
        return monitor_event(
            timestamp=_TS, event_id=_ID, account_id=self._account_id,
            organization_id=self._organization_id, user_id=user_id,
            integrator_key=integrator_key, agent=agent,
            client_info=(browser, major, "0", device, os_family),
            ip=ip, place=(country, state, city, lat, lon),
            obj=obj, action=action, prop=prop, field=field, result=result, source=source,
            user_member=user_member, referenced=referenced, referenced_member=referenced_member,
            affected=affected, affected_member=affected_member, data=data,
        )  # fmt: skip
