"""The cffi entry points: one thin function per line of ``externs.h``.

Each entry point finds its object in the handle table, imports the operation module it
needs (lazily: a process pays only for the operations it uses) and calls it. Every
exception, expected or not, is turned into an OpenSSL error and a failure return value;
no traceback ever reaches the terminal.
"""

from __future__ import annotations

from . import runtime

NULL = "NULL"  # failure value of pointer-returning entry points
VOID = "VOID"  # entry points returning nothing

_ENTRY_POINTS: dict[str, tuple[object, object]] = {}


def install(ffi, lib) -> None:
    """In-process mode: attach every entry point to the compiled module (called by its
    init code)."""
    for name, call in serve(ffi, lib).items():
        ffi.def_extern(name=name, onerror=_conversion_error(name))(call)


def serve(ffi, lib) -> dict[str, object]:
    """Every entry point, guarded, by name: the device server calls these with arguments it
    rebuilt from a request (``ffi``/``lib`` are then its stand-ins, see server.py)."""
    runtime.ffi, runtime.lib = ffi, lib
    return {
        name: _guarded(fn, name, {NULL: ffi.NULL, VOID: None}.get(failure, failure))
        for name, (fn, failure) in _ENTRY_POINTS.items()
    }


def _guarded(fn, name, failure):
    def call(*args):
        try:
            return fn(*args)
        except BaseException as exc:  # noqa: BLE001 - everything becomes an OpenSSL error
            try:
                runtime.report(exc, name)
            except BaseException:  # noqa: BLE001 - reporting must never raise into C
                pass
            return failure

    return call


def _conversion_error(name):
    """cffi calls this (instead of printing a traceback) if a result cannot be converted
    back to C; the call then returns zero/NULL."""

    def handler(exc_type, exc_value, _traceback):
        try:
            runtime.report(exc_value if exc_value is not None else exc_type(), name)
        except BaseException:  # noqa: BLE001 - never raise into C
            pass

    return handler


def entry(failure=0):
    """Register an entry point returning ``failure`` on error (0, NULL or VOID)."""

    def register(fn):
        _ENTRY_POINTS[fn.__name__] = (fn, failure)
        return fn

    return register


def _text(cstring) -> str | None:
    ffi = runtime.ffi
    return None if cstring == ffi.NULL else ffi.string(cstring).decode("utf-8", "surrogateescape")


def _bytes(pointer, length) -> bytes:
    return bytes(runtime.ffi.buffer(pointer, length)) if length else b""


# -- provider ---------------------------------------------------------------


@entry()
def py_provider_init(cprov, instance_out):
    instance_out[0] = runtime.start_instance(cprov).id
    return 1


@entry(failure=VOID)
def py_provider_teardown(ident):
    runtime.stop_instance(ident)


@entry()
def py_provider_get_params(ident, params):
    from . import identity
    from . import params as p

    runtime.instance(ident)
    p.write(params, identity.provider_params())
    return 1


# -- generic object operations ----------------------------------------------


@entry(failure=NULL)
def py_obj_dup(handle):
    return runtime.new_handle(runtime.lookup(handle).dup())


@entry(failure=VOID)
def py_obj_free(handle):
    runtime.release(handle)


@entry()
def py_obj_update(handle, data, length):
    runtime.lookup(handle).update(_bytes(data, length))
    return 1


@entry()
def py_obj_get_params(handle, params):
    runtime.lookup(handle).get_params(params)
    return 1


@entry()
def py_obj_set_params(handle, params):
    runtime.lookup(handle).set_params(params)
    return 1


# -- digests ----------------------------------------------------------------


@entry(failure=NULL)
def py_digest_newctx(ident, name):
    from .digest import DigestContext

    return runtime.new_handle(DigestContext(runtime.instance(ident), _text(name)))


@entry()
def py_digest_init(handle):
    from .digest import DigestContext

    runtime.lookup(handle, DigestContext).init()
    return 1


@entry()
def py_digest_final(handle, out, outl, outsz):
    from .digest import DigestContext, write_output

    value = runtime.lookup(handle, DigestContext).final()
    write_output(value, out, outl, outsz)
    return 1


@entry()
def py_digest_oneshot(ident, name, data, length, out, outl, outsz):
    from .digest import oneshot, write_output

    runtime.instance(ident)
    write_output(oneshot(_text(name), _bytes(data, length)), out, outl, outsz)
    return 1


