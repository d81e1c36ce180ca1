"""Settings: one frozen value built once at the edge from flags, environment and a TOML file.

Nothing else in the package reads ``os.environ``. Precedence: flag > environment > file > default.
Secrets are never taken as flags and are hidden from ``repr``.

Every setting is declared once, as a field of ``Settings`` made with ``setting(...)``: its key
(the TOML key and the argparse dest), flag, environment variable, parser, default, help text,
whether it is a secret, and which commands use it. That one declaration drives the CLI's flags and
``--help`` (``specs_for``), the layering below, the ``Settings`` value and ``describe()``. A
command reads only the settings it uses: ``status`` never fails on a malformed ``DOCUSIGN_OUTPUT``.

Adding a setting is one entry here (plus its row in the README's settings table), for example::

    read_timeout_s: float = setting(
        "read_timeout", label="read timeout", flag="--read-timeout",
        env="DOCUSIGN_READ_TIMEOUT", parse=_duration, default=60.0, metavar="DURATION",
        help="how long to wait for one Monitor answer (default 60s)", commands=CONNECTING,
        show=lambda s: f"{s.read_timeout_s:g} s",
    )

A parser takes a ``_Value`` (the raw value and the name the user gave it by) and returns the
typed value or raises ``ConfigError``; ``derive`` computes a default from the settings declared
before it; ``required=True`` makes it an error to leave it unset in the commands that use it.

Every malformed value raises ``ConfigError`` (exit 78) with one line that names the setting the way
the user gave it (``--page-size``, ``DOCUSIGN_PAGE_SIZE`` or ``page_size in /etc/x.toml``) and says
how to fix it; ``load_settings(..., collect=True)`` gathers every such problem in one pass instead
(``check``). A value that looks like key material is never echoed, whichever setting it lands in.
Loading does no network I/O and never imports cryptography: a scheduled run that reuses a cached
token must not pay for it, so the key is only checked for a plausible PEM block here and parsed by
``auth`` when a token is minted.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from .errors import ConfigError
from .formats import FORMATS
from .forward_frames import MAX_FRAME_BYTES, parse_forward_url, shown_url
from .redact import looks_like_key_material, register, scrub
from .timestamps import WhenResult, parse_duration_s, parse_when, validate_backfill

__all__ = [
    "Settings",
    "Secret",
    "Spec",
    "Entry",
    "SettingsProblems",
    "load_settings",
    "specs_for",
    "setting_spec",
    "parse_setting",
    "looks_like_key_material",
    "same_user",
    "DEFAULT_REDIRECT_URI",
    "COMMANDS",
    "FLAG_KEYS",
    "FILE_KEYS",
    "MIN_POLL_INTERVAL_S",
    "MAX_POLL_INTERVAL_S",
    "MAX_FORWARD_ACK_TIMEOUT_S",
    "MAX_LAG_S",
    "is_loopback",
    "pem_line",
    "read_toml_file",
]

#: Where the consent page sends the admin afterwards. It must be registered on the integration
#: key (Apps and Keys > Redirect URIs); DocuSign's own consent landing page is the usual choice.
DEFAULT_REDIRECT_URI = "https://developers.docusign.com/platform/auth/consent"

#: DocuSign asks for at most one request a minute once a client has caught up.
MIN_POLL_INTERVAL_S = 60.0
#: Every duration setting has a maximum (a longer value is exit 78 naming the setting): beyond
#: it a value is a mistake (``1e10`` s is 300 years, and crashed the first wait), not a choice.
#: A poll interval: a day (three of them make `status` stale; DocuSign keeps seven days).
MAX_POLL_INTERVAL_S = 86400.0
#: The forward output's ack timeout: an hour (a receiver silent that long is not coming back).
MAX_FORWARD_ACK_TIMEOUT_S = 3600.0
#: `status --max-lag`: DocuSign's seven-day retention (a longer lag has lost events anyway).
MAX_LAG_S = 7 * 86400.0

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

# -- commands -------------------------------------------------------------------------------------

#: Every command that reads settings, as the CLI names them.
COMMANDS = ("run", "check", "consent-url", "status", "checkpoint show", "checkpoint reset")
_ALL = frozenset(COMMANDS)
#: The commands that talk to DocuSign.
CONNECTING = frozenset({"run", "check"})
#: The commands that need the checkpoint's identity (environment, user, Monitor API).
_CHECKPOINTED = frozenset({"run", "check", "status", "checkpoint show", "checkpoint reset"})


class Secret:
    """A string that never shows itself in repr/str/format (logs, tracebacks, f-strings)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register(value)  # masked in every text leaving the process from now on

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


# -- the declaration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Value:
    """One raw value and the name the user gave it by (for messages)."""

    raw: object
    label: str  # "--page-size", "DOCUSIGN_PAGE_SIZE", "page_size in /etc/x.toml"
    base: Path | None = None  # relative paths in a config file are relative to the file
    environ: Mapping[str, str] = field(default_factory=dict)
    from_file: bool = False  # a secret read from its _FILE form (raw is then bytes)


