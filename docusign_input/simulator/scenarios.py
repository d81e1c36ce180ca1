"""Attack scenarios: short bursts of Monitor events that a detection should catch.

Each scenario is played over the simulator's background activity, by name, from
``docusign-input simulate --scenario NAME`` or from Python (:meth:`Simulator.play_scenario`). For
one seed and start instant a scenario always yields the same events: same eventIds, users, IP
addresses and timestamps. Event kinds are the ``(object, action, result)`` pairs of the shared
vocabulary, so the mapping code and the Sigma rules see exactly what the background uses.

Attackers come from the documentation ranges 198.51.100.0/24 and 203.0.113.0/24, which the
background never uses, so an attacker's address cannot collide with a normal user's.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Sequence, Tuple

from .events import monitor_event, random_guid

__all__ = ["Scenario", "SCENARIOS", "ScenarioEvent", "scenario_events", "is_finding"]

#: (seconds after the scenario's start, the event as DocuSign sends it)
ScenarioEvent = Tuple[float, Dict[str, Any]]

_ATTACKER_AGENT = "python-requests/2.31.0"
_BROWSER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36"
)
# (country, state, city, latitude, longitude): lower-case country names, as DocuSign sends them
_HOME = ("united states", "washington", "seattle", 47.6, -122.33)
# a cloud data centre in the account's home country: only ``new-country`` leaves it
_ATTACKER_PLACE = ("united states", "virginia", "ashburn", 39.04, -77.49)
_NEW_COUNTRY = ("nigeria", "lagos", "lagos", 6.45, 3.39)

#: Account settings whose change weakens sign-in protection (property of Account/SettingChanged).
SIGN_IN_SETTINGS = ("TwoFactorAuthentication", "IpAllowList", "SingleSignOn")


@dataclass(frozen=True)
class _Cast:
    """Who takes part: the simulated account, its users, and a seeded RNG for everything else."""

    account_id: str
    organization_id: str
    user_ids: Sequence[str]
    rng: random.Random

    def victim(self) -> str:
        """A user of the account other than the connector's own admin (the first id)."""
        others = self.user_ids[1:] or self.user_ids
        return self.rng.choice(list(others))

    def admin(self) -> str:
        return self.user_ids[0]

    def attacker_ip(self) -> str:
        return f"{self.rng.choice(('198.51.100', '203.0.113'))}.{self.rng.randint(1, 254)}"


@dataclass(frozen=True)
class Scenario:
    """A named attack: ``build`` returns its events as offsets from the start instant."""

    name: str
    summary: str
    build: Callable[[_Cast], List[ScenarioEvent]]


def _event(
    cast: _Cast,
    obj: str,
    action: str,
    *,
    user_id: str,
    ip: str,
    place: Tuple[str, str, str, float, float] = _HOME,
    result: str = "",
    source: str = "Web",
    agent: str = _BROWSER_AGENT,
    prop: str = "",
    field: str = "",
    affected: str = "",
    data: Dict[str, Any] | None = None,
) -> Dict[str, Any]:
    """Every SDK 2.x field, absent values as empty strings, in the order DocuSign sends them."""
    # The timestamp is filled in by scenario_events() once the start instant is known.
    return monitor_event(
        timestamp="", event_id=random_guid(cast.rng), account_id=cast.account_id,
        organization_id=cast.organization_id, user_id=user_id,
        integrator_key="##DOCUSIGN_INTERNAL_NOT_USED##", agent=agent,
        client_info=("Other", "", "", "Other", "Linux"), ip=ip, place=place,
        obj=obj, action=action, prop=prop, field=field, result=result, source=source,
        user_member=True, referenced=affected, referenced_member=bool(affected),
        affected=affected, affected_member=bool(affected), data=data or {},
    )  # fmt: skip


def _login(cast: _Cast, user_id: str, ip: str, result: str, **kw: Any) -> Dict[str, Any]:
    kw.setdefault("place", _ATTACKER_PLACE)
    kw.setdefault("agent", _ATTACKER_AGENT)
    return _event(cast, "User", "Login", user_id=user_id, ip=ip, result=result, **kw)


def _alert(cast: _Cast, action: str, user_id: str, refers_to: Sequence[str], severity: str):
    data = {"EventIds": list(refers_to), "Count": str(len(refers_to)), "Severity": severity}
    return _event(
        cast, "Alert", action, user_id=user_id, ip="", place=("", "", "", 0.0, 0.0),
        source="System", agent="", data=data,
    )  # fmt: skip


def _spread(n: int, seconds: float) -> List[float]:
    """``n`` offsets evenly over ``seconds``."""
    return [seconds * i / max(n - 1, 1) for i in range(n)]


# -- the scenarios ----------------------------------------------------------------------------


def _brute_force(cast: _Cast) -> List[ScenarioEvent]:
    victim, ip = cast.victim(), cast.attacker_ip()
    return [(t, _login(cast, victim, ip, "Failure")) for t in _spread(30, 180)]


