"""The JWT Grant token endpoint and bearer-token checks, as DocuSign's account server behaves.

Errors follow what DocuSign is seen to answer (HTTP 400, ``error`` + ``error_description``).
Where no public source settles the answer, the choice is written next to the check.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Set, Tuple

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

__all__ = ["Accounts", "User", "TokenResult", "JWT_BEARER"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_MAX_ASSERTION_LIFETIME_S = 3600
_IAT_SKEW_S = 60  # how far in the future an iat may be before the assertion is refused
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")

Json = Dict[str, Any]
TokenResult = Tuple[int, Json]


@dataclass
class User:
    """A DocuSign user; Monitor wants an admin of exactly one organization."""

    user_id: str
    name: str
    email: str
    org_admin: bool = True
    organizations: int = 1


@dataclass
class _Token:
    user_id: str
    expires_at: float


@dataclass
class Accounts:
    """Integration keys, users, consent and issued tokens; all methods are thread-safe."""

    clock: Callable[[], float]
    token_lifetime_s: int = 3600
    _keys: Dict[str, List[Any]] = field(default_factory=dict)
    _users: Dict[str, User] = field(default_factory=dict)
    _consent: Set[Tuple[str, str]] = field(default_factory=set)
    _tokens: Dict[str, _Token] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- registration --------------------------------------------------------------------

    def register_key(self, integration_key: str, public_key_pem: bytes) -> None:
        """Add an RSA public key to an integration key (DocuSign allows several per key)."""
        key = load_pem_public_key(public_key_pem)
        with self._lock:
            self._keys.setdefault(integration_key, []).append(key)

    def register_user(self, user: User) -> None:
        with self._lock:
            self._users[user.user_id] = user

    def user(self, user_id: str) -> User | None:
        with self._lock:
            return self._users.get(user_id)

    def set_consent(self, integration_key: str, user_id: str, granted: bool) -> None:
        with self._lock:
            if granted:
                self._consent.add((integration_key, user_id))
            else:
                self._consent.discard((integration_key, user_id))

    def has_consent(self, integration_key: str, user_id: str) -> bool:
        with self._lock:
            return (integration_key, user_id) in self._consent

    # -- POST /oauth/token ---------------------------------------------------------------

    def exchange(self, form: Dict[str, str], audiences: Set[str]) -> TokenResult:
        """Answer a token request: ``(status, body)``."""
        if form.get("grant_type") != JWT_BEARER:
            return 400, {"error": "unsupported_grant_type"}
        assertion = form.get("assertion", "")
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return _invalid_grant("no_valid_keys_or_signatures")
        issuer, subject = str(claims.get("iss", "")), str(claims.get("sub", ""))
        with self._lock:
            keys = list(self._keys.get(issuer, ()))
        if not keys:
            return _invalid_grant("issuer_not_found")
        if not any(_signed_by(assertion, key) for key in keys):
            return _invalid_grant("no_valid_keys_or_signatures")
        problem = self._claims_problem(claims, audiences)
        if problem:
            return _invalid_grant(problem)
        if not _GUID.match(subject):
            return _invalid_grant("invalid_subject")  # e.g. an e-mail instead of the user GUID
        if self.user(subject) is None:
            return _invalid_grant("user_not_found")
        scopes = str(claims.get("scope", "")).split()
        if "signature" not in scopes or "impersonation" not in scopes:
            # Unconfirmed what DocuSign answers; RFC 6749's code for a scope it will not grant.
            return 400, {"error": "invalid_scope"}
        if not self.has_consent(issuer, subject):
            return 400, {"error": "consent_required"}
        return 200, self._issue(subject)

    def _claims_problem(self, claims: Json, audiences: Set[str]) -> str | None:
        """DocuSign reports most malformed assertions as ``no_valid_keys_or_signatures``."""
        now = self.clock()
        exp, iat = claims.get("exp"), claims.get("iat")
        if claims.get("aud") not in audiences:
            return "no_valid_keys_or_signatures"
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            return "no_valid_keys_or_signatures"
        if isinstance(iat, (int, float)) and not isinstance(iat, bool):
            if exp - iat > _MAX_ASSERTION_LIFETIME_S:
                return "no_valid_keys_or_signatures"
            if iat > now + _IAT_SKEW_S:  # choice: a future iat is treated as an invalid assertion
                return "no_valid_keys_or_signatures"
        if exp <= now:
            return "expired_grant"
        return None

    def _issue(self, user_id: str) -> Json:
        token = secrets.token_urlsafe(48)
        lifetime = self.token_lifetime_s
        with self._lock:
            now = self.clock()
            for stale in [t for t, v in self._tokens.items() if v.expires_at <= now]:
                del self._tokens[stale]
            self._tokens[token] = _Token(user_id, now + lifetime)
        return {"access_token": token, "token_type": "Bearer", "expires_in": lifetime}

    # -- bearer tokens -------------------------------------------------------------------

    def bearer_user(self, authorization: str | None) -> Tuple[User | None, str]:
        """(user, "") for a live token, else (None, why) for the 401 body."""
        if not authorization:
            return None, "missing bearer token"
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, "authorization header is not a bearer token"
        with self._lock:
            issued = self._tokens.get(token.strip())
            if issued is None:
                return None, "unknown access token"
            if issued.expires_at <= self.clock():
                return None, "access token expired"
            user = self._users.get(issued.user_id)
        if user is None:
            return None, "user no longer exists"
        return user, ""

    def expire_all_tokens(self) -> None:
        """Test hook: as if every token outlived its lifetime."""
        with self._lock:
            for issued in self._tokens.values():
                issued.expires_at = 0.0


def _invalid_grant(description: str) -> TokenResult:
    return 400, {"error": "invalid_grant", "error_description": description}


def _signed_by(assertion: str, key: Any) -> bool:
    try:
        jwt.decode(
            assertion,
            key,
            algorithms=["RS256"],
            options={
                "verify_aud": False,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_iss": False,
                "verify_sub": False,
            },
        )
    except jwt.PyJWTError:
        return False
    return True
