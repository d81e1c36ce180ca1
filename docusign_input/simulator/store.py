"""The ingestion log: events in ingestion order, retention, and the cursors that walk it.

Each event has a unique ingestion instant in .NET ticks (100 ns since 0001-01-01), the unit of the
cursors DocuSign hands out (``aa_637395998467230467_637395997844343970_195``). A cursor issued here
is ``aa_<position>_<check>_<count>``: ``position`` is the ingestion tick of the last event served,
``check`` ties the cursor to this simulator's seed (so a forged or foreign cursor is refused with
400), ``count`` is the page size, for looks only. Only the position decides where a page starts.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Dict, List, Tuple

from .events import EventFactory

__all__ = ["EventLog", "Page", "CursorError", "TICKS_AT_UNIX_EPOCH", "to_ticks"]

TICKS_AT_UNIX_EPOCH = 621_355_968_000_000_000
_TICKS_PER_S = 10_000_000
_DEFAULT_LOOKBACK_S = 7 * 86400  # DocuSign: empty cursor starts seven days back
_OPAQUE = re.compile(r"aa_(\d{1,20})_(\d{1,20})_(\d{1,10})\Z")
_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?\Z"
)


class CursorError(ValueError):
    """The cursor is neither one this simulator issued nor an ISO-8601 date-time."""


def to_ticks(unix_s: float) -> int:
    """Unix seconds to .NET ticks."""
    return TICKS_AT_UNIX_EPOCH + round(unix_s * _TICKS_PER_S)


@dataclass(frozen=True)
class Page:
    """One stream answer: the events' JSON bytes and the cursor to send next."""

    events: List[bytes]
    event_ids: List[str]
    end_cursor: str
    #: Position just before the page's first event, for the repeat_previous fault.
    start_index: int


