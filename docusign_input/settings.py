"""Settings: one frozen value built once at the edge from flags, environment and a TOML file.

Nothing else in the package reads ``os.environ``. Precedence: flag > environment > file > default.
Secrets are never taken as flags and are hidden from ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

__all__ = ["Settings", "Secret"]


class Secret:
    """A string that never shows itself in repr/str/format (logs, tracebacks, f-strings)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    environment: str  # "development" | "production"
    user_id: str
    integration_key: Secret
    #: PEM text of the RSA private key (PKCS#1 or PKCS#8). Only parsed when a token must be minted,
    #: so that a run with a valid cached token never imports cryptography.
    private_key_pem: Secret
    #: Where the key came from, for messages ("DOCUSIGN_PRIVATE_KEY", or the file path).
    private_key_source: str
    backfill_start: Optional[str]  # raw user text; resolved by the engine with the clock
    checkpoint_path: Path
    page_size: int = 2000
    poll_interval_s: float = 60.0
    auth_url: str = "https://account-d.docusign.com"
    monitor_url: str = "https://lens-d.docusign.net"
    monitor_api: str = "lens"  # "lens" | "organizations"
    organization_id: Optional[str] = None
    output: str = "stdout"
    log_format: str = "text"  # "text" | "json"
    log_level: str = "info"
    token_cache: bool = True
    extra: dict = field(default_factory=dict, compare=False, repr=False)
