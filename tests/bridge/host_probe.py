"""Loads azihsm_provider.so into *this* Python process through ctypes on the host's
libcrypto (a Python host, as a test harness or an application would be), exercises the
digest paths OpenSSL 3.0's CLI never calls directly, and exits normally: the interpreter
is finalised before OpenSSL's atexit cleanup runs, which the module must survive.

Usage: host_probe.py PROVIDER_DIR [KEY_URI]   (prints one line per check)
With KEY_URI (an EC azihsm:// URI), also prints what OpenSSL learns about the key through
the keymgmt's get_params and match.
"""

from __future__ import annotations

import ctypes
import hashlib
import sys

OSSL_OP_DIGEST = 1
OSSL_FUNC_DIGEST_DIGEST = 5
OSSL_OP_KEYMGMT = 10
OSSL_FUNC_KEYMGMT_HAS = 21
OSSL_KEYMGMT_SELECT_ALL = 0x87  # private | public | domain parameters | other parameters


class Dispatch(ctypes.Structure):
    _fields_ = [("function_id", ctypes.c_int), ("function", ctypes.c_void_p)]


class Algorithm(ctypes.Structure):
    _fields_ = [
        ("names", ctypes.c_char_p),
        ("props", ctypes.c_char_p),
        ("implementation", ctypes.POINTER(Dispatch)),
        ("description", ctypes.c_char_p),
    ]


def main(provider_dir: str) -> int:
    crypto = ctypes.CDLL("libcrypto.so.3")
    for name in (
        "OSSL_PROVIDER_load",
        "EVP_MD_fetch",
        "EVP_MD_CTX_new",
        "OSSL_PROVIDER_query_operation",
        "OSSL_PROVIDER_get0_provider_ctx",
    ):
        getattr(crypto, name).restype = ctypes.c_void_p
    crypto.OSSL_PROVIDER_load.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    crypto.EVP_MD_fetch.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    crypto.OSSL_PROVIDER_query_operation.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    crypto.OSSL_PROVIDER_get0_provider_ctx.argtypes = [ctypes.c_void_p]
    for name in ("EVP_DigestInit_ex", "EVP_DigestUpdate", "EVP_DigestFinal_ex", "EVP_MD_CTX_copy_ex"):
        getattr(crypto, name).argtypes = [ctypes.c_void_p] * (3 if name != "EVP_MD_CTX_copy_ex" else 2)
    crypto.EVP_DigestUpdate.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]

    crypto.OSSL_PROVIDER_set_default_search_path(None, provider_dir.encode())
    provider = crypto.OSSL_PROVIDER_load(None, b"azihsm_provider")
    if not provider:
        print("load: FAILED")
        return 1
    print("load: ok")

    # streaming digest and EVP_MD_CTX_copy_ex (the provider's dupctx)
    md = crypto.EVP_MD_fetch(None, b"SHA2-384", b"provider=azihsm")
    ctx, copy = crypto.EVP_MD_CTX_new(), crypto.EVP_MD_CTX_new()
    out = ctypes.create_string_buffer(64)
    size = ctypes.c_uint(0)
    ok = (
        crypto.EVP_DigestInit_ex(ctx, md, None)
        and crypto.EVP_DigestUpdate(ctx, b"abc", 3)
        and crypto.EVP_MD_CTX_copy_ex(copy, ctx)
        and crypto.EVP_DigestUpdate(copy, b"def", 3)
        and crypto.EVP_DigestFinal_ex(copy, out, ctypes.byref(size))
    )
    expected = hashlib.sha384(b"abcdef").digest()
    print("dupctx:", "ok" if ok and out.raw[: size.value] == expected else "FAILED")

    # the one-shot digest function, called straight from the provider's dispatch table
    oneshot = dispatched(crypto, provider, OSSL_OP_DIGEST, b"SHA2-256", OSSL_FUNC_DIGEST_DIGEST)
    digest_fn = ctypes.CFUNCTYPE(
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_size_t),
        ctypes.c_size_t,
    )(oneshot)
    length = ctypes.c_size_t(0)
    ok = digest_fn(crypto.OSSL_PROVIDER_get0_provider_ctx(provider), b"hello", 5, out, ctypes.byref(length), 64)
    print("oneshot:", "ok" if ok and out.raw[: length.value] == hashlib.sha256(b"hello").digest() else "FAILED")
    small = digest_fn(crypto.OSSL_PROVIDER_get0_provider_ctx(provider), b"hello", 5, out, ctypes.byref(length), 16)
    print("oneshot-small-buffer:", "ok" if not small else "FAILED")
    print("library contexts:", "ok" if several_library_contexts(crypto, provider_dir) else "FAILED")
    # keymgmt has() on no key at all (libssl 3.5 asks): "no", with nothing on the error queue
    has_fn = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int)(
        dispatched(crypto, provider, OSSL_OP_KEYMGMT, b"EC", OSSL_FUNC_KEYMGMT_HAS)
    )
    crypto.ERR_clear_error()
    crypto.ERR_peek_error.restype = ctypes.c_ulong
    answer = has_fn(None, OSSL_KEYMGMT_SELECT_ALL)
    print("has-null-key:", "ok" if answer == 0 and crypto.ERR_peek_error() == 0 else "FAILED")
    if len(sys.argv) > 2:
        describe_key(crypto, sys.argv[2].encode())
    sys.stdout.flush()
    return 0


