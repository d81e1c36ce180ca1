"""Injected failures: what a connector must survive between it and DocuSign.

A fault matches requests by path prefix (by default the two stream endpoints) and fires either on
the next ``count`` matching requests or with ``probability`` drawn from the seeded RNG.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

__all__ = ["Fault", "FaultPlan", "FAULT_KINDS", "STREAM_PREFIXES"]

FAULT_KINDS = (
    "http_500",
    "http_502",
    "http_503",
    "http_429",  # param retry_after (seconds, default 1)
    "reset_before",  # close the connection without answering
    "reset_mid",  # headers and part of the body, then close
    "truncated_json",  # full headers, body cut short, then close
    "malformed_json",  # 200 with a body that is not JSON
    "slow",  # param delay_s before answering normally
    "repeat_previous",  # param overlap (default 3): the page starts that many events early
    "headers",  # param set (a dict): the normal answer, with these headers set (server hints)
)
STREAM_PREFIXES: Tuple[str, ...] = ("/api/v2.0/datasets/monitor/stream", "/v1/organizations/")


@dataclass
class Fault:
    """One failure to inject; ``count`` or ``probability`` (neither: every matching request)."""

    kind: str
    count: int | None = None
    probability: float | None = None
    path_prefix: str | None = None
    params: Dict[str, Any] = field(default_factory=dict)

    def __init__(
        self,
        kind: str,
        count: int | None = None,
        probability: float | None = None,
        path_prefix: str | None = None,
        **params: Any,
    ):
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        if count is not None and probability is not None:
            raise ValueError("give a fault either count or probability, not both")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("fault probability must be between 0 and 1")
        self.kind = kind
        self.count = count
        self.probability = probability
        self.path_prefix = path_prefix
        self.params = dict(params)

    def matches(self, path: str) -> bool:
        if self.path_prefix is not None:
            return path.startswith(self.path_prefix)
        return path.startswith(STREAM_PREFIXES)

    def to_json(self) -> Dict[str, Any]:
        return {
            "kind": self.kind,
            "count": self.count,
            "probability": self.probability,
            "path_prefix": self.path_prefix,
            **self.params,
        }

    @classmethod
    def from_json(cls, body: Dict[str, Any]) -> Fault:
        body = dict(body)
        return cls(
            body.pop("kind"),
            count=body.pop("count", None),
            probability=body.pop("probability", None),
            path_prefix=body.pop("path_prefix", None),
            **body,
        )

    @classmethod
    def parse(cls, text: str) -> Fault:
        """``KIND``, ``KIND:COUNT`` or ``KIND@PROBABILITY`` (the CLI's ``--fault``)."""
        if "@" in text:
            kind, _, probability = text.partition("@")
            return cls(kind, probability=float(probability))
        if ":" in text:
            kind, _, count = text.partition(":")
            return cls(kind, count=int(count))
        return cls(text)


class FaultPlan:
    """The active faults, consulted once per request; first match wins."""

    def __init__(self, seed: int):
        self._rng = random.Random(f"faults-{seed}")
        self._faults: List[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> List[Fault]:
        with self._lock:
            return list(self._faults)

    def pick(self, path: str) -> Fault | None:
        """The fault to apply to this request, consuming one use of a counted fault."""
        with self._lock:
            for fault in self._faults:
                if not fault.matches(path):
                    continue
                if fault.count is not None:
                    if fault.count <= 0:
                        continue
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
                if fault.probability is None or self._rng.random() < fault.probability:
                    return fault
            return None
