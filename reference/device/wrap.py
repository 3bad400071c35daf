"""The key import transport, as the real provider does it.

Host side: the private key is normalised to unencrypted PKCS#8 DER, then wrapped as
``RSA-OAEP(SHA-256, MGF1-SHA-256, empty label)(KEK) || AES-KWP(KEK, PKCS#8)`` (RFC 5649 key wrap
with padding) with a fresh AES-256 KEK, under the device's RSA-2048 unwrapping public key.
Device side: the reverse, with the unwrapping private key that never leaves the device.
"""

from __future__ import annotations

import os

from . import asn1
from .errors import KeyImportError, Reason, as_bytes

KEK_LEN = 32


def _oaep_sha256():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def normalise_private_key(der: bytes):
    """Parse DER SEC1 / PKCS#1 / unencrypted PKCS#8; returns (pyca key, PKCS#8 DER), the key
    None for an RSA key without CRT components (pyca cannot load one)."""
    from cryptography.hazmat.primitives import serialization

    if not isinstance(der, (bytes, bytearray, memoryview)) or not der:
        raise KeyImportError(Reason.INVALID_KEY_ENCODING, "the key to import is empty")
    der = bytes(der)
    if der.lstrip().startswith(b"-----BEGIN"):
        raise KeyImportError(
            Reason.INVALID_KEY_ENCODING,
            "PEM input is not accepted: convert the key to DER (openssl pkey -in key.pem -outform DER -out key.der)",
        )
    try:
        # Parse only, like OpenSSL's d2i_AutoPrivateKey: the device validates the key after
        # unwrapping, and pyca's RSA check costs about a second for a 4096-bit key.
        key = serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)
    except TypeError:
        raise KeyImportError(
            Reason.ENCRYPTED_KEY_UNSUPPORTED,
            "encrypted PKCS#8 is not accepted: decrypt it first "
            "(openssl pkey -in key.der -inform DER -outform DER -out plain.der)",
        ) from None
    except Exception:  # junk raises ValueError or UnsupportedAlgorithm, depending on pyca
        if asn1.rsa_numbers_without_crt(der) is not None:
            # an RSA key of n, e, d only: pyca cannot hold it; the device decides (plain form)
            return None, asn1.pkcs8_of_pkcs1(der)
        raise KeyImportError(
            Reason.INVALID_KEY_ENCODING,
            "not a DER private key: give DER SEC1 ECPrivateKey, PKCS#1 RSAPrivateKey or unencrypted PKCS#8",
        ) from None
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key, pkcs8


def wrap_for_device(unwrapping_public_der: bytes, pkcs8: bytes) -> bytes:
    """Host side: wrap PKCS#8 bytes for the device that owns ``unwrapping_public_der``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

    public = serialization.load_der_public_key(unwrapping_public_der)
    kek = os.urandom(KEK_LEN)
    return public.encrypt(kek, _oaep_sha256()) + aes_key_wrap_with_padding(kek, pkcs8)


def unwrap_in_device(unwrapping_private_key, wrapped: bytes) -> bytes:
    """Device side: recover the PKCS#8 bytes; any damage is one clear error."""
    from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

    head = unwrapping_private_key.key_size // 8
    wrapped = as_bytes(wrapped, "wrapped key")
    if len(wrapped) <= head:
        raise KeyImportError(
            Reason.UNWRAP_FAILED,
            f"wrapped key is too short ({len(wrapped)} bytes; the RSA-OAEP KEK alone is {head})",
        )
    try:
        kek = unwrapping_private_key.decrypt(wrapped[:head], _oaep_sha256())
        if len(kek) != KEK_LEN:
            raise ValueError("KEK length")
        return aes_key_unwrap_with_padding(kek, wrapped[head:])
    except (ValueError, InvalidUnwrap):
        raise KeyImportError(
            Reason.UNWRAP_FAILED,
            "the device could not unwrap the key: it was not wrapped for this device's unwrapping key or is damaged",
        ) from None
