"""Settings: one frozen value built once at the edge from flags, environment and a TOML file.

Nothing else in the package reads ``os.environ``. Precedence: flag > environment > file > default.
Secrets are never taken as flags and are hidden from ``repr``.

Every malformed value raises ``ConfigError`` (exit 78) with one line that names the setting the way
the user gave it (``--page-size``, ``DOCUSIGN_PAGE_SIZE`` or ``page_size in /etc/x.toml``) and says
how to fix it. Loading does no network I/O and never imports cryptography: a scheduled run that
reuses a cached token must not pay for it, so the key is only checked for a plausible PEM block here
and parsed by ``auth`` when a token is minted.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from .errors import ConfigError
from .timestamps import validate_backfill

__all__ = [
    "Settings",
    "Secret",
    "load_settings",
    "DEFAULT_REDIRECT_URI",
    "FLAG_KEYS",
    "FILE_KEYS",
    "is_loopback",
]

#: Where the consent page sends the admin afterwards. It must be registered on the integration
#: key (Apps and Keys > Redirect URIs); DocuSign's own consent landing page is the usual choice.
DEFAULT_REDIRECT_URI = "https://developers.docusign.com/platform/auth/consent"

_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")
# DocuSign's own sample shows an organization ID that is not a well-formed GUID; accept hex+dashes.
_ORG_ID = re.compile(r"[0-9a-fA-F][0-9a-fA-F-]{6,62}[0-9a-fA-F]\Z")
_TAG = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\Z")
_MAX_KEY_FILE_BYTES = 1 << 20

_ENVIRONMENTS = {"development": "development", "demo": "development", "production": "production"}
_AUTH_URLS = {
    "development": "https://account-d.docusign.com",
    "production": "https://account.docusign.com",
}
_MONITOR_URLS = {
    ("development", "lens"): "https://lens-d.docusign.net",
    ("production", "lens"): "https://lens.docusign.net",
    ("development", "organizations"): "https://api-d.docusign.com",
    ("production", "organizations"): "https://api.docusign.com",
}
# DocuSign's public hosts, to catch a development URL used with production settings and back.
_KNOWN_HOSTS = {
    "account-d.docusign.com": ("development", None),
    "account.docusign.com": ("production", None),
    "lens-d.docusign.net": ("development", "lens"),
    "lens.docusign.net": ("production", "lens"),
    "api-d.docusign.com": ("development", "organizations"),
    "api.docusign.com": ("production", "organizations"),
}
_LOG_LEVELS = {"debug": "debug", "info": "info", "warning": "warning", "warn": "warning",
               "error": "error"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

#: (flag, environment variable) of each setting; ``None`` where the contract has no such form.
#: The TOML file key is the setting's own name.
_NAMES: dict[str, tuple[str | None, str | None]] = {
    "environment": ("--environment", "DOCUSIGN_ENVIRONMENT"),
    "user_id": ("--user-id", "DOCUSIGN_USER_ID"),
    "integration_key": (None, "DOCUSIGN_INTEGRATION_KEY"),
    "integration_key_file": (None, "DOCUSIGN_INTEGRATION_KEY_FILE"),
    "private_key": (None, "DOCUSIGN_PRIVATE_KEY"),
    "private_key_file": ("--private-key-file", "DOCUSIGN_PRIVATE_KEY_FILE"),
    "backfill_start": ("--backfill-start", "DOCUSIGN_BACKFILL_START"),
    "checkpoint": ("--checkpoint", "DOCUSIGN_CHECKPOINT"),
    "page_size": ("--page-size", "DOCUSIGN_PAGE_SIZE"),
    "poll_interval": ("--poll-interval", "DOCUSIGN_POLL_INTERVAL"),
    "auth_url": ("--auth-url", "DOCUSIGN_AUTH_URL"),
    "monitor_url": ("--monitor-url", "DOCUSIGN_MONITOR_URL"),
    "monitor_api": ("--monitor-api", "DOCUSIGN_MONITOR_API"),
    "organization_id": ("--organization-id", "DOCUSIGN_ORGANIZATION_ID"),
    "output": ("--output", "DOCUSIGN_OUTPUT"),
    "log_format": ("--log-format", "DOCUSIGN_LOG_FORMAT"),
    "log_level": ("--log-level", "DOCUSIGN_LOG_LEVEL"),
    "token_cache": ("--no-token-cache", "DOCUSIGN_TOKEN_CACHE"),
    "redirect_uri": ("--redirect-uri", "DOCUSIGN_REDIRECT_URI"),
}
#: The keys ``load_settings`` reads from its ``flags`` mapping (argparse dest names).
FLAG_KEYS = tuple(name for name, (flag, _) in _NAMES.items() if flag)
#: The keys a ``--config`` TOML file may hold.
FILE_KEYS = tuple(_NAMES)
_SECRET_KEYS = ("integration_key", "private_key")


class Secret:
    """A string that never shows itself in repr/str/format (logs, tracebacks, f-strings)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

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
    backfill_start: str | None  # raw user text; resolved by the engine with the clock
    checkpoint_path: Path
    page_size: int = 2000
    poll_interval_s: float = 60.0
    auth_url: str = "https://account-d.docusign.com"
    monitor_url: str = "https://lens-d.docusign.net"
    monitor_api: str = "lens"  # "lens" | "organizations"
    organization_id: str | None = None
    output: str = "stdout"
    log_format: str = "text"  # "text" | "json"
    log_level: str = "info"
    token_cache: bool = True
    #: Registered redirect URI for the consent URL (``None``: ``DEFAULT_REDIRECT_URI``).
    redirect_uri: str | None = None
    #: Things the CLI should print on stderr once (e.g. secrets in a file others can read).
    warnings: tuple[str, ...] = ()
    #: Set when the Backfill Start Time is more than seven days back. Kept apart from
    #: ``warnings`` because the backfill applies only to a first sync: the engine's
    #: ``start_position`` warns when it actually uses it, so printing this on every scheduled run
    #: would be noise. ``check`` may show it.
    backfill_warning: str | None = None
    #: How each setting was given: "--page-size", "DOCUSIGN_PAGE_SIZE", "page_size in FILE";
    #: absent means the default. Lets later errors name the setting the way the user wrote it.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def token_cache_path(self) -> Path:
        """``<checkpoint>.token`` beside the checkpoint: one cache per environment and user."""
        return self.checkpoint_path.with_name(self.checkpoint_path.name + ".token")

    def source_of(self, name: str) -> str:
        """The name of a setting as the user gave it, or its environment variable by default."""
        if name in self.sources:
            return self.sources[name]
        flag, env = _NAMES.get(name, (None, None))
        return env or flag or name

    def describe(self) -> list[tuple[str, str]]:
        """The settings for ``check``, secrets masked, each with where it came from.

        The integration key is never shown (the contract allows it only inside the consent URL),
        not even in part: only whether it is set and where from.
        """

        def shown(name: str, value: str) -> str:
            source = self.sources.get(name)
            return f"{value}  [{source}]" if source else f"{value}  [default]"

        if self.integration_key:
            key = shown("integration_key", "set (hidden)")
        else:
            key = "not loaded"
        if self.private_key_pem:
            kind = _pem_kind(self.private_key_pem.reveal()) or "PEM"
            private = shown("private_key", f"{kind} private key (hidden)")
            if self.private_key_source != self.sources.get("private_key"):
                private += f" {self.private_key_source}"
        else:
            private = "not loaded"
        if self.monitor_api == "organizations":
            org = self.organization_id or "looked up once via /oauth/userinfo"
        else:
            org = self.organization_id or "not needed by the lens API"
        cache = f"on ({self.token_cache_path})" if self.token_cache else "off"
        return [
            ("environment", shown("environment", self.environment)),
            ("user ID", shown("user_id", self.user_id)),
            ("integration key", key),
            ("private key", private),
            ("backfill start", shown("backfill_start", self.backfill_start or
                                     "unset (first sync starts now)")),
            ("checkpoint", shown("checkpoint", str(self.checkpoint_path))),
            ("page size", shown("page_size", str(self.page_size))),
            ("poll interval", shown("poll_interval", f"{self.poll_interval_s:g} s")),
            ("auth server", shown("auth_url", self.auth_url)),
            ("Monitor server", shown("monitor_url", self.monitor_url)),
            ("Monitor API", shown("monitor_api", self.monitor_api)),
            ("organization ID", shown("organization_id", org)),
            ("output", shown("output", self.output)),
            ("log format", shown("log_format", self.log_format)),
            ("log level", shown("log_level", self.log_level)),
            ("token cache", shown("token_cache", cache)),
        ]


