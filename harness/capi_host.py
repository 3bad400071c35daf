"""A small C-API host: what the ``openssl`` CLI cannot reach, driven through libcrypto itself.

    python -m azihsm_conformance.harness.capi_host --openssl BINARY [PROVIDER FLAGS] -- OPERATION 'JSON ARGUMENTS'

It loads the libcrypto that BINARY uses (ctypes), the providers as the CLI flags say
(``-provider-path DIR -provider NAME ... -propquery Q``, or none when an openssl.cnf loads
them), runs one operation and prints one JSON object: ``{"ok": true, ...}`` or ``{"ok":
false, "step": ..., "errors": [...]}`` (the error queue as ``library:reason:data`` lines).
After every successful call it checks that the error queue is empty (``"queue": [...]``
lists what was left). Operations:

* ``aes``: an opaque AES key (``EVP_SKEY_import`` of ``azihsm.masked_key``), then
  ``EVP_CipherInit_SKEY`` and update/final: ``{"cipher": "AES-256-GCM", "masked_key": PATH,
  "encrypt": true, "iv": HEX, "aad": HEX, "data": HEX, "tag": HEX}``; GCM decryption sets the
  tag right after init, before any data. Returns ``out`` (and ``tag`` after GCM encryption).
* ``raw_key``: ``EVP_SKEY_get0_raw_key`` on an opaque key (must fail): ``{"masked_key": PATH}``.
* ``derive``: ``EVP_PKEY_derive`` with a store-loaded key and a peer file, ``output_file`` set
  or not: ``{"key": URI, "peer": PATH, "output_file": PATH or null}``; returns both lengths
  (the size query's and the derive's).
* ``kdf``: ``EVP_KDF_derive`` into a buffer of ``size`` bytes: ``{"kdf": "HKDF", "size": N,
  "params": {"azihsm.ikm_file": PATH, "derived_key_type": "hmac", ...}}`` (strings; integers
  for ``derived_key_bits``).

Bad arguments are a usage error (exit 2) with one line on stderr; never a traceback.
"""

from __future__ import annotations

import ctypes
import json
import re
import subprocess
import sys

UTF8_STRING, OCTET_STRING, UNSIGNED_INTEGER = 4, 5, 2
SKEYMGMT_SELECT_ALL = 0x03
CTRL_AEAD_GET_TAG, CTRL_AEAD_SET_TAG = 0x10, 0x11
INTEGER_PARAMS = {"derived_key_bits"}


class Param(ctypes.Structure):
    _fields_ = [
        ("key", ctypes.c_char_p),
        ("data_type", ctypes.c_uint),
        ("data", ctypes.c_void_p),
        ("data_size", ctypes.c_size_t),
        ("return_size", ctypes.c_size_t),
    ]


PTR, INT, SIZE, STR = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t, ctypes.c_char_p
# the libcrypto functions the host calls: name -> (result type, argument types)
PROTOTYPES = {
    "OSSL_PROVIDER_load": (PTR, [PTR, STR]),
    "OSSL_PROVIDER_set_default_search_path": (INT, [PTR, STR]),
    "EVP_SKEY_import": (PTR, [PTR, STR, STR, INT, PTR]),
    "EVP_SKEY_get0_raw_key": (INT, [PTR, ctypes.POINTER(PTR), ctypes.POINTER(SIZE)]),
    "EVP_CIPHER_fetch": (PTR, [PTR, STR, STR]),
    "EVP_CIPHER_CTX_new": (PTR, []),
    "EVP_CipherInit_SKEY": (INT, [PTR, PTR, PTR, STR, SIZE, INT, PTR]),
    "EVP_CipherUpdate": (INT, [PTR, PTR, ctypes.POINTER(INT), STR, INT]),
    "EVP_CipherFinal_ex": (INT, [PTR, PTR, ctypes.POINTER(INT)]),
    "EVP_CIPHER_CTX_ctrl": (INT, [PTR, INT, INT, PTR]),
    "EVP_KDF_fetch": (PTR, [PTR, STR, STR]),
    "EVP_KDF_CTX_new": (PTR, [PTR]),
    "EVP_KDF_derive": (INT, [PTR, PTR, SIZE, PTR]),
    "OSSL_STORE_open_ex": (PTR, [STR, PTR, STR, PTR, PTR, PTR, PTR, PTR]),
    "OSSL_STORE_load": (PTR, [PTR]),
    "OSSL_STORE_INFO_get1_PKEY": (PTR, [PTR]),
    "OSSL_STORE_INFO_get1_PUBKEY": (PTR, [PTR]),
    "EVP_PKEY_CTX_new_from_pkey": (PTR, [PTR, PTR, STR]),
    "EVP_PKEY_derive_init": (INT, [PTR]),
    "EVP_PKEY_CTX_set_params": (INT, [PTR, PTR]),
    "EVP_PKEY_derive_set_peer": (INT, [PTR, PTR]),
    "EVP_PKEY_derive": (INT, [PTR, PTR, ctypes.POINTER(SIZE)]),
    "ERR_get_error_all": (ctypes.c_ulong, [PTR, PTR, PTR, ctypes.POINTER(STR), ctypes.POINTER(INT)]),
    "ERR_lib_error_string": (STR, [ctypes.c_ulong]),
    "ERR_reason_error_string": (STR, [ctypes.c_ulong]),
}


