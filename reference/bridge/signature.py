"""SIGNATURE ``ECDSA``/``EC``, ``RSA``, ``RSA-PSS``: streaming and one-shot.

OpenSSL's ``dgst`` and ``req`` apply ``-sigopt`` *after* ``EVP_DigestSignInit``, so the
scheme (padding, salt length, MGF1 digest) is only fixed when data first arrives: a
parameter change before any data reopens the device stream, after data it is refused.
The stream is opened at init as well, so a key whose usage forbids signing fails there.
``algorithm-id`` describes the padding, digest and salt length actually used.
"""

from __future__ import annotations

from . import params
from .errors import BridgeError, BridgeReason
from .keymgmt import KeyData
from .runtime import Instance, ProviderObject

PAD_MODES = {"pkcs1": "pkcs1", "pss": "pss", 1: "pkcs1", 6: "pss"}
SALT_WORDS = {"digest": "digest", "max": "max", "auto": "auto",
              -1: "digest", -2: "auto", -3: "max"}
DIGEST_SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
OPENSSL_DIGEST_NAMES = {"sha1": "SHA1", "sha256": "SHA256", "sha384": "SHA384", "sha512": "SHA512"}

# OIDs (dotted) for algorithm identifiers
ECDSA_OIDS = {"sha1": "1.2.840.10045.4.1", "sha256": "1.2.840.10045.4.3.2",
              "sha384": "1.2.840.10045.4.3.3", "sha512": "1.2.840.10045.4.3.4"}
PKCS1_OIDS = {"sha1": "1.2.840.113549.1.1.5", "sha256": "1.2.840.113549.1.1.11",
              "sha384": "1.2.840.113549.1.1.12", "sha512": "1.2.840.113549.1.1.13"}
HASH_OIDS = {"sha1": "1.3.14.3.2.26", "sha256": "2.16.840.1.101.3.4.2.1",
             "sha384": "2.16.840.1.101.3.4.2.2", "sha512": "2.16.840.1.101.3.4.2.3"}
RSASSA_PSS_OID = "1.2.840.113549.1.1.10"
MGF1_OID = "1.2.840.113549.1.1.8"