# -- loading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Value:
    raw: object
    label: str  # the setting as the user gave it
    base: Path | None = None  # relative paths in a config file are relative to the file


class _Sources:
    """The three layers, highest first, and the rule that picks a setting from them."""

    def __init__(
        self, flags: Mapping[str, object], environ: Mapping[str, str], config_file: Path | None
    ) -> None:
        self.flags = flags
        self.environ = environ
        self.config_file = config_file
        self.file: dict[str, Any] = _read_toml(config_file) if config_file else {}

    def _layers(self, name: str) -> list[_Value | None]:
        flag, env = _NAMES[name]
        found: list[_Value | None] = []
        value = self.flags.get(name) if flag else None
        found.append(None if _unset(value) else _Value(value, flag or name))
        value = self.environ.get(env) if env else None
        found.append(None if _unset(value) else _Value(value, env or name))
        value = self.file.get(name)
        if _unset(value) or self.config_file is None:
            found.append(None)
        else:
            found.append(_Value(value, f"{name} in {self.config_file}", self.config_file.parent))
        return found

    def get(self, name: str) -> _Value | None:
        """The value from the highest layer that sets it (empty strings count as unset)."""
        return next((v for v in self._layers(name) if v is not None), None)

    def get_secret(self, name: str) -> tuple[_Value | None, bool]:
        """A secret or its ``_file`` form, whichever the highest layer gives; ``(value, is_file)``.

        Both forms in the same layer contradict each other; that is an error, not a silent pick.
        """
        direct, via_file = self._layers(name), self._layers(name + "_file")
        for mine, theirs in zip(direct, via_file):
            if mine is not None and theirs is not None:
                raise ConfigError(
                    f"both {mine.label} and {theirs.label} are set",
                    f"set only one of them ({theirs.label} is preferred: a file only you can read)",
                )
            if theirs is not None:
                return theirs, True
            if mine is not None:
                return mine, False
        return None, False


