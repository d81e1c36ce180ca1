"""The one owner of redaction: secrets are registered here when they come into being, and every
text that leaves the process goes through `scrub` before it is encoded.

Registered: the settings' secrets (each `settings.Secret` registers itself), the access tokens
`auth` mints or reads from its cache, the JWT assertions it signs, a password in an output URL.
Tokens and assertions are short-lived: they are registered until shortly after they expire
(`register_until`), so the registry stays bounded in a run that mints for months.
Scrubbed: both log formats (before JSON encoding, so a secret holding ``"`` or ``\\`` is still
found), exception messages (`errors.ConnectorError.line`), DocuSign's error bodies, the failure
records saved in the checkpoint, `status` and `check` output.

Besides the registered values, four shapes are masked whoever wrote them: a PEM block (or what
is left of one), a JWT-shaped token (an access token pasted into the wrong setting, before any
was minted), the password of a ``scheme://user:password@`` URL, and the value of a
``shared_key=`` / ``password=`` / ``token=`` query option. So messages must never spell PEM armour
themselves (``settings.pem_line`` assembles it only for tests and key checks).

Pure: no I/O; one process-wide registry because a secret may come into being in any module.
"""

from __future__ import annotations

import re
import threading
from typing import Callable

__all__ = ["MASK", "KEY_HIDDEN", "Redactor", "REDACTOR", "register", "register_until", "scrub",
           "looks_like_secret", "looks_like_key_material", "hide_secret_looking"]

MASK = "********"
KEY_HIDDEN = "[key material hidden]"
#: Shorter values would mask ordinary words; nothing we register is that short by design.
MIN_SECRET_CHARS = 6
#: A short-lived value (`Redactor.register_until`) stays masked this long after it expired: it
#: is worth nothing then, and the hour covers a clock that is off and a token DocuSign honours
#: a little past its lifetime. (Expired or not, a JWT-shaped token is also masked by its shape.)
EXPIRED_KEPT_S = 3600.0
#: A PEM block, or what is left of one once a message cut it.
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]*-----.*?(?:-----END [A-Z0-9 ]*-----|\Z)", re.S)
#: The password of ``scheme://user:password@host``.
_URL_PASSWORD = re.compile(r"(?<=://)([^/\s:@'\"]*):[^/\s@'\"]+@")
#: Query options that carry a secret, whatever URL they are in.
_SECRET_OPTION = re.compile(
    r"(?i)([?&](?:shared_key|sharedkey|password|passwd|secret|token|access_token|assertion)=)"
    r"[^&\s'\"]+"
)
#: The integration key as a consent URL's ``client_id``: the one place an admin must see it.
_CONSENT_CLIENT_ID = re.compile(r"(client_id=)[^&\s'\"]+")
_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}\}?$")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.")
#: A whole JWT-shaped token: a JSON header, a payload (DocuSign's access tokens' is not JSON)
#: and a signature; what an access token or assertion looks like before anything registered it.
_TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*)?")


