"""Time parsing and formatting: DocuSign event stamps, cursors, and the user's "when" syntax.

Pure and stdlib only. The only reader of DocuSign's stamps (`epoch_ns`): it runs once per event,
so DocuSign's own shape (``2023-03-03T09:10:06.0512813Z``: seven fractional digits and ``Z``) is
read by slicing against a cached minute, without a regular expression; Python 3.9's
``fromisoformat`` takes neither ``Z`` nor seven digits, so it is not used at all. Everything else
(offsets, other fraction lengths) goes through one regex.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Union

from .errors import ConfigError

__all__ = [
    "EARLIEST",
    "RETENTION",
    "WhenResult",
    "parse_event_time",
    "epoch_ns",
    "format_time",
    "parse_when",
    "validate_backfill",
    "parse_duration_s",
]

#: The ``parse_when`` answer meaning "send an empty cursor": DocuSign then starts seven days back.
EARLIEST = "earliest"

#: How far back DocuSign's stream keeps events (its default start is seven days back).
RETENTION = timedelta(days=7)

#: A resolved "when": an aware UTC datetime, or ``EARLIEST``.
WhenResult = Union[datetime, str]

_UTC = timezone.utc

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?\Z"
)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})\Z")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])\Z", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

_WHEN_FORMS = (
    "use a date (2026-11-20, midnight UTC), a date-time (2026-11-20T08:00:00Z or with an offset "
    "such as +02:00), a duration back from now (90m, 36h, 7d, 2w), or 'earliest'"
)


def epoch_ns(text: str) -> tuple[int, int]:
    """(seconds since the epoch, nanoseconds) of an ISO-8601 date-time; ValueError otherwise.

    The one reader of DocuSign's stamps: `parse_event_time`, the formats' epoch milliseconds, the
    forward output's EventTime and the engine's order all come from here, so an instant has one
    value however it is written (``...59.5Z`` and ``...59.5+00:00`` alike). The seconds are the
    floor: ``1969-12-31T23:59:59.5Z`` is (-1, 500000000). Fractions beyond nanoseconds are cut; a
    stamp without a zone is UTC (DocuSign writes only UTC).
    """
    # Fast path, per event: DocuSign's shape, read by slicing against the cached minute.
    if text[-1:] == "Z" and len(text) >= 20:
        minute = _minutes.get(text[:16])  # only valid minutes ("2026-11-27T09:10") are cached
        if minute is None:
            minute = _minute_s(text)
        second = text[16:19]  # ":06"
        if minute is not None and second[0] == ":" and second < ":60" and second[1:].isdigit():
            if len(text) == 28 and text[19] == "." and text[20:27].isdigit():  # DocuSign's 100 ns
                return minute + int(second[1:]), int(text[20:27]) * 100
            if len(text) == 20:
                return minute + int(second[1:]), 0
            fraction = text[20:-1]
            if text[19] == "." and fraction.isdigit():
                return minute + int(second[1:]), int(fraction[:9].ljust(9, "0"))
    return _parse_iso(text)


def parse_event_time(text: str) -> datetime:
    """An aware UTC datetime from an ISO-8601 date-time (microseconds; see `epoch_ns`); raises
    ValueError on anything else."""
    seconds, nanos = epoch_ns(text)
    return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)


#: "2026-11-27T09:10" -> epoch seconds of that minute (events cluster in minutes); bounded.
_minutes: dict[str, int] = {}
_CACHE_LIMIT = 65536
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_SECOND = timedelta(seconds=1)


def _minute_s(text: str) -> int | None:
    """Epoch seconds of the stamp's minute, cached; None when the head is not a valid minute."""
    head = text[:16]
    if not (head[4] == head[7] == "-" and head[10] == "T" and head[13] == ":" and head.isascii()):
        return None
    digits = head[0:4] + head[5:7] + head[8:10] + head[11:13] + head[14:16]
    if not digits.isdigit():
        return None
    try:
        when = datetime(int(head[0:4]), int(head[5:7]), int(head[8:10]), int(head[11:13]),
                        int(head[14:16]), tzinfo=_UTC)
    except ValueError:
        return None
    minute = (when - _EPOCH) // _SECOND
    if len(_minutes) >= _CACHE_LIMIT:
        _minutes.clear()
    _minutes[head] = minute
    return minute