class HostError(Exception):
    """A failed step: its name and the error queue."""

    def __init__(self, step: str, errors: list[str]):
        super().__init__(step)
        self.step, self.errors = step, errors


def libcrypto_of(openssl: str) -> str:
    """The libcrypto the binary loads (ldd), so the host runs the same library."""
    listing = subprocess.run(["ldd", openssl], capture_output=True, text=True, check=False).stdout
    match = re.search(r"libcrypto\.so\.\S+ => (\S+)", listing)
    if not match:
        raise SystemExit(f"capi_host: cannot tell which libcrypto {openssl} uses (ldd shows none)")
    return match.group(1)


class Host:
    def __init__(self, library: str, provider_path: str | None, providers: list[str], propquery: str | None):
        self.lib = ctypes.CDLL(library)
        self.keep: list[object] = []  # buffers the params point into
        self.propquery = propquery.encode() if propquery else None
        for name, (restype, argtypes) in PROTOTYPES.items():
            try:
                function = getattr(self.lib, name)
            except AttributeError:  # e.g. EVP_SKEY_* before OpenSSL 3.5
                continue
            function.restype = restype
            if argtypes is not None:
                function.argtypes = argtypes
        lib = self.lib
        if provider_path:
            lib.OSSL_PROVIDER_set_default_search_path(None, provider_path.encode())
        for name in providers:
            if not lib.OSSL_PROVIDER_load(None, name.encode()):
                raise HostError(f"OSSL_PROVIDER_load({name})", self.errors())

    # -- error queue ---------------------------------------------------------------------

    def errors(self) -> list[str]:
        out = []
        while True:
            data, flags = ctypes.c_char_p(), ctypes.c_int()
            code = self.lib.ERR_get_error_all(None, None, None, ctypes.byref(data), ctypes.byref(flags))
            if not code:
                return out
            library = (self.lib.ERR_lib_error_string(code) or b"?").decode(errors="replace")
            reason = (self.lib.ERR_reason_error_string(code) or b"?").decode(errors="replace")
            text = (data.value or b"").decode(errors="replace") if flags.value & 0x02 else ""
            out.append(f"{library}:{reason}:{text}")

    def check(self, ok, step: str):
        if not ok:
            raise HostError(step, self.errors())
        return ok

    def params(self, values: dict) -> ctypes.Array:
        array = (Param * (len(values) + 1))()
        for slot, (name, value) in zip(array, values.items()):
            key = ctypes.c_char_p(name.encode())
            self.keep.append(key)
            slot.key = key.value
            if isinstance(value, int):
                data = ctypes.c_uint32(value)
                slot.data_type, slot.data_size = UNSIGNED_INTEGER, 4
            elif isinstance(value, bytes):
                data = ctypes.create_string_buffer(value, len(value))
                slot.data_type, slot.data_size = OCTET_STRING, len(value)
            else:
                raw = str(value).encode()
                data = ctypes.create_string_buffer(raw)
                slot.data_type, slot.data_size = UTF8_STRING, len(raw)
            self.keep.append(data)
            slot.data = ctypes.addressof(data)
        return array

    # -- operations ----------------------------------------------------------------------

    def skey(self, masked_key: str):
        params = self.params({"azihsm.masked_key": masked_key})
        return self.check(
            self.lib.EVP_SKEY_import(None, b"AES", self.propquery, SKEYMGMT_SELECT_ALL, params), "EVP_SKEY_import"
        )

    def aes(self, args: dict) -> dict:
        skey = self.skey(args["masked_key"])
        cipher = self.check(
            self.lib.EVP_CIPHER_fetch(None, args["cipher"].encode(), self.propquery), "EVP_CIPHER_fetch"
        )
        ctx = self.check(self.lib.EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new")
        iv = bytes.fromhex(args["iv"])
        encrypt = bool(args.get("encrypt", True))
        self.check(
            self.lib.EVP_CipherInit_SKEY(ctx, cipher, skey, iv, len(iv), int(encrypt), None), "EVP_CipherInit_SKEY"
        )
        if not encrypt and args.get("tag"):
            tag = bytes.fromhex(args["tag"])
            self.check(self.lib.EVP_CIPHER_CTX_ctrl(ctx, CTRL_AEAD_SET_TAG, len(tag), tag), "EVP_CTRL_AEAD_SET_TAG")
        length = ctypes.c_int()
        if args.get("aad"):
            aad = bytes.fromhex(args["aad"])
            self.check(
                self.lib.EVP_CipherUpdate(ctx, None, ctypes.byref(length), aad, len(aad)), "EVP_CipherUpdate(aad)"
            )
        data = bytes.fromhex(args.get("data", ""))
        out = ctypes.create_string_buffer(len(data) + 32)
        self.check(self.lib.EVP_CipherUpdate(ctx, out, ctypes.byref(length), data, len(data)), "EVP_CipherUpdate")
        produced = out.raw[: length.value]
        tail = ctypes.create_string_buffer(32)
        self.check(self.lib.EVP_CipherFinal_ex(ctx, tail, ctypes.byref(length)), "EVP_CipherFinal_ex")
        produced += tail.raw[: length.value]
        result = {"out": produced.hex()}
        if encrypt and "GCM" in args["cipher"].upper():
            tag = ctypes.create_string_buffer(16)
            self.check(self.lib.EVP_CIPHER_CTX_ctrl(ctx, CTRL_AEAD_GET_TAG, 16, tag), "EVP_CTRL_AEAD_GET_TAG")
            result["tag"] = tag.raw.hex()
        return result

    def raw_key(self, args: dict) -> dict:
        skey = self.skey(args["masked_key"])
        pointer, length = ctypes.c_void_p(), ctypes.c_size_t()
        got = self.lib.EVP_SKEY_get0_raw_key(skey, ctypes.byref(pointer), ctypes.byref(length))
        return {"exported": bool(got), "length": length.value if got else 0, "errors": self.errors()}

    def load_pkey(self, uri: str):
        store = self.check(
            self.lib.OSSL_STORE_open_ex(uri.encode(), None, self.propquery, None, None, None, None, None),
            f"OSSL_STORE_open_ex({uri})",
        )
        while True:
            info = self.lib.OSSL_STORE_load(store)
            if not info:
                raise HostError(f"OSSL_STORE_load({uri}): no key", self.errors())
            pkey = self.lib.OSSL_STORE_INFO_get1_PKEY(info) or self.lib.OSSL_STORE_INFO_get1_PUBKEY(info)
            if pkey:
                self.errors()  # a store tries its loaders in turn: their refusals are not ours
                return pkey

    def derive(self, args: dict) -> dict:
        key, peer = self.load_pkey(args["key"]), self.load_pkey(args["peer"])
        ctx = self.check(self.lib.EVP_PKEY_CTX_new_from_pkey(None, key, self.propquery), "EVP_PKEY_CTX_new_from_pkey")
        self.check(self.lib.EVP_PKEY_derive_init(ctx) == 1, "EVP_PKEY_derive_init")
        if args.get("output_file"):
            self.check(
                self.lib.EVP_PKEY_CTX_set_params(ctx, self.params({"output_file": args["output_file"]})) == 1,
                "EVP_PKEY_CTX_set_params(output_file)",
            )
        self.check(self.lib.EVP_PKEY_derive_set_peer(ctx, peer) == 1, "EVP_PKEY_derive_set_peer")
        size = ctypes.c_size_t()
        self.check(self.lib.EVP_PKEY_derive(ctx, None, ctypes.byref(size)) == 1, "EVP_PKEY_derive(size query)")
        queried = size.value
        buffer = ctypes.create_string_buffer(max(queried, 1))
        size.value = queried
        self.check(self.lib.EVP_PKEY_derive(ctx, buffer, ctypes.byref(size)) == 1, "EVP_PKEY_derive")
        return {"size_query": queried, "secretlen": size.value, "out": buffer.raw[: size.value].hex()}

    def kdf(self, args: dict) -> dict:
        kdf = self.check(self.lib.EVP_KDF_fetch(None, args["kdf"].encode(), self.propquery), "EVP_KDF_fetch")
        ctx = self.check(self.lib.EVP_KDF_CTX_new(kdf), "EVP_KDF_CTX_new")
        values = {k: (int(v) if k in INTEGER_PARAMS else v) for k, v in args.get("params", {}).items()}
        buffer = ctypes.create_string_buffer(max(int(args["size"]), 1))
        self.check(self.lib.EVP_KDF_derive(ctx, buffer, int(args["size"]), self.params(values)) == 1, "EVP_KDF_derive")
        return {"out": buffer.raw[: int(args["size"])].hex()}


OPERATIONS = ("aes", "raw_key", "derive", "kdf")


def parse(argv: list[str]) -> tuple[str, str | None, list[str], str | None, str, dict]:
    if "--" not in argv:
        raise SystemExit("capi_host: usage: --openssl BINARY [PROVIDER FLAGS] -- OPERATION 'JSON'")
    split = argv.index("--")
    flags, rest = argv[:split], argv[split + 1 :]
    openssl, provider_path, providers, propquery = None, None, [], None
    it = iter(flags)
    for flag in it:
        value = next(it, None)
        if value is None:
            raise SystemExit(f"capi_host: {flag} needs a value")
        if flag == "--openssl":
            openssl = value
        elif flag == "-provider-path":
            provider_path = value
        elif flag == "-provider":
            providers.append(value)
        elif flag == "-propquery":
            propquery = value
        else:
            raise SystemExit(f"capi_host: unknown flag {flag} (use --openssl, -provider-path, -provider, -propquery)")
    if not openssl or len(rest) != 2 or rest[0] not in OPERATIONS:
        raise SystemExit(f"capi_host: give --openssl BINARY and, after --, one of {', '.join(OPERATIONS)} and its JSON")
    try:
        arguments = json.loads(rest[1])
    except ValueError as exc:
        raise SystemExit(f"capi_host: the JSON arguments do not parse: {exc}") from None
    return openssl, provider_path, providers, propquery, rest[0], arguments


def main(argv: list[str] | None = None) -> int:
    try:
        openssl, provider_path, providers, propquery, operation, arguments = parse(
            sys.argv[1:] if argv is None else argv
        )
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        host = Host(libcrypto_of(openssl), provider_path, providers, propquery)
        result = getattr(host, operation)(arguments)
        leftover = host.errors()
        print(json.dumps({"ok": True, **result, "queue": leftover}))
        return 0
    except HostError as exc:
        print(json.dumps({"ok": False, "step": exc.step, "errors": exc.errors}))
        return 1
    except (KeyError, ValueError, TypeError, ctypes.ArgumentError) as exc:
        print(f"capi_host: bad arguments for {operation}: {exc!r}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