def _unset(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


_TOML_FIX = "give the path of a TOML file"


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.9/3.10 only
        import tomli as tomllib
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"--config {path} does not exist", _TOML_FIX) from None
    except IsADirectoryError:
        raise ConfigError(f"--config {path} is a directory", _TOML_FIX) from None
    except PermissionError:
        raise ConfigError(f"--config {path} cannot be read by this user",
                          "make it readable by the user running the connector") from None
    except OSError as exc:
        raise ConfigError(f"--config {path} cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path} is not valid TOML ({exc})",
                          'write one setting per line, e.g. environment = "production"') from None
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise ConfigError(
            f"--config {path} has unknown setting {unknown[0]!r}",
            "known settings: " + ", ".join(FILE_KEYS),
        )
    return data


def load_settings(
    flags: Mapping[str, object],
    environ: Mapping[str, str],
    *,
    config_file: Path | None = None,
    require_secrets: bool = True,
    consent_only: bool = False,
    now: datetime | None = None,
) -> Settings:
    """Build the one ``Settings`` value, or raise ``ConfigError`` naming the first bad setting.

    ``flags``: argparse dest names (see ``FLAG_KEYS``) mapped to the value given, ``None`` (or
    absent) when not given; ``token_cache`` is ``False`` for ``--no-token-cache``. ``environ``: the
    process environment. ``config_file``: the ``--config`` path. ``require_secrets=False`` (for
    ``status`` and ``checkpoint``) skips the integration key and the private key entirely.
    ``consent_only`` (for ``consent-url``) needs only the environment and the integration key: an
    admin grants consent before anyone has a user ID or a key pair in place.
    ``now`` is the clock for the backfill check (tests pass a fixed one).
    """
    src = _Sources(flags, environ, config_file)
    sources: dict[str, str] = {}
    warnings: list[str] = []

    def take(name: str, parse: Callable[[_Value], Any], default: Any = None) -> Any:
        value = src.get(name)
        if value is None:
            return default
        sources[name] = value.label
        return parse(value)

    environment = take("environment", _environment)
    if environment is None:
        raise ConfigError(
            "the environment is not set",
            "set DOCUSIGN_ENVIRONMENT (or --environment) to development or production",
        )
    user_id = take("user_id", _user_id)
    if user_id is None:
        if not consent_only:
            raise ConfigError(
                "the user ID is not set",
                "set DOCUSIGN_USER_ID (or --user-id) to the API Username GUID of the impersonated "
                "admin, shown in Apps and Keys",
            )
        user_id = ""
    if consent_only:
        integration_key, sources["integration_key"] = _integration_key(src)
        private_key, private_source = Secret(""), ""
    elif require_secrets:
        integration_key, key_label = _integration_key(src)
        private_key, private_source, private_label = _private_key(src, environ)
        sources["integration_key"] = key_label
        sources["private_key"] = private_label
    else:
        integration_key, private_key, private_source = Secret(""), Secret(""), ""
    if config_file is not None and any(src.file.get(k) for k in _SECRET_KEYS):
        warnings.extend(_file_secret_warning(config_file))

    backfill_start = take("backfill_start", _text)
    backfill_warning = None
    if backfill_start is not None:
        backfill_warning = validate_backfill(
            backfill_start, now or datetime.now(timezone.utc), setting=sources["backfill_start"]
        )
    checkpoint = take("checkpoint", lambda v: _path(v, environ))
    if checkpoint is None:
        checkpoint = _state_home(environ) / "docusign-input" / f"{environment}-{user_id}.json"
    monitor_api = take("monitor_api", _monitor_api, "lens")
    auth_url = take("auth_url", _url, _AUTH_URLS[environment])
    monitor_url = take("monitor_url", _url, _MONITOR_URLS[(environment, monitor_api)])
    _check_hosts(environment, monitor_api, auth_url, monitor_url, sources)

    return Settings(
        environment=environment,
        user_id=user_id,
        integration_key=integration_key,
        private_key_pem=private_key,
        private_key_source=private_source,
        backfill_start=backfill_start,
        checkpoint_path=checkpoint,
        page_size=take("page_size", _page_size, 2000),
        poll_interval_s=take("poll_interval", _poll_interval, 60.0),
        auth_url=auth_url,
        monitor_url=monitor_url,
        monitor_api=monitor_api,
        organization_id=take("organization_id", _organization_id),
        output=take("output", _output, "stdout"),
        log_format=take("log_format", _log_format, "text"),
        log_level=take("log_level", _log_level, "info"),
        token_cache=take("token_cache", _token_cache, True),
        redirect_uri=take("redirect_uri", _redirect_uri),
        warnings=tuple(warnings),
        backfill_warning=backfill_warning,
        sources=sources,
    )


