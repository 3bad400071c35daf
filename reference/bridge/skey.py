"""SKEYMGMT ``AES`` and the AES ciphers that take its opaque keys (spec revision 2026-08,
OpenSSL 3.5 and later; provider.c offers them only there).

* ``skeyutl -genkey -skeymgmt AES -skeyopt key-length:32 [-skeyopt azihsm.key_kind:AES|AES-GCM|AES-XTS]
  -skeyopt azihsm.masked_key:FILE`` generates a key in the device (``generate``); the masked
  blob is written to FILE.
* ``enc -aes-256-cbc -skeymgmt AES -skeyopt azihsm.masked_key:FILE`` loads one (``import``);
  a KDF output of type aes is such a key too.
* The raw key is never imported (``raw-bytes``) or exported (``EVP_SKEY_get0_raw_key``), and a
  cipher init with a raw key (``enc -K``) is refused: only opaque keys reach the ciphers.
* AES-128/192/256-CBC (PKCS#7 padding unless switched off), AES-256-GCM (tag set before the
  final on decryption; additional data through an update without output) and AES-256-XTS (a
  16-byte tweak, the whole data unit in one update). GCM and XTS are reachable through the
  C API only: ``openssl enc`` refuses AEAD and XTS ciphers.
"""

from __future__ import annotations

from . import files, params
from .errors import BridgeError, BridgeReason
from .runtime import Instance, ProviderObject

# cipher name -> (mode, key bytes, IV bytes, block size, OpenSSL mode number, aead)
CIPHERS = {
    "AES-128-CBC": ("cbc", 16, 16, 16, 0x2, 0),
    "AES-192-CBC": ("cbc", 24, 16, 16, 0x2, 0),
    "AES-256-CBC": ("cbc", 32, 16, 16, 0x2, 0),
    "AES-256-GCM": ("gcm", 32, 12, 1, 0x6, 1),
    "AES-256-XTS": ("xts", 64, 16, 1, 0x10001, 0),
}
RAW_KEY_REFUSED = (
    "raw AES keys are refused: the azihsm provider works with opaque keys only; load one with "
    "-skeymgmt AES -skeyopt azihsm.masked_key:FILE (make it with skeyutl -genkey or a KDF of type aes)"
)


def cipher_params(name: str) -> dict[str, object]:
    """The algorithm's fixed parameters (what EVP caches when it fetches the cipher)."""
    mode, keylen, ivlen, blocksize, number, aead = CIPHERS[name]
    return {
        "blocksize": blocksize,
        "keylen": keylen,
        "ivlen": ivlen,
        "mode": number,
        "aead": aead,
        "custom-iv": int(mode != "cbc"),
        "cts": 0,
        "tls-multi": 0,
        "has-randkey": 0,
    }


class SymmetricKey(ProviderObject):
    """An opaque AES key: a device key and where its masked blob lives (if anywhere)."""

    kind = "AES key"

    def __init__(self, instance: Instance, key, masked_path=None):
        super().__init__(instance)
        self.key = key
        self.masked_path = masked_path
        self._id = None  # the C string get_key_id hands out (kept alive here)

    @classmethod
    def generate(cls, instance: Instance, request) -> SymmetricKey:
        if request is None:
            raise BridgeError(
                BridgeReason.INVALID_PARAMETER,
                "no key parameters arrived (an unknown -skeyopt?): give key-length, azihsm.key_kind and "
                "azihsm.masked_key as this provider lists them",
            )
        values = params.read(request)
        kind = str(values.get("azihsm.key_kind", "AES"))
        length = values.get("key-length")
        masked = values.get("azihsm.masked_key")
        session_key = str(values.get("azihsm.session", "false")).lower() in ("true", "yes", "1")
        obj = cls(instance, None, masked)
        obj.key = obj.session.generate_aes(kind, length, session_key=session_key)
        if masked:
            files.write_output(masked, obj.session.mask(obj.key), "masked AES key")
        return obj

    @classmethod
    def load(cls, instance: Instance, request) -> SymmetricKey:
        values = params.read(request) if request is not None else {}
        if "raw-bytes" in values:
            raise BridgeError(BridgeReason.NOT_EXPORTABLE, RAW_KEY_REFUSED)
        path = values.get("azihsm.masked_key")
        if not path:
            raise BridgeError(
                BridgeReason.MISSING_KEY, "an opaque AES key is loaded with -skeyopt azihsm.masked_key:FILE"
            )
        from azihsm_conformance.reference.device import HsmError
        from azihsm_conformance.reference.device.aes import DEVICE_KINDS

        blob = files.read_input(path, "masked AES key file")
        obj = cls(instance, None, path)
        try:
            obj.key = obj.session.unmask(blob)
        except HsmError as exc:
            raise BridgeError(exc.reason, f"cannot load the masked AES key {files.shown(path)}: {exc}") from None
        if obj.key.kind not in DEVICE_KINDS:
            from azihsm_conformance.reference.device import Reason

            raise BridgeError(
                Reason.BLOB_WRONG_KIND,
                f"{files.shown(path)} holds an azihsm {obj.key.label}, not an AES key",
            )
        return obj

    def export(self, selection: int) -> None:
        raise BridgeError(BridgeReason.NOT_EXPORTABLE, "the raw bytes of an azihsm AES key never leave the HSM")

    def key_id(self) -> bytes:
        """What skeyutl prints: the masked file, or the key's kind and size."""
        return (files.as_path(self.masked_path) if self.masked_path else self.key.label.encode()) or b"azihsm AES key"


