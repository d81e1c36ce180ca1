"""The strictly typed values both mappings check: IP addresses and event stamps, fast.

A schema rejects what is not an IP or a date (Elasticsearch drops the whole document for one bad
``ip``), so each is checked per event; these checks run a million times in a backfill, so they
lean on caches of what repeats (addresses, and the minute of a stamp: events cluster in
minutes). ``ipaddress`` rather than ``socket.inet_pton``: this module is pure and imports no
module that does I/O (tests/unit/test_architecture.py); the cache keeps the cost per address.
Caches are bounded: cleared when full, never grown forever.
"""

from __future__ import annotations

import calendar
import ipaddress
from typing import Any, Dict

from ..timestamps import parse_event_time

__all__ = ["canonical_ip", "epoch_ms"]

_CACHE_LIMIT = 65536
_ips: Dict[str, str | None] = {}
_minutes: Dict[str, int] = {}  # "2026-11-27T09:10" -> epoch milliseconds of that minute


def canonical_ip(value: Any) -> str | None:
    """The address in its canonical text form, or None when ``value`` is not an IPv4/IPv6
    address (``""``, ``not-an-ip``, ``01.2.3.4``, a number)."""
    if type(value) is not str or not value:
        return None
    found = _ips.get(value, "")
    if found != "":
        return found
    result: str | None = None
    if "%" not in value and value.isascii():  # no IPv6 zone (inet_pton never took one)
        try:
            address = ipaddress.ip_address(value)
            mapped = getattr(address, "ipv4_mapped", None)
            # inet_ntop's form for an IPv4-mapped address (and Python 3.13's): ::ffff:1.2.3.4
            result = f"::ffff:{mapped}" if mapped else str(address)
        except ValueError:
            result = None
    if len(_ips) >= _CACHE_LIMIT:
        _ips.clear()
    _ips[value] = result
    return result


def epoch_ms(value: Any) -> int | None:
    """Milliseconds since the epoch of a DocuSign stamp, None when it is not one.

    DocuSign's shape (``2026-11-27T09:10:06.0512813Z`` or ``...06Z``) is read by slicing against
    the cached minute; any other ISO-8601 form goes through ``timestamps.parse_event_time``."""
    if type(value) is not str:
        return None
    size = len(value)
    if (size == 28 or size == 20) and value[-1] == "Z":
        minute = _minutes.get(value[:16])
        seconds = value[17:19]
        if minute is not None and value[16] == ":" and seconds.isdecimal() and seconds < "60":
            if size == 20:
                return minute + int(seconds) * 1000
            fraction = value[20:27]
            if value[19] == "." and fraction.isdecimal():
                return minute + int(seconds) * 1000 + int(fraction[:3])
    try:
        stamp = parse_event_time(value)
    except ValueError:
        return None
    if (size == 28 or size == 20) and value[-1] == "Z" and value[10] == "T":
        if len(_minutes) >= _CACHE_LIMIT:
            _minutes.clear()
        _minutes[value[:16]] = calendar.timegm(stamp.replace(second=0).timetuple()) * 1000
    return int(calendar.timegm(stamp.timetuple())) * 1000 + stamp.microsecond // 1000