def _password_spray(cast: _Cast) -> List[ScenarioEvent]:
    ip = cast.attacker_ip()
    targets = list(cast.user_ids[1:]) + [random_guid(cast.rng) for _ in range(15)]
    return [(t, _login(cast, user, ip, "Failure")) for t, user in zip(_spread(15, 300), targets)]


def _failures_then_success(cast: _Cast) -> List[ScenarioEvent]:
    victim, ip = cast.victim(), cast.attacker_ip()
    events = [(t, _login(cast, victim, ip, "Failure")) for t in _spread(6, 180)]
    return events + [(240.0, _login(cast, victim, ip, "Success"))]


def _new_country(cast: _Cast) -> List[ScenarioEvent]:
    victim = cast.victim()
    ip = cast.attacker_ip()
    return [(0.0, _login(cast, victim, ip, "Success", place=_NEW_COUNTRY, agent=_BROWSER_AGENT))]


def _credential_leak(cast: _Cast) -> List[ScenarioEvent]:
    victim = cast.victim()
    return [(0.0, _alert(cast, "CredentialLeakDetected", victim, [random_guid(cast.rng)], "High"))]


def _outside_ip_ranges(cast: _Cast) -> List[ScenarioEvent]:
    victim, ip = cast.victim(), cast.attacker_ip()
    login = _login(cast, victim, ip, "Failure")
    alert = _alert(cast, "IpAddressOutsideAllowedRanges", victim, [login["eventId"]], "Medium")
    return [(0.0, login), (20.0, alert)]


def _mass_download(cast: _Cast) -> List[ScenarioEvent]:
    user, ip = cast.victim(), cast.attacker_ip()
    events: List[ScenarioEvent] = []
    for i, t in enumerate(_spread(40, 300)):
        obj = "Envelope" if i % 2 == 0 else "Document"
        data = {"EnvelopeId": random_guid(cast.rng), "DocumentName": f"contract-{i:03d}.pdf"}
        event = _event(
            cast, obj, "Downloaded", user_id=user, ip=ip, source="API",
            agent=_ATTACKER_AGENT, place=_ATTACKER_PLACE, data=data,
        )  # fmt: skip
        events.append((t, event))
    return events


def _mass_deletion(cast: _Cast) -> List[ScenarioEvent]:
    user, ip = cast.victim(), cast.attacker_ip()
    actions = ["Voided"] * 15 + ["Deleted"] * 10
    events: List[ScenarioEvent] = []
    for t, action in zip(_spread(len(actions), 300), actions):
        data = {"EnvelopeId": random_guid(cast.rng), "VoidedReason": "no longer needed"}
        event = _event(
            cast, "Envelope", action, user_id=user, ip=ip, source="API",
            agent=_ATTACKER_AGENT, place=_ATTACKER_PLACE, data=data,
        )  # fmt: skip
        events.append((t, event))
    return events


def _admin_granted(cast: _Cast) -> List[ScenarioEvent]:
    actor, target, ip = cast.victim(), random_guid(cast.rng), cast.attacker_ip()
    data = {
        "AffectedUserId": target,
        "PermissionProfileId": "10001",
        "PermissionProfileName": "Account Administrator",
    }
    common = dict(user_id=actor, ip=ip, place=_ATTACKER_PLACE, affected=target)
    return [
        (0.0, _event(cast, "Account", "AdministratorAdded", data={"AffectedUserId": target},
                     **common)),  # type: ignore[arg-type]
        (5.0, _event(cast, "Account", "PermissionProfileAssigned", data=data,
                     **common)),  # type: ignore[arg-type]
    ]  # fmt: skip


def _mfa_disabled(cast: _Cast) -> List[ScenarioEvent]:
    actor, ip = cast.victim(), cast.attacker_ip()
    common = dict(user_id=actor, ip=ip, place=_ATTACKER_PLACE)
    return [
        (0.0, _event(cast, "User", "TwoFactorAuthenticationChanged", prop="TwoFactorAuthentication",
                     field="Disabled", affected=actor, **common)),  # type: ignore[arg-type]
        (30.0, _event(cast, "Account", "SettingChanged", prop="TwoFactorAuthentication",
                      field="Disabled", data={"OldValue": "Enabled", "NewValue": "Disabled"},
                      **common)),  # type: ignore[arg-type]
    ]  # fmt: skip


def _sign_in_policy_changed(cast: _Cast) -> List[ScenarioEvent]:
    actor, ip = cast.victim(), cast.attacker_ip()
    common = dict(user_id=actor, ip=ip, place=_ATTACKER_PLACE)
    return [
        (0.0, _event(cast, "Organization", "SsoSettingsChanged", prop="SingleSignOn",
                     field="Optional", **common)),  # type: ignore[arg-type]
        (20.0, _event(cast, "Organization", "IpAllowListChanged", prop="IpAllowList",
                      field="Disabled", **common)),  # type: ignore[arg-type]
        (40.0, _event(cast, "Account", "SettingChanged", prop="IpAllowList", field="Disabled",
                      data={"OldValue": "Enabled", "NewValue": "Disabled"},
                      **common)),  # type: ignore[arg-type]
    ]  # fmt: skip


