"""Time parsing and formatting: DocuSign stamps, the one UTC form, the "when" syntax."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from docusign_input.errors import ConfigError
from docusign_input.timestamps import (
    EARLIEST,
    format_time,
    parse_event_time,
    parse_when,
    validate_backfill,
)

UTC = timezone.utc
NOW = datetime(2026, 11, 28, 15, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-03-03T09:10:06.0512813Z", datetime(2023, 3, 3, 9, 10, 6, 51281, UTC)),
        ("2023-03-03T09:10:06Z", datetime(2023, 3, 3, 9, 10, 6, 0, UTC)),
        ("2023-03-03T09:10:06.5Z", datetime(2023, 3, 3, 9, 10, 6, 500000, UTC)),
        ("2023-03-03T09:10:06.123456Z", datetime(2023, 3, 3, 9, 10, 6, 123456, UTC)),
        ("2023-03-03T11:10:06.05+02:00", datetime(2023, 3, 3, 9, 10, 6, 50000, UTC)),
        ("2023-03-03T04:10:06-0500", datetime(2023, 3, 3, 9, 10, 6, 0, UTC)),
        ("2023-03-03T09:10:06+00:00", datetime(2023, 3, 3, 9, 10, 6, 0, UTC)),
        ("2023-03-03T09:10:06", datetime(2023, 3, 3, 9, 10, 6, 0, UTC)),
        ("2023-03-03t09:10:06z", datetime(2023, 3, 3, 9, 10, 6, 0, UTC)),
    ],
)
def test_parse_event_time_takes_docusign_forms_and_offsets(text: str, expected: datetime) -> None:
    """Seven digits + Z, no fraction, offsets: the same aware UTC instant (on Python 3.9 too)."""
    parsed = parse_event_time(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2023-13-03T09:10:06Z",
        "2023-03-03T25:10:06Z",
        "2023-03-03",
        "2023-03-03T09:10:06.Z",
        "2023-03-03T09:10:06.12a4Z",
        "2023-03-03T09:10:06+25:00",
    ],
)
def test_parse_event_time_rejects_junk_with_valueerror(text: str) -> None:
    with pytest.raises(ValueError):
        parse_event_time(text)


def test_format_time_is_utc_z_with_microseconds_only_when_nonzero() -> None:
    assert format_time(datetime(2026, 11, 28, 15, 0, 0, tzinfo=UTC)) == "2026-11-28T15:00:00Z"
    assert format_time(datetime(2026, 11, 28, 15, 0, 0, 123456, tzinfo=UTC)) == (
        "2026-11-28T15:00:00.123456Z"
    )
    plus_two = timezone(timedelta(hours=2))
    assert format_time(datetime(2026, 11, 28, 17, 0, 0, tzinfo=plus_two)) == "2026-11-28T15:00:00Z"


def test_format_and_parse_round_trip() -> None:
    value = datetime(2026, 1, 2, 3, 4, 5, 60, tzinfo=UTC)
    assert parse_event_time(format_time(value)) == value


def test_formatted_times_sort_as_instants_within_one_precision() -> None:
    stamps = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=n * 37) for n in range(50)]
    assert sorted(format_time(s) for s in stamps if s.microsecond) == [
        format_time(s) for s in stamps if s.microsecond
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("2026-11-20T08:00:00Z", datetime(2026, 11, 20, 8, tzinfo=UTC)),
        ("2026-11-20T10:00:00+02:00", datetime(2026, 11, 20, 8, tzinfo=UTC)),
        ("90m", NOW - timedelta(minutes=90)),
        ("36h", NOW - timedelta(hours=36)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(weeks=2)),
        ("30s", NOW - timedelta(seconds=30)),
        ("1.5h", NOW - timedelta(minutes=90)),
        (" 36H ", NOW - timedelta(hours=36)),
        ("now", NOW),
    ],
)
def test_parse_when_resolves_dates_datetimes_and_durations(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW) == expected


def test_parse_when_earliest_is_a_marker_for_an_empty_cursor() -> None:
    assert parse_when("earliest", NOW) == EARLIEST
    assert parse_when("EARLIEST", NOW) == EARLIEST


@pytest.mark.parametrize("text", ["", "soon", "7 days", "-7d", "2026/11/20", "7y"])
def test_parse_when_rejects_junk_with_a_message_listing_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="earliest"):
        parse_when(text, NOW)


def test_parse_when_rejects_impossible_dates() -> None:
    with pytest.raises(ValueError, match="not a valid date"):
        parse_when("2026-02-30", NOW)


def test_validate_backfill_future_is_config_error_naming_the_setting() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_backfill("2026-12-01", NOW, setting="--backfill-start")
    assert caught.value.exit_code == 78
    assert "--backfill-start" in caught.value.line()
    assert "future" in caught.value.line()
    assert "\n" not in caught.value.line()


def test_validate_backfill_junk_is_config_error() -> None:
    with pytest.raises(ConfigError, match="DOCUSIGN_BACKFILL_START"):
        validate_backfill("last tuesday", NOW)


def test_validate_backfill_older_than_seven_days_warns() -> None:
    warning = validate_backfill("10d", NOW)
    assert warning is not None and "seven days" in warning
    assert validate_backfill("6d", NOW) is None
    assert validate_backfill("earliest", NOW) is None


@pytest.mark.parametrize(
    ("zulu", "offset"),
    [
        ("1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.5+00:00"),
        ("1970-01-01T00:00:00.5Z", "1970-01-01T01:00:00.5+01:00"),
        ("2026-11-28T12:00:00.0512813Z", "2026-11-28T13:00:00.0512813+01:00"),
    ],
)
def test_one_instant_has_one_event_time_however_its_zone_is_written(zulu, offset):
    """The forward output read stamps its own way: 23:59:59.5+00:00 in 1969 came out one second
    late (truncated towards zero) while the same instant with Z fell back to now."""
    from docusign_input.formats.values import epoch_ms
    from docusign_input.forward import event_time
    from docusign_input.timestamps import epoch_ns

    assert epoch_ns(zulu) == epoch_ns(offset)
    assert epoch_ms(zulu) == epoch_ms(offset)
    now = 1_800_000_000 * 10**9 + 7
    assert event_time({"timestamp": zulu}, lambda: now) == event_time(
        {"timestamp": offset}, lambda: now
    )


def test_a_time_before_1970_is_floored_not_truncated():
    from docusign_input.timestamps import epoch_ns

    assert epoch_ns("1969-12-31T23:59:59.5+00:00") == (-1, 500_000_000)
    assert parse_event_time("1969-12-31T23:59:59.5+00:00") == datetime(
        1969, 12, 31, 23, 59, 59, 500000, UTC
    )
