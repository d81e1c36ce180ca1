"""The Splunk add-on (splunk/TA-docusign-monitor) gives every CIM data model it claims the fields
and tags that model requires, for events of each kind, checked against the vendored CIM
definitions; and its timestamp settings read all seven fractional digits."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from format_events import every_kind
from splunk_addon import AddOn, datasets_matched, eval_expression, read_conf

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "splunk" / "TA-docusign-monitor"
CIM = json.loads((REPO / "tests/data/schemas/splunk-cim/cim_required.json").read_text())
ADDON = AddOn(ROOT)

AUTHENTICATION = {("User", "Login")}
ACCOUNT_MANAGEMENT = {
    ("User", a)
    for a in (
        "AccountLocked",
        "AccountUnlocked",
        "PasswordChanged",
        "PasswordReset",
        "TwoFactorAuthenticationChanged",
    )
} | {
    ("Account", a)
    for a in (
        "UserAdded",
        "UserClosed",
        "UserDeleted",
        "PermissionProfileAssigned",
        "AdministratorAdded",
        "GroupMemberAdded",
        "GroupMemberRemoved",
    )
}
CONFIGURATION = {
    ("Account", "SettingChanged"),
    ("Account", "PermissionProfileChanged"),
    ("Account", "ConnectConfigurationChanged"),
    ("Account", "GroupCreated"),
    ("Account", "GroupDeleted"),
    ("Organization", "SsoSettingsChanged"),
    ("Organization", "IpAllowListChanged"),
    ("Organization", "DomainAdded"),
    ("Integration", "IntegratorKeyCreated"),
}
EVENTS = every_kind()


def _claimed(kind):
    if kind in AUTHENTICATION:
        return "Authentication/Authentication"
    if kind in ACCOUNT_MANAGEMENT:
        return "Change/Account_Management"
    if kind in CONFIGURATION:
        return "Change/All_Changes"
    if kind[0] == "Alert":
        return "Alerts/Alerts"
    return None


def _problems(dataset, fields):
    """Required and conditional fields of the dataset and its parents, present and valid."""
    problems = []
    name = dataset
    while name:
        spec = CIM[name]
        for field, rule in spec["fields"].items():
            needed = rule["type"] == "required" or (
                rule["type"] == "conditional" and _condition(rule["condition"], fields)
            )
            if not needed:
                continue
            value = fields.get(field)
            if value in (None, "", []):
                problems.append(f"{name}: {field} missing")
                continue
            expected = rule.get("expected_values")
            if expected and value not in expected:
                problems.append(f"{name}: {field}={value!r} not in {expected}")
            if rule.get("validity") and eval_expression(rule["validity"], fields) is None:
                problems.append(f"{name}: {field}={value!r} fails {rule['validity']}")
        name = spec.get("parent")
    return problems


def _condition(condition, fields):
    from splunk_addon import search_matches

    return search_matches(condition, fields)


@pytest.mark.parametrize(
    "event", EVENTS, ids=[f"{e['object']}.{e['action']}:{e['eventId']}" for e in EVENTS]
)
def test_each_event_lands_in_the_data_model_claimed_for_it_with_its_required_fields(event):
    kind = (event["object"], event["action"])
    fields = ADDON.fields(event)
    matched = set(datasets_matched(CIM, fields))
    claimed = _claimed(kind)
    if claimed is None:  # agreements (envelopes, templates) and logouts: no CIM model
        assert not {
            d for d in matched if d.split("/")[0] in ("Authentication", "Change", "Alerts")
        }, matched
        return
    assert claimed in matched, (fields["tag"], fields.get("eventtype"))
    for dataset in matched:
        assert _problems(dataset, fields) == [], dataset


def test_login_outcomes_fall_in_successful_and_failed_authentication():
    for event in EVENTS:
        if event["action"] == "Login":
            fields = ADDON.fields(event)
            matched = set(datasets_matched(CIM, fields))
            child = {"Success": "Successful_Authentication", "Failure": "Failed_Authentication"}[
                event["result"]
            ]
            assert f"Authentication/{child}" in matched
            assert fields["user"] == event["userId"] and fields["src"] == event["ipAddress"]
            assert fields["docusign_action"] == "Login"  # DocuSign's own value kept


def test_account_lifecycle_falls_in_created_deleted_and_lockout_datasets():
    by_action = {e["action"]: ADDON.fields(e) for e in EVENTS}
    assert "Change/Accounts_Created" in set(datasets_matched(CIM, by_action["UserAdded"]))
    assert "Change/Accounts_Deleted" in set(datasets_matched(CIM, by_action["UserDeleted"]))
    locked = by_action["AccountLocked"]
    assert "Change/Account_Lockouts" in set(datasets_matched(CIM, locked))
    assigned = by_action["PermissionProfileAssigned"]
    assert assigned["object_category"] == "user" and assigned["src_user"] != assigned["user"]


def test_alert_severities_are_cims():
    for event in EVENTS:
        if event["object"] == "Alert":
            fields = ADDON.fields(event)
            assert fields["severity"] == event["data"]["Severity"].lower()
            assert fields["id"] == event["eventId"] and fields["type"] == "alert"


def _strptime_regex(time_format: str) -> str:
    """Splunk's TIME_FORMAT conversions the add-on uses, as a regex."""
    table = {
        "%Y": r"(?P<Y>\d{4})",
        "%m": r"(?P<m>\d\d)",
        "%d": r"(?P<d>\d\d)",
        "%H": r"(?P<H>\d\d)",
        "%M": r"(?P<M>\d\d)",
        "%S": r"(?P<S>\d\d)",
        "%7N": r"(?P<N>\d{7})",
        "%Z": r"(?P<Z>Z|UTC|[A-Z]{3,4})",
    }
    out, pos = "", 0
    while pos < len(time_format):
        for spec, regex in table.items():
            if time_format.startswith(spec, pos):
                out, pos = out + regex, pos + len(spec)
                break
        else:
            assert time_format[pos] != "%", f"unknown conversion at {time_format[pos:]}"
            out, pos = out + re.escape(time_format[pos]), pos + 1
    return out


def test_timestamp_settings_read_all_seven_fraction_digits():
    props = read_conf(ROOT / "default" / "props.conf")["docusign:monitor"]
    line = json.dumps(EVENTS[0], separators=(",", ":"), ensure_ascii=False)
    prefix = props["TIME_PREFIX"]
    at = re.search(prefix.replace('"', '"'), line)
    assert at, "TIME_PREFIX does not find the timestamp"
    window = line[at.end() : at.end() + int(props["MAX_TIMESTAMP_LOOKAHEAD"])]
    match = re.match(_strptime_regex(props["TIME_FORMAT"]), window)
    assert match, window
    parts = match.groupdict()
    seconds = datetime(
        int(parts["Y"]),
        int(parts["m"]),
        int(parts["d"]),
        int(parts["H"]),
        int(parts["M"]),
        int(parts["S"]),
        tzinfo=timezone.utc,
    ).timestamp()
    ticks = int(seconds) * 10**7 + int(parts["N"])
    stamp = EVENTS[0]["timestamp"]
    assert parts["N"] == stamp[20:27] and ticks % 10**7 == int(stamp[20:27])
    assert props["KV_MODE"] == "json" and props["SHOULD_LINEMERGE"] == "false"