def _connect_changed(cast: _Cast) -> List[ScenarioEvent]:
    actor, ip = cast.victim(), cast.attacker_ip()
    data = {
        "ConnectConfigurationId": str(cast.rng.randrange(10**7)),
        "UrlToPublishTo": "https://webhook.example.net/collect",
        "AllUsers": "true",
    }
    event = _event(
        cast, "Account", "ConnectConfigurationChanged", user_id=actor, ip=ip,
        place=_ATTACKER_PLACE, data=data,
    )  # fmt: skip
    return [(0.0, event)]


def _monitor_alert(cast: _Cast) -> List[ScenarioEvent]:
    victim = cast.victim()
    refers = [random_guid(cast.rng) for _ in range(5)]
    return [(0.0, _alert(cast, "TooManyLoginFailures", victim, refers, "Medium"))]


SCENARIOS: Dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("brute-force", "30 failed logins against one user from one IP in 3 minutes",
                 _brute_force),
        Scenario("password-spray", "one IP fails one login each for 15 users in 5 minutes",
                 _password_spray),
        Scenario("failures-then-success",
                 "6 failed logins, then a successful one, same user and IP, in 4 minutes",
                 _failures_then_success),
        Scenario("new-country", "a successful login from a country the account never sees "
                 "(nigeria)", _new_country),
        Scenario("credential-leak", "DocuSign's CredentialLeakDetected alert for one user",
                 _credential_leak),
        Scenario("outside-ip-ranges", "a login from outside the allowed IP ranges and "
                 "DocuSign's IpAddressOutsideAllowedRanges alert", _outside_ip_ranges),
        Scenario("mass-download", "one user downloads 40 envelopes and documents in 5 minutes",
                 _mass_download),
        Scenario("mass-deletion", "one user voids 15 and deletes 10 envelopes in 5 minutes",
                 _mass_deletion),
        Scenario("admin-granted", "a new administrator: AdministratorAdded and the Account "
                 "Administrator permission profile assigned", _admin_granted),
        Scenario("mfa-disabled", "two-factor authentication turned off for a user and for the "
                 "account", _mfa_disabled),
        Scenario("sign-in-policy-weakened", "SSO made optional and the IP allow-list turned off",
                 _sign_in_policy_changed),
        Scenario("connect-changed", "a Connect configuration now publishes every envelope to "
                 "an outside URL", _connect_changed),
        Scenario("monitor-alert", "DocuSign's TooManyLoginFailures alert (a Monitor alert with "
                 "no dedicated rule)", _monitor_alert),
    )
}  # fmt: skip


def scenario_events(
    name: str,
    *,
    seed: int,
    start_s: float,
    account_id: str,
    organization_id: str,
    user_ids: Sequence[str],
) -> List[Tuple[float, Dict[str, Any]]]:
    """The events of scenario ``name`` as (unix seconds, event), timestamps filled in.

    Raises KeyError naming the known scenarios for an unknown name.
    """
    try:
        scenario = SCENARIOS[name]
    except KeyError:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
    cast = _Cast(account_id, organization_id, list(user_ids), random.Random(f"{name}-{seed}"))
    out = []
    for offset, event in scenario.build(cast):
        at = start_s + offset
        event["timestamp"] = _timestamp(at)
        out.append((at, event))
    return out


def _timestamp(unix_s: float) -> str:
    """Seven fractional digits and ``Z``, as DocuSign writes them."""
    ticks = round(unix_s * 10_000_000)
    seconds, fraction = divmod(ticks, 10_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:07d}Z"


def is_finding(event: Dict[str, Any]) -> bool:
    """Whether one event is worth a look on its own, whatever happens around it.

    Alerts, new administrators, weakened sign-in protection and Connect changes: the single-event
    detections fire on any of them, so a day of *normal* activity is the background without them.
    """
    obj, action = event.get("object"), event.get("action")
    data = event.get("data") or {}
    if obj == "Alert":
        return True
    if action in (
        "AdministratorAdded",
        "ConnectConfigurationChanged",
        "SsoSettingsChanged",
        "IpAllowListChanged",
    ):
        return True
    if action == "PermissionProfileAssigned":
        return "Administrator" in str(data.get("PermissionProfileName", ""))
    prop = event.get("property")
    if action == "SettingChanged" and prop in ("IpAllowList", "SingleSignOn"):
        return True  # any change: a new range or SSO mode can open the door as well as close it
    if action in ("TwoFactorAuthenticationChanged", "SettingChanged"):
        return prop == "TwoFactorAuthentication" and event.get("field") == "Disabled"
    return False