@dataclass(frozen=True)
class Spec:
    """Everything about one setting except its type and value (see the module docstring)."""

    key: str
    label: str
    help: str
    parse: Callable[[_Value], Any]
    flag: str | None = None
    env: str | None = None
    default: Any = None
    derive: Callable[[Mapping[str, Any], Mapping[str, str]], Any] | None = None
    required: bool = False
    commands: frozenset[str] = _ALL
    metavar: str | None = None
    #: A flag that takes no value: giving it sets this value (``--no-token-cache`` -> False).
    switch: Any = None
    #: A path: a GUID or key material given here is refused without being echoed.
    path: bool = False
    #: Secrets have no flag of their own; ``file_flag``/``file_env`` name their ``_FILE`` form.
    secret: bool = False
    file_flag: str | None = None
    file_env: str | None = None
    #: The fix when a required setting is missing (default: name its variables and the help).
    missing_fix: str | None = None
    #: How ``describe()`` shows the value (``None``: hidden from it).
    show: Callable[[Settings], str] | None = None

    @property
    def field_name(self) -> str:
        return _FIELD_OF[self.key]

    @property
    def file_key(self) -> str | None:
        """The TOML key and argparse dest of a secret's ``_FILE`` form."""
        return self.key + "_file" if self.secret else None

    @property
    def environment_variables(self) -> tuple[str, ...]:
        return tuple(name for name in (self.env, self.file_env) if name)


def setting(key: str, **spec: Any) -> Any:
    """A ``Settings`` field declared with its ``Spec`` (the dataclass default is the spec's)."""
    declared = Spec(key=key, **spec)
    default = declared.default
    if declared.derive is not None or declared.required:
        default = spec.get("default", _PLACEHOLDER.get(key))
    return field(default=default, metadata={"spec": declared})


#: Dataclass defaults for settings that are required or derived: never what loading yields, only
#: what a ``Settings(...)`` built by hand in a test starts from.
_PLACEHOLDER: dict[str, Any] = {
    "environment": "development",
    "user_id": "",
    "integration_key": Secret(""),
    "private_key": Secret(""),
    "checkpoint": Path("checkpoint.json"),
    "auth_url": _AUTH_URLS["development"],
    "monitor_url": _MONITOR_URLS[("development", "lens")],
}


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
            "account-d.docusign.com; demo is accepted as an alias; case does not matter)",
        ) from None


_USER_FIX = ("use the API Username GUID shown in Apps and Keys (e.g. "
             "9cfb472b-ef1f-4116-8df2-17c53841fd6c)")


def _user_id(value: _Value) -> str:
    """A GUID, lower-cased: DocuSign compares them without case, so ``ABC...`` is ``abc...``
    (one default checkpoint, one lock, one token cache for the same user)."""
    text = _text(value)
    if "@" in text:
        raise ConfigError(
            f"{value.label} {text!r} is an e-mail address, but DocuSign wants the user's ID",
            _USER_FIX,
        )
    if not _GUID.match(text):
        raise ConfigError(f"{value.label} {text!r} is not a user ID (a GUID)", _USER_FIX)
    return text.lower()


def same_user(a: str, b: str) -> bool:
    """User IDs are GUIDs: equal whatever their case (a checkpoint written by an older version
    may hold the ID as the user typed it)."""
    return a.lower() == b.lower()


def _secret_text(value: _Value, what: str) -> str:
    """A one-line secret from its variable or its ``_FILE`` (trailing newline dropped)."""
    if not value.from_file:
        return _text(value)
    assert isinstance(value.raw, bytes)
    try:
        return value.raw.decode("utf-8").strip()  # files usually end with a newline
    except UnicodeDecodeError:
        raise ConfigError(f"{value.label} is not a text file", f"put only {what} in it") from None


def _integration_key(value: _Value) -> Secret:
    text = _secret_text(value, "the Integration Key GUID")
    # Never echo the value: it is a secret, even when malformed.
    if not _GUID.match(text):
        raise ConfigError(
            f"{value.label} does not hold an integration key (a GUID; got {len(text)} characters)",
            "copy the Integration Key from Apps and Keys, e.g. "
            "1f2e3d4c-0000-4000-8000-123456789abc",
        )
    return Secret(text)


def _private_key(value: _Value) -> Secret:
    if value.from_file:
        assert isinstance(value.raw, bytes)
        try:
            text = value.raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(
                f"{value.label} is binary, not a PEM private key (perhaps DER)",
                "convert it: openssl pkey -inform DER -in key.der -out key.pem",
            ) from None
    else:
        text = _text(value)
        # Environment files (Docker, systemd) often carry the PEM on one line with literal \n.
        if "\\n" in text and "\n" not in text:
            text = text.replace("\\n", "\n")
    _check_pem(text, value.label)
    return Secret(text)


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
        # Named without the armour's dashes: the redactor takes armour for key material.
        raise ConfigError(
            f"{where} holds no PEM private key (no BEGIN {_PEM_LABELS['PKCS#1']} or BEGIN "
            f"{_PEM_LABELS['PKCS#8']} line)",
            "use the private key saved from Apps and Keys > Generate RSA, PEM text; a path "
            "to the key file goes in DOCUSIGN_PRIVATE_KEY_FILE",
        )
    end = pem_line("END", _PEM_LABELS[kind])
    if end not in text:
        raise ConfigError(f"{where} is cut short (no END {_PEM_LABELS[kind]} line)",
                          "copy the whole key, including its BEGIN and END lines")


def _expand_home(text: str, environ: Mapping[str, str]) -> str:
    if text == "~" or text.startswith("~/"):
        home = environ.get("HOME") or os.path.expanduser("~")
        return home + text[1:]
    return text


