"""What the ECS and OCSF mappings read the same way: text, versions, places, and bounded caches.

Both mappings used to keep their own copies of these readers, and the copies drifted: ECS took
five keys of ``ipAddressLocation`` and dropped the rest, OCSF built an OS version without
``patchMinor``. Here each DocuSign structure is read once; a mapping only renames what was read,
and whatever a reader did not take is handed back (``left``) to be kept under the mapping's own
place for DocuSign's fields, so nothing DocuSign sent is dropped.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generic, Hashable, Mapping, Tuple, TypeVar

from .countries import iso_code

__all__ = [
    "NO_VALUE",
    "LOCATION_COPIES",
    "Place",
    "BoundedCache",
    "text",
    "coordinate",
    "version",
    "version_keys",
    "value_key",
    "read_place",
]

#: DocuSign's "absent": an empty string, None, or ua-parser's "Other" (not recognised).
NO_VALUE = ("", "Other", None)

#: DocuSign repeats some values of ``ipAddressLocation`` at the top level (``latitude``,
#: ``city``...): a copy equal to the value mapped says nothing more. (top-level key, inner key)
LOCATION_COPIES: Tuple[Tuple[str, str], ...] = (
    ("latitude", "latitude"),
    ("longitude", "longitude"),
    ("city", "city"),
    ("state", "state"),
    ("country", "country"),
)

#: The parts of a ua-parser version, in order.
VERSION_PARTS = ("major", "minor", "patch", "patchMinor")

CACHE_LIMIT = 4096  # kinds, places, systems and user agents repeat; bound each cache all the same

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def text(value: Any) -> str:
    """A value as text: a string as is, None as ``""``, anything else through ``str``."""
    return value if isinstance(value, str) else "" if value is None else str(value)


def coordinate(value: Any, limit: float) -> bool:
    """A latitude (limit 90) or longitude (180) a schema accepts: a number, not a bool."""
    return (
        isinstance(value, (int, float)) and not isinstance(value, bool) and -limit <= value <= limit
    )


def version(parts: Mapping[str, Any]) -> str:
    """``major.minor.patch[.patchMinor]`` of a parsed browser or OS, up to the first empty part."""
    out = []
    for key in VERSION_PARTS:
        value = text(parts.get(key))
        if not value:
            break
        out.append(value)
    return ".".join(out)


def version_keys(parts: Mapping[str, Any]) -> Tuple[str, ...]:
    """The keys `version` took: the parts up to the first empty one (the rest is kept)."""
    taken = []
    for key in VERSION_PARTS:
        if not text(parts.get(key)):
            break
        taken.append(key)
    return tuple(taken)


def value_key(mapping: Mapping[str, Any]) -> Tuple[Any, ...]:
    """A cache key for a flat mapping of DocuSign values (unhashable when a value is: the cache
    then computes without storing). The types are in the key: True == 1 == 1.0 as values, not as
    coordinates or text."""
    return tuple(mapping.items()) + tuple(map(type, mapping.values()))


class BoundedCache(Generic[K, V]):
    """A dict that is cleared when full, never grown forever (a backfill sees millions of
    events; what repeats stays cached, what does not costs one miss)."""

    def __init__(self, limit: int = CACHE_LIMIT) -> None:
        self.limit = limit
        self._items: Dict[K, V] = {}

    def get(self, key: K, compute: Callable[[], V]) -> V:
        try:
            return self._items[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value in the key (a list, a dict): no caching
            return compute()
        value = compute()
        if len(self._items) >= self.limit:
            self._items.clear()
        self._items[key] = value
        return value


@dataclass(frozen=True)
class Place:
    """``ipAddressLocation`` read once. ``left`` holds every key not taken, as sent (unknown
    keys, coordinates a schema would reject, empty strings aside)."""

    city: str = ""
    state: str = ""
    country: str = ""
    #: ISO 3166-1 alpha-2 of ``country``; "" when the name is not known.
    country_code: str = ""
    latitude: float | None = None
    longitude: float | None = None
    #: Coordinates were sent (not empty) but are not valid ones.
    bad_coordinates: bool = False
    left: Mapping[str, Any] = field(default_factory=dict)


def read_place(location: Mapping[str, Any]) -> Place:
    """The place of an ``ipAddressLocation`` object (each mapping caches what it makes of it:
    places users sign in from repeat)."""
    left = {k: v for k, v in location.items() if v != ""}
    names: Dict[str, str] = {}
    for key in ("city", "state", "country"):
        value = left.get(key)
        if isinstance(value, str) and value:
            names[key] = left.pop(key)
    lat, lon = location.get("latitude"), location.get("longitude")
    valid = coordinate(lat, 90) and coordinate(lon, 180)
    if valid:
        del left["latitude"], left["longitude"]
    country = names.get("country", "")
    return Place(
        city=names.get("city", ""),
        state=names.get("state", ""),
        country=country,
        country_code=(iso_code(country) or "") if country else "",
        latitude=lat if valid else None,
        longitude=lon if valid else None,
        bad_coordinates=not valid and (lat, lon) not in (("", ""), (None, None)),
        left=left,
    )
