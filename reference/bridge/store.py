"""STORE ``azihsm``: ``azihsm://<path>;type=ec|rsa|rsa-pss`` loads a masked key file.

Grammar (reference-behavior.md): the exact prefix ``azihsm://``; the path is everything
up to the first ``;`` (relative to the working directory, or absolute as
``azihsm:///abs``); then ``;``-separated ``name=value`` attributes, names
case-insensitive, unknown ones ignored; ``type`` is required. The key is handed to
OpenSSL by reference (the keymgmt ``load`` turns it back into key data), never exported.
Every failure is an error naming the file and the reason: nothing fails silently.
"""

from __future__ import annotations

from . import files, params, runtime
from .errors import BridgeError, BridgeReason
from .keymgmt import KeyData
from .runtime import Instance, ProviderObject, handle_number, new_handle, release

PREFIX = "azihsm://"
TYPES = {"ec": "EC", "rsa": "RSA", "rsa-pss": "RSA-PSS"}  # URI type -> OpenSSL key type


def parse_uri(uri: str) -> tuple[str, str]:
    """(path, type) of an azihsm URI, or a BridgeError saying what is wrong."""
    if not uri.startswith(PREFIX):
        raise BridgeError(
            BridgeReason.INVALID_URI,
            f"{files.shown(uri)!r} is not an azihsm URI: use azihsm://<file>;type=ec|rsa|rsa-pss",
        )
    path, *attributes = uri[len(PREFIX) :].split(";")
    if not path:
        raise BridgeError(
            BridgeReason.INVALID_URI, f"{files.shown(uri)!r} names no file: use azihsm://<file>;type=ec|rsa|rsa-pss"
        )
    key_type = None
    for attribute in attributes:
        name, sep, value = attribute.partition("=")
        if sep and name.lower() == "type":
            key_type = value.lower()
    if key_type is None:
        raise BridgeError(
            BridgeReason.INVALID_URI,
            f"{files.shown(uri)!r} lacks the required type attribute: add ;type=ec, ;type=rsa or ;type=rsa-pss",
        )
    if key_type not in TYPES:
        raise BridgeError(
            BridgeReason.INVALID_URI, f"{files.shown(uri)!r}: unknown type {key_type!r}: use ec, rsa or rsa-pss"
        )
    return path, key_type


class StoreContext(ProviderObject):
    kind = "store"

    def __init__(self, instance: Instance, uri: str):
        super().__init__(instance)
        self.path, self.key_type = parse_uri(uri)
        self.blob = files.read_input(self.path, "masked key file")
        self.expect = 0
        self.eof = False
        self.failed = False
        # The key handed out by reference lives as long as the store: with the device
        # server, OpenSSL's keymgmt load arrives after the callback, as a request of its own.
        self.staged = None

    def set_params(self, request) -> None:
        values = params.read(request)
        if "expect" in values:
            self.expect = int(values["expect"])

    def load(self, callback, cbarg) -> bool:
        # One object per URI. A failure is reported as an error first and only the
        # next call says EOF: callers that check EOF before the error (storeutl) would
        # otherwise report "Total found: 0" and succeed.
        if self.failed:
            self.eof = True
            return False
        try:
            ok = self._load(callback, cbarg)
        except BaseException:
            self.failed = True
            raise
        self.eof, self.failed = ok, not ok
        return ok

    def _load(self, callback, cbarg) -> bool:
        if self.expect not in (0, runtime.lib.OSSL_STORE_INFO_PKEY, runtime.lib.OSSL_STORE_INFO_PUBKEY):
            return True  # asked for certificates or CRLs: there are none here
        from azihsm_conformance.reference.device import HsmError

        try:
            key = self.session.unmask(self.blob, expect=self.key_type)
        except HsmError as exc:
            raise BridgeError(exc.reason, f"cannot load masked key {files.shown(self.path)}: {exc}") from None
        staged = KeyData(
            self.instance, TYPES[self.key_type], key, public_only=self.expect == runtime.lib.OSSL_STORE_INFO_PUBKEY
        )
        self.free()
        self.staged = new_handle(staged)
        reference = handle_number(self.staged).to_bytes(8, "little")
        built = params.Built(
            [("type", int(runtime.lib.OSSL_OBJECT_PKEY)), ("data-type", staged.alg), ("reference", reference)]
        )
        return bool(callback(built.array, cbarg))

    def free(self) -> None:
        if self.staged is not None:
            release(self.staged)
            self.staged = None
