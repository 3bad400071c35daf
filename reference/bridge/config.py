"""Where the device lives, from the provider's openssl.cnf section and the environment.

Two layouts:

* **device directory** (the simple default, spec revision 2026-03): ``azihsm-device-dir``
  or ``$AZIHSM_DEVICE_DIR`` (else ``/var/lib/azihsm``) holds the device's files, created on
  first use.
* **provisioned files** (revision 2026-08, the real provider's configuration), chosen as soon
  as the section has any key below: the backup masking key (``azihsm-bmk-path``, default
  ``./bmk.bin``) and the masked unwrapping key (``azihsm-muk-path``, ``./muk.bin``) are
  created on first use; the owner backup key (``azihsm-obk-path``, ``./obk.bin``, 48
  bytes), the POTA P-384 key pair (``azihsm-pota-private-key-path``,
  ``./pota_private_key.der``, RFC 5915 DER; ``azihsm-pota-public-key-path``,
  ``./pota_public_key.der``, SPKI DER) and the credentials (``$AZIHSM_CREDENTIALS_ID`` and
  ``$AZIHSM_CREDENTIALS_PIN``, 32 hex characters each, else ``./credentials_id.bin`` and
  ``./credentials_pin.bin``) must exist before. Relative paths are relative to the working
  directory, as upstream's are. The owner material is bound into the device: other owner
  material is another device. ``tpm`` sources are refused (the reference has no TPM);
  ``azihsm-mobk-path`` is accepted and unused; ``azihsm-api-revision`` must be ``1.0``.

The section is read when the provider loads (a bad value fails the load); the device is
opened on the first operation that needs it, so ``openssl list -providers`` works without
one, as upstream's lazy session does.
"""

from __future__ import annotations

import os

from . import files
from .errors import BridgeError, BridgeReason

DEVICE_DIR_KEY = "azihsm-device-dir"
FILE_KEYS = {  # 2026-08 keys and their defaults
    "azihsm-bmk-path": "./bmk.bin",
    "azihsm-muk-path": "./muk.bin",
    "azihsm-obk-path": "./obk.bin",
    "azihsm-mobk-path": "./mobk.bin",
    "azihsm-obk-source": "caller",
    "azihsm-pota-source": "caller",
    "azihsm-pota-private-key-path": "./pota_private_key.der",
    "azihsm-pota-public-key-path": "./pota_public_key.der",
    "azihsm-api-revision": "1.0",
}
KEYS = (DEVICE_DIR_KEY, *FILE_KEYS)
OBK_LENGTH = 48
CREDENTIALS = (("AZIHSM_CREDENTIALS_ID", "./credentials_id.bin"), ("AZIHSM_CREDENTIALS_PIN", "./credentials_pin.bin"))