def _canonical_digest(name: str) -> str:
    from reference.device import digest

    return digest.canonical(name)


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
        elif self.key is None:      # digest_sign_init may repeat with NULL: keep the key
            raise BridgeError(BridgeReason.MISSING_KEY, f"{self.alg} {operation} needs a key")
        self.operation = operation
        if mdname:
            self.digest = _canonical_digest(mdname)
        self.stream, self.fed = None, False
        self.set_params(request)
        self._open_stream()

    def _check_key(self, key: KeyData) -> None:
        wanted = ("EC",) if self.family == "ecdsa" else (
            ("RSA-PSS",) if self.alg == "RSA-PSS" else ("RSA", "RSA-PSS"))
        if key.alg not in wanted:
            raise BridgeError(BridgeReason.UNSUPPORTED_OPERATION,
                              f"{self.alg} signatures need an {' or '.join(wanted)} key, "
                              f"not {key.alg}")
        key.require_key()

    def _streaming(self) -> bool:
        return self.operation in ("digest-sign", "digest-verify")

    def _open_stream(self) -> None:
        # A one-shot operation opens one too, only to have the device check the key's usage.
        # The device checks the usage a stream needs for verifying; signing needs the same
        # usage, but the refusal must name the operation the user asked for.
        from reference.device import HsmError, Reason

        try:
            self.stream = self.session.sign_stream(self.key.key, self.scheme(prehashed=False))
        except HsmError as exc:
            if exc.reason == Reason.USAGE_NOT_ALLOWED and self.operation.endswith("sign"):
                raise BridgeError(exc.reason, f"key usage {self.key.key.usage} does not allow "
                                  "sign (the key needs usage digitalSignature)") from None
            raise

    def set_params(self, request) -> None:
        values = params.read(request)
        if not values:
            return
        if self.fed:
            raise BridgeError(BridgeReason.INVALID_PARAMETER,
                              "signature parameters cannot change after data was signed")
        if "digest" in values:
            self.digest = _canonical_digest(str(values["digest"]))
        if self.family == "rsa":
            self._set_rsa_params(values)
        if self.stream is not None:
            self._open_stream()

    def _set_rsa_params(self, values: dict) -> None:
        if "pad-mode" in values:
            mode = values["pad-mode"]
            mode = PAD_MODES.get(mode.lower() if isinstance(mode, str) else mode)
            if mode is None:
                raise BridgeError(BridgeReason.INVALID_PARAMETER,
                                  f"unsupported RSA padding {values['pad-mode']!r} for "
                                  "signatures: use pkcs1 or pss")
            if self.key is not None and self.key.alg == "RSA-PSS" and mode != "pss":
                raise BridgeError(BridgeReason.INVALID_PARAMETER,
                                  "an RSA-PSS key signs with pss padding only")
            self.pad_mode = mode
        if "saltlen" in values:
            self.salt_length = _salt_length(values["saltlen"])
        if "mgf1-digest" in values:
            self.mgf1_digest = _canonical_digest(str(values["mgf1-digest"]))

    # -- the scheme in force ----------------------------------------------------

    def algorithm(self) -> str:
        if self.family == "ecdsa":
            return "ecdsa"
        if self.pad_mode == "pss" or (self.key is not None and self.key.alg == "RSA-PSS"):
            return "pss"
        return "pkcs1"

    def scheme(self, prehashed: bool):
        from reference.device import SignScheme

        pss = self.algorithm() == "pss"
        return SignScheme(algorithm=self.algorithm(), digest=self.digest, prehashed=prehashed,
                          salt_length=self.salt_length if pss else "digest",
                          mgf1_digest=self.mgf1_digest if pss else None)

    def effective_digest(self) -> str:
        if self.digest is not None:
            return self.digest
        key = self.key.key if self.key is not None else None
        if key is not None and key.kind == "ec":
            return {"P-256": "sha256", "P-384": "sha384", "P-521": "sha512"}[key.curve]
        return "sha256"

    def effective_salt(self) -> int:
        """The PSS salt length a signature made now carries ("auto" signs as "max")."""
        digest_len = DIGEST_SIZES[self.effective_digest()]
        if self.salt_length == "digest":
            return digest_len
        if self.salt_length in ("max", "auto"):
            em_len = (self.key.key.bits - 1 + 7) // 8
            return em_len - digest_len - 2
        return int(self.salt_length)

    # -- operations -------------------------------------------------------------

    def max_size(self) -> int:
        return self.key.max_signature_size()

    def _stream(self):
        if not self._streaming() or self.stream is None:
            raise BridgeError(BridgeReason.UNSUPPORTED_OPERATION,
                              f"{self.alg}: streaming call without digest-sign/verify init")
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

    def dup(self) -> "SignatureContext":
        copy = SignatureContext(self.instance, self.alg)
        copy.__dict__.update({k: v for k, v in self.__dict__.items() if k != "stream"})
        copy.stream = self.stream.copy() if self.stream is not None else None
        return copy

    def get_params(self, request) -> None:
        values = {"algorithm-id": self.algorithm_id,
                  "digest": lambda: OPENSSL_DIGEST_NAMES[self.effective_digest()]}
        if self.family == "rsa":
            values.update({
                "pad-mode": self.algorithm(),
                "saltlen": lambda: str(self.effective_salt()) if self.key else None,
                "mgf1-digest": lambda: OPENSSL_DIGEST_NAMES[self.mgf1_digest
                                                            or self.effective_digest()],
            })
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
        mgf1 = self.mgf1_digest or digest
        salt = self.effective_salt()
        fields = b""
        if digest != "sha1":
            fields += der.explicit(0, der.sequence(der.oid(HASH_OIDS[digest])))
        if mgf1 != "sha1":
            fields += der.explicit(1, der.sequence(der.oid(MGF1_OID),
                                                   der.sequence(der.oid(HASH_OIDS[mgf1]))))
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
    raise BridgeError(BridgeReason.INVALID_PARAMETER,
                      f"invalid PSS salt length {value!r}: use digest, max, auto or an integer >= 0")
