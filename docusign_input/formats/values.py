"""The strictly typed values both mappings check: IP addresses and event stamps, fast (stamps
are read by `timestamps.epoch_ns`, which caches their minute).

A schema rejects what is not an IP or a date (Elasticsearch drops the whole document for one bad
``ip``), so each is checked per event; these checks run a million times in a backfill, so they
lean on caches of what repeats (addresses; the minute of a stamp, in `timestamps`).
``ipaddress`` rather than ``socket.inet_pton``: this module is pure and imports no module that
does I/O (tests/unit/test_architecture.py); the cache keeps the cost per address.
Caches are bounded: cleared when full, never grown forever.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Dict

from ..timestamps import epoch_ns

__all__ = ["canonical_ip", "epoch_ms"]

_CACHE_LIMIT = 65536
_ips: Dict[str, str | None] = {}


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
    """Milliseconds since the epoch of a DocuSign stamp (`timestamps.epoch_ns`, the one reader),
    None when it is not one."""
    if type(value) is not str:
        return None
    try:
        seconds, nanos = epoch_ns(value)
    except ValueError:
        return None
    return seconds * 1000 + nanos // 1_000_000
