"""Key handles and the rules about which key may do what.

A :class:`Key` is an opaque handle: it carries only public properties. The key material stays
in the owning Session's vault (see session.py), so nothing reachable from a Key, its repr or
an error message holds private or secret bytes.
"""

from __future__ import annotations

from collections import namedtuple

from .errors import KeyImportError, KeyUsageError, Reason


class Curve(namedtuple("Curve", "name bits group aliases digest pyca_name security_bits")):
    """One supported curve: every fact the device and the bridge need about it: our name (as
    the spec writes it), its bits, OpenSSL's group name (what a key's "group" parameter
    reports), other accepted spellings (lower case), its natural hash (what ECDSA uses when no
    digest is named), pyca's curve name and its security strength in bits. (A namedtuple,
    not typing's: cheaper to import in every openssl process.)"""

    __slots__ = ()


CURVES = {
    curve.name: curve
    for curve in (
        Curve("P-256", 256, "prime256v1", ("secp256r1", "p-256", "p256"), "sha256", "secp256r1", 128),
        Curve("P-384", 384, "secp384r1", ("p-384", "p384"), "sha384", "secp384r1", 192),
        Curve("P-521", 521, "secp521r1", ("p-521", "p521"), "sha512", "secp521r1", 256),
    )
}
CURVE_BITS = {name: curve.bits for name, curve in CURVES.items()}
CURVE_DIGEST = {name: curve.digest for name, curve in CURVES.items()}
PYCA_CURVES = {curve.pyca_name: name for name, curve in CURVES.items()}  # pyca name -> ours
_CURVE_ALIASES = {
    spelling: name for name, curve in CURVES.items() for spelling in (name.lower(), curve.group, *curve.aliases)
}
RSA_SIZES = (2048, 3072, 4096)
# how the device keeps an RSA private key: with the CRT components (the default) or n, d only
RSA_FORMS = ("RSA-CRT", "RSA")

# usages a private key of each kind may be created with (spec: "Key Usage")
CREATE_USAGES = {
    "ec": ("digitalSignature", "keyAgreement"),
    "rsa": ("digitalSignature", "keyEncipherment"),
}
# usage each operation needs; derived secret keys carry "derive" (ECDH output),
# "encrypt" (HKDF AES output) or "mac" (HKDF HMAC output). HKDF accepts all three as IKM
# because the spec allows IKM from "ECDH derive or another HKDF derivation".
OPERATION_USAGES = {
    "sign": ("digitalSignature",),
    "verify": ("digitalSignature",),
    "encrypt": ("keyEncipherment",),
    "decrypt": ("keyEncipherment",),
    "ecdh": ("keyAgreement",),
    "hkdf": ("derive", "encrypt", "mac"),
    "kbkdf": ("derive", "encrypt", "mac"),
    "hmac": ("mac",),
    "aes": ("encrypt",),
}
# operations that need the private half
PRIVATE_OPERATIONS = ("sign", "decrypt", "ecdh", "hkdf", "kbkdf", "hmac", "aes")


def find_curve(name) -> str | None:
    """Our name for any accepted spelling of a supported curve, or None."""
    return _CURVE_ALIASES.get(name.strip().lower()) if isinstance(name, str) else None


