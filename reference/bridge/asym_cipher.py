"""ASYM_CIPHER ``RSA``: OAEP (the default) and PKCS#1 v1.5 encryption and decryption.

``pkeyutl`` applies ``-pkeyopt`` *after* init, so parameters are only recorded here and
validated by the device when data arrives (SHA-1 refused, MGF1 digest equal to the OAEP
digest, label honoured, plaintext limits). Key checks happen at init: only ``type=rsa``
keys with usage ``keyEncipherment`` (or public-only peer keys, for encryption) qualify;
the ``RSA-PSS`` row exists to refuse RSA-PSS keys with a message saying why.
"""

from __future__ import annotations

from azihsm_conformance.reference.device import digest as digests

from . import params
from .errors import BridgeError, BridgeReason
from .keymgmt import KeyData
from .runtime import Instance, ProviderObject

PAD_MODES = {"oaep": "oaep", "pkcs1": "pkcs1", 4: "oaep", 1: "pkcs1"}
CIPHER_USAGE = "keyEncipherment"


class AsymCipherContext(ProviderObject):
    kind = "RSA cipher context"

    def __init__(self, instance: Instance, alg: str):
        super().__init__(instance)
        self.alg = alg
        self.key: KeyData | None = None
        self.operation: str | None = None
        self.padding = "oaep"  # the azihsm default, not OpenSSL's PKCS#1
        self.digest = "sha256"
        self.mgf1_digest: str | None = None  # None: equal to the OAEP digest
        self.label = b""

    def init(self, operation: str, key: KeyData, request) -> None:
        if key.alg != "RSA" or self.alg != "RSA":
            raise BridgeError(
                BridgeReason.UNSUPPORTED_OPERATION,
                f"an {key.alg} key cannot {operation}: RSA-PSS keys only sign; "
                "import the key as RSA with azihsm.key_usage:keyEncipherment",
            )
        device_key = key.require_key()
        if device_key.usage is not None and device_key.usage != CIPHER_USAGE:
            from azihsm_conformance.reference.device import Reason

            raise BridgeError(
                Reason.USAGE_NOT_ALLOWED,
                f"key usage {device_key.usage} does not allow {operation} (the key needs usage {CIPHER_USAGE})",
            )
        if operation == "decrypt" and not key.has_private:
            raise BridgeError(BridgeReason.MISSING_KEY, "decryption needs the private key")
        self.key, self.operation = key, operation
        self.set_params(request)

    def set_params(self, request) -> None:
        values = params.read(request)
        if "pad-mode" in values:
            raw = values["pad-mode"]
            mode = PAD_MODES.get(raw.lower() if isinstance(raw, str) else raw)
            if mode is None:
                raise BridgeError(
                    BridgeReason.INVALID_PARAMETER, f"unsupported RSA encryption padding {raw!r}: use oaep or pkcs1"
                )
            self.padding = mode
        if "digest" in values:
            self.digest = digests.canonical(str(values["digest"]))
        if "mgf1-digest" in values:
            self.mgf1_digest = digests.canonical(str(values["mgf1-digest"]))
        if "oaep-label" in values:
            self.label = values["oaep-label"] or b""

    def get_params(self, request) -> None:
        params.write(
            request,
            {
                "pad-mode": self.padding,
                "digest": digests.openssl_name(self.digest),
                "mgf1-digest": digests.openssl_name(self.mgf1_digest or self.digest),
                "oaep-label": self.label,
            },
        )

    def output_size(self) -> int:
        """Both directions answer the modulus size (the most a result can take)."""
        return (self._key().key.bits + 7) // 8

    def _key(self) -> KeyData:
        if self.key is None:
            raise BridgeError(BridgeReason.MISSING_KEY, "RSA encryption: no key (init not called)")
        return self.key

    def run(self, data: bytes) -> bytes:
        key = self._key().key
        oaep = self.padding == "oaep"
        options = dict(
            padding=self.padding,
            digest=self.digest if oaep else None,
            mgf1_digest=self.mgf1_digest if oaep else None,
            label=self.label if oaep else b"",
        )
        if self.operation == "encrypt":
            return self.session.encrypt(key, data, **options)
        return self.session.decrypt(key, data, **options)

    def dup(self) -> AsymCipherContext:
        copy = AsymCipherContext(self.instance, self.alg)
        copy.__dict__.update(self.__dict__)
        return copy