# -- one parser per setting -----------------------------------------------------------------------


def _text(value: _Value) -> str:
    if not isinstance(value.raw, str):
        raise ConfigError(f"{value.label} must be a string, not {type(value.raw).__name__}",
                          "quote the value in the config file")
    return value.raw.strip()


def _environment(value: _Value) -> str:
    text = _text(value)
    try:
        return _ENVIRONMENTS[text.lower()]
    except KeyError:
        raise ConfigError(
            f"{value.label} {text!r} is not an environment",
            "use development or production (development is DocuSign's demo environment, "
            "account-d.docusign.com; demo is accepted as an alias)",
        ) from None


def _user_id(value: _Value) -> str:
    text = _text(value)
    if "@" in text:
        raise ConfigError(
            f"{value.label} {text!r} is an e-mail address, but DocuSign wants the user's ID",
            "use the API Username GUID shown in Apps and Keys (e.g. "
            "9cfb472b-ef1f-4116-8df2-17c53841fd6c)",
        )
    if not _GUID.match(text):
        raise ConfigError(
            f"{value.label} {text!r} is not a user ID (a GUID)",
            "use the API Username GUID shown in Apps and Keys (e.g. "
            "9cfb472b-ef1f-4116-8df2-17c53841fd6c)",
        )
    return text


