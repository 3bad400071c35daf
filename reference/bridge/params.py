"""OSSL_PARAM arrays <-> Python values.

``read(params)`` turns a caller's array into ``{key: value}`` (ints, str, bytes; strings
keep undecodable bytes as surrogates, so a path round-trips exactly); ``write(params,
values)`` answers a get_params request in place, honouring each requested element's type
and buffer size; ``Built(items)`` makes an array to hand to an OpenSSL callback (store
object callback, key export) and keeps its buffers alive.
"""

from __future__ import annotations

import sys

from . import runtime
from .errors import BridgeError, BridgeReason

# UTF8_PTR / OCTET_PTR answers point into these: constant strings live for the process.
_interned: dict[object, object] = {}


def _entries(params):
    if params == runtime.ffi.NULL:
        return
    i = 0
    while params[i].key != runtime.ffi.NULL:
        yield params[i]
        i += 1


def read(params) -> dict[str, object]:
    """All elements of a (const) OSSL_PARAM array, decoded by their declared type."""
    values = {}
    for p in _entries(params):
        values[runtime.ffi.string(p.key).decode()] = _decode(p)
    return values


def _decode(p):
    kind = p.data_type
    if kind in (runtime.lib.OSSL_PARAM_INTEGER, runtime.lib.OSSL_PARAM_UNSIGNED_INTEGER):
        raw = bytes(runtime.ffi.buffer(p.data, p.data_size))
        return int.from_bytes(raw, sys.byteorder, signed=kind == runtime.lib.OSSL_PARAM_INTEGER)
    if kind == runtime.lib.OSSL_PARAM_UTF8_STRING:
        raw = bytes(runtime.ffi.buffer(p.data, p.data_size)) if p.data_size else b""
        return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    if kind == runtime.lib.OSSL_PARAM_OCTET_STRING:
        return bytes(runtime.ffi.buffer(p.data, p.data_size)) if p.data_size else b""
    if kind in (runtime.lib.OSSL_PARAM_UTF8_PTR, runtime.lib.OSSL_PARAM_OCTET_PTR):
        pointer = runtime.ffi.cast("char **", p.data)[0]
        if pointer == runtime.ffi.NULL:
            return None
        if kind == runtime.lib.OSSL_PARAM_UTF8_PTR:
            return runtime.ffi.string(pointer).decode("utf-8", "surrogateescape")
        return bytes(runtime.ffi.buffer(pointer, p.data_size))
    return None


def write(params, values: dict[str, object]) -> None:
    """Answer a get_params request: fill every requested key we have a value for.

    A value may be a callable, evaluated only when its key is requested (some answers
    cost an import)."""
    for p in _entries(params):
        key = runtime.ffi.string(p.key).decode()
        if key not in values:
            continue
        value = values[key]
        if callable(value):
            value = value()
        if value is None:
            continue
        _encode(p, key, value)


def _encode(p, key: str, value) -> None:
    kind = p.data_type
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        if kind not in (runtime.lib.OSSL_PARAM_INTEGER, runtime.lib.OSSL_PARAM_UNSIGNED_INTEGER):
            raise _mismatch(key, "an integer")
        signed = kind == runtime.lib.OSSL_PARAM_INTEGER
        needed = max(1, (value.bit_length() + 8 * signed + 7) // 8)
        if p.data == runtime.ffi.NULL:
            p.return_size = needed
            return
        if p.data_size < needed:
            raise BridgeError(
                BridgeReason.OUTPUT_BUFFER_TOO_SMALL, f"parameter {key!r}: {needed} bytes needed, {p.data_size} given"
            )
        runtime.ffi.memmove(p.data, value.to_bytes(p.data_size, sys.byteorder, signed=signed), p.data_size)
        p.return_size = p.data_size
        return
    if isinstance(value, str):
        if kind not in (runtime.lib.OSSL_PARAM_UTF8_STRING, runtime.lib.OSSL_PARAM_UTF8_PTR):
            raise _mismatch(key, "a string")
        raw = value.encode()
    elif isinstance(value, bytes):
        if kind not in (runtime.lib.OSSL_PARAM_OCTET_STRING, runtime.lib.OSSL_PARAM_OCTET_PTR):
            raise _mismatch(key, "an octet string")
        raw = value
    else:
        raise TypeError(f"cannot answer parameter {key!r} with {type(value).__name__}")
    p.return_size = len(raw)
    if kind in (runtime.lib.OSSL_PARAM_UTF8_PTR, runtime.lib.OSSL_PARAM_OCTET_PTR):
        if p.data == runtime.ffi.NULL:
            return
        if value not in _interned:
            _interned[value] = runtime.ffi.new("char[]", raw)
        runtime.ffi.cast("char **", p.data)[0] = _interned[value]
        return
    if p.data == runtime.ffi.NULL:
        return
    if p.data_size < len(raw):
        raise BridgeError(
            BridgeReason.OUTPUT_BUFFER_TOO_SMALL, f"parameter {key!r}: {len(raw)} bytes needed, {p.data_size} given"
        )
    runtime.ffi.memmove(p.data, raw, len(raw))
    if kind == runtime.lib.OSSL_PARAM_UTF8_STRING and p.data_size > len(raw):
        runtime.ffi.cast("char *", p.data)[len(raw)] = b"\0"


def _mismatch(key: str, what: str) -> BridgeError:
    return BridgeError(BridgeReason.INVALID_PARAMETER, f"parameter {key!r} is {what} here")


class Built:
    """An OSSL_PARAM array owning its keys and data (keep it alive while used)."""

    def __init__(self, items: list[tuple[str, object]], unsigned: tuple[str, ...] = ()):
        self._keep = []
        self.array = runtime.ffi.new("OSSL_PARAM[]", len(items) + 1)
        for i, (key, value) in enumerate(items):
            entry = self.array[i]
            entry.key = self._hold(runtime.ffi.new("char[]", key.encode()))
            if isinstance(value, int):
                signed = key not in unsigned
                if signed:
                    size = 4 if -(1 << 31) <= value < (1 << 31) else 8
                else:  # a BIGNUM: native-endian magnitude
                    size = max(1, (value.bit_length() + 7) // 8)
                entry.data_type = runtime.lib.OSSL_PARAM_INTEGER if signed else runtime.lib.OSSL_PARAM_UNSIGNED_INTEGER
                raw = value.to_bytes(size, sys.byteorder, signed=signed)
            elif isinstance(value, str):
                entry.data_type = runtime.lib.OSSL_PARAM_UTF8_STRING
                raw = value.encode()
            else:
                entry.data_type = runtime.lib.OSSL_PARAM_OCTET_STRING
                raw = bytes(value)
            entry.data = self._hold(runtime.ffi.new("unsigned char[]", raw + b"\0"))
            entry.data_size = len(raw)
            entry.return_size = runtime.ffi.cast("size_t", -1)  # OSSL_PARAM_UNMODIFIED

    def _hold(self, cdata):
        self._keep.append(cdata)
        return cdata