class DeviceConfig:
    """The provider section's device settings (validated at load), and how to open it."""

    def __init__(self, section: dict[str, str]):
        self.section = {key: value for key, value in section.items() if value is not None}
        self.provisioned = any(key in self.section for key in FILE_KEYS)
        if self.provisioned:
            self._validate()

    def setting(self, key: str) -> str:
        return self.section.get(key, FILE_KEYS.get(key, ""))

    def _validate(self) -> None:
        revision = self.setting("azihsm-api-revision")
        if revision != "1.0":
            raise BridgeError(
                BridgeReason.INVALID_PARAMETER, f"azihsm-api-revision {revision!r} is not supported: use 1.0"
            )
        for key in ("azihsm-obk-source", "azihsm-pota-source"):
            value = self.setting(key)
            if value not in ("caller", "tpm"):
                raise BridgeError(BridgeReason.INVALID_PARAMETER, f"{key} must be caller or tpm, not {value!r}")
            if value == "tpm":
                raise BridgeError(
                    BridgeReason.DEVICE_UNAVAILABLE,
                    f"{key} tpm: the reference HSM has no TPM; provide the file and use {key} caller",
                )

    def describe(self) -> str:
        if self.provisioned:
            return f"the provisioned device files ({self.setting('azihsm-bmk-path')}, ...)"
        path = self.section.get(DEVICE_DIR_KEY) or os.environ.get("AZIHSM_DEVICE_DIR") or "/var/lib/azihsm"
        return f"the device directory {path}"

    def open(self):
        """The device (created on first use); a BridgeError names what is missing."""
        from azihsm_conformance.reference.device import Device, HsmError
        from azihsm_conformance.reference.device.device import DeviceFiles

        try:
            if not self.provisioned:
                return Device.open(self.section.get(DEVICE_DIR_KEY))
            binding = self._owner_material()
            where = DeviceFiles.named(self.setting("azihsm-bmk-path"), self.setting("azihsm-muk-path"))
            return Device.open_files(where, binding)
        except HsmError as exc:
            hint = (
                "provision the files named in the provider's openssl.cnf section"
                if self.provisioned
                else f"choose a writable directory with the AZIHSM_DEVICE_DIR environment variable or the "
                f"`{DEVICE_DIR_KEY}` key of the provider's openssl.cnf section"
            )
            raise BridgeError(BridgeReason.DEVICE_UNAVAILABLE, f"cannot use {self.describe()}: {exc}; {hint}") from exc

    def _owner_material(self) -> bytes:
        """The owner backup key, the POTA public key and the credentials, each checked."""
        obk_path = self.setting("azihsm-obk-path")
        obk = self._required(obk_path, "the owner backup key (azihsm-obk-path)")
        if len(obk) != OBK_LENGTH:
            raise BridgeError(
                BridgeReason.DEVICE_UNAVAILABLE,
                f"the owner backup key {files.shown(obk_path)} holds {len(obk)} bytes, not {OBK_LENGTH}",
            )
        pota_public = self._pota()
        return obk + pota_public + b"".join(self._credential(name, path) for name, path in CREDENTIALS)

    def _required(self, path: str, what: str) -> bytes:
        if not os.path.lexists(path):
            raise BridgeError(
                BridgeReason.DEVICE_UNAVAILABLE,
                f"{what} {files.shown(path)} is missing: provision it before first use",
            )
        return files.read_input(path, what)

    def _pota(self) -> bytes:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        private_path = self.setting("azihsm-pota-private-key-path")
        public_path = self.setting("azihsm-pota-public-key-path")
        private_der = self._required(private_path, "the POTA private key (azihsm-pota-private-key-path)")
        public_der = self._required(public_path, "the POTA public key (azihsm-pota-public-key-path)")
        try:
            private = serialization.load_der_private_key(private_der, password=None)
            public = serialization.load_der_public_key(public_der)
        except Exception:  # pyca: ValueError / UnsupportedAlgorithm
            raise BridgeError(
                BridgeReason.DEVICE_UNAVAILABLE,
                f"the POTA key pair ({files.shown(private_path)}, {files.shown(public_path)}) is not a DER EC "
                "private key (RFC 5915) and a DER SubjectPublicKeyInfo",
            ) from None
        if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp384r1":
            raise BridgeError(
                BridgeReason.DEVICE_UNAVAILABLE, f"the POTA private key {files.shown(private_path)} is not a P-384 key"
            )
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        if private.public_key().public_bytes(serialization.Encoding.DER, spki) != public.public_bytes(
            serialization.Encoding.DER, spki
        ):
            raise BridgeError(
                BridgeReason.DEVICE_UNAVAILABLE,
                f"the POTA public key {files.shown(public_path)} is not the public half of {files.shown(private_path)}",
            )
        return public_der

    @staticmethod
    def _credential(variable: str, fallback: str) -> bytes:
        text = os.environ.get(variable) or None  # set but empty counts as unset
        source = f"${variable}"
        if text is None:
            if not os.path.lexists(fallback):
                raise BridgeError(
                    BridgeReason.DEVICE_UNAVAILABLE,
                    f"no credentials: set AZIHSM_CREDENTIALS_ID and AZIHSM_CREDENTIALS_PIN (32 hex characters "
                    f"each) or provide {CREDENTIALS[0][1]} and {CREDENTIALS[1][1]} ({fallback} is missing)",
                )
            raw = files.read_input(fallback, "the credentials file")
            if len(raw) == 16:
                return raw
            text, source = raw.decode("ascii", "replace").strip(), fallback
        try:
            value = bytes.fromhex(text)
        except ValueError:
            value = b""
        if len(text) != 32 or len(value) != 16:
            raise BridgeError(
                BridgeReason.DEVICE_UNAVAILABLE,
                f"the credential in {source} must be 32 hex characters (16 bytes)",
            )
        return value