def dispatched(crypto, provider, operation: int, name: bytes, function_id: int) -> int:
    """The address of FUNCTION_ID in the provider's implementation of NAME for OPERATION."""
    no_cache = ctypes.c_int(0)
    table = ctypes.cast(
        crypto.OSSL_PROVIDER_query_operation(provider, operation, ctypes.byref(no_cache)), ctypes.POINTER(Algorithm)
    )
    i = 0
    while table[i].names:
        if name in table[i].names.split(b":"):
            j = 0
            while table[i].implementation[j].function_id:
                if table[i].implementation[j].function_id == function_id:
                    return table[i].implementation[j].function
                j += 1
        i += 1
    raise LookupError(f"no function {function_id} for {name!r} in operation {operation}")


def several_library_contexts(crypto, provider_dir: str) -> bool:
    """One provider instance (with its own device session) per library context; each
    works, and freeing a context tears its instance down."""
    crypto.OSSL_LIB_CTX_new.restype = ctypes.c_void_p
    crypto.OSSL_LIB_CTX_free.argtypes = [ctypes.c_void_p]
    crypto.OSSL_PROVIDER_set_default_search_path.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    crypto.EVP_Digest.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_uint),
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    ok = True
    for _ in range(3):
        libctx = crypto.OSSL_LIB_CTX_new()
        crypto.OSSL_PROVIDER_set_default_search_path(libctx, provider_dir.encode())
        loaded = crypto.OSSL_PROVIDER_load(libctx, b"azihsm_provider")
        md = crypto.EVP_MD_fetch(libctx, b"SHA1", b"provider=azihsm")
        out, size = ctypes.create_string_buffer(64), ctypes.c_uint(0)
        ok = (
            ok
            and bool(loaded)
            and bool(md)
            and bool(crypto.EVP_Digest(b"xyz", 3, out, ctypes.byref(size), md, None))
            and out.raw[: size.value] == hashlib.sha1(b"xyz").digest()
        )
        crypto.EVP_MD_free.argtypes = [ctypes.c_void_p]
        crypto.EVP_MD_free(md)
        crypto.OSSL_PROVIDER_unload.argtypes = [ctypes.c_void_p]
        crypto.OSSL_PROVIDER_unload(loaded)
        crypto.OSSL_LIB_CTX_free(libctx)
    return ok


def load_key(crypto, uri: bytes):
    crypto.OSSL_STORE_open_ex.restype = ctypes.c_void_p
    crypto.OSSL_STORE_open_ex.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_char_p] + [ctypes.c_void_p] * 5
    crypto.OSSL_STORE_load.restype = ctypes.c_void_p
    crypto.OSSL_STORE_load.argtypes = [ctypes.c_void_p]
    crypto.OSSL_STORE_INFO_get1_PKEY.restype = ctypes.c_void_p
    crypto.OSSL_STORE_INFO_get1_PKEY.argtypes = [ctypes.c_void_p]
    store = crypto.OSSL_STORE_open_ex(uri, None, b"?provider=azihsm", None, None, None, None, None)
    info = crypto.OSSL_STORE_load(store)
    return crypto.OSSL_STORE_INFO_get1_PKEY(info) if info else None


def describe_key(crypto, uri: bytes) -> None:
    first, second = load_key(crypto, uri), load_key(crypto, uri)
    for name in ("EVP_PKEY_get_bits", "EVP_PKEY_get_security_bits", "EVP_PKEY_get_size"):
        getattr(crypto, name).argtypes = [ctypes.c_void_p]
        print(f"{name[len('EVP_PKEY_get_') :]}: {getattr(crypto, name)(first)}")
    text = ctypes.create_string_buffer(80)
    crypto.EVP_PKEY_get_default_digest_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    crypto.EVP_PKEY_get_default_digest_name(first, text, 80)
    print(f"default-digest: {text.value.decode()}")
    crypto.EVP_PKEY_get_group_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p]
    crypto.EVP_PKEY_get_group_name(first, text, 80, None)
    print(f"group: {text.value.decode()}")
    point = ctypes.create_string_buffer(200)
    size = ctypes.c_size_t(0)
    crypto.EVP_PKEY_get_octet_string_param.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_size_t),
    ]
    crypto.EVP_PKEY_get_octet_string_param(first, b"encoded-pub-key", point, 200, ctypes.byref(size))
    print(f"encoded-pub-key: {point.raw[: size.value].hex()}")
    crypto.EVP_PKEY_eq.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    print(f"match: {crypto.EVP_PKEY_eq(first, second)}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