def _path(value: _Value) -> Path:
    raw = value.raw
    text = str(raw) if isinstance(raw, Path) else _text(value)
    path = Path(_expand_home(text, value.environ))
    if value.base is not None and not path.is_absolute():
        path = value.base / path
    return path


def _default_checkpoint(resolved: Mapping[str, Any], environ: Mapping[str, str]) -> Path:
    """``$XDG_STATE_HOME/docusign-input/<environment>-<user>.json``, or under ``~/.local/state``
    (the XDG spec ignores a relative path). Without either (a service user with no HOME), the
    error names the setting that avoids the default."""
    name = f"{resolved['environment']}-{resolved['user_id']}.json"
    xdg = environ.get("XDG_STATE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "docusign-input" / name
    home = environ.get("HOME", "")
    if not home:  # a service user: the password database's home, if it is a real one
        home = os.path.expanduser("~")
        if home in ("~", "/") or not os.path.isdir(home):
            home = ""
    if not os.path.isabs(home):
        raise ConfigError(
            "the default checkpoint directory cannot be used: HOME is not set (or not an "
            "absolute path) and neither is XDG_STATE_HOME",
            "set --checkpoint (or DOCUSIGN_CHECKPOINT) to a file in a directory this user can "
            "write, e.g. /var/lib/docusign-input/checkpoint.json",
        )
    return Path(home) / ".local" / "state" / "docusign-input" / name


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


_DURATION_FIX = "give seconds or a duration such as 90s, 5m or 2h"


def _duration_up_to(maximum_s: float) -> Callable[[_Value], float]:
    """A duration parser with the setting's maximum (exit 78 naming the setting beyond it)."""

    def parse(value: _Value) -> float:
        seconds = _duration(value)
        if seconds > maximum_s:
            most = format_duration(maximum_s)
            raise ConfigError(
                f"{value.label} {_text(value) if isinstance(value.raw, str) else value.raw!r} "
                f"is longer than the maximum of {most}",
                f"give at most {most} ({maximum_s:g} s)",
            )
        return seconds

    return parse


def format_duration(seconds: float) -> str:
    """``1 day``, ``7 days``, ``1 hour``, ``90 s``: a maximum as people say it."""
    for unit, size in (("day", 86400.0), ("hour", 3600.0), ("minute", 60.0)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} s"


def _duration(value: _Value) -> float:
    """Seconds (``90``, ``7.5``) or a duration (``90s``, ``5m``, ``2h``), more than zero."""
    raw = value.raw
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ConfigError(f"{value.label} must be a number of seconds or a duration, not {raw!r}",
                          _DURATION_FIX)
    text = str(raw) if not isinstance(raw, str) else _text(value)
    try:
        seconds = parse_duration_s(text)
    except ValueError:
        raise ConfigError(f"{value.label} {text!r} is not a number of seconds or a duration",
                          _DURATION_FIX) from None
    if not seconds > 0:
        raise ConfigError(f"{value.label} {text!r} must be more than 0 seconds",
                          "give e.g. 60 or 5m (DocuSign asks for at most one poll a minute)")
    return seconds


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: the only hosts allowed over plain ``http://``."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(value: _Value, example: str) -> str:
    """``scheme://host[:port]``, without a trailing slash; the clients add the API paths."""
    text = _text(value)
    example = f"e.g. {example}"
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


def _auth_url(value: _Value) -> str:
    return _url(value, _AUTH_URLS["development"])


def _monitor_url(value: _Value) -> str:
    return _url(value, _MONITOR_URLS[("development", "lens")])


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
    fix = ("use stdout, forward://HOST:PORT or forward+tls://HOST:PORT, with ?tag=TAG and "
           "&compression=gzip if wanted, e.g. forward://127.0.0.1:24224")
    try:
        _, _, _, options = parse_forward_url(text)
    except ValueError as exc:
        # Scrubbed before quoting: repr() could escape a password out of the redactor's reach.
        raise ConfigError(f"{value.label} {scrub(shown_url(text))!r} {exc}", fix) from None
    tag = options.get("tag")
    if tag is not None and not _TAG.match(tag):
        raise ConfigError(
            f"{value.label} tag {tag!r} is not a Fluentd tag",
            "use letters, digits, _ and - in dot-separated parts, e.g. docusign.monitor",
        )
    return text


def _event_format(value: _Value) -> str:
    text = _text(value).lower()
    if text not in FORMATS:
        raise ConfigError(f"{value.label} {text!r} is not an event format",
                          f"use {', '.join(FORMATS[:-1])} or {FORMATS[-1]}")
    return text


def _shared_key(value: _Value) -> Secret:
    text = _secret_text(value, "the shared key, as text")
    if not text:
        raise ConfigError(f"{value.label} is empty",
                          "give the shared_key of the receiver's forward input, or unset it")
    return Secret(text)


def _frame_size(value: _Value) -> int:
    size = _integer(value)
    if not MIN_FRAME_BYTES <= size <= MAX_FRAME_SETTING_BYTES:
        raise ConfigError(
            f"{value.label} {size} is out of range",
            f"give a number of bytes from {MIN_FRAME_BYTES} to {MAX_FRAME_SETTING_BYTES} "
            f"(default {MAX_FRAME_BYTES}), below the receiver's message limit",
        )
    return size


#: Bounds of --forward-frame-size: a frame must hold a typical event; Fluent Bit's forward input
#: refuses messages above 6,144,000 bytes by default, and nothing gains from larger ones.
MIN_FRAME_BYTES = 1024
MAX_FRAME_SETTING_BYTES = 64 * 1024 * 1024


def _readable_file(value: _Value) -> Path:
    path = _path(value)
    if not os.access(path, os.R_OK):
        why = "does not exist" if not path.exists() else "cannot be read by this user"
        raise ConfigError(f"{value.label} {path} {why}",
                          "give the path of a PEM file readable by the user running the connector")
    return path


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


def _switch(value: _Value) -> bool:
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
    fix = ("give the https URL registered as a Redirect URI on the integration key in Apps and "
           "Keys, e.g. https://example.com/docusign/consent")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"{value.label} {text!r} is not a valid URL", fix) from None
    if parts.scheme != "https" or not parts.hostname:
        if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
            return text  # the simulator's own consent page
        raise ConfigError(f"{value.label} {text!r} is not an https URL", fix)
    return text


