"""Helpers shared by the device tests (a uniquely named module, so that it cannot clash with
another folder's helpers on sys.path)."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization


def spki(public_key) -> bytes:
    """SubjectPublicKeyInfo DER of a pyca public key."""
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_spki(der: bytes):
    """pyca public key from SubjectPublicKeyInfo DER."""
    return serialization.load_der_public_key(der)


def der_private(private_key, fmt: str) -> bytes:
    """DER of a pyca private key: fmt "pkcs8" or "traditional" (SEC1 / PKCS#1)."""
    form = serialization.PrivateFormat.PKCS8 if fmt == "pkcs8" else serialization.PrivateFormat.TraditionalOpenSSL
    return private_key.private_bytes(serialization.Encoding.DER, form, serialization.NoEncryption())
