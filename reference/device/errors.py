"""One exception hierarchy for everything the device refuses.

Every failure is an :class:`HsmError` carrying a :class:`Reason`. The reason's integer value
becomes the OpenSSL reason code raised by the provider, so values are stable and start at 100
(clear of OpenSSL's common reason codes). Messages are one line, name the problem and, where
there is one, the fix; they never carry key material.
"""

from __future__ import annotations

import enum


class Reason(enum.IntEnum):
    """Stable reason codes. Never renumber; only append."""

    # device directory and files
    DEVICE_DIR_MISSING = 100
    DEVICE_DIR_UNWRITABLE = 101
    DEVICE_FILE_CORRUPT = 102
    DEVICE_DIR_UNSAFE = 103
    # sessions
    SESSION_CLOSED = 110
    KEY_NOT_IN_SESSION = 111
    # key generation and import
    UNSUPPORTED_CURVE = 120
    UNSUPPORTED_KEY_SIZE = 121
    INVALID_KEY_USAGE = 122
    KEY_TYPE_MISMATCH = 123
    CURVE_MISMATCH = 124
    KEY_SIZE_MISMATCH = 125
    INVALID_KEY_ENCODING = 126
    ENCRYPTED_KEY_UNSUPPORTED = 127
    UNWRAP_FAILED = 128
    UNSUPPORTED_ALGORITHM = 129
    # masked key blobs
    BLOB_TRUNCATED = 140
    BLOB_UNKNOWN_VERSION = 141
    BLOB_TAMPERED = 142
    BLOB_OTHER_DEVICE = 143
    BLOB_SESSION_ENDED = 144
    BLOB_OTHER_SESSION = 145
    BLOB_WRONG_KIND = 146
    BLOB_NOT_A_BLOB = 147
    # key usage and key kind checks at operation time
    USAGE_NOT_ALLOWED = 160
    NO_PRIVATE_KEY = 161
    WRONG_KEY_KIND = 162
    # operation parameters
    UNSUPPORTED_DIGEST = 170
    DIGEST_MISMATCH = 171
    INVALID_PARAMETER = 172
    UNSUPPORTED_PADDING = 173
    INVALID_SALT_LENGTH = 174
    DATA_TOO_LARGE = 175
    DECRYPT_FAILED = 176
    INVALID_DIGEST_LENGTH = 177
    STREAM_FINISHED = 178
    # key agreement and derivation
    INVALID_PEER_KEY = 180
    MISMATCHING_DOMAIN_PARAMETERS = 181
    INVALID_DERIVED_KEY_LENGTH = 182
    INVALID_DERIVED_KEY_TYPE = 183

    @property
    def slug(self) -> str:
        """Stable lower-case, dash-separated name, e.g. ``blob-tampered``."""
        return self.name.lower().replace("_", "-")


class HsmError(Exception):
    """Base of every device failure: ``err.reason`` (a Reason) and a one-line ``str(err)``."""

    def __init__(self, reason: Reason, message: str):
        # One line, always: the message ends up as an OpenSSL error string.
        message = " ".join(str(message).split())
        super().__init__(message)
        self.reason = Reason(reason)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason.slug}: {self.message!r})"


class DeviceError(HsmError):
    """The device directory or its files cannot be used."""


class SessionError(HsmError):
    """A closed session, or a key used outside the session that holds it."""


class KeyImportError(HsmError):
    """Generation or import refused: curve, size, usage, encoding, declared properties."""


class BlobError(HsmError):
    """A masked key blob that cannot be loaded; the reason says why."""


class KeyUsageError(HsmError):
    """The key's usage, kind or missing private half forbids the operation."""


class ParameterError(HsmError):
    """An operation parameter is invalid or unsupported (digest, padding, lengths...)."""


class OperationError(HsmError):
    """The operation itself failed (decryption error, invalid peer key...)."""


def as_bytes(value, what: str) -> bytes:
    """``value`` as bytes, or a ParameterError naming ``what`` (never a bare TypeError)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise ParameterError(Reason.INVALID_PARAMETER, f"{what} must be bytes, not {type(value).__name__}")
