"""KEYEXCH ``ECDH``: the shared secret never leaves the device in clear: it is masked.

With ``output_file`` the masked secret goes to that file (mode 0600, temp file + rename):
the size query answers 1 (so ``pkeyutl`` goes on to the real derive) and the derive reports
a secret length of 0, as in spec revision 2026-03. Without it (revision 2026-08: "ECDH
output to the caller's buffer") the masked secret blob is the result: the size query derives
it and answers its size, the derive returns the same blob. Either blob is IKM for HKDF and
KBKDF. A TLS stack that routes ECDHE here (``-propquery ?provider=azihsm``) gets a masked
blob, not a premaster secret, and its handshake fails (see the README).
"""

from __future__ import annotations

from . import files, params
from .errors import BridgeError, BridgeReason
from .keymgmt import KeyData
from .runtime import Instance, ProviderObject

ECDH_USAGE = "keyAgreement"


class EcdhContext(ProviderObject):
    kind = "ECDH context"

    def __init__(self, instance: Instance):
        super().__init__(instance)
        self.key: KeyData | None = None
        self.peer: KeyData | None = None
        self.output_file: str | None = None
        self._blob: bytes | None = None  # derived for a size query, returned by the derive

    def init(self, key: KeyData, request) -> None:
        if key.alg != "EC":
            raise BridgeError(BridgeReason.UNSUPPORTED_OPERATION, f"ECDH needs an EC key, not {key.alg}")
        device_key = key.require_key()
        if not key.has_private:
            raise BridgeError(BridgeReason.MISSING_KEY, "ECDH needs our private key")
        if device_key.usage != ECDH_USAGE:
            from azihsm_conformance.reference.device import Reason

            raise BridgeError(
                Reason.USAGE_NOT_ALLOWED,
                f"key usage {device_key.usage} does not allow ecdh (the key needs usage {ECDH_USAGE})",
            )
        self.key = key
        self.set_params(request)

    def set_peer(self, peer: KeyData) -> None:
        self.peer = peer
        self._blob = None
        peer.require_key()

    def set_params(self, request) -> None:
        values = params.read(request)
        if "output_file" in values:
            path = values["output_file"]
            if not path:
                raise BridgeError(BridgeReason.INVALID_PARAMETER, "output_file needs a file path")
            self.output_file = path
            self._blob = None

    def get_params(self, request) -> None:
        params.write(request, {"output_file": self.output_file})

    def derive(self, size_query: bool) -> bytes | int:
        """For a size query: 1 with output_file, else the masked blob's size. Otherwise: 0
        after writing output_file, else the masked blob for the caller's buffer."""
        if self.key is None or self.peer is None:
            raise BridgeError(BridgeReason.MISSING_KEY, "ECDH needs a key and a peer key")
        if self.output_file is not None:
            if size_query:
                return 1
            blob = self.session.ecdh(self.key.key, self.peer.key.public_der)
            files.write_output(self.output_file, blob, "ECDH output file")
            return 0
        if self._blob is None:
            self._blob = self.session.ecdh(self.key.key, self.peer.key.public_der)
        if size_query:
            return len(self._blob)
        blob, self._blob = self._blob, None
        return blob

    def dup(self) -> EcdhContext:
        copy = EcdhContext(self.instance)
        copy.__dict__.update(self.__dict__)
        return copy
