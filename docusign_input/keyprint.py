"""The fingerprint a cached access token is bound to, computed without cryptography.

A token is good only for what it was minted for: the auth server, the integration key, the user
and the key pair. The cache stores one SHA-256 over all four, never any of them, and a run whose
settings give another fingerprint drops the cache and mints afresh (a changed key must fail or
succeed now, not an hour later when the cached token expires).

The key pair is identified by its public half (modulus and exponent), read from the private key's
DER with a few lines of ASN.1 rather than by importing cryptography: a scheduled run that reuses a
cached token must stay as cheap as it was. PKCS#1 and PKCS#8 forms of one key give the same print.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

__all__ = ["token_fingerprint", "public_numbers"]

_PEM_BODY = re.compile(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", re.S)


def token_fingerprint(auth_url: str, integration_key: str, user_id: str, private_pem: str) -> str:
    """Hex SHA-256 binding a token to its auth server, integration key, user and public key."""
    numbers = public_numbers(private_pem)
    key_part = (
        f"rsa:{numbers[0]:x}:{numbers[1]:x}".encode()
        if numbers is not None
        else b"der:" + hashlib.sha256(private_pem.strip().encode()).digest()
    )
    digest = hashlib.sha256()
    for part in (auth_url.rstrip("/").lower().encode(), integration_key.lower().encode(),
                 user_id.lower().encode(), key_part):
        digest.update(len(part).to_bytes(4, "big") + part)
    return digest.hexdigest()


def public_numbers(private_pem: str) -> tuple[int, int] | None:
    """(modulus, public exponent) of an unencrypted PKCS#1 or PKCS#8 RSA PEM key, else None."""
    match = _PEM_BODY.search(private_pem)
    if match is None:
        return None
    try:
        der = base64.b64decode("".join(match.group(2).split()), validate=True)
        if match.group(1) == "PRIVATE KEY":  # PKCS#8: SEQUENCE { version, algorithm, OCTET STRING }
            body, _ = _tlv(der, 0, 0x30)
            offset = _skip(der, body, 0x02)
            offset = _skip(der, offset, 0x30)
            inner_at, _ = _tlv(der, offset, 0x04)
            der = der[inner_at:]
        # PKCS#1 RSAPrivateKey: SEQUENCE { version, modulus, publicExponent, ... }
        body, _ = _tlv(der, 0, 0x30)
        offset = _skip(der, body, 0x02)
        n_at, n_end = _tlv(der, offset, 0x02)
        e_at, e_end = _tlv(der, n_end, 0x02)
        return int.from_bytes(der[n_at:n_end], "big"), int.from_bytes(der[e_at:e_end], "big")
    except (ValueError, IndexError, binascii.Error):
        return None


def _tlv(der: bytes, offset: int, tag: int) -> tuple[int, int]:
    """(start, end) of the content of the DER element at ``offset``, which must have ``tag``."""
    if der[offset] != tag:
        raise ValueError("unexpected tag")
    length = der[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("bad length")
        length = int.from_bytes(der[start:start + count], "big")
        start += count
    end = start + length
    if end > len(der):
        raise ValueError("truncated")
    return start, end


def _skip(der: bytes, offset: int, tag: int) -> int:
    return _tlv(der, offset, tag)[1]
