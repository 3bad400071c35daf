"""Key agreement and derivation: ECDH peer checks, HKDF parameters, HMAC contexts."""

from __future__ import annotations

from . import digest as digests
from .errors import OperationError, ParameterError, Reason, as_bytes
from .keys import PYCA_CURVES

HKDF_DIGESTS = ("sha256", "sha384", "sha512")
AES_BITS = (128, 192, 256)


def load_peer(peer_spki_der: bytes, own_curve: str):
    """The peer's EC public key, refused when invalid, off-curve or on another curve."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    peer_spki_der = as_bytes(peer_spki_der, "ECDH peer key")
    try:
        peer = serialization.load_der_public_key(peer_spki_der)
    except Exception:  # pyca raises ValueError/UnsupportedAlgorithm for bad or off-curve points
        raise OperationError(
            Reason.INVALID_PEER_KEY,
            "invalid ECDH peer key: not a DER SubjectPublicKeyInfo of a valid EC point",
        ) from None
    if not isinstance(peer, ec.EllipticCurvePublicKey):
        raise OperationError(Reason.INVALID_PEER_KEY, "invalid ECDH peer key: ECDH needs an EC public key")
    peer_curve = PYCA_CURVES.get(peer.curve.name, peer.curve.name)
    if peer_curve != own_curve:
        raise OperationError(
            Reason.MISMATCHING_DOMAIN_PARAMETERS,
            f"ECDH peer key is on {peer_curve} but the key is on {own_curve}: mismatching domain parameters",
        )
    return peer


def hkdf_params(digest, key_type, bits):
    """Validate HKDF output parameters; returns (digest, key_type, bits)."""
    name = digests.canonical(digest)
    if name not in HKDF_DIGESTS:
        raise ParameterError(
            Reason.UNSUPPORTED_DIGEST,
            f"HKDF digest {name.upper()} is not supported: use SHA256, SHA384 or SHA512",
        )
    return _output_params("HKDF", name, key_type, bits)


def kbkdf_params(digest, key_type, bits, label: bytes, context: bytes, mode, mac):
    """Validate KBKDF (SP 800-108 counter mode, HMAC PRF) parameters; returns (digest,
    key_type, bits). SHA-1 is allowed for an AES output only; label (the salt) or context
    (the info) must be given."""
    if str(mode).lower() != "counter":
        raise ParameterError(Reason.INVALID_PARAMETER, f"invalid mode {mode!r}: KBKDF supports counter mode only")
    if str(mac).upper() != "HMAC":
        raise ParameterError(Reason.INVALID_PARAMETER, f"invalid mac {mac!r}: KBKDF supports HMAC only")
    name = digests.canonical(digest)
    kind = key_type.lower() if isinstance(key_type, str) else None
    if name == "sha1" and kind != "aes":
        raise ParameterError(
            Reason.UNSUPPORTED_DIGEST, "KBKDF with SHA1 derives AES keys only: use SHA256, SHA384 or SHA512"
        )
    if not label and not context:
        raise ParameterError(
            Reason.INVALID_PARAMETER, "KBKDF needs a label (salt) or a context (info), or both: neither was given"
        )
    return _output_params("KBKDF", name, key_type, bits)


def _output_params(kdf: str, name: str, key_type, bits):
    """The derived key's type and size, as HKDF and KBKDF both rule them."""
    kind = key_type.lower() if isinstance(key_type, str) else None
    if kind not in ("aes", "hmac"):
        raise ParameterError(
            Reason.INVALID_DERIVED_KEY_TYPE, f"unsupported derived key type {key_type!r}: use aes or hmac"
        )
    if isinstance(bits, bool) or not isinstance(bits, int) or bits <= 0 or bits % 8:
        raise ParameterError(
            Reason.INVALID_DERIVED_KEY_LENGTH, f"derived key bits {bits!r} must be a positive multiple of 8"
        )
    if kind == "aes" and bits not in AES_BITS:
        raise ParameterError(Reason.INVALID_DERIVED_KEY_LENGTH, f"an AES key has 128, 192 or 256 bits, not {bits}")
    if kind == "hmac" and bits != digests.digest_size(name) * 8:
        raise ParameterError(
            Reason.INVALID_DERIVED_KEY_LENGTH,
            f"an HMAC-{name.upper()} key has {digests.digest_size(name) * 8} bits (the {kdf} digest size), not {bits}",
        )
    return name, kind, bits


def hkdf(secret: bytes, digest: str, salt: bytes, info: bytes, length: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(digests.pyca_hash(digest), length, salt=salt or None, info=info).derive(secret)


def kbkdf(secret: bytes, digest: str, label: bytes, context: bytes, length: int) -> bytes:
    """SP 800-108 counter mode with HMAC: [i]32 || label || 0x00 || context || [L]32 per
    block, i from 1 (OpenSSL's and pyca's layout, separator always written)."""
    from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode

    return KBKDFHMAC(
        algorithm=digests.pyca_hash(digest),
        mode=Mode.CounterMode,
        length=length,
        rlen=4,
        llen=4,
        location=CounterLocation.BeforeFixed,
        label=label,
        context=context,
        fixed=None,
    ).derive(secret)


class Mac:
    """A streaming, copyable HMAC over a device key; finalize() ends it."""

    def __init__(self, digest: str, _context):
        self.digest = digest
        self.digest_size = digests.digest_size(digest)
        self.block_size = digests.new(digest).block_size
        self._ctx = _context

    @classmethod
    def start(cls, secret: bytes, digest: str) -> Mac:
        from cryptography.hazmat.primitives import hmac

        return cls(digest, hmac.HMAC(secret, digests.pyca_hash(digest)))

    def __repr__(self) -> str:
        return f"<Mac HMAC-{self.digest.upper()}>"

    def _live(self):
        if self._ctx is None:
            raise OperationError(Reason.STREAM_FINISHED, "this HMAC has already been finalised")
        return self._ctx

    def update(self, data) -> None:
        self._live().update(as_bytes(data, "data"))

    def copy(self) -> Mac:
        return Mac(self.digest, self._live().copy())

    def finalize(self) -> bytes:
        tag = self._live().finalize()
        self._ctx = None
        return tag
