"""Which organizations a process takes: ``--shard I/N`` and ``DOCUSIGN_SHARD=auto``.

The split is a pure function of the name, so any tool (a script, a dashboard, another replica)
computes the same one: the first 8 bytes of the SHA-256 of the name (UTF-8) as a big-endian
integer, modulo N. Every organization belongs to exactly one shard for a given N.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .errors import ConfigError

__all__ = ["Shard", "ALL", "shard_of", "parse_shard"]

_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*\Z")
_ORDINAL = re.compile(r"-(\d+)\Z")
_FIX = "give I/N with 0 <= I < N, e.g. 0/3, or auto with DOCUSIGN_SHARDS=N (a StatefulSet)"


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (``0/1`` takes everything)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def takes(self, name: str) -> bool:
        return shard_of(name, self.count) == self.index


ALL = Shard(0, 1)


def shard_of(name: str, count: int) -> int:
    """The shard of an organization among ``count``."""
    if count < 1:
        raise ValueError("count must be at least 1")
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def parse_shard(
    text: str | None, *, label: str, shards: str | None, hostname: str
) -> Shard:
    """``I/N``, or ``auto``: I from the ordinal at the end of ``hostname`` (a StatefulSet pod
    ``docusign-input-3`` is shard 3), N from ``shards`` (``DOCUSIGN_SHARDS``). Unset: all."""
    if text is None or not text.strip():
        return ALL
    if text.strip().lower() == "auto":
        if shards is None or not shards.strip():
            raise ConfigError(f"{label} is auto but DOCUSIGN_SHARDS is not set",
                              "set DOCUSIGN_SHARDS to the number of replicas")
        try:
            count = int(shards.strip())
        except ValueError:
            raise ConfigError(f"DOCUSIGN_SHARDS {shards!r} is not a whole number",
                              "set it to the number of replicas, e.g. 3") from None
        if count < 1:
            raise ConfigError(f"DOCUSIGN_SHARDS {count} is not a number of replicas",
                              "set it to 1 or more")
        match = _ORDINAL.search(hostname)
        if match is None:
            raise ConfigError(
                f"{label} is auto but the host name {hostname!r} does not end with an ordinal "
                "(-0, -1, ...)",
                "run it as a StatefulSet pod, or give --shard I/N",
            )
        index = int(match.group(1))
        if index >= count:
            raise ConfigError(
                f"{label} is auto and the host name {hostname!r} gives shard {index}, but "
                f"DOCUSIGN_SHARDS is {count}",
                "set DOCUSIGN_SHARDS to the StatefulSet's replicas",
            )
        return Shard(index, count)
    match = _SPEC.match(text)
    if match is None:
        raise ConfigError(f"{label} {text!r} is not a shard", _FIX)
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or index >= count:
        raise ConfigError(f"{label} {text!r} is not a shard (I must be below N)", _FIX)
    return Shard(index, count)