def _organization_shown(settings: Settings) -> str:
    if settings.monitor_api == "organizations":
        return settings.organization_id or "looked up once via /oauth/userinfo"
    return settings.organization_id or "not needed by the lens API"


def _private_key_shown(settings: Settings) -> str:
    kind = _pem_kind(settings.private_key_pem.reveal()) or "PEM"
    shown = f"{kind} private key (hidden)"
    source = settings.private_key_source
    if source and source != settings.sources.get("private_key"):
        shown += f" from {source}"
    return shown


def _backfill_shown(settings: Settings) -> str:
    if not settings.backfill_start:
        return "unset (the first sync starts now; nothing from the past)"
    when = settings.backfill
    if isinstance(when, datetime):
        from .timestamps import format_time

        return f"{settings.backfill_start} (= {format_time(when)})"
    return f"{settings.backfill_start} (everything DocuSign still holds, about seven days)"


# -- the settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Every setting, declared once (see the module docstring), then what loading derived."""

    environment: str = setting(
        "environment", label="environment", flag="--environment", env="DOCUSIGN_ENVIRONMENT",
        parse=_environment, required=True, metavar="NAME",
        help="development or production (demo is an alias of development; any case)",
        missing_fix="set DOCUSIGN_ENVIRONMENT (or --environment) to development or production",
        show=lambda s: s.environment,
    )
    user_id: str = setting(
        "user_id", label="user ID", flag="--user-id", env="DOCUSIGN_USER_ID", parse=_user_id,
        required=True, commands=_CHECKPOINTED, metavar="GUID",
        help="API Username (GUID) of the impersonated admin, from Apps and Keys",
        missing_fix="set DOCUSIGN_USER_ID (or --user-id) to the API Username GUID of the "
        "impersonated admin, shown in Apps and Keys",
        show=lambda s: s.user_id,
    )
    integration_key: Secret = setting(
        "integration_key", label="integration key", env="DOCUSIGN_INTEGRATION_KEY",
        file_env="DOCUSIGN_INTEGRATION_KEY_FILE", secret=True, parse=_integration_key,
        required=True, commands=CONNECTING | {"consent-url"},
        help="the Integration Key (a GUID) from Apps and Keys; no flag, a secret",
        missing_fix="set DOCUSIGN_INTEGRATION_KEY_FILE to a file holding the Integration Key "
        "from Apps and Keys (or DOCUSIGN_INTEGRATION_KEY)",
        show=lambda s: "set (hidden)",
    )
    private_key_pem: Secret = setting(
        "private_key", label="private key", env="DOCUSIGN_PRIVATE_KEY",
        file_env="DOCUSIGN_PRIVATE_KEY_FILE", file_flag="--private-key-file", secret=True,
        parse=_private_key, required=True, commands=CONNECTING, metavar="FILE",
        help="the RSA private key from Apps and Keys > Generate RSA (PKCS#1 or PKCS#8 PEM)",
        missing_fix="set DOCUSIGN_PRIVATE_KEY_FILE (or --private-key-file) to the key saved "
        "from Apps and Keys > Generate RSA",
        show=_private_key_shown,
    )
    backfill_start: str | None = setting(
        "backfill_start", label="backfill start", flag="--backfill-start",
        env="DOCUSIGN_BACKFILL_START", parse=_text, commands=CONNECTING, metavar="WHEN",
        help="first sync only: a date, a date-time, 90m/36h/7d back, or earliest "
        "(default: start now)",
        show=_backfill_shown,
    )
    checkpoint_path: Path = setting(
        "checkpoint", label="checkpoint", flag="--checkpoint", env="DOCUSIGN_CHECKPOINT",
        parse=_path, path=True, derive=_default_checkpoint, commands=_CHECKPOINTED,
        metavar="FILE",
        help="checkpoint file (default $XDG_STATE_HOME/docusign-input/ENVIRONMENT-USER.json)",
        show=lambda s: str(s.checkpoint_path),
    )
    page_size: int = setting(
        "page_size", label="page size", flag="--page-size", env="DOCUSIGN_PAGE_SIZE",
        parse=_page_size, default=2000, commands=CONNECTING, metavar="N",
        help="events per request, 1 to 2000 (default 2000)",
        show=lambda s: str(s.page_size),
    )
    poll_interval_s: float = setting(
        "poll_interval", label="poll interval", flag="--poll-interval",
        env="DOCUSIGN_POLL_INTERVAL", parse=_duration_up_to(MAX_POLL_INTERVAL_S), default=60.0,
        commands=CONNECTING | {"status"}, metavar="DURATION",
        help="--follow: time between polls once caught up, e.g. 60, 90s, 5m (default 60s, at "
        "most 1 day)",
        show=lambda s: f"{s.poll_interval_s:g} s",
    )
    auth_url: str = setting(
        "auth_url", label="auth server", flag="--auth-url", env="DOCUSIGN_AUTH_URL",
        parse=_auth_url, derive=lambda r, e: _AUTH_URLS[r["environment"]],
        commands=CONNECTING | {"consent-url"}, metavar="URL",
        help="DocuSign's account server (default by environment)",
        show=lambda s: s.auth_url,
    )
    monitor_api: str = setting(
        "monitor_api", label="Monitor API", flag="--monitor-api", env="DOCUSIGN_MONITOR_API",
        parse=_monitor_api, default="lens", commands=_CHECKPOINTED, metavar="API",
        help="Monitor API generation: lens (default) or organizations",
        show=lambda s: s.monitor_api,
    )
    monitor_url: str = setting(
        "monitor_url", label="Monitor server", flag="--monitor-url", env="DOCUSIGN_MONITOR_URL",
        parse=_monitor_url, derive=lambda r, e: _MONITOR_URLS[(r["environment"],
                                                               r["monitor_api"])],
        commands=CONNECTING, metavar="URL",
        help="DocuSign Monitor server (default by environment and API)",
        show=lambda s: s.monitor_url,
    )
    organization_id: str | None = setting(
        "organization_id", label="organization ID", flag="--organization-id",
        env="DOCUSIGN_ORGANIZATION_ID", parse=_organization_id, commands=CONNECTING,
        metavar="GUID", help="organizations API: the organization (default: looked up once)",
        show=_organization_shown,
    )
    output: str = setting(
        "output", label="output", flag="--output", env="DOCUSIGN_OUTPUT", parse=_output,
        default="stdout", commands=CONNECTING, metavar="SPEC",
        help="stdout (default), forward://HOST:PORT or forward+tls://HOST:PORT, options "
        "?tag=TAG&compression=gzip",
        show=lambda s: s.output,
    )
    format: str = setting(
        "format", label="event format", flag="--format", env="DOCUSIGN_FORMAT",
        parse=_event_format, default="raw", commands=CONNECTING, metavar="FORMAT",
        help="raw (default: each event as DocuSign sent it), ecs (Elastic Common Schema 9.x) "
        "or ocsf (OCSF 1.8.0)",
        show=lambda s: s.format,
    )
    forward_shared_key: Secret | None = setting(
        "forward_shared_key", label="forward shared key", env="DOCUSIGN_FORWARD_SHARED_KEY",
        file_env="DOCUSIGN_FORWARD_SHARED_KEY_FILE", secret=True, parse=_shared_key,
        commands=CONNECTING,
        help="forward output: the shared_key of the receiver's forward input (Fluent Bit, "
        "Fluentd secure forward); no flag, a secret",
        show=lambda s: "set (hidden)",
    )
    forward_tls_cert_file: Path | None = setting(
        "forward_tls_cert_file", label="forward client certificate",
        flag="--forward-tls-cert-file", env="DOCUSIGN_FORWARD_TLS_CERT_FILE",
        parse=_readable_file, path=True, commands=CONNECTING, metavar="FILE",
        help="forward+tls: a PEM client certificate to present (receivers that verify clients)",
        show=lambda s: str(s.forward_tls_cert_file or "none"),
    )
    forward_tls_key_file: Path | None = setting(
        "forward_tls_key_file", label="forward client key", flag="--forward-tls-key-file",
        env="DOCUSIGN_FORWARD_TLS_KEY_FILE", parse=_readable_file, path=True,
        commands=CONNECTING, metavar="FILE",
        help="forward+tls: the client certificate's PEM private key (if not in the "
        "certificate file)",
        show=lambda s: str(s.forward_tls_key_file or "none"),
    )
    forward_ack_timeout_s: float = setting(
        "forward_ack_timeout", label="forward ack timeout", flag="--forward-ack-timeout",
        env="DOCUSIGN_FORWARD_ACK_TIMEOUT", parse=_duration_up_to(MAX_FORWARD_ACK_TIMEOUT_S),
        default=60.0, commands=CONNECTING, metavar="DURATION",
        help="forward output: how long to wait for the receiver's acknowledgement before "
        "sending again on a new connection; a scheduled run gives up after as long without "
        "one (default 60s, at most 1 hour)",
        show=lambda s: f"{s.forward_ack_timeout_s:g} s",
    )
    forward_frame_bytes: int = setting(
        "forward_frame_size", label="forward frame size", flag="--forward-frame-size",
        env="DOCUSIGN_FORWARD_FRAME_SIZE", parse=_frame_size, default=MAX_FRAME_BYTES,
        commands=CONNECTING, metavar="BYTES",
        help="forward output: the most bytes of events in one message (before compression); "
        "lower it below a receiver's message limit (default 1000000)",
        show=lambda s: f"{s.forward_frame_bytes} bytes",
    )
    ca_bundle: Path | None = setting(
        "ca_bundle", label="CA bundle", env="REQUESTS_CA_BUNDLE", parse=_readable_file,
        path=True, commands=CONNECTING, metavar="FILE",
        help="CA certificates (a file or a directory) to verify DocuSign and a forward+tls "
        "receiver against, instead of the system's",
        show=lambda s: str(s.ca_bundle or "the system's"),
    )
    log_format: str = setting(
        "log_format", label="log format", flag="--log-format", env="DOCUSIGN_LOG_FORMAT",
        parse=_log_format, default="text", metavar="FORMAT",
        help="stderr lines as text (default) or json", show=lambda s: s.log_format,
    )
    log_level: str = setting(
        "log_level", label="log level", flag="--log-level", env="DOCUSIGN_LOG_LEVEL",
        parse=_log_level, default="info", metavar="LEVEL",
        help="debug, info (default), warning or error", show=lambda s: s.log_level,
    )
    token_cache: bool = setting(
        "token_cache", label="token cache", flag="--no-token-cache", switch=False,
        env="DOCUSIGN_TOKEN_CACHE", parse=_switch, default=True, commands=CONNECTING,
        help="do not keep the access token in a 0600 file beside the checkpoint "
        "(DOCUSIGN_TOKEN_CACHE=0 does the same)",
        show=lambda s: f"on ({s.token_cache_path})" if s.token_cache else "off",
    )
    redirect_uri: str | None = setting(
        "redirect_uri", label="redirect URI", flag="--redirect-uri", env="DOCUSIGN_REDIRECT_URI",
        parse=_redirect_uri, commands=CONNECTING | {"consent-url"}, metavar="URI",
        help="consent URL: an https redirect URI registered on the integration key "
        "(default DocuSign's consent page)",
        show=lambda s: s.redirect_uri or f"{DEFAULT_REDIRECT_URI} (DocuSign's consent page)",
    )

    # -- derived while loading, not settings of their own ---------------------------------------

    #: The Backfill Start Time resolved once, against the clock the settings were loaded with.
    backfill: WhenResult | None = None
    #: Set when the Backfill Start Time is more than seven days back. Kept apart from
    #: ``warnings`` because the backfill applies only to a first sync: the engine's
    #: ``start_position`` warns when it actually uses it. ``check`` shows it.
    backfill_warning: str | None = None
    #: Things the CLI should print on stderr once (a secret in a file others can read, a short
    #: poll interval).
    warnings: tuple[str, ...] = ()
    #: How each setting was given: "--page-size", "DOCUSIGN_PAGE_SIZE", "page_size in FILE";
    #: absent means the default. Lets later errors name the setting the way the user wrote it.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    #: Where each secret came from: the file's path for a ``_FILE`` form, else its source.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def private_key_source(self) -> str:
        """Where the key came from, for messages ("DOCUSIGN_PRIVATE_KEY", or the file path)."""
        return self.origins.get("private_key", "")

    @property
    def token_cache_path(self) -> Path:
        """``<checkpoint>.token`` beside the checkpoint: one cache per environment and user."""
        return self.checkpoint_path.with_name(self.checkpoint_path.name + ".token")

    def source_of(self, name: str) -> str:
        """The name of a setting as the user gave it, or its environment variable by default."""
        if name in self.sources:
            return self.sources[name]
        spec = _SPECS.get(name)
        if spec is None:
            return name
        return spec.env or spec.flag or name

    def describe(self, command: str = "check") -> list[tuple[str, str]]:
        """The settings a command uses, secrets masked, each with where it came from.

        The integration key is never shown (the contract allows it only inside the consent URL),
        not even in part: only whether it is set and where from.
        """
        rows = []
        for spec in specs_for(command):
            if spec.show is None:
                continue
            if spec.secret and not getattr(self, spec.field_name):
                rows.append((spec.label, "not loaded"))
                continue
            source = self.sources.get(spec.key, "default")
            rows.append((spec.label, f"{spec.show(self)}  [{source}]"))
        return rows


