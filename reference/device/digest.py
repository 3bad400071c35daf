"""SHA-1/256/384/512 for the device, on Python's built-in ``_sha1``/``_sha256``/``_sha512``.

Never ``hashlib``: inside an ``openssl`` process it runs on the host's libcrypto and would
re-enter the provider. Names are accepted in any OpenSSL spelling (``SHA256``, ``SHA2-256``,
``sha-256``, the OID ...), case-insensitively.
"""

from __future__ import annotations

from .errors import ParameterError, Reason

# canonical name -> (digest size, block size, OID); the order is the preference order for messages.
_PROPERTIES = {
    "sha1": (20, 64, "1.3.14.3.2.26"),
    "sha256": (32, 64, "2.16.840.1.101.3.4.2.1"),
    "sha384": (48, 128, "2.16.840.1.101.3.4.2.2"),
    "sha512": (64, 128, "2.16.840.1.101.3.4.2.3"),
}

# Every spelling OpenSSL 3 knows for these digests (lower-cased), mapped to the canonical name.
_ALIASES = {
    "sha1": "sha1",
    "sha-1": "sha1",
    "ssl3-sha1": "sha1",
    "sha256": "sha256",
    "sha2-256": "sha256",
    "sha-256": "sha256",
    "sha384": "sha384",
    "sha2-384": "sha384",
    "sha-384": "sha384",
    "sha512": "sha512",
    "sha2-512": "sha512",
    "sha-512": "sha512",
    **{oid: name for name, (_size, _block, oid) in _PROPERTIES.items()},
}

SUPPORTED = tuple(_PROPERTIES)


def canonical(name: str) -> str:
    """Return ``sha1``/``sha256``/``sha384``/``sha512`` for any OpenSSL spelling of them."""
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in _ALIASES:
        raise ParameterError(
            Reason.UNSUPPORTED_DIGEST,
            f"unsupported digest {name!r}: use one of SHA1, SHA256, SHA384, SHA512",
        )
    return _ALIASES[key]


def digest_size(name: str) -> int:
    return _PROPERTIES[canonical(name)][0]


def block_size(name: str) -> int:
    return _PROPERTIES[canonical(name)][1]


def oid(name: str) -> str:
    """The digest's OID, dotted (what AlgorithmIdentifiers carry)."""
    return _PROPERTIES[canonical(name)][2]


def openssl_name(name: str) -> str:
    """The name OpenSSL reports for the digest (``SHA256``)."""
    return canonical(name).upper()


def by_size(size: int) -> str | None:
    """The digest whose output is ``size`` bytes (used to read a pre-hashed input)."""
    for name, (dsize, _block, _oid) in _PROPERTIES.items():
        if dsize == size:
            return name
    return None


def _builtin(name: str):
    if name == "sha1":
        import _sha1

        return _sha1.sha1()
    if name == "sha256":
        import _sha256

        return _sha256.sha256()
    import _sha512

    return _sha512.sha384() if name == "sha384" else _sha512.sha512()


class Hash:
    """A streaming, copyable digest context."""

    __slots__ = ("name", "digest_size", "block_size", "_state")

    def __init__(self, name: str, _state=None):
        self.name = canonical(name)
        self.digest_size, self.block_size, _oid = _PROPERTIES[self.name]
        self._state = _state if _state is not None else _builtin(self.name)

    def update(self, data) -> None:
        try:
            self._state.update(data)
        except TypeError:
            raise ParameterError(
                Reason.INVALID_PARAMETER, f"data to hash must be bytes, not {type(data).__name__}"
            ) from None

    def copy(self) -> Hash:
        return Hash(self.name, self._state.copy())

    def digest(self) -> bytes:
        """The digest of everything so far; the context stays usable (like hashlib)."""
        return self._state.digest()

    def hexdigest(self) -> str:
        return self._state.hexdigest()

    def __repr__(self) -> str:
        return f"<digest {self.name}>"


def new(name: str, data: bytes = b"") -> Hash:
    h = Hash(name)
    if data:
        h.update(data)
    return h


def compute(name: str, data: bytes) -> bytes:
    """One-shot digest."""
    return new(name, data).digest()


def pyca_hash(name: str):
    """The pyca/cryptography hash object for a digest name (imported lazily)."""
    from cryptography.hazmat.primitives import hashes

    return {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}[
        canonical(name)
    ]()
