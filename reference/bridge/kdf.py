"""KDFs ``HKDF`` (extract-and-expand) and ``KBKDF`` (SP 800-108 counter mode, HMAC PRF):
from a masked IKM into a masked AES or HMAC key.

The IKM is a masked key file (``azihsm.ikm_file``; an ECDH secret or an earlier KDF output)
or the masked bytes themselves (``key``, e.g. ``-kdfopt hexkey:``), never both. The derived
key's size is ``derived_key_bits``, never the caller's length: the caller's buffer only
receives the masked blob when ``output_file`` is not set. For KBKDF the salt is the label and
the info the context; ``mode`` and ``mac`` are passed through. The device validates digest,
key type, sizes, mode and mac, so the rules live in one place.
"""

from __future__ import annotations

from . import files, params
from .errors import BridgeError, BridgeReason
from .runtime import Instance, ProviderObject

SIZE_MAX = (1 << 64) - 1
DEFAULTS = {
    "digest": "sha256",
    "ikm_file": None,
    "ikm": None,
    "output_file": None,
    "key_type": "aes",
    "bits": 256,
    "salt": b"",
    "info": b"",
    "mode": "counter",
    "mac": "HMAC",
}
MISSING_IKM = (
    "{kdf} needs input keying material: add -kdfopt azihsm.ikm_file:PATH (a masked ECDH shared secret or KDF "
    "output) or -kdfopt hexkey:<the masked bytes>"
)
ALGORITHMS = ("HKDF", "KBKDF")


class KdfContext(ProviderObject):
    kind = "KDF context"

    def __init__(self, instance: Instance, algorithm: str):
        super().__init__(instance)
        if algorithm not in ALGORITHMS:
            raise BridgeError(BridgeReason.UNSUPPORTED_OPERATION, f"unknown KDF {algorithm!r}")
        self.algorithm = algorithm
        self.reset()

    def reset(self) -> None:
        self.__dict__.update(DEFAULTS)

    def set_params(self, request) -> None:
        values = params.read(request)
        if "digest" in values:
            from azihsm_conformance.reference.device import digest

            self.digest = digest.canonical(str(values["digest"]))
        for name, field in (("azihsm.ikm_file", "ikm_file"), ("output_file", "output_file")):
            if name in values:
                if not values[name]:
                    raise BridgeError(BridgeReason.INVALID_PARAMETER, f"{name} needs a file path")
                setattr(self, field, values[name])
        if "key" in values:
            self.ikm = values["key"] or None
        if "derived_key_type" in values:
            self.key_type = str(values["derived_key_type"]).lower()
        if "derived_key_bits" in values:
            self.bits = values["derived_key_bits"]
        for name in ("salt", "info"):
            if name in values:
                setattr(self, name, values[name] or b"")
        for name in ("mode", "mac"):
            if name in values:
                setattr(self, name, str(values[name] or ""))

    def get_params(self, request) -> None:
        # Like OpenSSL's HKDF in extract-and-expand mode: any output length is accepted
        # (the masked blob decides what is needed; see derive()).
        params.write(request, {"size": SIZE_MAX})

    def _ikm(self) -> bytes:
        if self.ikm is not None and self.ikm_file is not None:
            raise BridgeError(
                BridgeReason.INVALID_PARAMETER, "give the IKM once: either azihsm.ikm_file or key, not both"
            )
        if self.ikm is not None:
            return self.ikm
        if self.ikm_file is None:
            raise BridgeError(BridgeReason.MISSING_KEY, MISSING_IKM.format(kdf=self.algorithm))
        return files.read_input(self.ikm_file, "azihsm.ikm_file")

    def derive(self) -> bytes:
        """Derive; writes ``output_file`` when set. Returns the masked blob."""
        from azihsm_conformance.reference.device import HsmError

        ikm = self._ikm()
        try:
            if self.algorithm == "HKDF":
                blob = self.session.hkdf(
                    ikm, digest=self.digest, salt=self.salt, info=self.info, key_type=self.key_type, bits=self.bits
                )
            else:
                blob = self.session.kbkdf(
                    ikm,
                    digest=self.digest,
                    label=self.salt,
                    context=self.info,
                    key_type=self.key_type,
                    bits=self.bits,
                    mode=self.mode,
                    mac=self.mac,
                )
        except HsmError as exc:
            where = f" {files.shown(self.ikm_file)}" if self.ikm_file else ""
            if exc.reason.name.startswith("BLOB_"):
                raise BridgeError(exc.reason, f"cannot use the IKM{where}: {exc}") from None
            raise
        if self.output_file is not None:
            files.write_output(self.output_file, blob, "KDF output file")
        return blob

    def dup(self) -> KdfContext:
        copy = KdfContext(self.instance, self.algorithm)
        copy.__dict__.update(self.__dict__)
        return copy
