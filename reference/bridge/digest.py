"""DIGEST: SHA-1/256/384/512 through the device's digests (never ``hashlib``, which
would run on the host's libcrypto and re-enter this provider)."""

from __future__ import annotations

from . import params, runtime
from .errors import BridgeError, BridgeReason
from .runtime import Instance, ProviderObject


class DigestContext(ProviderObject):
    kind = "digest context"

    def __init__(self, instance: Instance, name: str):
        super().__init__(instance)
        self.name = name
        self.hash = None

    def init(self) -> None:
        from azihsm_conformance.reference.device import digest

        self.hash = digest.new(self.name)

    def _running(self):
        if self.hash is None:
            raise BridgeError(BridgeReason.UNSUPPORTED_OPERATION, f"{self.name} digest used before init or after final")
        return self.hash

    def update(self, data: bytes) -> None:
        self._running().update(data)

    def final(self) -> bytes:
        value = self._running().digest()
        self.hash = None
        return value

    def dup(self) -> DigestContext:
        copy = DigestContext(self.instance, self.name)
        copy.hash = self.hash.copy() if self.hash is not None else None
        return copy


def oneshot(name: str, data: bytes) -> bytes:
    from azihsm_conformance.reference.device import digest

    h = digest.new(name)
    h.update(data)
    return h.digest()


def write_output(value: bytes, out, outl, outsz: int) -> None:
    if outsz < len(value):
        raise BridgeError(
            BridgeReason.OUTPUT_BUFFER_TOO_SMALL, f"digest needs {len(value)} bytes, the buffer holds {outsz}"
        )
    runtime.ffi.memmove(out, value, len(value))
    outl[0] = len(value)


NAMES = ("sha1", "sha256", "sha384", "sha512")  # as provider.c's DIGEST rows name them


def fixed_params(name: str) -> dict[str, object]:
    """The algorithm's fixed parameters (what EVP caches when it fetches the digest)."""
    from azihsm_conformance.reference.device import digest

    h = digest.new(name)
    return {"size": h.digest_size, "blocksize": h.block_size, "xof": 0, "algid-absent": 1}


def get_params(name: str, request) -> None:
    params.write(request, fixed_params(name))
