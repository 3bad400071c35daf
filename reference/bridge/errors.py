"""Exceptions -> OpenSSL errors.

Device failures arrive as ``HsmError`` with a stable ``Reason``; failures found by the
bridge itself (URI grammar, files, parameters) raise :class:`BridgeError` with a
:class:`BridgeReason`. Both become ``ERR_new``/``ERR_set_debug``/``ERR_vset_error``
through the core's upcalls, with the one-line message as the error data. Anything else
is a bug: it is reported as ``internal-error`` naming the exception, never as a traceback.
"""

from __future__ import annotations

import enum


class BridgeReason(enum.IntEnum):
    """Reasons raised by the bridge itself (the device's start at 100)."""

    INTERNAL_ERROR = 200
    INVALID_URI = 201
    FILE_ERROR = 202
    INVALID_PARAMETER = 203
    UNSUPPORTED_OPERATION = 204
    OUTPUT_BUFFER_TOO_SMALL = 205
    MISSING_KEY = 206
    DEVICE_UNAVAILABLE = 207
    NOT_EXPORTABLE = 208
    # raised by provider.c before Python can speak
    PYTHON_START_FAILED = 250
    REENTRY = 251

    @property
    def slug(self) -> str:
        return self.name.lower().replace("_", "-")


class BridgeError(Exception):
    """A failure found by the bridge; ``str()`` is the one-line user message."""

    def __init__(self, reason: BridgeReason, message: str):
        message = " ".join(str(message).split())
        super().__init__(message)
        self.reason = reason
        self.message = message


MESSAGE_LIMIT = 900  # OpenSSL keeps at most 4 KiB of error data; a reason must survive it


def describe(exc: BaseException) -> tuple[int, str]:
    """(OpenSSL reason code, one-line message) for any exception: control characters
    escaped, and at most MESSAGE_LIMIT characters (both ends kept, so the reason that
    ends a message about a long path still shows)."""
    try:
        from azihsm_conformance.reference.device import HsmError
    except BaseException:  # a broken device package must not hide the original error
        HsmError = BridgeError
    text = " ".join(str(exc).split())
    if not isinstance(exc, (BridgeError, HsmError)):
        return int(BridgeReason.INTERNAL_ERROR), _printable(f"internal error: {type(exc).__name__}: {text}")
    return int(exc.reason), _printable(text)


def _printable(text: str) -> str:
    text = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode("ascii") for ch in text
    )
    if len(text) > MESSAGE_LIMIT:
        half = MESSAGE_LIMIT // 2 - 2
        text = f"{text[:half]}...{text[-half:]}"
    return text


# Keeps the reason texts alive: provider.c stores the pointers.
_reason_texts: list[object] = []


def register_reasons(ffi, lib) -> None:
    """Give OpenSSL readable reason strings for every code we may raise."""
    if _reason_texts:
        return
    from azihsm_conformance.reference.device import Reason

    for member in [*Reason, *BridgeReason]:
        text = ffi.new("char[]", member.slug.encode())
        _reason_texts.append(text)
        lib.bridge_add_reason(int(member), text)
