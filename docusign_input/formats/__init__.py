"""Event formats: DocuSign's raw events, or normalized ECS or OCSF documents.

``raw`` passes each event through untouched (written byte for byte as DocuSign sent it); ``ecs``
and ``ocsf`` turn each event into one document by a pure mapping (``ecs.document``,
``ocsf.document``) that shares one classification (``classes``). The output applies the chosen
mapping in one place, so stdout and forward deliver the same documents.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping

from . import ecs, ocsf

__all__ = ["FORMATS", "Mapper", "mapper", "record_timestamp"]

Mapper = Callable[[Mapping[str, Any]], Dict[str, Any]]

#: Format name -> mapping; None for raw (no mapping at all, not an identity function).
FORMATS: Mapping[str, Mapper | None] = {
    "raw": None,
    "ecs": ecs.document,
    "ocsf": ocsf.document,
}


def mapper(name: str) -> Mapper | None:
    """The mapping for a format name (validated by settings); None for ``raw``."""
    return FORMATS[name]


def record_timestamp(document: Mapping[str, Any]) -> Any:
    """DocuSign's own ``timestamp`` string, from a raw event or either normalized document
    (ECS ``@timestamp``, OCSF ``metadata.original_time``): the record time in every format."""
    if "timestamp" in document:
        return document["timestamp"]
    if "@timestamp" in document:
        return document["@timestamp"]
    metadata = document.get("metadata")
    return metadata.get("original_time") if isinstance(metadata, dict) else None
