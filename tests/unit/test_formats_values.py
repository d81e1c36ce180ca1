"""The fast checks both mappings rely on agree with the slow, obvious ones."""

from __future__ import annotations

import calendar
import ipaddress

import pytest

from docusign_input.formats.values import canonical_ip, epoch_ms
from docusign_input.timestamps import parse_event_time


@pytest.mark.parametrize(
    "value", ["162.248.186.11", "2001:db8::1", "2001:DB8:0:0:0:0:0:1", "::ffff:1.2.3.4", "0.0.0.0"]
)
def test_a_valid_address_is_kept_in_its_canonical_form(value) -> None:
    # inet_ntop's RFC 5952 text; Python's ipaddress writes ::ffff:1.2.3.4 as ::ffff:102:304
    assert ipaddress.ip_address(canonical_ip(value)) == ipaddress.ip_address(value)
    assert canonical_ip("2001:DB8:0:0:0:0:0:1") == "2001:db8::1"
    assert canonical_ip(value) == canonical_ip(value)  # the cached answer is the same


@pytest.mark.parametrize(
    "value", ["", "not-an-ip", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", None, 1234, "::g"]
)
def test_anything_else_is_no_address(value) -> None:
    assert canonical_ip(value) is None


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-11-27T09:10:06.0512813Z",
        "2026-11-27T09:10:06Z",
        "2026-11-27T09:10:59.9999999Z",
        "2026-11-27T09:10:06.5+01:00",
        "2024-02-29T23:59:59.0000001Z",
    ],
)
def test_epoch_ms_is_the_parsed_time_in_milliseconds_also_from_the_minute_cache(stamp) -> None:
    parsed = parse_event_time(stamp)
    expected = calendar.timegm(parsed.timetuple()) * 1000 + parsed.microsecond // 1000
    assert epoch_ms(stamp) == expected
    assert epoch_ms(stamp) == expected  # second read: the cached minute


@pytest.mark.parametrize(
    "stamp",
    [
        "yesterday",
        "",
        "2026-11-27T09:10:6Z",
        "2026-11-27T09:10:60Z",
        None,
        17,
        "2026-11-27T09:10:06.05x2813Z",
    ],
)
def test_epoch_ms_refuses_what_is_not_a_stamp(stamp) -> None:
    epoch_ms("2026-11-27T09:10:06Z")  # the minute is cached: the fast path must still refuse
    assert epoch_ms(stamp) is None