def _read_secret_file(value: _Value, environ: Mapping[str, str], what: str) -> tuple[bytes, Path]:
    path = _path(value, environ)
    where = f"{value.label} {path}"
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"{where} is a directory", f"give the path of the {what} file")
        if info.st_size > _MAX_KEY_FILE_BYTES:
            raise ConfigError(f"{where} is {info.st_size} bytes, too big for a {what}",
                              f"give the path of the {what} file")
        return path.read_bytes(), path
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist", f"give the path of the {what} file") from None
    except PermissionError:
        raise ConfigError(
            f"{where} cannot be read by this user",
            "make it readable by the user running the connector (chmod 600, owned by that user)",
        ) from None
    except OSError as exc:
        raise ConfigError(f"{where} cannot be read ({exc.strerror})") from None


def _integration_key(src: _Sources) -> tuple[Secret, str]:
    value, is_file = src.get_secret("integration_key")
    if value is None:
        raise ConfigError(
            "the integration key is not set",
            "set DOCUSIGN_INTEGRATION_KEY_FILE to a file holding the Integration Key from Apps "
            "and Keys (or DOCUSIGN_INTEGRATION_KEY)",
        )
    if is_file:
        data, _ = _read_secret_file(value, src.environ, "integration key")
        try:
            text = data.decode("utf-8").strip()  # files usually end with a newline
        except UnicodeDecodeError:
            raise ConfigError(f"{value.label} is not a text file",
                              "put only the Integration Key GUID in it") from None
    else:
        text = _text(value)
    # Never echo the value: it is a secret, even when malformed.
    if not _GUID.match(text):
        raise ConfigError(
            f"{value.label} does not hold an integration key (a GUID; got {len(text)} characters)",
            "copy the Integration Key from Apps and Keys, e.g. "
            "1f2e3d4c-0000-4000-8000-123456789abc",
        )
    return Secret(text), value.label


def _private_key(src: _Sources, environ: Mapping[str, str]) -> tuple[Secret, str, str]:
    value, is_file = src.get_secret("private_key")
    if value is None:
        raise ConfigError(
            "the RSA private key is not set",
            "set DOCUSIGN_PRIVATE_KEY_FILE (or --private-key-file) to the key saved from Apps and "
            "Keys > Generate RSA",
        )
    if is_file:
        data, path = _read_secret_file(value, environ, "private key")
        source = str(path)
        where = f"{value.label} {path}"
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(
                f"{where} is binary, not a PEM private key (perhaps DER)",
                f"convert it: openssl pkey -inform DER -in {path} -out key.pem",
            ) from None
    else:
        source = value.label
        where = value.label
        text = _text(value)
        # Environment files (Docker, systemd) often carry the PEM on one line with literal \n.
        if "\\n" in text and "\n" not in text:
            text = text.replace("\\n", "\n")
    _check_pem(text, where)
    return Secret(text), source, value.label


#: PEM labels of the two RSA private key forms DocuSign's Generate RSA and openssl produce.
_PEM_LABELS = {"PKCS#1": "RSA PRIVATE KEY", "PKCS#8": "PRIVATE KEY"}


def pem_line(edge: str, label: str) -> str:
    """A PEM armour line (the BEGIN or END line around a key), assembled instead of spelt out so
    that secret scanners run over the repository (gitleaks, CI checks) find no key-shaped text."""
    return f"-----{edge} {label}-----"


def _pem_kind(text: str) -> str | None:
    for kind, label in _PEM_LABELS.items():
        if pem_line("BEGIN", label) in text:
            return kind
    return None