# -- the table, read back from the declaration -----------------------------------------------------

#: Each setting's Spec by key, in declaration order (the order ``derive`` may rely on).
_SPECS: dict[str, Spec] = {}
_FIELD_OF: dict[str, str] = {}
for _field in fields(Settings):
    if "spec" in _field.metadata:
        _SPECS[_field.metadata["spec"].key] = _field.metadata["spec"]
        _FIELD_OF[_field.metadata["spec"].key] = _field.name
del _field


def specs_for(command: str | None = None) -> tuple[Spec, ...]:
    """The settings a command uses (all of them for ``None``), in declaration order."""
    return tuple(s for s in _SPECS.values() if command is None or command in s.commands)


def setting_spec(key: str) -> Spec:
    return _SPECS[key]


def parse_setting(key: str, text: str, label: str) -> Any:
    """One setting's value from text given outside the settings' layers (`status
    --poll-interval`), by the setting's own parser: the same rules, maximum and messages."""
    return _SPECS[key].parse(_Value(text, label))


#: The keys ``load_settings`` reads from its ``flags`` mapping (argparse dest names).
FLAG_KEYS = tuple(
    key
    for spec in _SPECS.values()
    for key, flag in ((spec.key, spec.flag), (spec.file_key, spec.file_flag))
    if flag and key
)
#: The keys a ``--config`` TOML file may hold.
FILE_KEYS = tuple(
    key for spec in _SPECS.values() for key in (spec.key, spec.file_key) if key
)