@entry()
def py_digest_get_params(name, params):
    from .digest import get_params

    get_params(_text(name), params)
    return 1


# -- key management ---------------------------------------------------------


@entry(failure=NULL)
def py_key_new(ident, alg):
    from .keymgmt import KeyData

    return runtime.new_handle(KeyData(runtime.instance(ident), _text(alg)))


@entry(failure=NULL)
def py_keygen_init(ident, alg, selection, params):
    from .keymgmt import KeyGen

    # the selection is not needed: genpkey always makes a key pair (or imports one)
    gen = KeyGen(runtime.instance(ident), _text(alg))
    gen.set_params(params)
    return runtime.new_handle(gen)


@entry(failure=NULL)
def py_keygen(handle):
    from .keymgmt import KeyGen

    return runtime.new_handle(runtime.lookup(handle, KeyGen).generate())


@entry(failure=NULL)
def py_key_load(alg, reference, size):
    from .keymgmt import load_reference

    return runtime.new_handle(load_reference(_text(alg), _bytes(reference, size)))


@entry()
def py_key_has(handle, selection):
    from .keymgmt import KeyData

    if runtime.handle_number(handle) == 0:
        return 0  # libssl asks about a key it has not made yet: "no", without an error
    return int(runtime.lookup(handle, KeyData).has(selection))


@entry()
def py_key_match(first, second, selection):
    from .keymgmt import KeyData

    return int(runtime.lookup(first, KeyData).matches(runtime.lookup(second, KeyData, owner=False), selection))


@entry()
def py_key_import(handle, selection, params):
    from .keymgmt import KeyData

    runtime.lookup(handle, KeyData).import_public(selection, params)
    return 1


@entry()
def py_key_export(handle, selection, callback, cbarg):
    from .keymgmt import KeyData

    return int(runtime.lookup(handle, KeyData).export_public(selection, callback, cbarg))


# -- store ------------------------------------------------------------------


@entry(failure=NULL)
def py_store_open(ident, uri):
    from .store import StoreContext

    return runtime.new_handle(StoreContext(runtime.instance(ident), _text(uri)))


@entry()
def py_store_load(handle, callback, cbarg):
    from .store import StoreContext

    return int(runtime.lookup(handle, StoreContext).load(callback, cbarg))


@entry(failure=1)
def py_store_eof(handle):
    from .store import StoreContext

    return int(runtime.lookup(handle, StoreContext).eof)


# -- signatures -------------------------------------------------------------


@entry(failure=NULL)
def py_sig_newctx(ident, alg):
    from .signature import SignatureContext

    return runtime.new_handle(SignatureContext(runtime.instance(ident), _text(alg)))


@entry()
def py_sig_init(handle, operation, mdname, key, params):
    from .keymgmt import KeyData
    from .signature import SignatureContext

    ctx = runtime.lookup(handle, SignatureContext)
    keydata = None if key == runtime.ffi.NULL else runtime.lookup(key, KeyData, owner=False)
    ctx.init(_text(operation), _text(mdname), keydata, params)
    return 1


@entry()
def py_sig_sign(handle, sig, siglen, sigsize, tbs, tbslen):
    from .signature import SignatureContext

    ctx = runtime.lookup(handle, SignatureContext)
    if sig == runtime.ffi.NULL:
        siglen[0] = ctx.max_size()
        return 1
    return _write_signature(ctx.sign(_bytes(tbs, tbslen)), sig, siglen, sigsize)


@entry()
def py_sig_verify(handle, sig, siglen, tbs, tbslen):
    from .signature import SignatureContext

    return int(runtime.lookup(handle, SignatureContext).verify(_bytes(sig, siglen), _bytes(tbs, tbslen)))


@entry()
def py_sig_sign_final(handle, sig, siglen, sigsize):
    from .signature import SignatureContext

    ctx = runtime.lookup(handle, SignatureContext)
    if sig == runtime.ffi.NULL:
        siglen[0] = ctx.max_size()
        return 1
    return _write_signature(ctx.sign_final(), sig, siglen, sigsize)


@entry()
def py_sig_verify_final(handle, sig, siglen):
    from .signature import SignatureContext

    return int(runtime.lookup(handle, SignatureContext).verify_final(_bytes(sig, siglen)))


def _write_signature(signature: bytes, sig, siglen, sigsize) -> int:
    from .errors import BridgeError, BridgeReason

    if len(signature) > sigsize:
        raise BridgeError(
            BridgeReason.OUTPUT_BUFFER_TOO_SMALL, f"signature needs {len(signature)} bytes, the buffer holds {sigsize}"
        )
    runtime.ffi.memmove(sig, signature, len(signature))
    siglen[0] = len(signature)
    return 1