def _check_pem(text: str, where: str) -> None:
    """A cheap, cryptography-free plausibility check; ``auth`` parses the key for real."""
    if not text.strip():
        raise ConfigError(f"{where} is empty", "put the private key from Generate RSA in it")
    if "ENCRYPTED PRIVATE KEY" in text or "Proc-Type: 4,ENCRYPTED" in text:
        raise ConfigError(
            f"{where} is an encrypted private key; encrypted keys are not supported",
            "export it without a passphrase: openssl pkey -in encrypted.pem -out key.pem "
            "(then chmod 600 key.pem)",
        )
    if "BEGIN OPENSSH PRIVATE KEY" in text:
        raise ConfigError(
            f"{where} is an OpenSSH-format key, not PEM",
            "convert a copy: ssh-keygen -p -N '' -m PEM -f COPY_OF_KEY (gives PKCS#1 PEM)",
        )
    for other in ("EC", "DSA"):
        if f"BEGIN {other} PRIVATE KEY" in text:
            raise ConfigError(
                f"{where} is an {other} key, not an RSA key",
                "use the RSA key pair from Apps and Keys > Generate RSA",
            )
    kind = _pem_kind(text)
    if kind is None:
        if re.search(r"BEGIN (RSA )?PUBLIC KEY|BEGIN CERTIFICATE|^ssh-rsa ", text, re.MULTILINE):
            raise ConfigError(
                f"{where} is a public key or certificate, not the private key",
                "DocuSign's Generate RSA shows the private key only once: use the saved private "
                "key, or generate a new pair in Apps and Keys and save its private key",
            )
        raise ConfigError(
            f"{where} holds no PEM private key (no '{pem_line('BEGIN', _PEM_LABELS['PKCS#1'])}' "
            f"or '{pem_line('BEGIN', _PEM_LABELS['PKCS#8'])}' line)",
            "use the private key saved from Apps and Keys > Generate RSA, PEM text",
        )
    end = pem_line("END", _PEM_LABELS[kind])
    if end not in text:
        raise ConfigError(f"{where} is cut short (no {end!r} line)",
                          "copy the whole key, including its BEGIN and END lines")


def _file_secret_warning(path: Path) -> list[str]:
    try:
        mode = path.stat().st_mode
    except OSError:
        return []
    if mode & 0o077:
        return [
            f"--config {path} holds a secret and others can read it: chmod 600 it, or move the "
            "secret to DOCUSIGN_INTEGRATION_KEY_FILE / DOCUSIGN_PRIVATE_KEY_FILE"
        ]
    return []


def _expand_home(text: str, environ: Mapping[str, str]) -> str:
    if text == "~" or text.startswith("~/"):
        home = environ.get("HOME") or os.path.expanduser("~")
        return home + text[1:]
    return text


def _path(value: _Value, environ: Mapping[str, str]) -> Path:
    raw = value.raw
    text = str(raw) if isinstance(raw, Path) else _text(value)
    path = Path(_expand_home(text, environ))
    if value.base is not None and not path.is_absolute():
        path = value.base / path
    return path


def _state_home(environ: Mapping[str, str]) -> Path:
    """``$XDG_STATE_HOME``, or ``~/.local/state`` (the spec ignores a relative XDG path)."""
    xdg = environ.get("XDG_STATE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg)
    home = environ.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".local" / "state"


def _integer(value: _Value) -> int:
    raw = value.raw
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):  # TOML true, 5.5, [..]
        raise ConfigError(f"{value.label} must be a whole number, not {raw!r}", "give e.g. 2000")
    if isinstance(raw, int):
        return raw
    text = _text(value)
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{value.label} {text!r} is not a whole number",
                          "give e.g. 2000") from None


def _page_size(value: _Value) -> int:
    size = _integer(value)
    if not 1 <= size <= 2000:
        raise ConfigError(f"{value.label} {size} is out of range",
                          "give a page size from 1 to 2000 (DocuSign's maximum; default 2000)")
    return size