def pyca_curve(name: str):
    """A pyca curve instance for one of our curve names (pyca imported on demand)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    return getattr(ec, CURVES[name].pyca_name.upper())()  # ec.SECP256R1() ...


def canonical_curve(name: str) -> str:
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in _CURVE_ALIASES:
        raise KeyImportError(
            Reason.UNSUPPORTED_CURVE,
            f"unsupported curve {name!r}: use P-256, P-384 or P-521 (prime256v1, secp384r1, secp521r1)",
        )
    return _CURVE_ALIASES[key]


def check_create_usage(kind: str, flavour: str, usage: str) -> None:
    allowed = CREATE_USAGES[kind]
    if usage not in allowed:
        raise KeyImportError(
            Reason.INVALID_KEY_USAGE,
            f"key usage {usage!r} is not allowed for {flavour} keys: use " + " or ".join(allowed),
        )


def describe(kind: str, bits: int, flavour: str | None = None, hmac_digest: str | None = None) -> str:
    """Short human name of a key for messages, e.g. 'EC P-384 key', 'RSA-PSS 3072-bit key'."""
    if kind == "ec":
        return f"EC P-{bits} key"
    if kind == "rsa":
        return f"{flavour or 'RSA'} {bits}-bit key"
    if kind == "hmac":
        return f"HMAC-{(hmac_digest or '').upper()} key"
    if kind == "aes":
        return f"AES-{bits} key"
    if kind == "aes-gcm":
        return f"AES-GCM {bits}-bit key"
    if kind == "aes-xts":
        return f"AES-XTS {bits}-bit key pair"
    return f"{bits}-bit shared secret"


class Key:
    """Opaque key handle. Compare by identity; only public properties are readable."""

    __slots__ = (
        "kind",
        "flavour",
        "curve",
        "bits",
        "usage",
        "session_key",
        "has_private",
        "public_der",
        "hmac_digest",
        "rsa_form",
        "_session_id",
        "__weakref__",
    )

    def __init__(
        self,
        *,
        kind,
        flavour=None,
        curve=None,
        bits,
        usage,
        session_key=False,
        has_private=True,
        public_der=None,
        hmac_digest=None,
        rsa_form=None,
        session_id,
    ):
        init = object.__setattr__  # properties are fixed once the device made the handle
        init(self, "kind", kind)
        init(self, "flavour", flavour)
        init(self, "curve", curve)
        init(self, "bits", bits)
        init(self, "usage", usage)
        init(self, "session_key", session_key)
        init(self, "has_private", has_private)
        init(self, "public_der", public_der)
        init(self, "hmac_digest", hmac_digest)
        init(self, "rsa_form", rsa_form)  # RSA private keys: "RSA-CRT" or "RSA" (n, d only)
        init(self, "_session_id", session_id)

    def __setattr__(self, name, value):
        # Usage checks read these properties: a caller must not be able to widen them.
        raise AttributeError(f"device key properties are read-only (tried to set {name})")

    def __repr__(self) -> str:
        detail = self.curve or (f"{self.bits} bits" if self.bits else "")
        extra = f" {self.hmac_digest}" if self.hmac_digest else ""
        visibility = "private" if self.has_private else "public"
        session = " session" if self.session_key else ""
        return f"<Key {self.flavour or self.kind} {detail}{extra} {visibility} usage={self.usage}{session}>"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("device keys cannot be pickled: mask them with Session.mask")

    @property
    def label(self) -> str:
        """Short human name used in messages, e.g. 'EC P-384 key'."""
        return describe(self.kind, self.bits, self.flavour, self.hmac_digest)

    def require(self, operation: str, kinds: tuple[str, ...]) -> None:
        """Refuse ``operation`` unless this key's usage, kind and private half allow it.

        Usage is checked first, as the spec asks, so the message names the usage and the
        operation. Public-only keys (usage None) may do any public operation.
        """
        allowed = OPERATION_USAGES[operation]
        if self.usage is not None and self.usage not in allowed:
            raise KeyUsageError(
                Reason.USAGE_NOT_ALLOWED,
                f"key usage {self.usage} does not allow {operation} (the key needs usage {' or '.join(allowed)})",
            )
        if self.kind not in kinds:
            raise KeyUsageError(
                Reason.WRONG_KEY_KIND,
                f"{operation} needs a key of kind {' or '.join(kinds)}, got: {self.label}",
            )
        if operation in PRIVATE_OPERATIONS and not self.has_private:
            raise KeyUsageError(
                Reason.NO_PRIVATE_KEY,
                f"{operation} needs a private key, got a public-only {self.label}",
            )