# -- encoders ---------------------------------------------------------------


@entry()
def py_encode(ident, form, cbio, key, selection, encrypt):
    from .encoder import encode
    from .errors import BridgeError, BridgeReason
    from .keymgmt import KeyData

    instance = runtime.instance(ident)
    if key == runtime.ffi.NULL:
        raise BridgeError(BridgeReason.MISSING_KEY, "the azihsm encoders only encode azihsm keys")
    keydata = runtime.lookup(key, KeyData, owner=False)
    data = encode(_text(form), keydata, selection, encrypt=bool(encrypt))
    if not runtime.lib.bridge_bio_write(instance.cprov, cbio, data, len(data)):
        raise BridgeError(BridgeReason.FILE_ERROR, "cannot write the encoded key")
    return 1


def _write_buffer(data: bytes, out, outlen, outsize, what: str) -> int:
    """Copy an operation's result into the caller's buffer (or fail naming the sizes)."""
    from .errors import BridgeError, BridgeReason

    if len(data) > outsize:
        raise BridgeError(
            BridgeReason.OUTPUT_BUFFER_TOO_SMALL,
            f"output buffer too small: the {what} needs {len(data)} bytes, the buffer holds {outsize}",
        )
    runtime.ffi.memmove(out, data, len(data))
    outlen[0] = len(data)
    return 1


# -- asymmetric cipher (RSA encryption) --------------------------------------


@entry(failure=NULL)
def py_cipher_newctx(ident, alg):
    from .asym_cipher import AsymCipherContext

    return runtime.new_handle(AsymCipherContext(runtime.instance(ident), _text(alg)))


@entry()
def py_cipher_init(handle, operation, key, params):
    from .asym_cipher import AsymCipherContext
    from .keymgmt import KeyData

    keydata = runtime.lookup(key, KeyData)
    ctx = runtime.lookup(handle, AsymCipherContext)  # errors belong to the context's instance
    ctx.init(_text(operation), keydata, params)
    return 1


@entry()
def py_cipher_run(handle, out, outlen, outsize, data, length):
    from .asym_cipher import AsymCipherContext

    ctx = runtime.lookup(handle, AsymCipherContext)
    if out == runtime.ffi.NULL:
        outlen[0] = ctx.output_size()
        return 1
    return _write_buffer(ctx.run(_bytes(data, length)), out, outlen, outsize, f"{ctx.operation}ed data")


# -- key exchange (ECDH) ----------------------------------------------------


@entry(failure=NULL)
def py_keyexch_newctx(ident):
    from .keyexch import EcdhContext

    return runtime.new_handle(EcdhContext(runtime.instance(ident)))


@entry()
def py_keyexch_init(handle, key, params):
    from .keyexch import EcdhContext
    from .keymgmt import KeyData

    keydata = runtime.lookup(key, KeyData)
    ctx = runtime.lookup(handle, EcdhContext)
    ctx.init(keydata, params)
    return 1


@entry()
def py_keyexch_set_peer(handle, peer):
    from .keyexch import EcdhContext
    from .keymgmt import KeyData

    peer_key = runtime.lookup(peer, KeyData)
    ctx = runtime.lookup(handle, EcdhContext)
    ctx.set_peer(peer_key)
    return 1


@entry()
def py_keyexch_derive(handle, secret, secretlen, outlen):
    from .keyexch import EcdhContext

    ctx = runtime.lookup(handle, EcdhContext)
    result = ctx.derive(size_query=secret == runtime.ffi.NULL)
    if isinstance(result, int):
        secretlen[0] = result
        return 1
    return _write_buffer(result, secret, secretlen, outlen, "the masked ECDH secret")


# -- KDF (HKDF, KBKDF) ---------------------------------------------------------


@entry(failure=NULL)
def py_kdf_newctx(ident, algorithm):
    from .kdf import KdfContext

    return runtime.new_handle(KdfContext(runtime.instance(ident), _text(algorithm)))


@entry(failure=VOID)
def py_kdf_reset(handle):
    from .kdf import KdfContext

    runtime.lookup(handle, KdfContext).reset()


