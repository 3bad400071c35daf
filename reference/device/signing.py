"""Signature schemes: what a caller asks for, resolved into pyca/cryptography parameters.

Every signature is computed over a digest: a message is hashed with the device's own digest
module (so streaming contexts are copyable) and the digest is signed as pre-hashed. This is
the same computation OpenSSL performs for ``dgst -sign`` and ``pkeyutl -sign``.
"""

from __future__ import annotations

from collections import namedtuple

from . import digest as digests
from .errors import OperationError, ParameterError, Reason, as_bytes
from .keys import CURVE_DIGEST

ALGORITHMS = ("ecdsa", "pkcs1", "pss")
SALT_WORDS = ("digest", "max", "auto")


# namedtuples rather than dataclasses: this module is imported by every openssl process that
# loads the provider, and dataclasses costs tens of milliseconds to import.
SignScheme = namedtuple(
    "SignScheme",
    "algorithm digest prehashed salt_length mgf1_digest",
    defaults=(None, False, "digest", None),
)
SignScheme.__doc__ = """A complete description of a signature: algorithm "ecdsa" | "pkcs1" | "pss".

``digest`` None means the key's default (the curve's natural hash for ECDSA, SHA-256 for RSA;
for a pre-hashed input, the digest whose size matches the input). ``salt_length`` is
"digest" | "max" | "auto" | an int (PSS only); ``mgf1_digest`` None means ``digest``."""

# digest and mgf1_digest canonical; mgf1_digest equals digest except for PSS
ResolvedScheme = namedtuple("ResolvedScheme", "algorithm digest mgf1_digest salt_length")


def resolve(key, scheme: SignScheme, data: bytes | None = None) -> ResolvedScheme:
    """Check ``scheme`` against ``key`` (kind already checked) and fill in defaults.
    ``data`` is the one-shot input (for a pre-hashed one, its length picks or checks the
    digest); None for a stream."""
    if not isinstance(scheme, SignScheme):
        raise ParameterError(Reason.INVALID_PARAMETER, "scheme must be a SignScheme")
    data_len = len(data) if data is not None and scheme.prehashed else None
    algorithm = scheme.algorithm.lower() if isinstance(scheme.algorithm, str) else None
    if algorithm not in ALGORITHMS:
        raise ParameterError(
            Reason.UNSUPPORTED_PADDING,
            f"unsupported signature algorithm {scheme.algorithm!r}: use ecdsa, pkcs1 or pss",
        )
    if key.kind == "ec" and algorithm != "ecdsa":
        raise ParameterError(Reason.UNSUPPORTED_PADDING, f"an {key.label} signs with ecdsa, not {algorithm}")
    if key.kind == "rsa" and algorithm == "ecdsa":
        raise ParameterError(Reason.UNSUPPORTED_PADDING, f"an {key.label} signs with pkcs1 or pss, not ecdsa")
    if key.flavour == "RSA-PSS" and algorithm != "pss":
        raise ParameterError(
            Reason.UNSUPPORTED_PADDING,
            f"an {key.label} signs with PSS padding only, not {algorithm}",
        )

    if scheme.digest is not None:
        name = digests.canonical(scheme.digest)
        if scheme.prehashed and data_len is not None and data_len != digests.digest_size(name):
            raise ParameterError(
                Reason.INVALID_DIGEST_LENGTH,
                f"pre-hashed input is {data_len} bytes but {name} digests are {digests.digest_size(name)} bytes",
            )
    elif scheme.prehashed and data_len is not None:
        name = digests.by_size(data_len)
        if name is None:
            raise ParameterError(
                Reason.INVALID_DIGEST_LENGTH,
                f"pre-hashed input is {data_len} bytes: give a 20, 32, 48 or 64-byte digest",
            )
    else:
        name = CURVE_DIGEST[key.curve] if key.kind == "ec" else "sha256"

    mgf1 = name
    salt = scheme.salt_length
    if algorithm == "pss":
        if scheme.mgf1_digest is not None:
            mgf1 = digests.canonical(scheme.mgf1_digest)
        if isinstance(salt, bool) or not (salt in SALT_WORDS or (isinstance(salt, int) and salt >= 0)):
            raise ParameterError(
                Reason.INVALID_SALT_LENGTH,
                f"invalid PSS salt length {salt!r}: use digest, max, auto or an integer >= 0",
            )
    return ResolvedScheme(algorithm, name, mgf1, salt)