def _poll_interval(value: _Value) -> float:
    raw = value.raw
    if isinstance(raw, bool):
        raise ConfigError(f"{value.label} must be a number of seconds, not {raw!r}")
    if isinstance(raw, (int, float)):
        seconds = float(raw)
    else:
        text = _text(value)
        try:
            seconds = float(text.rstrip("sS") if text[-1:] in "sS" else text)
        except ValueError:
            raise ConfigError(f"{value.label} {text!r} is not a number of seconds",
                              "give e.g. 60") from None
    if not 0 < seconds < float("inf"):
        raise ConfigError(f"{value.label} {raw!r} must be more than 0 seconds",
                          "give e.g. 60 (DocuSign asks for at most one poll a minute)")
    return seconds


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: the only hosts allowed over plain ``http://``."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(value: _Value) -> str:
    """``scheme://host[:port]``, without a trailing slash; the clients add the API paths."""
    text = _text(value)
    example = "e.g. https://account-d.docusign.com"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ConfigError(
            f"{value.label} {text!r} is not a valid URL (bad port?)", example
        ) from None
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(f"{value.label} {text!r} is not an http(s) URL with a host",
                          f"give scheme and host, {example}")
    if parts.username or parts.password:
        raise ConfigError(f"{value.label} has user credentials in it",
                          "remove them; the connector authenticates with the JWT grant")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(
            f"{value.label} {text!r} has a path or query",
            f"give only scheme and host (and port), {example}; the connector adds the API paths",
        )
    if parts.scheme == "http" and not is_loopback(host):
        raise ConfigError(
            f"{value.label} {text!r} uses plain http:// to a host that is not loopback",
            "use https:// (plain http is only for the local simulator on 127.0.0.1 or localhost)",
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return f"{parts.scheme}://{netloc}"


def _check_hosts(
    environment: str, monitor_api: str, auth_url: str, monitor_url: str, sources: Mapping[str, str]
) -> None:
    """Catch DocuSign's development hosts used with production settings, and the reverse."""
    for name, url in (("auth_url", auth_url), ("monitor_url", monitor_url)):
        host = urlsplit(url).hostname or ""
        known = _KNOWN_HOSTS.get(host.lower())
        if known is None:
            continue
        label = sources.get(name, name)
        host_env, host_api = known
        if host_env != environment:
            raise ConfigError(
                f"{label} {url} is DocuSign's {host_env} server, but the environment is "
                f"{environment}",
                f"unset {label} to use the {environment} default, or fix the environment",
            )
        if name == "monitor_url" and host_api is not None and host_api != monitor_api:
            raise ConfigError(
                f"{label} {url} serves the {host_api} Monitor API, but the Monitor API is "
                f"{monitor_api}",
                f"unset {label} to use the {monitor_api} default, "
                f"{_MONITOR_URLS[(environment, monitor_api)]}",
            )


def _monitor_api(value: _Value) -> str:
    text = _text(value).lower()
    if text not in ("lens", "organizations"):
        raise ConfigError(f"{value.label} {text!r} is not a Monitor API generation",
                          "use lens (default) or organizations")
    return text


def _organization_id(value: _Value) -> str:
    text = _text(value)
    if not _ORG_ID.match(text):
        raise ConfigError(f"{value.label} {text!r} is not an organization ID",
                          "use the organization's GUID from DocuSign Admin, or unset it to look "
                          "it up automatically")
    return text


def _output(value: _Value) -> str:
    text = _text(value)
    if text.lower() == "stdout":
        return "stdout"
    fix = "use stdout or forward://HOST:PORT[?tag=TAG], e.g. forward://127.0.0.1:24224"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ConfigError(f"{value.label} {text!r} has an invalid port", fix) from None
    if parts.scheme != "forward" or not parts.hostname:
        raise ConfigError(f"{value.label} {text!r} is not an output", fix)
    if port is None or port == 0:
        raise ConfigError(f"{value.label} {text!r} has no port", fix)
    if parts.path not in ("", "/") or parts.fragment or parts.username:
        raise ConfigError(f"{value.label} {text!r} has unexpected parts", fix)
    for key, tag in parse_qsl(parts.query, keep_blank_values=True):
        if key != "tag":
            raise ConfigError(f"{value.label} {text!r} has an unknown option {key!r}", fix)
        if not _TAG.match(tag):
            raise ConfigError(
                f"{value.label} tag {tag!r} is not a Fluentd tag",
                "use letters, digits, _ and - in dot-separated parts, e.g. docusign.monitor",
            )
    return text


def _log_format(value: _Value) -> str:
    text = _text(value).lower()
    if text not in ("text", "json"):
        raise ConfigError(f"{value.label} {text!r} is not a log format", "use text or json")
    return text


def _log_level(value: _Value) -> str:
    text = _text(value).lower()
    if text not in _LOG_LEVELS:
        raise ConfigError(f"{value.label} {text!r} is not a log level",
                          "use debug, info, warning or error")
    return _LOG_LEVELS[text]


def _token_cache(value: _Value) -> bool:
    if isinstance(value.raw, bool):
        return value.raw
    text = _text(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{value.label} {text!r} is not on or off",
                      "use 1/true to keep the token cache or 0/false to disable it")


def _redirect_uri(value: _Value) -> str:
    text = _text(value)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{value.label} {text!r} is not an http(s) URL",
                          "give a redirect URI registered on the integration key in Apps and Keys")
    return text
