"""MAC ``HMAC``: with a masked HMAC key (the spec), or with raw key bytes (libssl).

Two ways in, told apart by how the key arrives:

* the ``key`` *parameter* (``openssl mac -macopt key:PATH``) is the path of a masked HMAC
  key file, an HKDF output with ``derived_key_type:hmac``. The digest must be the one the
  key is bound to, in both directions; without ``digest`` the key's own digest is used.
  HMAC-SHA1 does not exist for such keys.
* key *bytes* handed to ``EVP_MAC_init`` are raw key material, as OpenSSL defines that
  argument. libssl does this for the TLS 1.3 Finished MAC and the TLS 1.2 record MAC, and
  ``dgst -hmac`` through the HMAC signature. With ``-propquery ?provider=azihsm`` (or
  ``default_properties``) those land here; they are computed host-side with
  pyca/cryptography (a caller-held key gains nothing from the device), so TLS keeps working
  instead of failing on a "path" that is really a key.
"""

from __future__ import annotations

from azihsm_conformance.reference.device import digest as digests

from . import files, params
from .errors import BridgeError, BridgeReason
from .runtime import Instance, ProviderObject

NO_KEY = "HMAC needs a masked HMAC key: add -macopt key:PATH (an HKDF output with derived_key_type:hmac)"


class HmacContext(ProviderObject):
    kind = "HMAC context"

    def __init__(self, instance: Instance):
        super().__init__(instance)
        self.digest: str | None = None
        self.key_path: bytes | None = None
        self.stream = None
        self.stream_digest: str | None = None
        self._new_key_path: bytes | None = None  # a key parameter not yet started
        self._restart = None  # a fresh stream with the current key

    def set_params(self, request) -> None:
        values = params.read(request)
        if "digest" in values:
            self.digest = digests.canonical(str(values["digest"]))
        if "key" in values:
            self.key_path = self._new_key_path = _key_path(values["key"])

    def init(self, raw_key: bytes | None, request) -> None:
        self.set_params(request)
        if raw_key:
            self._start_raw(raw_key)
        elif self._new_key_path is not None:
            self._start_masked(self._new_key_path)
            self._new_key_path = None
        elif self._restart is not None:  # init without a key: the same key again
            self.stream = self._restart()
        else:
            raise BridgeError(BridgeReason.MISSING_KEY, NO_KEY)

    def _start_masked(self, path: bytes) -> None:
        from azihsm_conformance.reference.device import HsmError

        if self.digest == "sha1":
            raise BridgeError(
                BridgeReason.INVALID_PARAMETER,
                "HMAC-SHA1 is not supported for masked HMAC keys: use SHA256, "
                "SHA384 or SHA512 (the digest the key was derived with)",
            )
        blob = files.read_input(path, "HMAC key file")
        try:
            device_key = self.session.unmask(blob, expect="hmac")
            stream = self.session.hmac(device_key, self.digest or device_key.hmac_digest)
        except HsmError as exc:
            raise BridgeError(exc.reason, f"HMAC key {files.shown(path)}: {exc}") from None
        self._restart = lambda: self.session.hmac(device_key, stream.digest)
        self.stream, self.stream_digest = stream, stream.digest

    def _start_raw(self, raw_key: bytes) -> None:
        from cryptography.hazmat.primitives import hmac

        name = self.digest or "sha256"  # canonical: set_params refused any other
        self._restart = lambda: hmac.HMAC(raw_key, digests.pyca_hash(name))
        self.stream, self.stream_digest = self._restart(), name

    def _stream(self):
        if self.stream is None:
            raise BridgeError(BridgeReason.MISSING_KEY, NO_KEY)
        return self.stream

    def update(self, data: bytes) -> None:
        self._stream().update(data)

    def final(self) -> bytes:
        tag = self._stream().finalize()
        self.stream = None
        return tag

    def _current_digest(self) -> str:
        return self.stream_digest or self.digest or "sha256"

    def size(self) -> int:
        return digests.digest_size(self._current_digest())

    def get_params(self, request) -> None:
        name = self._current_digest()
        params.write(request, {"size": digests.digest_size(name), "block-size": digests.block_size(name)})

    def dup(self) -> HmacContext:
        copy = HmacContext(self.instance)
        copy.__dict__.update(self.__dict__)
        copy.stream = self.stream.copy() if self.stream is not None else None
        return copy


def _key_path(raw: bytes | str) -> bytes:
    """The key parameter as a file path (bytes, as typed); what cannot be a path is refused.
    Any byte but NUL may name a file; control characters mark raw key bytes instead."""
    path = files.as_path(raw)
    if not path or any(byte < 0x20 or byte == 0x7F for byte in path):
        raise BridgeError(
            BridgeReason.INVALID_PARAMETER,
            "the HMAC key parameter must be the path of a masked HMAC key file (-macopt key:PATH), not raw key bytes",
        )
    return path