# -- loading --------------------------------------------------------------------------------------


class SettingsProblems(ConfigError):
    """Several settings are wrong at once (``check`` collects them all in one pass)."""

    def __init__(self, problems: list[ConfigError]) -> None:
        self.problems = problems
        first = problems[0]
        if len(problems) == 1:
            super().__init__(first.cause, first.fix)
        else:
            super().__init__(
                f"{len(problems)} settings problems, the first: {first.cause.rstrip('.')}",
                "fix each one listed above, then run `docusign-input check` again",
            )


@dataclass(frozen=True)
class Entry:
    """Settings given for one organization in an organizations file (``organizations``): one more
    layer, whose values are read by the same parsers and named by ``label`` in messages."""

    values: Mapping[str, object]
    label: Callable[[str], str]
    base: Path | None = None


class _Sources:
    """The three layers, highest first, and the rule that picks a setting from them."""

    def __init__(
        self,
        flags: Mapping[str, object],
        environ: Mapping[str, str],
        config_file: Path | None,
        entry: Entry | None = None,
    ) -> None:
        self.flags = flags
        self.environ = environ
        self.config_file = config_file
        self.file: dict[str, Any] = _read_toml(config_file) if config_file else {}
        self.entry = entry

    def _layers(self, key: str, flag: str | None, env: str | None) -> list[_Value | None]:
        found: list[_Value | None] = []
        if self.entry is not None:
            # An organization's own entry: its keys are refused in every other layer, so where it
            # stands among them decides nothing; first, so that it names the file.
            value = self.entry.values.get(key)
            found.append(None if _unset(value) else _Value(
                value, self.entry.label(key), self.entry.base, self.environ))
        value = self.flags.get(key) if flag else None
        found.append(None if _unset(value) else _Value(value, flag or key, environ=self.environ))
        value = self.environ.get(env) if env else None
        found.append(None if _unset(value) else _Value(value, env or key, environ=self.environ))
        value = self.file.get(key)
        if _unset(value) or self.config_file is None:
            found.append(None)
        else:
            found.append(_Value(value, f"{key} in {self.config_file}", self.config_file.parent,
                                self.environ))
        return found

    def get(self, spec: Spec) -> _Value | None:
        """The value from the highest layer that sets it (empty strings count as unset)."""
        found = self._layers(spec.key, spec.flag, spec.env)
        return next((v for v in found if v is not None), None)

    def get_secret(self, spec: Spec) -> tuple[_Value | None, bool]:
        """A secret or its ``_FILE`` form, whichever the highest layer gives; ``(value, is_file)``.

        Both forms in the same layer contradict each other; that is an error, not a silent pick.
        """
        assert spec.file_key is not None
        direct = self._layers(spec.key, None, spec.env)
        via_file = self._layers(spec.file_key, spec.file_flag, spec.file_env)
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