@entry()
def py_kdf_derive(handle, key, keylen, params):
    from .kdf import KdfContext

    ctx = runtime.lookup(handle, KdfContext)
    ctx.set_params(params)
    blob = ctx.derive()
    if key == runtime.ffi.NULL:
        return 1
    buffer = runtime.ffi.buffer(key, keylen)
    if ctx.output_file is not None:
        # The blob went to the file; the caller's buffer carries nothing (zeroed, so
        # `openssl kdf -out` never writes stale heap bytes).
        buffer[:] = bytes(keylen)
        return 1
    if len(blob) > keylen:
        from .errors import BridgeError, BridgeReason

        raise BridgeError(
            BridgeReason.OUTPUT_BUFFER_TOO_SMALL,
            f"output buffer too small: the masked key needs {len(blob)} bytes, "
            f"the buffer holds {keylen} (raise -keylen or set output_file)",
        )
    buffer[:] = blob + bytes(keylen - len(blob))
    return 1


# -- MAC (HMAC) ----------------------------------------------------------------


@entry(failure=NULL)
def py_mac_newctx(ident):
    from .mac import HmacContext

    return runtime.new_handle(HmacContext(runtime.instance(ident)))


@entry()
def py_mac_init(handle, key, keylen, params):
    from .mac import HmacContext

    ctx = runtime.lookup(handle, HmacContext)
    ctx.init(None if key == runtime.ffi.NULL else _bytes(key, keylen), params)
    return 1


@entry()
def py_mac_final(handle, out, outl, outsize):
    from .mac import HmacContext

    ctx = runtime.lookup(handle, HmacContext)
    if out == runtime.ffi.NULL:
        outl[0] = ctx.size()
        return 1
    return _write_buffer(ctx.final(), out, outl, outsize, "HMAC tag")


# -- SKEYMGMT AES and the AES ciphers (OpenSSL 3.5 and later) ---------------------------


@entry(failure=NULL)
def py_skey_generate(ident, params):
    from .skey import SymmetricKey

    return runtime.new_handle(
        SymmetricKey.generate(runtime.instance(ident), None if params == runtime.ffi.NULL else params)
    )


@entry(failure=NULL)
def py_skey_import(ident, selection, params):
    from .skey import SymmetricKey

    return runtime.new_handle(
        SymmetricKey.load(runtime.instance(ident), None if params == runtime.ffi.NULL else params)
    )


@entry()
def py_skey_export(handle, selection):
    from .skey import SymmetricKey

    runtime.lookup(handle, SymmetricKey).export(selection)
    return 1


@entry(failure=NULL)
def py_skey_id(handle):
    from .skey import SymmetricKey

    key = runtime.lookup(handle, SymmetricKey)
    if key._id is None:
        key._id = runtime.ffi.new("char[]", key.key_id())
    return key._id


@entry(failure=NULL)
def py_aes_newctx(ident, name):
    from .skey import AesCipherContext

    return runtime.new_handle(AesCipherContext(runtime.instance(ident), _text(name)))


@entry()
def py_aes_init(handle, encrypt, skey, iv, ivlen, params, raw_key):
    from .skey import AesCipherContext, SymmetricKey

    ctx = runtime.lookup(handle, AesCipherContext)
    key = None if skey == runtime.ffi.NULL else runtime.lookup(skey, SymmetricKey, owner=False)
    ctx.init(bool(encrypt), key, None if iv == runtime.ffi.NULL else _bytes(iv, ivlen), bool(raw_key), params)
    return 1


@entry()
def py_aes_update(handle, out, outl, outsize, data, length):
    from .skey import AesCipherContext

    ctx = runtime.lookup(handle, AesCipherContext)
    result = ctx.update(_bytes(data, length), want_output=out != runtime.ffi.NULL)
    if out == runtime.ffi.NULL:
        outl[0] = length
        return 1
    return _write_buffer(result, out, outl, outsize, "AES output")


@entry()
def py_aes_final(handle, out, outl, outsize):
    from .skey import AesCipherContext

    ctx = runtime.lookup(handle, AesCipherContext)
    result = ctx.final()
    if out == runtime.ffi.NULL and result:
        from .errors import BridgeError, BridgeReason

        raise BridgeError(BridgeReason.OUTPUT_BUFFER_TOO_SMALL, "the final AES block has no buffer to go to")
    if out == runtime.ffi.NULL:
        outl[0] = 0
        return 1
    return _write_buffer(result, out, outl, outsize, "AES output")


@entry()
def py_aes_get_params(name, request):
    from . import params
    from .skey import cipher_params

    params.write(request, cipher_params(_text(name)))
    return 1
