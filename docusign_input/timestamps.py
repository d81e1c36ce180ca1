"""Time parsing and formatting: DocuSign event stamps, cursors, and the user's "when" syntax.

Pure and stdlib only. ``parse_event_time`` runs once per event, so DocuSign's own shape
(``2023-03-03T09:10:06.0512813Z``: seven fractional digits and ``Z``) is parsed by slicing, without
a regular expression; Python 3.9's ``fromisoformat`` takes neither ``Z`` nor seven digits, so it is
not used at all. Everything else (offsets, other fraction lengths) goes through one regex.
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


def parse_event_time(text: str) -> datetime:
    """An aware UTC datetime from an ISO-8601 date-time; raises ValueError on anything else.

    Fractions beyond microseconds are truncated (DocuSign sends 100 ns ticks). A stamp without a
    zone is taken as UTC, since DocuSign writes only UTC.
    """
    # Fast path: exactly DocuSign's shape, with or without a fraction.
    if (
        len(text) >= 20
        and text[-1] == "Z"
        and text[10] == "T"
        and text[4] == text[7] == "-"
        and text[13] == text[16] == ":"
    ):
        try:
            fraction = text[20:-1] if text[19] == "." else ""
            if len(text) == 20 or (fraction and fraction.isdigit()):
                return datetime(
                    int(text[0:4]), int(text[5:7]), int(text[8:10]),
                    int(text[11:13]), int(text[14:16]), int(text[17:19]),
                    int(fraction[:6].ljust(6, "0")) if fraction else 0,
                    _UTC,
                )
        except ValueError:
            pass  # e.g. month 13, or a sign inside int(); the slow path gives the real answer
    return _parse_iso(text)


def _parse_iso(text: str) -> datetime:
    match = _ISO.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an ISO-8601 date-time")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    try:
        value = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, _UTC
        )
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date-time ({exc})") from None
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if offset >= timedelta(hours=24):
            raise ValueError(f"{text!r} has an impossible UTC offset")
        # The wall-clock fields were read as UTC; shift them by the offset they were given in.
        value = value - offset if sign == "+" else value + offset
    return value


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
            return _parse_iso(value)
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
