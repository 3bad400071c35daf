"""AES with device keys (spec revision 2026-08, "AES with opaque symmetric keys").

Key kinds, as ``azihsm.key_kind`` names them: ``AES`` (128, 192 or 256 bits; CBC, and GCM
for a 256-bit key: a KDF output with ``derived_key_type:aes`` is such a key), ``AES-GCM``
(256 bits, GCM only) and ``AES-XTS`` (a pair of 256-bit keys, XTS only). The key bytes never
leave the device: a stream takes data in and gives data (and, for GCM, the tag) out.
"""

from __future__ import annotations

from .errors import OperationError, ParameterError, Reason, as_bytes

# key kind as the caller names it -> (device key kind, allowed byte lengths, default length)
KINDS = {
    "AES": ("aes", (16, 24, 32), 32),
    "AES-GCM": ("aes-gcm", (32,), 32),
    "AES-XTS": ("aes-xts", (64,), 64),
}
DEVICE_KINDS = tuple(kind for kind, _, _ in KINDS.values())
MODES = ("cbc", "gcm", "xts")
BLOCK = 16
GCM_IV = 12
GCM_TAG = 16


def kind_for(name, length) -> tuple[str, int]:
    """(device kind, length in bytes) for a key the caller asks the device to generate."""
    wanted = {k.lower(): k for k in KINDS}.get(name.lower() if isinstance(name, str) else None)
    if wanted is None:
        raise ParameterError(Reason.INVALID_PARAMETER, f"AES key kind {name!r} must be AES, AES-GCM or AES-XTS")
    kind, lengths, default = KINDS[wanted]
    length = default if length is None else length
    if isinstance(length, bool) or length not in lengths:
        raise ParameterError(
            Reason.UNSUPPORTED_KEY_SIZE,
            f"an {wanted} key has {' or '.join(map(str, lengths))} bytes, not {length!r}",
        )
    return kind, length


def check_use(kind: str, length: int, mode: str) -> None:
    """Refuse a mode the key's kind or size does not allow."""
    allowed = {"aes": ("cbc", "gcm") if length == 32 else ("cbc",), "aes-gcm": ("gcm",), "aes-xts": ("xts",)}[kind]
    if mode not in allowed:
        raise ParameterError(
            Reason.WRONG_KEY_KIND if mode in MODES else Reason.UNSUPPORTED_ALGORITHM,
            f"an {kind.upper()}-{length * 8} key cannot be used for AES-{mode.upper()}: it allows "
            + ", ".join(f"AES-{m.upper()}" for m in allowed),
        )


class AesStream:
    """One AES encryption or decryption with a device key: update(), then finalize().
    CBC pads with PKCS#7 unless padding is off; GCM takes additional data through
    update_aad() and the expected tag at finalize() (decryption); XTS takes the whole data
    unit in one update."""

    def __init__(self, secret: bytes, mode: str, iv, encrypt: bool, padding: bool = True):
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        iv = as_bytes(iv, "IV")
        self.mode, self.encrypt, self.padding = mode, encrypt, padding and mode == "cbc"
        self.tag: bytes | None = None
        self._finished = False
        self._unit_seen = False
        try:
            if mode == "cbc":
                if len(iv) != BLOCK:
                    raise ParameterError(Reason.INVALID_PARAMETER, f"AES-CBC needs a 16-byte IV, not {len(iv)}")
                chosen = modes.CBC(iv)
            elif mode == "gcm":
                if not 8 <= len(iv) <= 128:
                    raise ParameterError(
                        Reason.INVALID_PARAMETER, f"AES-GCM needs an IV of 8 to 128 bytes, not {len(iv)}"
                    )
                chosen = modes.GCM(iv)
            else:
                if len(iv) != BLOCK:
                    raise ParameterError(Reason.INVALID_PARAMETER, f"AES-XTS needs a 16-byte tweak, not {len(iv)}")
                if secret[:32] == secret[32:]:
                    raise OperationError(Reason.INVALID_PARAMETER, "the two halves of the AES-XTS key are equal")
                chosen = modes.XTS(iv)
        except ValueError as exc:
            raise ParameterError(Reason.INVALID_PARAMETER, f"AES-{mode.upper()}: {exc}") from None
        cipher = Cipher(algorithms.AES(secret), chosen)
        self._ctx = cipher.encryptor() if encrypt else cipher.decryptor()
        self._pad = None
        if self.padding:
            from cryptography.hazmat.primitives import padding as pkcs7

            self._pad = pkcs7.PKCS7(128).padder() if encrypt else pkcs7.PKCS7(128).unpadder()

    def _live(self):
        if self._finished:
            raise OperationError(Reason.STREAM_FINISHED, "this AES operation has already been finalised")
        return self._ctx

    def update_aad(self, data) -> None:
        if self.mode != "gcm":
            raise ParameterError(Reason.INVALID_PARAMETER, f"AES-{self.mode.upper()} takes no additional data")
        self._live().authenticate_additional_data(as_bytes(data, "additional data"))

    def update(self, data) -> bytes:
        data = as_bytes(data, "data")
        ctx = self._live()
        if self.mode == "xts":
            if self._unit_seen:
                raise ParameterError(Reason.INVALID_PARAMETER, "AES-XTS takes the whole data unit in one update")
            if len(data) < BLOCK:
                raise ParameterError(Reason.DATA_TOO_LARGE, f"AES-XTS needs at least 16 bytes, not {len(data)}")
            self._unit_seen = True
        if self._pad is not None and self.encrypt:
            return ctx.update(self._pad.update(data))
        out = ctx.update(data)
        return self._pad.update(out) if self._pad is not None else out

    def finalize(self, tag: bytes | None = None) -> bytes:
        ctx = self._live()
        self._finished = True
        try:
            if self.mode == "gcm" and not self.encrypt:
                if tag is None:
                    raise ParameterError(Reason.INVALID_PARAMETER, "AES-GCM decryption needs the tag before it ends")
                if not 4 <= len(tag) <= GCM_TAG:
                    raise ParameterError(Reason.INVALID_PARAMETER, f"an AES-GCM tag has 4 to 16 bytes, not {len(tag)}")
                return ctx.finalize_with_tag(tag)
            if self._pad is not None and self.encrypt:
                out = ctx.update(self._pad.finalize()) + ctx.finalize()
            else:
                out = ctx.finalize()
                if self._pad is not None:
                    out = self._pad.update(out) + self._pad.finalize()
            if self.mode == "gcm":
                self.tag = ctx.tag
            return out
        except ValueError:  # CBC: not a whole number of blocks, or bad padding
            if self.encrypt:
                raise ParameterError(
                    Reason.INVALID_PARAMETER, "AES-CBC without padding encrypts whole 16-byte blocks only"
                ) from None
            raise OperationError(
                Reason.DECRYPT_FAILED,
                "AES-CBC decryption failed: the data is not a whole number of blocks or its padding is wrong",
            ) from None
        except Exception as exc:  # pyca's InvalidTag
            if type(exc).__name__ == "InvalidTag":
                raise OperationError(
                    Reason.DECRYPT_FAILED, "AES-GCM decryption failed: the tag does not match"
                ) from None
            raise
