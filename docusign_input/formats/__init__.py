"""Event formats: DocuSign's raw events, or normalized ECS or OCSF documents.

``raw`` passes each event through untouched (written byte for byte as DocuSign sent it); ``ecs``
and ``ocsf`` turn each event into one document by a pure mapping (``ecs.document``,
``ocsf.document``) that shares one classification (``classes``). The output applies the chosen
mapping in one place (``output.FormattedOutput``), so stdout and forward deliver the same
documents. The mapping modules are imported only when their format is chosen: a raw run pays
nothing for them.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, Mapping

__all__ = ["FORMATS", "Mapper", "mapper", "record_timestamp"]

Mapper = Callable[[Mapping[str, Any]], Dict[str, Any]]

#: The format names, in the order help texts list them.
FORMATS = ("raw", "ecs", "ocsf")


def mapper(name: str) -> Mapper | None:
    """The mapping of a format name (validated by settings); None for ``raw``, which has none."""
    if name == "raw":
        return None
    if name not in FORMATS:
        raise ValueError(f"unknown event format {name!r}")
    module = importlib.import_module(f"{__name__}.{name}")
    document: Mapper = module.document
    return document


def record_timestamp(document: Mapping[str, Any]) -> Any:
    """DocuSign's own ``timestamp`` string, from a raw event or either normalized document
    (ECS ``@timestamp``, OCSF ``metadata.original_time``): the record time in every format."""
    if "timestamp" in document:
        return document["timestamp"]
    if "@timestamp" in document:
        return document["@timestamp"]
    metadata = document.get("metadata")
    return metadata.get("original_time") if isinstance(metadata, dict) else None