class AesCipherContext(ProviderObject):
    """One AES-CBC/GCM/XTS operation with an opaque key."""

    kind = "AES cipher context"

    def __init__(self, instance: Instance, name: str):
        super().__init__(instance)
        if name not in CIPHERS:
            raise BridgeError(BridgeReason.UNSUPPORTED_OPERATION, f"unknown cipher {name!r}")
        self.name = name
        self.mode, self.keylen, self.ivlen, self.blocksize, _, self.aead = CIPHERS[name]
        self.key: SymmetricKey | None = None
        self.iv: bytes | None = None
        self.encrypt = True
        self.padding = True
        self.tag: bytes | None = None  # expected (decryption) or produced (encryption)
        self.stream = None
        self.fed = False  # data has reached the stream (its settings are fixed from then on)

    def init(self, encrypt: bool, key: SymmetricKey | None, iv: bytes | None, raw_key: bool, request) -> None:
        if raw_key:
            raise BridgeError(BridgeReason.UNSUPPORTED_OPERATION, RAW_KEY_REFUSED)
        self.encrypt = encrypt
        if key is not None:
            self.key = key
        if iv is not None:
            self.iv = iv
        self.tag = None
        self.stream = None
        self.set_params(request)
        if self.key is not None and self.iv is not None:
            self._start()

    def _start(self) -> None:
        if self.key.key.bits // 8 != self.keylen:
            from azihsm_conformance.reference.device import Reason

            raise BridgeError(
                Reason.WRONG_KEY_KIND,
                f"the opaque key is an azihsm {self.key.key.label}; {self.name} needs a {self.keylen * 8}-bit key",
            )
        self.stream = self.session.aes(self.key.key, self.mode, self.iv, self.encrypt, self.padding)
        self.fed = False

    def _live(self):
        if self.stream is None:
            raise BridgeError(
                BridgeReason.MISSING_KEY, f"{self.name}: no opaque key and IV yet (initialise the cipher first)"
            )
        return self.stream

    def update(self, data: bytes, want_output: bool = True) -> bytes:
        stream = self._live()
        self.fed = True
        if not want_output:  # GCM additional data
            stream.update_aad(data)
            return b""
        return stream.update(data)

    def final(self) -> bytes:
        stream = self._live()
        out = stream.finalize(self.tag if not self.encrypt else None)
        if self.encrypt and stream.tag is not None:
            self.tag = stream.tag
        self.stream = None
        return out

    def set_params(self, request) -> None:
        values = params.read(request)
        if "padding" in values and bool(values["padding"]) != self.padding:
            # enc -nopad switches padding off after the init: restart the stream if no data went in yet
            if self.fed:
                raise BridgeError(BridgeReason.INVALID_PARAMETER, "padding cannot change once data went through")
            self.padding = bool(values["padding"])
            if self.stream is not None:
                self._start()
        if "tag" in values:
            if self.mode != "gcm" or self.encrypt:
                raise BridgeError(BridgeReason.INVALID_PARAMETER, "a tag is set for AES-GCM decryption only")
            self.tag = bytes(values["tag"])
        if "ivlen" in values and values["ivlen"] != self.ivlen:
            if self.mode != "gcm":
                raise BridgeError(BridgeReason.INVALID_PARAMETER, f"{self.name} has a fixed {self.ivlen}-byte IV")
            self.ivlen = int(values["ivlen"])

    def get_params(self, request) -> None:
        params.write(
            request,
            {
                "keylen": self.keylen,
                "ivlen": self.ivlen,
                "padding": int(self.padding),
                "taglen": 16 if self.mode == "gcm" else None,
                "tag": (lambda: self.tag) if self.mode == "gcm" and self.encrypt and self.tag else None,
            },
        )

    def dup(self) -> AesCipherContext:
        raise self.unsupported("duplication (an AES stream with an opaque key cannot be copied)")