class EventLog:
    """Thread-safe, append-mostly log of rendered events; per-event memory is its bytes only."""

    def __init__(
        self, factory: EventFactory, seed: int, retention_s: float, clock: Callable[[], float]
    ):
        self._factory = factory
        self._secret = hashlib.sha256(f"cursor-{seed}".encode()).digest()
        self._retention_s = retention_s
        self._clock = clock
        self._lock = threading.Lock()
        self._ticks: List[int] = []  # strictly increasing ingestion instants
        self._ids: List[str] = []
        self._payloads: List[bytes] = []
        self.ingested_total = 0

    # -- ingestion -----------------------------------------------------------------------

    def ingest(self, ingested_at: List[float]) -> List[str]:
        """Generate and log one event per ingestion instant; returns their eventIds."""
        with self._lock:
            made = [self._factory.make(t) for t in ingested_at]
            return self._log(ingested_at, made)

    def ingest_rendered(self, items: List[Tuple[float, str, bytes]]) -> List[str]:
        """Log events made elsewhere (a scenario): (ingestion instant, eventId, JSON bytes)."""
        with self._lock:
            return self._log([at for at, _, _ in items], [(i, p) for _, i, p in items])

    def _log(self, ingested_at: List[float], made: List[Tuple[str, bytes]]) -> List[str]:
        ticks = [to_ticks(t) for t in ingested_at]
        if ticks and self._ticks and min(ticks) <= self._ticks[-1]:
            self._merge(ticks, made)
        else:
            previous = self._ticks[-1] if self._ticks else -1
            for tick, (event_id, payload) in zip(ticks, made):
                previous = max(tick, previous + 1)  # same instant: 100 ns apart, in order
                self._ticks.append(previous)
                self._ids.append(event_id)
                self._payloads.append(payload)
        self.ingested_total += len(made)
        return [event_id for event_id, _ in made]

    def ingest_payload(self, payload: bytes, ingested_at: float) -> str:
        """Log one event given as its exact JSON bytes (an odd event a test needs: a huge one,
        an integer beyond 64 bits); returns its eventId."""
        import json

        event_id = str(json.loads(payload)["eventId"])
        with self._lock:
            tick = max(to_ticks(ingested_at), self._ticks[-1] + 1 if self._ticks else 0)
            self._ticks.append(tick)
            self._ids.append(event_id)
            self._payloads.append(payload)
            self.ingested_total += 1
        return event_id

    def _merge(self, ticks: List[int], made: List[Tuple[str, bytes]]) -> None:
        """Backdated ingestion lands in ingestion-time order; cursors already past it skip it."""
        rows = list(zip(self._ticks, self._ids, self._payloads))
        rows += [(t, i, p) for t, (i, p) in zip(ticks, made)]
        rows.sort(key=lambda row: row[0])  # stable: equal instants keep arrival order
        self._ticks, self._ids, self._payloads = [], [], []
        previous = -1
        for tick, event_id, payload in rows:
            previous = max(tick, previous + 1)
            self._ticks.append(previous)
            self._ids.append(event_id)
            self._payloads.append(payload)

    # -- reading -------------------------------------------------------------------------

    def event_ids(self) -> List[str]:
        with self._lock:
            return list(self._ids)

    def ingestion_times(self) -> Dict[str, float]:
        """Each eventId's ingestion instant in unix seconds (for delivery-lag measurements)."""
        with self._lock:
            return {
                event_id: (tick - TICKS_AT_UNIX_EPOCH) / _TICKS_PER_S
                for event_id, tick in zip(self._ids, self._ticks)
            }

    def retained_event_ids(self) -> List[str]:
        with self._lock:
            return self._ids[self._first_retained() :]

    def payloads(self) -> List[bytes]:
        with self._lock:
            return list(self._payloads)

    def event_bytes(self, event_id: str) -> bytes:
        with self._lock:
            return self._payloads[self._ids.index(event_id)]

    def __len__(self) -> int:
        return len(self._ids)

    def page(self, cursor: str | None, limit: int, back_up: int = 0) -> Page:
        """The page after ``cursor``; ``back_up`` > 0 starts that many events early (a fault)."""
        position, opaque = self._position(cursor or "")
        with self._lock:
            first = self._first_retained()
            start = max(bisect.bisect_right(self._ticks, position), first)
            start = max(start - back_up, first)
            end = min(start + limit, len(self._ticks))
            if start == end:
                end_cursor = cursor if opaque else self._cursor(position, 0)
                return Page([], [], end_cursor or "", start)
            return Page(
                self._payloads[start:end],
                self._ids[start:end],
                self._cursor(self._ticks[end - 1], end - start),
                start,
            )

    def _first_retained(self) -> int:
        cutoff = to_ticks(self._clock() - self._retention_s)
        return bisect.bisect_left(self._ticks, cutoff)

    # -- cursors -------------------------------------------------------------------------

    def _position(self, cursor: str) -> Tuple[int, bool]:
        """(ingestion tick already served up to, whether the cursor is an opaque one)."""
        if not cursor:
            return to_ticks(self._clock() - _DEFAULT_LOOKBACK_S) - 1, False
        match = _OPAQUE.match(cursor)
        if match:
            position = int(match.group(1))
            if int(match.group(2)) != self._check(position):
                raise CursorError(f"unknown cursor {cursor!r}")
            return position, True
        if _ISO.match(cursor):
            try:
                moment = datetime.fromisoformat(_normalise_iso(cursor))
            except ValueError as exc:
                raise CursorError(f"invalid date-time cursor {cursor!r}: {exc}") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return to_ticks(moment.timestamp()) - 1, False
        raise CursorError(f"malformed cursor {cursor!r}")

    def _cursor(self, position: int, count: int) -> str:
        return f"aa_{position}_{self._check(position)}_{count}"

    def _check(self, position: int) -> int:
        """A tick-like number a little below ``position`` that only this seed produces."""
        digest = hashlib.blake2b(b"%d" % position, key=self._secret, digest_size=8).digest()
        return position - int.from_bytes(digest, "big") % 10**10


def _normalise_iso(text: str) -> str:
    """Make DocuSign-style ISO text (``Z``, 7-digit fractions, ``+0000``) fit fromisoformat."""
    text = text.replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    offset = re.search(r"([+-])(\d{2}):?(\d{2})\Z", text) if "T" in text else None
    if offset:
        text = text[: offset.start()] + f"{offset.group(1)}{offset.group(2)}:{offset.group(3)}"
    fraction = re.search(r"\.(\d+)", text)
    if fraction:  # Python 3.9/3.10 accept exactly 3 or 6 digits
        digits = (fraction.group(1) + "000000")[:6]
        text = text[: fraction.start()] + "." + digits + text[fraction.end() :]
    return text
