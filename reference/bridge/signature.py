"""SIGNATURE ``ECDSA``/``EC``, ``RSA``, ``RSA-PSS``: streaming and one-shot.

OpenSSL's ``dgst`` and ``req`` apply ``-sigopt`` *after* ``EVP_DigestSignInit``, so the
scheme (padding, salt length, MGF1 digest) is only fixed when data first arrives: a
parameter change before any data reopens the device stream, after data it is refused.
The stream is opened at init as well, so a key whose usage forbids signing fails there.
``algorithm-id`` describes the padding, digest and salt length actually used.
"""

from __future__ import annotations

from azihsm_conformance.reference.device import digest as digests

from . import params
from .errors import BridgeError, BridgeReason
from .keymgmt import KeyData
from .runtime import Instance, ProviderObject

PAD_MODES = {"pkcs1": "pkcs1", "pss": "pss", 1: "pkcs1", 6: "pss"}
SALT_WORDS = {"digest": "digest", "max": "max", "auto": "auto", -1: "digest", -2: "auto", -3: "max"}

# signature algorithm OIDs (dotted); digest OIDs come from the device's digest table
ECDSA_OIDS = {
    "sha1": "1.2.840.10045.4.1",
    "sha256": "1.2.840.10045.4.3.2",
    "sha384": "1.2.840.10045.4.3.3",
    "sha512": "1.2.840.10045.4.3.4",
}
PKCS1_OIDS = {
    "sha1": "1.2.840.113549.1.1.5",
    "sha256": "1.2.840.113549.1.1.11",
    "sha384": "1.2.840.113549.1.1.12",
    "sha512": "1.2.840.113549.1.1.13",
}
RSASSA_PSS_OID = "1.2.840.113549.1.1.10"
MGF1_OID = "1.2.840.113549.1.1.8"


