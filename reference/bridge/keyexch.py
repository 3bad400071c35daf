"""KEYEXCH ``ECDH``: the shared secret goes into a masked key file, never to the caller.

The spec makes ``output_file`` mandatory ("no buffer fallback"): the size query answers
1 when it is set (so ``pkeyutl`` goes on to the real derive) and fails with a clear error
when it is not; the derive writes the masked secret (mode 0600, temp file + rename) and
reports a secret length of 0. A TLS stack that routes ECDHE here (``-propquery
?provider=azihsm``) therefore gets this error instead of a secret (see the README).
"""

from __future__ import annotations

from . import files, params
from .errors import BridgeError, BridgeReason
from .keymgmt import KeyData
from .runtime import Instance, ProviderObject

ECDH_USAGE = "keyAgreement"
NO_OUTPUT_FILE = (
    "ECDH output_file is not set: the azihsm provider writes the shared secret only as a "
    "masked key file (there is no buffer fallback); add -pkeyopt output_file:PATH"
)


class EcdhContext(ProviderObject):
    kind = "ECDH context"

    def __init__(self, instance: Instance):
        super().__init__(instance)
        self.key: KeyData | None = None
        self.peer: KeyData | None = None
        self.output_file: str | None = None

    def init(self, key: KeyData, request) -> None:
        if key.alg != "EC":
            raise BridgeError(BridgeReason.UNSUPPORTED_OPERATION, f"ECDH needs an EC key, not {key.alg}")
        device_key = key.require_key()
        if not key.has_private:
            raise BridgeError(BridgeReason.MISSING_KEY, "ECDH needs our private key")
        if device_key.usage != ECDH_USAGE:
            from reference.device import Reason

            raise BridgeError(
                Reason.USAGE_NOT_ALLOWED,
                f"key usage {device_key.usage} does not allow ecdh (the key needs usage {ECDH_USAGE})",
            )
        self.key = key
        self.set_params(request)

    def set_peer(self, peer: KeyData) -> None:
        self.peer = peer
        peer.require_key()

    def set_params(self, request) -> None:
        values = params.read(request)
        if "output_file" in values:
            path = values["output_file"]
            if not path:
                raise BridgeError(BridgeReason.INVALID_PARAMETER, "output_file needs a file path")
            self.output_file = path

    def get_params(self, request) -> None:
        params.write(request, {"output_file": self.output_file})

    def derive(self, size_query: bool) -> int:
        """The secret length to report: 1 for a size query, 0 after writing the file."""
        if self.key is None or self.peer is None:
            raise BridgeError(BridgeReason.MISSING_KEY, "ECDH needs a key and a peer key")
        if self.output_file is None:
            raise BridgeError(BridgeReason.INVALID_PARAMETER, NO_OUTPUT_FILE)
        if size_query:
            return 1
        blob = self.session.ecdh(self.key.key, self.peer.key.public_der)
        files.write_output(self.output_file, blob, "ECDH output file")
        return 0

    def dup(self) -> EcdhContext:
        copy = EcdhContext(self.instance)
        copy.__dict__.update(self.__dict__)
        return copy
