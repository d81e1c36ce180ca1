"""The ECS and OCSF documents of fixed events, byte for byte against golden files.

A change to a mapping shows up here as a diff a reviewer reads. After an intended change:
``UPDATE_GOLDEN=1 python -m pytest tests/unit/test_formats_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from format_events import SAMPLE, every_kind

from docusign_input.formats import ecs, ocsf

GOLDEN = Path(__file__).parent.parent / "data" / "formats"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def _cases():
    events = {e["eventId"]: e for e in every_kind()}
    by_kind = {(e["object"], e["action"], e["source"], e["result"]): e for e in every_kind()}
    yield "sample-user-added", SAMPLE
    yield "login-failure-web", by_kind[("User", "Login", "Web", "Failure")]
    yield "group-member-added", by_kind[("Account", "GroupMemberAdded", "Web", "")]
    yield (
        "permission-profile-assigned",
        by_kind[("Account", "PermissionProfileAssigned", "Web", "")],
    )
    yield "setting-changed", by_kind[("Account", "SettingChanged", "Web", "")]
    yield "envelope-sent-api", by_kind[("Envelope", "Sent", "API", "")]
    yield "envelope-viewed-web", by_kind[("Envelope", "Viewed", "Web", "")]
    yield "alert-high", [e for e in events.values() if e["object"] == "Alert"][2]
    yield "2fa-disabled", events["2fa-Disabled"]


CASES = list(_cases())


@pytest.mark.parametrize("name,event", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("fmt,mapping", [("ecs", ecs.document), ("ocsf", ocsf.document)])
def test_document_matches_golden_file(name, event, fmt, mapping) -> None:
    text = json.dumps(mapping(event, now=lambda: NOW), ensure_ascii=False, indent=2) + "\n"
    path = GOLDEN / f"{name}.{fmt}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8")