def _parse_iso(text: str) -> tuple[int, int]:
    match = _ISO.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an ISO-8601 date-time")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    nanos = int(fraction[:9].ljust(9, "0")) if fraction else 0
    try:
        value = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), 0, _UTC
        )
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date-time ({exc})") from None
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if offset >= timedelta(hours=24):
            raise ValueError(f"{text!r} has an impossible UTC offset")
        # The wall-clock fields were read as UTC; shift them by the offset they were given in.
        value = value - offset if sign == "+" else value + offset
    return (value - _EPOCH) // _SECOND, nanos


def format_time(value: datetime) -> str:
    """``2026-11-28T15:00:00.123456Z``, or ``2026-11-28T15:00:00Z`` when the fraction is zero.

    The one textual form for cursors, the checkpoint and logs: always UTC with ``Z``, which is what
    DocuSign's stream accepts as a time cursor. Naive datetimes are taken as UTC.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    else:
        value = value.astimezone(_UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    # strftime pads years below 1000 inconsistently across platforms; such years never occur here.
    return text + "Z"


def parse_duration_s(text: str) -> float:
    """Seconds from ``90``, ``7.5``, ``90s``, ``5m``, ``2h``, ``1d``; ValueError on anything else.

    The one syntax for every duration setting (``--poll-interval``, ``status --max-lag``); the
    sign and range are the caller's to judge.
    """
    value = text.strip()
    duration = _DURATION.match(value)
    if duration is not None:
        seconds = float(duration.group(1)) * _UNIT_S[duration.group(2).lower()]
    else:
        seconds = float(value)  # ValueError for junk
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ValueError(f"{text!r} is not a finite duration")
    return seconds


def parse_when(text: str, now: datetime) -> WhenResult:
    """Resolve Backfill Start Time / ``checkpoint reset --to`` syntax against ``now``.

    Returns an aware UTC datetime, or ``EARLIEST``. ``now`` is also accepted (the current time).
    Raises ValueError with a message a user can act on; whether the time is acceptable (future,
    too old) is the caller's decision, see ``validate_backfill``.
    """
    value = text.strip()
    lowered = value.lower()
    if not value:
        raise ValueError(f"the value is empty; {_WHEN_FORMS}")
    if lowered == EARLIEST:
        return EARLIEST
    if lowered == "now":
        return now.astimezone(_UTC)
    duration = _DURATION.match(value)
    if duration is not None:
        amount, unit = float(duration.group(1)), duration.group(2).lower()
        try:
            return now.astimezone(_UTC) - timedelta(seconds=amount * _UNIT_S[unit])
        except OverflowError:
            raise ValueError(f"{text!r} reaches too far back; {_WHEN_FORMS}") from None
    date = _DATE.match(value)
    if date is not None:
        try:
            return datetime(int(date[1]), int(date[2]), int(date[3]), tzinfo=_UTC)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a valid date ({exc})") from None
    if value[:1].isdigit() and "-" in value:
        try:
            return parse_event_time(value)
        except ValueError as exc:
            raise ValueError(f"{exc}; {_WHEN_FORMS}") from None
    raise ValueError(f"{text!r} is not a time; {_WHEN_FORMS}")


def validate_backfill(
    text: str, now: datetime, *, setting: str = "DOCUSIGN_BACKFILL_START"
) -> str | None:
    """Check a Backfill Start Time; returns a warning when DocuSign may no longer hold it.

    ``setting`` names the setting the way the user gave it (``--backfill-start``,
    ``DOCUSIGN_BACKFILL_START`` or the config file key), so the one-line error points at it.
    Raises ConfigError (exit 78) for junk and for a time in the future.
    """
    try:
        when = parse_when(text, now)
    except ValueError as exc:
        raise ConfigError(f"{setting} {text!r} is not understood: {exc}") from None
    if when == EARLIEST or not isinstance(when, datetime):
        return None
    if when > now.astimezone(_UTC):
        raise ConfigError(
            f"{setting} {text!r} ({format_time(when)}) is in the future",
            f"give a past time, a duration back from now such as 36h, or unset {setting} to "
            "start from now",
        )
    if now - when > RETENTION:
        return (
            f"{setting} {format_time(when)} is more than {RETENTION.days} days back: DocuSign "
            "keeps about seven days of events, so the earliest ones may no longer be available"
        )
    return None