def read_toml_file(path: Path, what: str, fix: str, example: str) -> dict[str, Any]:
    """A TOML file's tables, or one ``ConfigError`` naming it as ``what`` (``--config PATH``)."""
    import tomllib

    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{what} does not exist", fix) from None
    except IsADirectoryError:
        raise ConfigError(f"{what} is a directory", fix) from None
    except PermissionError:
        raise ConfigError(f"{what} cannot be read by this user",
                          "make it readable by the user running the connector") from None
    except OSError as exc:
        raise ConfigError(f"{what} cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} is not valid TOML ({exc})", example) from None


def _read_toml(path: Path) -> dict[str, Any]:
    if looks_like_key_material(str(path)) or _GUID.match(str(path).strip()):
        raise ConfigError("--config holds key material or a GUID, not a file path (not shown)",
                          _TOML_FIX + "; secrets come only from the environment or a _FILE "
                          "variable")
    data = read_toml_file(path, f"--config {path}", _TOML_FIX,
                          'write one setting per line, e.g. environment = "production"')
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise ConfigError(
            f"--config {path} has unknown setting {unknown[0]!r}",
            "known settings: " + ", ".join(FILE_KEYS),
        )
    return data


def _guard(value: _Value, spec: Spec, *, path: bool) -> None:
    """Refuse key material anywhere but a secret's own variable, and a GUID where a path belongs,
    without echoing either (``--private-key-file "$(cat key.pem)"``)."""
    raw = value.raw
    if not isinstance(raw, str):
        return
    what = f"the path of the {spec.label} file" if path else f"the {spec.label}"
    if looks_like_key_material(raw):
        raise ConfigError(
            f"{value.label} holds what looks like key material, not {what}; the value is not "
            "shown",
            "secrets come only from the environment or a _FILE variable: save the key in a file "
            "(chmod 600) and set DOCUSIGN_PRIVATE_KEY_FILE (or --private-key-file) to its path",
        )
    if path and _GUID.match(raw.strip()):
        raise ConfigError(
            f"{value.label} holds a GUID where {what} belongs; the value is not shown",
            f"give {what}; an integration key goes in DOCUSIGN_INTEGRATION_KEY_FILE (a file "
            "holding it) or DOCUSIGN_INTEGRATION_KEY",
        )


def _read_secret_file(value: _Value, what: str) -> tuple[bytes, Path]:
    path = _path(value)
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


def _key_file_warning(origin: str | None, source: str | None) -> list[str]:
    """A private key file others can read: a warning in every command that reads it (the key
    still works, but should not be readable)."""
    if not origin or origin == source:  # the PEM text itself, not a file
        return []
    try:
        mode = os.stat(origin).st_mode
    except OSError:
        return []
    if stat.S_IMODE(mode) & 0o077:
        return [f"the private key file {origin} can be read by others (mode "
                f"{stat.S_IMODE(mode):o}): chmod 600 {origin}"]
    return []


