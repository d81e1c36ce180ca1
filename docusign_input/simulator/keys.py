"""RSA keys generated at run time, so no private key ever lives in the repository."""

from __future__ import annotations

import threading

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["shared_private_key", "new_private_key", "private_pem", "public_pem"]

_lock = threading.Lock()
_shared: rsa.RSAPrivateKey | None = None


def new_private_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit key, the size DocuSign's "Generate RSA" produces."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def shared_private_key() -> rsa.RSAPrivateKey:
    """One key per process: generating 2048-bit keys costs ~0.1 s each, too slow per test."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = new_private_key()
        return _shared


def private_pem(key: rsa.RSAPrivateKey, fmt: str = "pkcs1") -> bytes:
    """Unencrypted PEM: PKCS#1 (``BEGIN RSA PRIVATE KEY``, as DocuSign hands it out) or PKCS#8."""
    formats = {
        "pkcs1": serialization.PrivateFormat.TraditionalOpenSSL,
        "pkcs8": serialization.PrivateFormat.PKCS8,
    }
    if fmt not in formats:
        raise ValueError(f"unknown private key format {fmt!r}; use 'pkcs1' or 'pkcs8'")
    return key.private_bytes(serialization.Encoding.PEM, formats[fmt], serialization.NoEncryption())


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    """The SubjectPublicKeyInfo PEM that gets registered against an integration key."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
