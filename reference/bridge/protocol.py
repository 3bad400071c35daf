"""The device server's wire protocol, derived from ``externs.h``.

Both ends come from the same declarations: ``build.py`` generates the C client stubs from
:func:`functions`, and ``server.py`` decodes the same argument kinds back into the values
the entry points of ``externs.py`` take. Every frame is a little-endian ``u32`` length and
a body; docs/device-protocol.md describes the layout for readers of neither.

Argument kinds (what a C parameter, or a group of them, means on the wire):

========== ============================================ ======================================
kind       C parameters                                  request / reply
========== ============================================ ======================================
INT        ``int x``                                     i64 / -
INSTANCE   ``int instance``                              i64 (the server's instance id) / -
HANDLE     ``void *x`` (an object OpenSSL holds)         u64 / -
STR        ``const char *x``                             string or null / -
BYTES      ``const unsigned char *p, size_t n``          bytes / -
OUTBUF     ``unsigned char *o, size_t *ol, size_t cap``  null flag, u64 cap / u64 *ol, bytes
FIXEDOUT   ``unsigned char *o, size_t n``                u64 n / n bytes
PARAMS     ``const OSSL_PARAM p[]``                      param array / -
REQUEST    ``OSSL_PARAM p[]`` (a get_params request)     descriptors / answers
CALLBACK   ``OSSL_CALLBACK *cb, void *cbarg``            - / param arrays to call cb with
BIO        ``void *cbio``                                - / bytes to write to it
PROVIDER   ``void *cprov``                               provider-section settings / -
INT_OUT    ``int *x``                                    - / i64
========== ============================================ ======================================

A function returning ``void`` gets no reply (frees and resets are pipelined).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

EXTERNS_H = Path(__file__).resolve().parent / "externs.h"
MAGIC = b"AZHSM/1\0"  # hello: protocol name and version
NULL_LENGTH = 0xFFFFFFFF  # a string length meaning "NULL pointer"
MAX_FRAME = 64 << 20  # no frame is larger (inputs are capped at 64 KiB; KDF buffers at 16 MiB)
MAX_FIXED_OUTPUT = 16 << 20

# The one C type both ends rebuild (cffi declarations of the in-process module and the server).
OSSL_PARAM_CDEF = """
typedef struct {
    const char *key;
    unsigned int data_type;
    void *data;
    size_t data_size;
    size_t return_size;
} OSSL_PARAM;
"""

# Implemented in the C client itself (answers known at build time, or the instance table).
LOCAL = frozenset(
    {"py_provider_init", "py_provider_teardown", "py_provider_get_params", "py_digest_get_params", "py_aes_get_params"}
)

# Kinds of a reply's return value.
RETURN_KINDS = {"int": "INT", "void": "VOID", "void *": "HANDLE", "const char *": "STR"}


@dataclass(frozen=True)
class Param:
    ctype: str  # normalised: "const unsigned char *", "OSSL_PARAM []", ...
    name: str


@dataclass(frozen=True)
class Function:
    index: int  # the request's function number: position in externs.h
    name: str
    returns: str  # INT, VOID, HANDLE or STR
    params: tuple[Param, ...]
    kinds: tuple[tuple[str, tuple[Param, ...]], ...]  # (kind, the C parameters it covers)
    declaration: str  # as written in externs.h, on one line

    @property
    def replies(self) -> bool:
        return self.returns != "VOID"


_DECLARATION = re.compile(r"^(?P<ret>.+?)\s*(?P<name>py_\w+)\s*\((?P<args>.*)\)$")


def declarations(text: str | None = None) -> list[str]:
    """The declarations of externs.h, one line each (comments dropped, wrapping undone)."""
    if text is None:
        text = EXTERNS_H.read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return [" ".join(part.split()) for part in text.split(";") if part.strip()]


def _param(text: str) -> Param:
    text = text.strip()
    array = text.endswith("[]")
    if array:
        text = text[:-2].strip()
    match = re.match(r"^(?P<type>.*?[\s*])(?P<name>\w+)$", text)
    if match is None:
        raise ValueError(f"externs.h: cannot read parameter {text!r}")
    ctype = " ".join(match["type"].replace("*", " * ").split()).replace("* *", "**")
    return Param(ctype + (" []" if array else ""), match["name"])


def _ctype(text: str) -> str:
    return " ".join(text.replace("*", " * ").split()).replace("* *", "**")


def _kinds(params: tuple[Param, ...], name: str) -> tuple[tuple[str, tuple[Param, ...]], ...]:
    kinds = []
    i = 0
    while i < len(params):
        p = params[i]
        rest = params[i + 1 :]
        nxt = [q.ctype for q in rest[:2]]
        if p.ctype == "OSSL_CALLBACK *" and nxt[:1] == ["void *"]:
            kinds.append(("CALLBACK", params[i : i + 2]))
            i += 2
        elif p.ctype == "unsigned char *" and nxt == ["size_t *", "size_t"]:
            kinds.append(("OUTBUF", params[i : i + 3]))
            i += 3
        elif p.ctype == "unsigned char *" and nxt[:1] == ["size_t"]:
            kinds.append(("FIXEDOUT", params[i : i + 2]))
            i += 2
        elif p.ctype in ("const unsigned char *", "const void *") and nxt[:1] == ["size_t"]:
            kinds.append(("BYTES", params[i : i + 2]))
            i += 2
        else:
            kinds.append((_single_kind(p, name), (p,)))
            i += 1
    return tuple(kinds)


def _single_kind(p: Param, function: str) -> str:
    if p.ctype == "int":
        return "INSTANCE" if p.name == "instance" else "INT"
    if p.ctype == "int *":
        return "INT_OUT"
    if p.ctype == "const char *":
        return "STR"
    if p.ctype == "const OSSL_PARAM []":
        return "PARAMS"
    if p.ctype == "OSSL_PARAM []":
        return "REQUEST"
    if p.ctype in ("void *", "const void *"):
        return {"cprov": "PROVIDER", "cbio": "BIO"}.get(p.name, "HANDLE")
    raise ValueError(f"externs.h: {function}: no wire form for parameter {p.ctype} {p.name}")


def functions(text: str | None = None) -> list[Function]:
    """Every externs.h function with its wire kinds (ValueError names one that has none)."""
    found = []
    for index, declaration in enumerate(declarations(text)):
        match = _DECLARATION.match(declaration)
        if match is None:
            raise ValueError(f"externs.h: cannot read declaration {declaration!r}")
        returns = RETURN_KINDS.get(_ctype(match["ret"]))
        if returns is None:
            raise ValueError(f"externs.h: {match['name']}: no wire form for return type {match['ret']}")
        args = match["args"].strip()
        params = tuple(_param(a) for a in args.split(",")) if args and args != "void" else ()
        found.append(Function(index, match["name"], returns, params, _kinds(params, match["name"]), declaration))
    return found


# ---- the Python end's reader and writer ---------------------------------------------------


class ProtocolError(Exception):
    """A frame that does not follow the protocol (a bug or a foreign client)."""


class Reader:
    def __init__(self, data: bytes | memoryview):
        self.data = memoryview(data)
        self.at = 0

    def _take(self, n: int) -> memoryview:
        if n < 0 or self.at + n > len(self.data):
            raise ProtocolError("truncated frame")
        chunk = self.data[self.at : self.at + n]
        self.at += n
        return chunk

    def u8(self) -> int:
        return self._take(1)[0]

    def u32(self) -> int:
        return struct.unpack("<I", self._take(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self._take(8))[0]

    def i64(self) -> int:
        return struct.unpack("<q", self._take(8))[0]

    def blob(self) -> bytes | None:
        """Bytes with a u32 length; NULL_LENGTH reads as None."""
        n = self.u32()
        return None if n == NULL_LENGTH else bytes(self._take(n))

    def done(self) -> None:
        if self.at != len(self.data):
            raise ProtocolError(f"{len(self.data) - self.at} bytes left over in a frame")


class Writer:
    def __init__(self):
        self.parts: list[bytes] = []

    def u8(self, v: int) -> None:
        self.parts.append(struct.pack("<B", v))

    def u32(self, v: int) -> None:
        self.parts.append(struct.pack("<I", v))

    def u64(self, v: int) -> None:
        self.parts.append(struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF))

    def i64(self, v: int) -> None:
        self.parts.append(struct.pack("<q", v))

    def blob(self, data: bytes | None) -> None:
        if data is None:
            self.u32(NULL_LENGTH)
        else:
            self.u32(len(data))
            self.parts.append(bytes(data))

    def frame(self) -> bytes:
        body = b"".join(self.parts)
        return struct.pack("<I", len(body)) + body