_FAILED = object()


class _Loader:
    """One pass over the declaration: each setting the command uses, from the highest layer."""

    def __init__(self, src: _Sources, command: str) -> None:
        self.src = src
        self.command = command
        self.values: dict[str, Any] = {}
        self.sources: dict[str, str] = {}
        self.origins: dict[str, str] = {}

    def resolve(self, spec: Spec) -> Any:
        if self.command not in spec.commands:
            return _dataclass_default(spec)
        if spec.secret:
            value = self._secret(spec)
        else:
            value = self.src.get(spec)
            if value is not None:
                _guard(value, spec, path=spec.path)
                self.sources[spec.key] = value.label
                return spec.parse(value)
        if value is None:
            if spec.required:
                names = " or ".join(spec.environment_variables)
                raise ConfigError(f"the {spec.label} is not set",
                                  spec.missing_fix or f"set {names}: {spec.help}")
            if spec.derive is not None:
                if any(v is _FAILED for v in self.values.values()):
                    return _FAILED  # it depends on a setting already reported as wrong
                return spec.derive(self.values, self.src.environ)
            return spec.default
        return spec.parse(value)

    def _secret(self, spec: Spec) -> _Value | None:
        value, is_file = self.src.get_secret(spec)
        if value is None:
            return None
        self.sources[spec.key] = value.label
        if not is_file:
            self.origins[spec.key] = value.label
            return value
        _guard(value, spec, path=True)
        data, path = _read_secret_file(value, spec.label)
        self.origins[spec.key] = str(path)
        return _Value(data, f"{value.label} {path}", from_file=True)


def _dataclass_default(spec: Spec) -> Any:
    for item in fields(Settings):
        if item.name == spec.field_name:
            return item.default
    raise AssertionError(spec.key)  # pragma: no cover


def load_settings(
    flags: Mapping[str, object],
    environ: Mapping[str, str],
    *,
    command: str = "run",
    config_file: Path | None = None,
    now: datetime | None = None,
    collect: bool = False,
    entry: Entry | None = None,
) -> Settings:
    """Build the one ``Settings`` value, or raise ``ConfigError`` naming the bad setting.

    ``flags``: argparse dest names (see ``FLAG_KEYS``) mapped to the value given, ``None`` (or
    absent) when not given; ``token_cache`` is ``False`` for ``--no-token-cache``. ``environ``: the
    process environment. ``command``: which command's settings to read (``status`` needs no
    secrets; ``consent-url`` only the environment and the integration key: an admin grants
    consent before anyone has a user ID or a key pair in place). ``now``: the one clock the
    Backfill Start Time is resolved against. ``collect``: raise ``SettingsProblems`` with every
    problem found instead of stopping at the first. ``entry``: one organization's settings from an
    organizations file (``organizations``), read like any other layer.
    """
    if command not in _ALL:
        raise ValueError(f"unknown command {command!r}")
    now = now or datetime.now(timezone.utc)
    src = _Sources(flags, environ, config_file, entry)
    loader = _Loader(src, command)
    problems: list[ConfigError] = []
    for spec in _SPECS.values():
        try:
            loader.values[spec.key] = loader.resolve(spec)
        except ConfigError as exc:
            if not collect:
                raise
            problems.append(exc)
            loader.values[spec.key] = _FAILED
    values = loader.values
    warnings: list[str] = []
    backfill: WhenResult | None = None
    backfill_warning = None
    checks: list[Callable[[], None]] = []

    def hosts() -> None:
        _check_hosts(values["environment"], values["monitor_api"], values["auth_url"],
                     values["monitor_url"], loader.sources)

    def backfill_start() -> None:
        nonlocal backfill, backfill_warning
        text = values["backfill_start"]
        if text:
            label = loader.sources["backfill_start"]
            backfill_warning = validate_backfill(text, now, setting=label)
            backfill = parse_when(text, now)

    if command in CONNECTING:
        checks += [hosts, backfill_start]
    for check in checks:
        if any(v is _FAILED for v in values.values()):
            break
        try:
            check()
        except ConfigError as exc:
            if not collect:
                raise
            problems.append(exc)
    if problems:
        raise SettingsProblems(problems)
    if config_file is not None and any(
        src.file.get(s.key) for s in _SPECS.values() if s.secret
    ):
        warnings.extend(_file_secret_warning(config_file))
    warnings.extend(_key_file_warning(loader.origins.get("private_key"),
                                      loader.sources.get("private_key")))
    # DocuSign's request: a loopback Monitor URL is the simulator (the demo polls it every 2 s).
    monitor_host = urlsplit(str(values.get("monitor_url") or "")).hostname or ""
    if (
        "poll_interval" in loader.sources
        and values["poll_interval"] < MIN_POLL_INTERVAL_S
        and not is_loopback(monitor_host)
    ):
        warnings.append(
            f"{loader.sources['poll_interval']} {values['poll_interval']:g} s is below "
            f"{MIN_POLL_INTERVAL_S:g} s: DocuSign asks for at most one poll a minute once caught "
            "up, and may rate-limit or block the integration key"
        )
    return Settings(
        **{spec.field_name: values[spec.key] for spec in _SPECS.values()},
        backfill=backfill,
        backfill_warning=backfill_warning,
        warnings=tuple(warnings),
        sources=loader.sources,
        origins=loader.origins,
    )