class SignatureContext(ProviderObject):
    kind = "signature context"

    def __init__(self, instance: Instance, alg: str):
        super().__init__(instance)
        self.alg = alg
        self.family = "ecdsa" if alg in ("ECDSA", "EC") else "rsa"
        self.key: KeyData | None = None
        self.operation: str | None = None
        self.digest: str | None = None
        self.pad_mode: str | None = None
        self.salt_length: object = "digest"
        self.mgf1_digest: str | None = None
        self.stream = None
        self.fed = False

    # -- set-up -------------------------------------------------------------

    def init(self, operation: str, mdname: str | None, key: KeyData | None, request) -> None:
        if key is not None:
            self._check_key(key)
            self.key = key
        elif self.key is None:  # digest_sign_init may repeat with NULL: keep the key
            raise BridgeError(BridgeReason.MISSING_KEY, f"{self.alg} {operation} needs a key")
        self.operation = operation
        if mdname:
            self.digest = digests.canonical(mdname)
        self.stream, self.fed = None, False
        self.set_params(request)
        self._open_stream()

    def _check_key(self, key: KeyData) -> None:
        wanted = ("EC",) if self.family == "ecdsa" else (("RSA-PSS",) if self.alg == "RSA-PSS" else ("RSA", "RSA-PSS"))
        if key.alg not in wanted:
            raise BridgeError(
                BridgeReason.UNSUPPORTED_OPERATION,
                f"{self.alg} signatures need an {' or '.join(wanted)} key, not {key.alg}",
            )
        key.require_key()

    def _streaming(self) -> bool:
        return self.operation in ("digest-sign", "digest-verify")

    def _open_stream(self) -> None:
        # A one-shot operation opens one too, only to have the device check the key's usage.
        # The device checks the usage a stream needs for verifying; signing needs the same
        # usage, but the refusal must name the operation the user asked for.
        from azihsm_conformance.reference.device import HsmError, Reason

        try:
            self.stream = self.session.sign_stream(self.key.key, self.scheme(prehashed=False))
        except HsmError as exc:
            if exc.reason == Reason.USAGE_NOT_ALLOWED and self.operation.endswith("sign"):
                raise BridgeError(
                    exc.reason,
                    f"key usage {self.key.key.usage} does not allow sign (the key needs usage digitalSignature)",
                ) from None
            raise

    def set_params(self, request) -> None:
        values = params.read(request)
        if not values:
            return
        if self.fed:
            raise BridgeError(
                BridgeReason.INVALID_PARAMETER, "signature parameters cannot change after data was signed"
            )
        if "digest" in values:
            self.digest = digests.canonical(str(values["digest"]))
        if self.family == "rsa":
            self._set_rsa_params(values)
        if self.stream is not None:
            self._open_stream()

    def _set_rsa_params(self, values: dict) -> None:
        if "pad-mode" in values:
            mode = values["pad-mode"]
            mode = PAD_MODES.get(mode.lower() if isinstance(mode, str) else mode)
            if mode is None:
                raise BridgeError(
                    BridgeReason.INVALID_PARAMETER,
                    f"unsupported RSA padding {values['pad-mode']!r} for signatures: use pkcs1 or pss",
                )
            if self.key is not None and self.key.alg == "RSA-PSS" and mode != "pss":
                raise BridgeError(BridgeReason.INVALID_PARAMETER, "an RSA-PSS key signs with pss padding only")
            self.pad_mode = mode
        if "saltlen" in values:
            self.salt_length = _salt_length(values["saltlen"])
        if "mgf1-digest" in values:
            self.mgf1_digest = digests.canonical(str(values["mgf1-digest"]))

    # -- the scheme in force ----------------------------------------------------

    def algorithm(self) -> str:
        if self.family == "ecdsa":
            return "ecdsa"
        if self.pad_mode == "pss" or (self.key is not None and self.key.alg == "RSA-PSS"):
            return "pss"
        return "pkcs1"

    def scheme(self, prehashed: bool):
        from azihsm_conformance.reference.device import SignScheme

        pss = self.algorithm() == "pss"
        return SignScheme(
            algorithm=self.algorithm(),
            digest=self.digest,
            prehashed=prehashed,
            salt_length=self.salt_length if pss else "digest",
            mgf1_digest=self.mgf1_digest if pss else None,
        )

    def in_use(self):
        """The device's resolved scheme for a signature made now (digest, MGF1 digest and,
        for PSS, the salt length it carries), or None before a key is set."""
        if self.key is None or self.key.key is None:
            return None
        return self.session.signature_parameters(self.key.key, self.scheme(prehashed=False))

    def effective_digest(self) -> str:
        resolved = self.in_use()
        if resolved is not None:
            return resolved.digest
        return self.digest or "sha256"

    # -- operations -------------------------------------------------------------

    def max_size(self) -> int:
        return self.key.max_signature_size()

    def _stream(self):
        if not self._streaming() or self.stream is None:
            raise BridgeError(
                BridgeReason.UNSUPPORTED_OPERATION, f"{self.alg}: streaming call without digest-sign/verify init"
            )
        return self.stream

    def update(self, data: bytes) -> None:
        self._stream().update(data)
        self.fed = True

    def sign_final(self) -> bytes:
        signature = self._stream().sign()
        self.stream = None
        return signature

    def verify_final(self, signature: bytes) -> bool:
        ok = self._stream().verify(signature)
        self.stream = None
        return ok

    def sign(self, tbs: bytes) -> bytes:
        return self.session.sign(self.key.key, tbs, self.scheme(prehashed=True))

    def verify(self, signature: bytes, tbs: bytes) -> bool:
        return self.session.verify(self.key.key, tbs, signature, self.scheme(prehashed=True))

    def dup(self) -> SignatureContext:
        copy = SignatureContext(self.instance, self.alg)
        copy.__dict__.update({k: v for k, v in self.__dict__.items() if k != "stream"})
        copy.stream = self.stream.copy() if self.stream is not None else None
        return copy

    def get_params(self, request) -> None:
        values = {"algorithm-id": self.algorithm_id, "digest": lambda: digests.openssl_name(self.effective_digest())}
        if self.family == "rsa":
            values.update(
                {
                    "pad-mode": self.algorithm(),
                    "saltlen": lambda: (
                        str(self.in_use().salt_length) if self.algorithm() == "pss" and self.key else None
                    ),
                    "mgf1-digest": lambda: digests.openssl_name(self.mgf1_digest or self.effective_digest()),
                }
            )
        params.write(request, values)

    def algorithm_id(self) -> bytes:
        """DER AlgorithmIdentifier of the signatures this context makes."""
        from . import der

        digest = self.effective_digest()
        algorithm = self.algorithm()
        if algorithm == "ecdsa":
            return der.sequence(der.oid(ECDSA_OIDS[digest]))
        if algorithm == "pkcs1":
            return der.sequence(der.oid(PKCS1_OIDS[digest]), der.null())
        resolved = self.in_use()
        mgf1, salt = resolved.mgf1_digest, resolved.salt_length
        fields = b""
        if digest != "sha1":
            fields += der.explicit(0, der.sequence(der.oid(digests.oid(digest))))
        if mgf1 != "sha1":
            fields += der.explicit(1, der.sequence(der.oid(MGF1_OID), der.sequence(der.oid(digests.oid(mgf1)))))
        if salt != 20:
            fields += der.explicit(2, der.integer(salt))
        return der.sequence(der.oid(RSASSA_PSS_OID), der.sequence(fields))


def _salt_length(value) -> object:
    if isinstance(value, str):
        word = value.strip().lower()
        if word in SALT_WORDS:
            return SALT_WORDS[word]
        if word.isdigit():
            return int(word)
    elif isinstance(value, int):
        if value in SALT_WORDS:
            return SALT_WORDS[value]
        if value >= 0:
            return value
    raise BridgeError(
        BridgeReason.INVALID_PARAMETER, f"invalid PSS salt length {value!r}: use digest, max, auto or an integer >= 0"
    )
