"""RSA encryption parameters: OAEP (SHA-256/384/512, MGF1 equal to the OAEP digest, label
honoured) and PKCS#1 v1.5, with the standard plaintext limits."""

from __future__ import annotations

from collections import namedtuple

from . import digest as digests
from .errors import OperationError, ParameterError, Reason

OAEP_DIGESTS = ("sha256", "sha384", "sha512")


class CipherParams(namedtuple("CipherParams", "padding digest label")):
    """padding "oaep" | "pkcs1"; digest: the canonical OAEP digest (None for pkcs1)."""

    __slots__ = ()

    def pyca_padding(self):
        from cryptography.hazmat.primitives.asymmetric import padding

        if self.padding == "pkcs1":
            return padding.PKCS1v15()
        return padding.OAEP(
            mgf=padding.MGF1(digests.pyca_hash(self.digest)),
            algorithm=digests.pyca_hash(self.digest),
            label=self.label or None,
        )

    def max_plaintext(self, key_bits: int) -> int:
        k = key_bits // 8
        if self.padding == "pkcs1":
            return k - 11
        return k - 2 * digests.digest_size(self.digest) - 2


def resolve(padding="oaep", digest="sha256", mgf1_digest=None, label=b"") -> CipherParams:
    name = padding.lower() if isinstance(padding, str) else None
    if name in ("pkcs1", "pkcs1v15", "pkcs1-v1_5"):
        if label:
            raise ParameterError(Reason.INVALID_PARAMETER, "a label is only meaningful with OAEP padding")
        return CipherParams("pkcs1", None, b"")
    if name != "oaep":
        raise ParameterError(
            Reason.UNSUPPORTED_PADDING,
            f"unsupported RSA encryption padding {padding!r}: use oaep or pkcs1",
        )
    oaep = digests.canonical(digest if digest is not None else "sha256")
    if oaep not in OAEP_DIGESTS:
        raise ParameterError(
            Reason.UNSUPPORTED_DIGEST,
            f"OAEP digest {oaep.upper()} is not supported: use SHA256, SHA384 or SHA512",
        )
    if mgf1_digest is not None and digests.canonical(mgf1_digest) != oaep:
        raise ParameterError(
            Reason.DIGEST_MISMATCH,
            f"the MGF1 digest must equal the OAEP digest ({oaep.upper()}), "
            f"got {digests.canonical(mgf1_digest).upper()}",
        )
    if not isinstance(label, (bytes, bytearray, memoryview)):
        raise ParameterError(Reason.INVALID_PARAMETER, "the OAEP label must be bytes")
    return CipherParams("oaep", oaep, bytes(label))


def encrypt(public_key, params: CipherParams, plaintext: bytes) -> bytes:
    limit = params.max_plaintext(public_key.key_size)
    if len(plaintext) > limit:
        raise ParameterError(
            Reason.DATA_TOO_LARGE,
            f"plaintext is {len(plaintext)} bytes; a {public_key.key_size}-bit key with "
            f"{params.padding}{'-' + params.digest if params.digest else ''} takes at most "
            f"{limit}",
        )
    return public_key.encrypt(plaintext, params.pyca_padding())


def decrypt(private_key, params: CipherParams, ciphertext: bytes) -> bytes:
    size = (private_key.key_size + 7) // 8
    if len(ciphertext) != size:
        raise OperationError(
            Reason.DECRYPT_FAILED,
            f"ciphertext is {len(ciphertext)} bytes; a {private_key.key_size}-bit key needs exactly {size}",
        )
    try:
        if params.padding == "pkcs1":
            return _pkcs1_v15_unpad(private_key, ciphertext)
        return private_key.decrypt(ciphertext, params.pyca_padding())
    except ValueError:
        raise OperationError(
            Reason.DECRYPT_FAILED,
            "decryption failed: wrong key, padding, digest or label, or damaged ciphertext",
        ) from None


def _pkcs1_v15_unpad(private_key, ciphertext: bytes) -> bytes:
    """RSAES-PKCS1-v1_5 decryption that refuses bad padding (RFC 8017 7.2.2).

    The pyca wheel's OpenSSL answers bad padding with a synthetic message ("implicit
    rejection"); an HSM reports the error, so the device unpads itself."""
    numbers = private_key.private_numbers()
    n = numbers.public_numbers.n
    k = (n.bit_length() + 7) // 8
    c = int.from_bytes(ciphertext, "big")
    if c >= n:
        raise ValueError("ciphertext out of range")
    # CRT (RFC 8017 5.1.2, 2.b): a quarter of the work of c^d mod n in Python's integers
    m1, m2 = pow(c, numbers.dmp1, numbers.p), pow(c, numbers.dmq1, numbers.q)
    h = (numbers.iqmp * (m1 - m2)) % numbers.p
    em = (m2 + h * numbers.q).to_bytes(k, "big")
    separator = em.find(b"\x00", 2)
    if em[0] != 0 or em[1] != 2 or separator < 10:
        raise ValueError("bad PKCS#1 v1.5 padding")
    return em[separator + 1 :]
