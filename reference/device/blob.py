"""The masked key blob: a versioned, authenticated container bound to a device.

Layout (version 1, big-endian integers)::

    offset size field
    0      4    magic "AZMK"
    4      1    version (1)
    5      1    flags: bit 0 = session key
    6      1    key kind (KIND_CODES)
    7      1    usage (USAGE_CODES)
    8      2    size: curve bits (ec), modulus bits (rsa), key bits (secret/aes/hmac)
    10     1    HMAC digest of an hmac key (DIGEST_CODES), else 0
    11     1    reserved (0)
    12     8    device id (first 8 bytes of the device identity)
    20     16   session id (zeros for a non-session key)
    36     4    body length
    40     8    header check: first 8 bytes of SHA-256 over bytes 0..39
    48     ...  body: 12-byte nonce, AES-256-GCM ciphertext of the key material, 16-byte tag

The GCM key is derived from the device masking secret (and, for a session key, from the
session's in-memory secret too); the whole 48-byte header is the GCM associated data, so the
header is authenticated with the key. The header check is an unkeyed checksum that only serves
diagnosis: it tells a damaged header (tampered) apart from a sound header written by another
device or session, which the GCM tag alone could not.
"""

from __future__ import annotations

import os
import struct
from collections import namedtuple

from .errors import BlobError, Reason

MAGIC = b"AZMK"
VERSION = 1
_HEADER = struct.Struct(">4sBBBBHBB8s16sI")  # everything before the header check
CHECK_LEN = 8
HEADER_LEN = _HEADER.size + CHECK_LEN  # 48
NONCE_LEN = 12
TAG_LEN = 16
SESSION_ID_LEN = 16
DEVICE_ID_LEN = 8
_FLAG_SESSION = 0x01

KIND_CODES = {"ec": 1, "rsa": 2, "secret": 3, "aes": 4, "hmac": 5, "aes-gcm": 6, "aes-xts": 7}
USAGE_CODES = {
    "digitalSignature": 1,
    "keyAgreement": 2,
    "keyEncipherment": 3,
    "derive": 4,
    "encrypt": 5,
    "mac": 6,
    "unwrap": 7,
}
DIGEST_CODES = {None: 0, "sha256": 1, "sha384": 2, "sha512": 3}

_KINDS = {v: k for k, v in KIND_CODES.items()}
_USAGES = {v: k for k, v in USAGE_CODES.items()}
_DIGESTS = {v: k for k, v in DIGEST_CODES.items()}


class BlobHeader(namedtuple("BlobHeader", "kind usage bits hmac_digest device_id session_id body_len", defaults=(0,))):
    """What the blob says about its key, readable before (and without) unmasking.
    ``session_id`` is None for a non-session key."""

    __slots__ = ()

    @property
    def session_key(self) -> bool:
        return self.session_id is not None

    def encode(self, body_len: int) -> bytes:
        flags = _FLAG_SESSION if self.session_key else 0
        fields = _HEADER.pack(
            MAGIC,
            VERSION,
            flags,
            KIND_CODES[self.kind],
            USAGE_CODES[self.usage],
            self.bits,
            DIGEST_CODES[self.hmac_digest],
            0,
            self.device_id,
            self.session_id or bytes(SESSION_ID_LEN),
            body_len,
        )
        return fields + _check(fields)


def _check(fields: bytes) -> bytes:
    import _sha256  # built-in; never hashlib (see digest.py)

    return _sha256.sha256(fields).digest()[:CHECK_LEN]


def _aead(key: bytes):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def seal(header: BlobHeader, gcm_key: bytes, material: bytes) -> bytes:
    """Encrypt ``material`` under ``gcm_key``; the header is authenticated with it."""
    body_len = NONCE_LEN + len(material) + TAG_LEN
    head = header.encode(body_len)
    nonce = os.urandom(NONCE_LEN)
    return head + nonce + _aead(gcm_key).encrypt(nonce, material, head)


def read_header(blob: bytes) -> BlobHeader:
    """Parse and sanity-check the header; the reason names the first problem found."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise BlobError(Reason.BLOB_NOT_A_BLOB, "masked key blob must be bytes")
    blob = bytes(blob)
    if len(blob) >= len(MAGIC) and blob[: len(MAGIC)] != MAGIC:
        raise BlobError(
            Reason.BLOB_NOT_A_BLOB,
            "not a masked key blob (wrong magic): give a file written by azihsm genpkey, pkeyutl -derive or kdf",
        )
    if len(blob) < HEADER_LEN:
        raise BlobError(
            Reason.BLOB_TRUNCATED,
            f"masked key blob is truncated ({len(blob)} bytes, the header alone is {HEADER_LEN})",
        )
    fields = blob[: _HEADER.size]
    (_magic, version, flags, kind, usage, bits, hdigest, _reserved, device_id, session_id, body_len) = _HEADER.unpack(
        fields
    )
    if version != VERSION:
        raise BlobError(
            Reason.BLOB_UNKNOWN_VERSION,
            f"masked key blob has unknown version {version} (this device reads version {VERSION})",
        )
    if blob[_HEADER.size : HEADER_LEN] != _check(fields) or flags & ~_FLAG_SESSION:
        raise BlobError(Reason.BLOB_TAMPERED, "masked key blob is tampered (header check failed)")
    if kind not in _KINDS or usage not in _USAGES or hdigest not in _DIGESTS:
        raise BlobError(Reason.BLOB_TAMPERED, "masked key blob is tampered (unknown field value)")
    is_session = bool(flags & _FLAG_SESSION)
    return BlobHeader(
        kind=_KINDS[kind],
        usage=_USAGES[usage],
        bits=bits,
        hmac_digest=_DIGESTS[hdigest],
        device_id=device_id,
        session_id=session_id if is_session else None,
        body_len=body_len,
    )


def open_body(blob: bytes, header: BlobHeader, gcm_key: bytes) -> bytes:
    """Decrypt and authenticate the body; returns the key material."""
    blob = bytes(blob)
    actual = len(blob) - HEADER_LEN
    if actual < header.body_len:
        raise BlobError(
            Reason.BLOB_TRUNCATED,
            f"masked key blob is truncated ({len(blob)} bytes, expected {HEADER_LEN + header.body_len})",
        )
    if actual > header.body_len:
        raise BlobError(Reason.BLOB_TAMPERED, "masked key blob is tampered (trailing bytes)")
    if header.body_len < NONCE_LEN + TAG_LEN:
        raise BlobError(Reason.BLOB_TAMPERED, "masked key blob is tampered (body too short)")
    from cryptography.exceptions import InvalidTag

    head, nonce, sealed = blob[:HEADER_LEN], blob[HEADER_LEN : HEADER_LEN + NONCE_LEN], blob[HEADER_LEN + NONCE_LEN :]
    try:
        return _aead(gcm_key).decrypt(nonce, sealed, head)
    except InvalidTag:
        raise BlobError(Reason.BLOB_TAMPERED, "masked key blob is tampered (authentication failed)") from None