class Redactor:
    """The registered secrets and the rule that masks them."""

    def __init__(self) -> None:
        #: Replaced whole, never mutated: a reader in another thread sees an old or a new
        #: registry, never half of one (readers take no lock; writers take `_writing`, or two
        #: threads registering at once, as many organizations' runs do, could each drop the
        #: other's value).
        #: The values, and an index from each value's first MIN_SECRET_CHARS characters to the
        #: values starting so, longest first. One regex alternation of every value was recompiled
        #: on each registration and tried every value at every position of a text: with many
        #: organizations (thousands of key lines, tokens and assertions) start-up and each log
        #: line took seconds. The index makes a scrub one lookup per character, whatever the
        #: number of values.
        self._state: tuple[frozenset[str], dict[str, tuple[str, ...]]] = (frozenset(), {})
        #: Values registered for good (settings' secrets, key lines, URL passwords).
        self._permanent: frozenset[str] = frozenset()
        #: Short-lived values (access tokens, JWT assertions) and when they expire (epoch s):
        #: dropped `EXPIRED_KEPT_S` after, so a long run with many organizations (each minting a
        #: token and an assertion an hour) does not register more values forever.
        self._expiring: dict[str, float] = {}
        self._writing = threading.Lock()

    def register(self, *values: str) -> None:
        """Mask these values from now on. A multi-line value (a PEM key) registers each of its
        body lines, so a line quoted without its armour is masked too."""
        found = _secret_values(values)
        with self._writing:
            if found <= self._permanent:
                return
            self._permanent = self._permanent | found
            self._add(found)

    def register_until(self, expires_at: float, *values: str, now: float) -> None:
        """Mask these short-lived values (a token, an assertion) until `EXPIRED_KEPT_S` after
        ``expires_at`` (epoch seconds); ``now`` (the caller's clock) also lets go of the values
        that expired before. A value registered for good, or again with a later expiry, stays."""
        found = _secret_values(values)
        with self._writing:
            expiring = {
                value: at for value, at in self._expiring.items()
                if at + EXPIRED_KEPT_S > now
            }
            for value in found - self._permanent:
                expiring[value] = max(expires_at, expiring.get(value, expires_at))
            gone = self._expiring.keys() - expiring.keys()
            self._expiring = expiring
            if gone:
                self._rebuild(self._permanent | expiring.keys())
            else:
                self._add(found)

    def _add(self, found: set[str] | frozenset[str]) -> None:
        known = self._state[0]
        if found <= known:
            return
        index = {prefix: list(values) for prefix, values in self._state[1].items()}
        for value in found - known:
            index.setdefault(value[:MIN_SECRET_CHARS], []).append(value)
        self._publish(known | found, index)

    def _rebuild(self, values: frozenset[str]) -> None:
        index: dict[str, list[str]] = {}
        for value in values:
            index.setdefault(value[:MIN_SECRET_CHARS], []).append(value)
        self._publish(values, index)

    def _publish(self, values: frozenset[str], index: dict[str, list[str]]) -> None:
        # Longest first: a secret that contains another is masked whole.
        self._state = (values, {
            prefix: tuple(sorted(candidates, key=len, reverse=True))
            for prefix, candidates in index.items()
        })

    def registered(self) -> int:
        """How many values are registered (the registry's size, for tests and benchmarks)."""
        return len(self._state[0])

    def forget(self) -> None:
        """Forget every registered value (tests: each starts with the registry of a new
        process)."""
        with self._writing:
            self._permanent = frozenset()
            self._expiring = {}
            self._state = (frozenset(), {})

    def _masked(self, text: str, keep: Callable[[int], bool]) -> str:
        """`text` with each registered value masked, leftmost first, the longest where several
        start at the same place; ``keep(start)`` spares one."""
        index = self._state[1]
        if not index:
            return text
        width = MIN_SECRET_CHARS
        parts: list[str] = []
        done = at = 0
        end = len(text) - width
        while at <= end:
            candidates = index.get(text[at:at + width])
            if candidates is not None:
                for value in candidates:
                    if text.startswith(value, at):
                        if not keep(at):
                            parts += (text[done:at], MASK)
                            done = at + len(value)
                        at += len(value)
                        break
                else:
                    at += 1
                continue
            at += 1
        if not parts:
            return text
        parts.append(text[done:])
        return "".join(parts)

    def scrub(self, text: str, *, consent_url: bool = True) -> str:
        """`text` with every secret masked. ``consent_url=False`` also masks the integration
        key inside a consent URL (texts an admin does not act on: `status`, `check`'s stdout)."""
        if not text:
            return text
        if "-----BEGIN" in text:
            text = _PEM_BLOCK.sub(KEY_HIDDEN, text)
        if "eyJ" in text:
            text = _TOKEN.sub(MASK, text)
        if "://" in text:
            text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{MASK}@", text)
        if "=" in text:
            text = _SECRET_OPTION.sub(lambda m: m.group(1) + MASK, text)
            if not consent_url:
                text = _CONSENT_CLIENT_ID.sub(lambda m: m.group(1) + MASK, text)
        if not consent_url:
            return self._masked(text, lambda start: False)
        # Keep the integration key only where it is a consent URL's client_id.
        return self._masked(text, lambda start: text[max(0, start - 10):start] == "client_id=")


def _secret_values(values: tuple[str, ...]) -> frozenset[str]:
    """What registering ``values`` masks: each one long enough, or each body line of a
    multi-line one (a PEM key)."""
    found: set[str] = set()
    for value in values:
        if not value:
            continue
        if "\n" in value:
            found.update(
                line.strip() for line in value.splitlines()
                if len(line.strip()) >= 16 and not line.lstrip().startswith("-----")
            )
        elif len(value) >= MIN_SECRET_CHARS:
            found.add(value)
    return frozenset(found)


#: The process's registry: `register` and `scrub` below use it.
REDACTOR = Redactor()


def register(*values: str) -> None:
    REDACTOR.register(*values)


def register_until(expires_at: float, *values: str, now: float) -> None:
    REDACTOR.register_until(expires_at, *values, now=now)


def scrub(text: str, *, consent_url: bool = True) -> str:
    return REDACTOR.scrub(text, consent_url=consent_url)


def looks_like_key_material(text: str) -> bool:
    """PEM armour, or the base64 of a DER key (always ``MII...``)."""
    stripped = text.strip()
    if "-----BEGIN" in stripped or "-----END" in stripped or "PRIVATE KEY" in stripped:
        return True
    return stripped.startswith("MII") and len(stripped) >= 100


def looks_like_secret(text: str) -> bool:
    """Text never to echo even when nothing registered it (a usage error comes before the
    settings): key material, a GUID (integration key, user ID), a JWT."""
    stripped = text.strip()
    return looks_like_key_material(stripped) or bool(
        _GUID.match(stripped) or _JWT.search(stripped)
    )


#: A value a message quotes: 'text' (argparse's and our !r quoting).
_QUOTED = re.compile(r"'([^'\n]*)'")


def hide_secret_looking(text: str) -> str:
    """`text` with every quoted value that looks like a secret (`looks_like_secret`) replaced by
    a note: for messages about values of unknown meaning (a usage error), where nothing was
    registered yet and a GUID is most likely the integration key pasted in the wrong place."""
    return _QUOTED.sub(
        lambda m: "(a value that looks like a key or an ID, not shown)"
        if looks_like_secret(m.group(1)) else m.group(0),
        text,
    )
