"""OAuth JWT Grant: mint, cache and re-mint access tokens; translate DocuSign's refusals.

DocuSign Monitor accepts only the JWT Grant. There is no refresh token, so a token is re-minted
from a fresh assertion shortly before it expires, which keeps a long backlog drain from failing
midway. The token-endpoint rate limit is unpublished, so a token is minted once and reused: in
memory for the process, and across scheduled runs through a cache file readable only by its owner
that holds the token, its expiry and a fingerprint of what it was minted for (see ``keyprint``).

PyJWT and cryptography are imported only when a token is actually minted: a scheduled ``run``
that finds a live cached token never loads them.

Nothing here may leak a secret: the assertion, the key, the integration key (except inside the
consent URL, which an admin must open) and the access token never appear in a message, a log line
or an exception. ``requests`` exceptions can carry URLs and bodies, so their text is never used,
and they are raised ``from None`` so no chained traceback shows a request.
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol
from urllib.parse import quote, urlsplit

from .durable import replace_file
from .errors import (
    AccessDenied,
    ConfigError,
    ConsentRequired,
    RateLimited,
    TemporaryError,
    TlsFailure,
    TokenRejected,
)
from .keyprint import token_fingerprint
from .redact import register_until, scrub
from .retry import retry_after_s
from .settings import DEFAULT_REDIRECT_URI, Settings
from .signals import bounded_timeout, waiting_on

if TYPE_CHECKING:
    import requests

__all__ = [
    "TokenProvider",
    "consent_url",
    "fetch_organization_id",
    "lookup_organization_id",
    "jwt_audience",
    "build_assertion",
    "load_private_key",
    "TOKEN_CACHE_SUFFIX",
    "JWT_BEARER",
    "SCOPE",
]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Monitor needs exactly these two scopes.
SCOPE = "signature impersonation"
#: What DocuSign's Generate RSA produces; a shorter key gets one warning line.
RECOMMENDED_KEY_BITS = 2048
#: DocuSign's ceiling for ``exp - iat``.
ASSERTION_LIFETIME_S = 3600
#: The cache file sits beside the checkpoint: ``<checkpoint>.token``.
TOKEN_CACHE_SUFFIX = ".token"
#: (connect, read) timeouts for the account server.
TIMEOUT_S = (10.0, 30.0)
#: Re-mint this long before expiry at most (5 min), or 10% of the token's life if shorter.
MAX_MARGIN_S = 300.0
_TRACE = "X-DocuSign-TraceToken"
_NETWORK_FIX = "check the network, proxy (HTTPS_PROXY) and DocuSign's status page"


class Reporter(Protocol):
    """The slice of ``report.Reporter`` this module uses."""

    def warning(self, message: str, **fields: Any) -> None: ...

    def debug(self, message: str, **fields: Any) -> None: ...


def jwt_audience(auth_url: str) -> str:
    """``aud``: the auth server's host, plus ``:port`` only when it is not the scheme's default."""
    parts = urlsplit(auth_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if parts.port is not None and parts.port != default:
        return f"{host}:{parts.port}"
    return host


def consent_url(settings: Settings, redirect_uri: str | None = None) -> str:
    """The URL an admin opens once to grant consent; the one place the integration key shows.

    ``redirect_uri`` must be registered on the integration key; without one, the settings'
    ``redirect_uri`` (``DOCUSIGN_REDIRECT_URI``), else DocuSign's consent landing page.
    """
    redirect = redirect_uri or settings.redirect_uri or DEFAULT_REDIRECT_URI
    return (
        f"{settings.auth_url}/oauth/auth?response_type=code&scope={quote(SCOPE)}"
        f"&client_id={quote(settings.integration_key.reveal(), safe='')}"
        f"&redirect_uri={quote(redirect, safe='')}"
    )


def load_private_key(pem: str, source: str) -> Any:
    """Parse the PEM once with cryptography; anything but an unencrypted RSA key is exit 78."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode("utf-8"), password=None)
    except TypeError:
        raise ConfigError(
            f"the private key from {source} is encrypted; encrypted keys are not supported",
            "export it without a passphrase: openssl pkey -in encrypted.pem -out key.pem",
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(
            f"the private key from {source} cannot be read (damaged or not PEM)",
            "use the private key saved from Apps and Keys > Generate RSA, copied whole",
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        kind = type(key).__name__.lstrip("_").replace("PrivateKey", "") or "non-RSA"
        raise ConfigError(
            f"the private key from {source} is not an RSA key ({kind})",
            "DocuSign's JWT grant needs RS256: use the RSA key pair from Apps and Keys > "
            "Generate RSA",
        )
    return key


def build_assertion(
    key: Any, integration_key: str, user_id: str, auth_url: str, now_s: float
) -> str:
    """The signed JWT DocuSign exchanges for an access token."""
    import jwt

    issued = int(now_s)
    claims = {
        "iss": integration_key,
        "sub": user_id,
        "aud": jwt_audience(auth_url),
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME_S,
        "scope": SCOPE,
    }
    with warnings.catch_warnings():
        # PyJWT warns on stderr, over several lines, about keys under 2048 bits; the provider
        # says it once through the reporter instead.
        category = getattr(jwt, "InsecureKeyLengthWarning", None)
        if category is not None:
            warnings.simplefilter("ignore", category)
        return jwt.encode(claims, key, algorithm="RS256", headers={"typ": "JWT"})


def _margin_s(lifetime_s: float) -> float:
    return min(MAX_MARGIN_S, max(0.0, lifetime_s) * 0.1)


class TokenProvider:
    """Hands out a live access token; mints through the JWT grant only when it must.

    ``get_token`` reuses the token in memory until it is within the safety margin of expiry
    (5 minutes, or 10% of its life when that is shorter), then mints a new one. ``invalidate``
    is what a 401 from Monitor calls: the next ``get_token`` mints afresh.
    """

    def __init__(
        self,
        settings: Settings,
        session: requests.Session,
        *,
        reporter: Reporter | None = None,
        use_cache: bool = True,
        clock: Callable[[], float] = time.time,
        cache_path: Path | None = None,
        timeout_s: tuple[float, float] = TIMEOUT_S,
    ) -> None:
        self.settings = settings
        self.session = session
        self.reporter = reporter
        self.use_cache = use_cache and settings.token_cache
        self.clock = clock
        self.cache_path = cache_path or settings.token_cache_path
        self.timeout_s = timeout_s
        #: How many tokens this provider obtained from DocuSign (tests and `check` read it).
        self.mints = 0
        self._token: str | None = None
        self._expires_at = 0.0
        self._refresh_at = 0.0
        self._cache_tried = False
        self._key: Any = None
        self._fingerprint: str | None = None
        self._lock = threading.Lock()

    # -- public ---------------------------------------------------------------------------

    def get_token(self) -> str:
        """A token good for at least the safety margin; raises the translated DocuSign error."""
        with self._lock:
            now = self.clock()
            if self._token is not None and now < self._refresh_at:
                return self._token
            if self.use_cache and not self._cache_tried:
                self._cache_tried = True
                self._read_cache(now)
                if self._token is not None and now < self._refresh_at:
                    return self._token
            return self._mint()

    def invalidate(self) -> None:
        """Forget the token (DocuSign refused it); a cached copy is removed too."""
        with self._lock:
            self._token = None
            self._refresh_at = 0.0
            if self.use_cache:
                self._drop_cache()

    def fingerprint(self) -> str:
        """What the cached token is bound to (see ``keyprint``); computed once."""
        if self._fingerprint is None:
            settings = self.settings
            self._fingerprint = token_fingerprint(
                settings.auth_url, settings.integration_key.reveal(), settings.user_id,
                settings.private_key_pem.reveal(),
            )
        return self._fingerprint

    def _drop_cache(self) -> None:
        try:
            os.unlink(self.cache_path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._warn(f"cannot remove the token cache {self.cache_path} ({exc.strerror})")

    @property
    def expires_at(self) -> float:
        """Epoch seconds when the current token expires (0 when there is none)."""
        return self._expires_at if self._token is not None else 0.0

    # -- minting --------------------------------------------------------------------------

    def _mint(self) -> str:
        settings = self.settings
        if self._key is None:
            self._key = load_private_key(
                settings.private_key_pem.reveal(), settings.private_key_source
            )
            bits = getattr(self._key, "key_size", RECOMMENDED_KEY_BITS)
            if bits < RECOMMENDED_KEY_BITS:
                self._warn(
                    f"the private key from {settings.private_key_source} is a {bits}-bit RSA key: "
                    f"DocuSign's Generate RSA makes {RECOMMENDED_KEY_BITS}-bit keys, and shorter "
                    "ones are weak; generate a new pair in Apps and Keys"
                )
        now = self.clock()
        assertion = build_assertion(
            self._key, settings.integration_key.reveal(), settings.user_id, settings.auth_url, now
        )
        register_until(int(now) + ASSERTION_LIFETIME_S, assertion, now=now)
        body = self._exchange(assertion)
        token, lifetime = _token_from(body, self._host())
        self.mints += 1
        self._set(token, now + lifetime, now + lifetime - _margin_s(lifetime))
        if self.use_cache:
            self._write_cache()
        return token

    def _host(self) -> str:
        return urlsplit(self.settings.auth_url).netloc

    def _exchange(self, assertion: str) -> Mapping[str, Any]:
        import requests

        url = self.settings.auth_url + "/oauth/token"
        host = self._host()
        try:
            with waiting_on(f"DocuSign's auth server {host} had not answered"):
                response = self.session.post(
                    url,
                    data={"grant_type": JWT_BEARER, "assertion": assertion},
                    headers={"Accept": "application/json"},
                    timeout=bounded_timeout(*self.timeout_s),  # the stop deadline
                )
        except requests.Timeout:
            raise TemporaryError(f"DocuSign's auth server {host} timed out",
                                 _NETWORK_FIX) from None
        except requests.exceptions.SSLError as exc:
            raise TlsFailure.describe(
                str(exc),
                f"DocuSign's auth server {host}",
                "check the system clock and the CA bundle (REQUESTS_CA_BUNDLE) or proxy",
            ) from None
        except requests.RequestException as exc:
            raise TemporaryError(
                f"cannot reach DocuSign's auth server {host} ({type(exc).__name__})", _NETWORK_FIX
            ) from None
        return self._answer(response, assertion)

    def _answer(self, response: requests.Response, assertion: str) -> Mapping[str, Any]:
        host = self._host()
        status = response.status_code
        trace = response.headers.get(_TRACE)
        if status == 429:
            raise RateLimited(
                f"DocuSign's auth server {host} is rate-limiting token requests (HTTP 429)",
                "if it persists, make sure only one connector uses this key",
                trace_token=trace,
                retry_after_s=retry_after_s(response.headers.get("Retry-After"), self.clock()),
            )
        if status >= 500:
            raise TemporaryError(f"DocuSign's auth server {host} failed with HTTP {status}",
                                 _NETWORK_FIX, trace_token=trace)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if status in (404, 405):
                raise ConfigError(
                    f"{self.settings.source_of('auth_url')} {self.settings.auth_url} has no "
                    f"OAuth token endpoint (HTTP {status})",
                    "point it at DocuSign's account server, e.g. https://account-d.docusign.com",
                )
            raise TemporaryError(
                f"DocuSign's auth server {host} answered HTTP {status} without a JSON body",
                _NETWORK_FIX, trace_token=trace,
            )
        if status == 200:
            return body
        raise self._refusal(body, trace, assertion)

    def _refusal(self, body: Mapping[str, Any], trace: str | None, assertion: str) -> Exception:
        """Translate ``{"error", "error_description"}``: both are read, either may carry it."""
        error = _clean(body.get("error"))
        description = _clean(body.get("error_description"))
        codes = {error, description}
        env = self.settings.environment
        host = self._host()
        key_name = self.settings.source_of("integration_key")
        user_name = self.settings.source_of("user_id")
        if "consent_required" in codes:
            return ConsentRequired(
                f"DocuSign says consent has not been granted for this integration key and user "
                f"(consent_required) on {host}",
                f"an administrator opens {consent_url(self.settings)} once, signs in as the "
                "impersonated user and accepts; or see `docusign-input consent-url "
                "--redirect-uri URI` for a redirect URI registered on the key",
                trace_token=trace,
            )
        if "no_valid_keys_or_signatures" in codes:
            return AccessDenied(
                f"DocuSign rejected the JWT signature on {host} (no_valid_keys_or_signatures)",
                f"the private key ({self.settings.private_key_source}) does not belong to this "
                f"integration key, or the key or integration key is from the other environment "
                "(development keys work only against account-d.docusign.com); also check the "
                "system clock",
                trace_token=trace,
            )
        if "issuer_not_found" in codes:
            return AccessDenied(
                f"the integration key is unknown in {env} ({host}; issuer_not_found)",
                f"check {key_name} is the Integration Key from Apps and Keys of the {env} "
                "account; production keys work only after go-live, development keys only on "
                "account-d.docusign.com",
                trace_token=trace,
            )
        if codes & {"user_not_found", "invalid_subject"}:
            code = "user_not_found" if "user_not_found" in codes else "invalid_subject"
            return AccessDenied(
                f"DocuSign does not know user {self.settings.user_id} in {env} ({code})",
                f"the user ID is wrong: set {user_name} to the API Username GUID from Apps and "
                "Keys (not an e-mail), from the same environment",
                trace_token=trace,
            )
        if "expired_grant" in codes:
            return AccessDenied(
                f"DocuSign says the JWT assertion has expired (expired_grant) on {host}",
                "the system clock is probably wrong: check NTP (timedatectl, chronyc tracking)",
                trace_token=trace,
            )
        return AccessDenied(
            f"DocuSign refused the JWT grant on {host}: error {error!r}, "
            f"error_description {description!r}",
            "check the integration key, user ID, private key and environment; `docusign-input "
            "check` shows the settings in use",
            trace_token=trace,
        )

    def _set(self, token: str, expires_at: float, refresh_at: float) -> None:
        # Minted or read from the cache: masked wherever it is echoed, until it has expired.
        register_until(expires_at, token, now=self.clock())
        self._token, self._expires_at, self._refresh_at = token, expires_at, refresh_at

    # -- the cache file -------------------------------------------------------------------

    def _read_cache(self, now: float) -> None:
        """Adopt a cached token if the file is private, well-formed and still live."""
        path = self.cache_path
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return
        except OSError as exc:
            self._warn(f"ignoring the token cache {path}: cannot open it ({exc.strerror})")
            return
        try:
            info = os.fstat(fd)
            if hasattr(os, "getuid") and info.st_uid != os.getuid():
                self._warn(f"ignoring the token cache {path}: it belongs to another user")
                return
            if info.st_mode & 0o077:
                self._warn(f"ignoring the token cache {path}: others can read it "
                           f"(mode {info.st_mode & 0o777:o}, must be 600)")
                return
            with os.fdopen(fd, "rb") as handle:
                fd = -1
                data = json.loads(handle.read(65536).decode("utf-8"))
        except (OSError, ValueError):
            self._warn(f"ignoring the token cache {path}: unreadable or corrupt; a new token "
                       "will be minted")
            return
        finally:
            if fd >= 0:
                os.close(fd)
        token = data.get("access_token") if isinstance(data, dict) else None
        expires_at = data.get("expires_at") if isinstance(data, dict) else None
        if (
            not isinstance(token, str) or not token
            or not isinstance(expires_at, (int, float)) or isinstance(expires_at, bool)
        ):
            self._warn(f"ignoring the token cache {path}: unexpected content")
            return
        if data.get("fingerprint") != self.fingerprint():
            # Minted for another auth server, integration key, user or key pair (or by a version
            # that did not record it): useless now, and a changed key must show at once.
            self._debug(f"dropping the token cache {path}: it was minted for other settings")
            self._drop_cache()
            return
        # The file keeps no issue time, so use the full margin of an hour-long token.
        refresh_at = float(expires_at) - MAX_MARGIN_S
        if now < refresh_at:
            self._set(token, float(expires_at), refresh_at)
            self._debug(f"reusing the cached access token (expires in {expires_at - now:.0f} s)")

    def _write_cache(self) -> None:
        """Atomic and private from the first byte: O_EXCL temp file at 0600, fsync, rename."""
        path = self.cache_path
        payload = json.dumps({
            "access_token": self._token,
            "expires_at": int(self._expires_at),
            "fingerprint": self.fingerprint(),
        })
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            replace_file(path, payload.encode("utf-8"), mode=0o600)
        except OSError as exc:
            self._warn(f"cannot write the token cache {path} ({exc.strerror}); continuing "
                       "without it, the next run mints a new token")

    def _warn(self, message: str) -> None:
        if self.reporter is not None:
            self.reporter.warning(message)

    def _debug(self, message: str) -> None:
        if self.reporter is not None:
            self.reporter.debug(message)


def _token_from(body: Mapping[str, Any], host: str) -> tuple[str, float]:
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise TemporaryError(f"DocuSign's auth server {host} answered without an access_token",
                             _NETWORK_FIX)
    lifetime = body.get("expires_in", 3600)
    try:
        lifetime_s = float(lifetime)
    except (TypeError, ValueError):
        lifetime_s = 3600.0
    if not 0 < lifetime_s < 86400 * 30:
        lifetime_s = 3600.0
    return token, lifetime_s


def _clean(value: object) -> str:
    """A server-supplied field made safe to quote: text, short, one line, no secret echoed
    (redacted before it is cut, so a cut cannot leave half a secret)."""
    text = "" if value is None else scrub(str(value))
    text = " ".join(text.split())
    return text[:200]


class _Tokens(Protocol):
    def get_token(self) -> str: ...

    def invalidate(self) -> None: ...


def lookup_organization_id(session: requests.Session, auth_url: str, tokens: _Tokens) -> str:
    """``fetch_organization_id`` with the stream client's rule for a 401: the token (perhaps a
    cached one minted before a revocation) is dropped and a fresh one tried, once."""
    try:
        return fetch_organization_id(session, auth_url, tokens.get_token())
    except TokenRejected:
        tokens.invalidate()
    try:
        return fetch_organization_id(session, auth_url, tokens.get_token())
    except TokenRejected as exc:
        raise AccessDenied(
            f"DocuSign refused a freshly minted access token at {urlsplit(auth_url).netloc}"
            "/oauth/userinfo (401)",
            "check that the integration key, user ID and environment match, or set "
            "DOCUSIGN_ORGANIZATION_ID to skip the lookup",
            trace_token=exc.trace_token,
        ) from None


def fetch_organization_id(
    session: requests.Session,
    auth_url: str,
    token: str,
    *,
    timeout_s: tuple[float, float] = TIMEOUT_S,
) -> str:
    """The organization of the token's user, from ``/oauth/userinfo``.

    DocuSign limits this endpoint hourly and asks callers to cache its answer: call it once and
    keep the result (the CLI stores it in the checkpoint). The default account's organization is
    preferred, then the first account that has one.
    """
    import requests

    host = urlsplit(auth_url).netloc
    try:
        response = session.get(
            auth_url + "/oauth/userinfo",
            headers={"Authorization": "Bearer " + token, "Accept": "application/json"},
            timeout=bounded_timeout(*timeout_s),  # the stop deadline
        )
    except requests.RequestException as exc:
        raise TemporaryError(
            f"cannot reach DocuSign's auth server {host} for /oauth/userinfo "
            f"({type(exc).__name__})", _NETWORK_FIX,
        ) from None
    trace = response.headers.get(_TRACE)
    status = response.status_code
    if status == 429:
        raise RateLimited(
            f"DocuSign rate-limited /oauth/userinfo on {host} (HTTP 429)",
            "set DOCUSIGN_ORGANIZATION_ID to skip the lookup",
            trace_token=trace,
            retry_after_s=retry_after_s(response.headers.get("Retry-After"), time.time()),
        )
    if status == 401:
        raise TokenRejected(f"DocuSign refused the access token on {host}/oauth/userinfo",
                            trace_token=trace)
    if status != 200:
        cls = TemporaryError if status >= 500 else AccessDenied
        raise cls(f"DocuSign's /oauth/userinfo on {host} answered HTTP {status}",
                  "set DOCUSIGN_ORGANIZATION_ID to skip the lookup", trace_token=trace)
    try:
        body = response.json()
    except ValueError:
        body = None
    accounts = body.get("accounts") if isinstance(body, dict) else None
    if not isinstance(accounts, list):
        raise TemporaryError(f"DocuSign's /oauth/userinfo on {host} answered without accounts",
                             _NETWORK_FIX, trace_token=trace)
    ordered = sorted(
        (a for a in accounts if isinstance(a, dict)),
        key=lambda a: str(a.get("is_default")).lower() != "true",
    )
    for account in ordered:
        organization = account.get("organization")
        if isinstance(organization, dict):
            org_id = organization.get("organization_id")
            if isinstance(org_id, str) and org_id:
                return org_id
    raise AccessDenied(
        "the impersonated user's accounts belong to no DocuSign organization, which Monitor needs",
        "claim a domain and create an organization in DocuSign Admin, make the user its "
        "administrator, or set DOCUSIGN_ORGANIZATION_ID",
        trace_token=trace,
    )

