"""What a Monitor event is, decided once for every schema: OCSF class and activity, ECS categories.

DocuSign says what happened in ``object``/``action`` (``User``/``Login``, ``Account``/
``GroupMemberAdded``), with ``source`` (``Web``, ``Mobile``, ``API``, ``System``) and, for some,
``field`` (the new value of a 2FA setting). Both the ECS and the OCSF mapping read their
classification from here, so the two always agree on what an event is. Unknown kinds still get a
class: Entity Management with an activity guessed from the verb, ECS ``configuration`` or ``iam``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Generic, Tuple, TypeVar

__all__ = ["Classification", "classify", "KNOWN", "PerKind"]

T = TypeVar("T")
KindKey = Tuple[str, str, str, str, str]  # object, action, source, field, result

# OCSF 1.8.0 class uids
DETECTION_FINDING = 2004
ACCOUNT_CHANGE = 3001
AUTHENTICATION = 3002
ENTITY_MANAGEMENT = 3004
USER_ACCESS = 3005
GROUP_MANAGEMENT = 3006
WEB_RESOURCES_ACTIVITY = 6001
API_ACTIVITY = 6003


@dataclass(frozen=True)
class Classification:
    """One kind of event in both schemas."""

    class_uid: int
    activity_id: int
    categories: Tuple[str, ...]  # ECS event.category
    types: Tuple[str, ...]  # ECS event.type
    kind: str = "event"  # ECS event.kind


_USER = ("iam",)
_CHANGE = ("user", "change")

# (object, action) -> OCSF class, activity, ECS categories and types. Values checked against the
# vendored schemas by the tests (every activity defined, every category/type pair allowed).
KNOWN: Dict[Tuple[str, str], Classification] = {
    ("User", "Login"): Classification(AUTHENTICATION, 1, ("authentication",), ("start",)),
    ("User", "Logout"): Classification(AUTHENTICATION, 2, ("authentication",), ("end",)),
    ("User", "AccountLocked"): Classification(ACCOUNT_CHANGE, 9, _USER, _CHANGE),
    ("User", "AccountUnlocked"): Classification(ACCOUNT_CHANGE, 12, _USER, _CHANGE),
    ("User", "PasswordChanged"): Classification(ACCOUNT_CHANGE, 3, _USER, _CHANGE),
    ("User", "PasswordReset"): Classification(ACCOUNT_CHANGE, 4, _USER, _CHANGE),
    # 10 MFA Factor Enable / 11 Disable by the new value in `field`; see classify()
    ("User", "TwoFactorAuthenticationChanged"): Classification(ACCOUNT_CHANGE, 99, _USER, _CHANGE),
    ("Account", "UserAdded"): Classification(ACCOUNT_CHANGE, 1, _USER, ("user", "creation")),
    ("Account", "UserClosed"): Classification(ACCOUNT_CHANGE, 5, _USER, _CHANGE),
    ("Account", "UserDeleted"): Classification(ACCOUNT_CHANGE, 6, _USER, ("user", "deletion")),
    ("Account", "PermissionProfileAssigned"): Classification(USER_ACCESS, 1, _USER, _CHANGE),
    ("Account", "AdministratorAdded"): Classification(
        USER_ACCESS, 1, _USER, ("user", "admin", "change")
    ),
    # A profile's own permissions changed: no user is granted anything, so not 3005.
    ("Account", "PermissionProfileChanged"): Classification(
        ENTITY_MANAGEMENT, 3, _USER, ("change",)
    ),
    ("Account", "GroupCreated"): Classification(GROUP_MANAGEMENT, 6, _USER, ("group", "creation")),
    ("Account", "GroupDeleted"): Classification(GROUP_MANAGEMENT, 5, _USER, ("group", "deletion")),
    ("Account", "GroupMemberAdded"): Classification(
        GROUP_MANAGEMENT, 3, _USER, ("group", "change")
    ),
    ("Account", "GroupMemberRemoved"): Classification(
        GROUP_MANAGEMENT, 4, _USER, ("group", "change")
    ),
    ("Alert", ""): Classification(
        DETECTION_FINDING, 1, ("intrusion_detection",), ("info",), "alert"
    ),
}

# Agreements (envelopes, documents, templates) from the web or DocuSign itself: OCSF 6001 and ECS
# "web" (which allows only access, error and info); through the API: OCSF 6003 and ECS "api".
# 6003 has no Export or Share activity: those are Other (99) there.
_AGREEMENT_ACTIONS: Dict[str, Tuple[int, str, int, str]] = {
    # action: (6001 activity, ECS type under "web", 6003 activity, ECS type under "api")
    "Created": (1, "info", 1, "creation"),
    "Sent": (8, "access", 99, "access"),
    "Shared": (8, "access", 99, "access"),
    "Viewed": (2, "access", 2, "access"),
    "Downloaded": (7, "access", 2, "access"),
    "Modified": (3, "info", 3, "change"),
    "Voided": (3, "info", 3, "change"),
    "Deleted": (4, "info", 4, "deletion"),
    "Purged": (4, "info", 4, "deletion"),
}
_AGREEMENT_OBJECTS = ("Envelope", "Document", "Template")

_CACHE: Dict[Tuple[str, str, str, str], Classification] = {}


def classify(obj: str, action: str, source: str, field: str) -> Classification:
    """The classification of one event; cached, since a page holds a few dozen kinds."""
    key = (obj, action, source, field)
    found = _CACHE.get(key)
    if found is None:
        found = _classify(obj, action, source, field)
        if len(_CACHE) < 4096:  # DocuSign may invent kinds; never grow without bound
            _CACHE[key] = found
    return found


def _classify(obj: str, action: str, source: str, field: str) -> Classification:
    if obj == "Alert":
        return KNOWN[("Alert", "")]
    known = KNOWN.get((obj, action))
    if known is not None:
        if action == "TwoFactorAuthenticationChanged":
            activity = {"enabled": 10, "disabled": 11}.get(field.lower(), 99)
            return Classification(known.class_uid, activity, known.categories, known.types)
        return known
    if obj in _AGREEMENT_OBJECTS:
        web, web_type, api, api_type = _AGREEMENT_ACTIONS.get(action, (99, "info", 99, "info"))
        if source == "API":
            return Classification(API_ACTIVITY, api, ("api",), (api_type,))
        return Classification(WEB_RESOURCES_ACTIVITY, web, ("web",), (web_type,))
    activity, ecs_type = _verb(action)
    if obj in ("User", "Account") and "User" in action:
        return Classification(ENTITY_MANAGEMENT, activity, ("iam",), ("user", ecs_type))
    return Classification(ENTITY_MANAGEMENT, activity, ("configuration",), (ecs_type,))


def _verb(action: str) -> Tuple[int, str]:
    """Entity Management activity and ECS event.type from the verb DocuSign ends actions with."""
    for ending, activity, ecs_type in (
        ("Created", 1, "creation"),
        ("Added", 1, "creation"),
        ("Imported", 1, "creation"),
        ("Changed", 3, "change"),
        ("Modified", 3, "change"),
        ("Updated", 3, "change"),
        ("Deleted", 4, "deletion"),
        ("Removed", 4, "deletion"),
        ("Enabled", 8, "change"),
        ("Disabled", 9, "change"),
    ):
        if action.endswith(ending):
            return activity, ecs_type
    return 99, "info"


class PerKind(Generic[T]):
    """What a mapping builds once per kind of event (object, action, source, field, result) and
    reuses for every event of that kind; bounded, since DocuSign may invent kinds."""

    LIMIT = 4096

    def __init__(self, build: Callable[[str, str, str, str, str], T]) -> None:
        self._build = build
        self._built: Dict[KindKey, T] = {}

    def get(self, obj: str, action: str, source: str, field: str, result: str) -> T:
        key = (obj, action, source, field, result)
        found = self._built.get(key)
        if found is None:
            found = self._build(*key)
            if len(self._built) >= self.LIMIT:
                self._built.clear()
            self._built[key] = found
        return found