def signed_salt_length(key, rs: ResolvedScheme) -> int:
    """The salt length a PSS signature made with RS by KEY carries: the digest's size for
    "digest", the largest that fits for "max" and "auto" (OpenSSL signs "auto" as "max")."""
    if rs.salt_length == "digest":
        return digests.digest_size(rs.digest)
    if rs.salt_length in ("max", "auto"):
        encoded_length = (key.bits - 1 + 7) // 8
        return encoded_length - digests.digest_size(rs.digest) - 2
    return rs.salt_length


def _padding(rs: ResolvedScheme, verifying: bool):
    from cryptography.hazmat.primitives.asymmetric import padding

    if rs.algorithm == "pkcs1":
        return padding.PKCS1v15()
    salt = rs.salt_length
    if salt == "digest":
        salt = digests.digest_size(rs.digest)
    elif salt == "max":
        salt = padding.PSS.MAX_LENGTH
    elif salt == "auto":
        # OpenSSL: "auto" detects the salt on verify and means "max" when signing
        salt = padding.PSS.AUTO if verifying else padding.PSS.MAX_LENGTH
    return padding.PSS(mgf=padding.MGF1(digests.pyca_hash(rs.mgf1_digest)), salt_length=salt)


def sign_digest(private_key, kind: str, rs: ResolvedScheme, message_digest: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    algorithm = Prehashed(digests.pyca_hash(rs.digest))
    if kind == "ec":
        return private_key.sign(message_digest, ec.ECDSA(algorithm))
    try:
        return private_key.sign(message_digest, _padding(rs, verifying=False), algorithm)
    except ValueError:
        raise ParameterError(
            Reason.INVALID_SALT_LENGTH,
            f"PSS salt length {rs.salt_length} does not fit a {private_key.key_size}-bit key "
            f"with {rs.digest}: use a smaller salt or max",
        ) from None


def verify_digest(public_key, kind: str, rs: ResolvedScheme, message_digest: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    algorithm = Prehashed(digests.pyca_hash(rs.digest))
    try:
        if kind == "ec":
            public_key.verify(signature, message_digest, ec.ECDSA(algorithm))
        else:
            public_key.verify(signature, message_digest, _padding(rs, verifying=True), algorithm)
    except (InvalidSignature, ValueError):
        return False
    return True


class SignStream:
    """Streaming sign/verify: feed the message with update(); sign() or verify() ends it."""

    def __init__(self, session, key, rs: ResolvedScheme, _hash_state=None):
        self._session = session
        self._key = key
        self._rs = rs
        self._hash = _hash_state if _hash_state is not None else digests.new(rs.digest)
        self._done = False

    def __repr__(self) -> str:
        return f"<SignStream {self._rs.algorithm}-{self._rs.digest} {self._key!r}>"

    def _live(self):
        if self._done:
            raise OperationError(Reason.STREAM_FINISHED, "this signature stream has already been finalised")
        return self._hash

    def update(self, data) -> None:
        self._live().update(as_bytes(data, "data"))

    def copy(self) -> SignStream:
        return SignStream(self._session, self._key, self._rs, self._live().copy())

    def sign(self) -> bytes:
        message_digest = self._live().digest()
        self._done = True
        return self._session._sign_resolved(self._key, self._rs, message_digest)

    def verify(self, signature: bytes) -> bool:
        message_digest = self._live().digest()
        self._done = True
        return self._session._verify_resolved(self._key, self._rs, message_digest, signature)
