"""A device session: the keys it holds and every operation on them.

Key material lives only in the session's vault (a weak mapping from the opaque Key handle to a
private material record); a Key is usable only in the session that created or loaded it.
Session keys are masked under a key derived from the device secret *and* a per-session secret
that exists only in this process's memory, so once the session ends their blobs cannot load.
"""

from __future__ import annotations

import os
import weakref

from . import aes, asn1, blob, cipher, derive, signing
from . import digest as digests
from .errors import BlobError, KeyImportError, KeyUsageError, ParameterError, Reason, SessionError, as_bytes
from .keys import (
    CURVE_BITS,
    PYCA_CURVES,
    RSA_FORMS,
    RSA_SIZES,
    Key,
    canonical_curve,
    check_create_usage,
    describe,
    pyca_curve,
)
from .wrap import normalise_private_key, unwrap_in_device, wrap_for_device

# Sessions alive in this process, by id: tells "another live session" from "an ended one".
_LIVE_SESSIONS: weakref.WeakValueDictionary[bytes, Session] = weakref.WeakValueDictionary()

_ALGORITHMS = {"ec": "EC", "rsa": "RSA", "rsa-pss": "RSA-PSS"}
# unmask(expect=...) -> (kind, flavour)
_EXPECT = {
    "ec": ("ec", "EC"),
    "rsa": ("rsa", "RSA"),
    "rsa-pss": ("rsa", "RSA-PSS"),
    "secret": ("secret", None),
    "aes": ("aes", None),
    "aes-gcm": ("aes-gcm", None),
    "aes-xts": ("aes-xts", None),
    "hmac": ("hmac", None),
}
_RSA_PSS_OID = bytes.fromhex("06092a864886f70d01010a")  # DER of OID 1.2.840.113549.1.1.10


class _Material:
    """Key material held in the vault. Never printed."""

    __slots__ = ("private", "public", "secret")

    def __init__(self, private=None, public=None, secret=None):
        self.private, self.public, self.secret = private, public, secret

    def __repr__(self) -> str:
        return "<key material>"


def _spki(public_key) -> bytes:
    # The enums live in pyca's light _serialization module (the asymmetric modules import it
    # anyway); the public `serialization` package also loads the SSH code, ~30 ms per process.
    try:
        from cryptography.hazmat.primitives._serialization import Encoding, PublicFormat
    except ImportError:  # pragma: no cover - a pyca release that moved them
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


# Private keys travel inside masked blobs as their numbers (not PKCS#8), so that loading a
# key needs only pyca's asymmetric modules: every signing `openssl` process loads one.
_EC_PAYLOAD, _RSA_PAYLOAD, _RSA_PLAIN_PAYLOAD = b"E", b"R", b"r"  # RSA: CRT form, plain form (n, e, d)


def _pack_ints(tag: bytes, *values: int) -> bytes:
    out = [tag]
    for value in values:
        raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
        out.append(len(raw).to_bytes(2, "big") + raw)
    return b"".join(out)


def _unpack_ints(payload: bytes, count: int) -> list[int]:
    values, offset = [], 1
    for _ in range(count):
        size = int.from_bytes(payload[offset : offset + 2], "big")
        values.append(int.from_bytes(payload[offset + 2 : offset + 2 + size], "big"))
        offset += 2 + size
    if offset != len(payload):
        raise ValueError("key payload has trailing bytes")
    return values


def _private_payload(private, rsa_form=None) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import ec

    if isinstance(private, ec.EllipticCurvePrivateKey):
        return _pack_ints(_EC_PAYLOAD, private.private_numbers().private_value)
    n = private.private_numbers()
    if rsa_form == "RSA":
        return _pack_ints(_RSA_PLAIN_PAYLOAD, n.d, n.public_numbers.e, n.public_numbers.n)
    return _pack_ints(_RSA_PAYLOAD, n.p, n.q, n.d, n.dmp1, n.dmq1, n.iqmp, n.public_numbers.e, n.public_numbers.n)


def _private_from_payload(payload: bytes, curve_bits: int):
    """(pyca private key, RSA form or None) of a blob payload (authenticated: no
    consistency re-check)."""
    if payload[:1] == _EC_PAYLOAD:
        from cryptography.hazmat.primitives.asymmetric import ec

        [curve] = [name for name, bits in CURVE_BITS.items() if bits == curve_bits]
        (private_value,) = _unpack_ints(payload, 1)
        return ec.derive_private_key(private_value, pyca_curve(curve)), None
    if payload[:1] == _RSA_PAYLOAD:
        from cryptography.hazmat.primitives.asymmetric import rsa

        p, q, d, dmp1, dmq1, iqmp, e, n = _unpack_ints(payload, 8)
        numbers = rsa.RSAPrivateNumbers(p, q, d, dmp1, dmq1, iqmp, rsa.RSAPublicNumbers(e, n))
        return numbers.private_key(unsafe_skip_rsa_key_validation=True), "RSA-CRT"
    if payload[:1] == _RSA_PLAIN_PAYLOAD:
        d, e, n = _unpack_ints(payload, 3)
        return _rsa_from_n_e_d(n, e, d, validate=False), "RSA"
    raise ValueError("unknown key payload")


_RECOVERED: dict[tuple[int, int, int], tuple[int, int]] = {}  # (n, e, d) -> (p, q)


def _recover_factors(n: int, e: int, d: int) -> tuple[int, int]:
    """p and q (p > q, as pyca orders them) from n, e and d (the probabilistic method of
    NIST SP 800-56B, C.2, squaring each candidate on instead of raising it anew: one
    modular exponentiation per base, where pyca's rsa_recover_prime_factors does several)."""
    import math

    k = d * e - 1
    if k <= 0 or k % 2 or n < 15 or pow(2, k, n) != 1:  # a valid key has a^(ed-1) = 1 mod n
        raise ValueError("n, e and d do not form an RSA key")
    t, s = k, 0
    while t % 2 == 0:
        t //= 2
        s += 1
    for a in range(2, 130, 2):  # each base fails with probability 1/2 at most
        x = pow(a, t, n)
        if x in (1, n - 1):
            continue
        for _ in range(s):
            y = x * x % n
            if y == 1:
                p = math.gcd(x - 1, n)
                q, rest = divmod(n, p)
                if rest or p in (1, n):
                    break
                return (p, q) if p > q else (q, p)
            if y == n - 1:
                break
            x = y
    raise ValueError("n, e and d do not form an RSA key")


_RECOVERED_LIMIT = 64


def _rsa_from_n_e_d(n: int, e: int, d: int, *, validate: bool):
    """A pyca RSA key from n, e, d: the simulation recovers p and q to compute with (pyca
    has no plain-form key); the blob keeps n, e and d only. The recovery (pure Python, up to
    a few hundred ms for RSA-4096) is remembered for the process's next use of the key."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    factors = _RECOVERED.get((n, e, d))
    if factors is None:
        factors = _recover_factors(n, e, d)
        if len(_RECOVERED) >= _RECOVERED_LIMIT:
            _RECOVERED.pop(next(iter(_RECOVERED)))
        _RECOVERED[(n, e, d)] = factors
    p, q = factors
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, n)
    )
    return numbers.private_key(unsafe_skip_rsa_key_validation=not validate)


def _rsa_form(key_kind) -> str:
    """The RSA form asked for (None: the default, CRT); case-insensitive."""
    if key_kind is None:
        return RSA_FORMS[0]
    form = {f.lower(): f for f in RSA_FORMS}.get(key_kind.lower() if isinstance(key_kind, str) else None)
    if form is None:
        raise KeyImportError(Reason.INVALID_PARAMETER, f"RSA key kind {key_kind!r} must be 'RSA' or 'RSA-CRT'")
    return form


def _as_bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise ParameterError(Reason.INVALID_PARAMETER, f"{name} must be True or False")
    return value


class Session:
    """One device session (the provider opens one per provider instance)."""

    def __init__(self, device):
        self.device = device
        self.id = os.urandom(blob.SESSION_ID_LEN)
        self.__secret = os.urandom(32)
        self.__gcm_key = None
        self.__vault: weakref.WeakKeyDictionary[Key, _Material] = weakref.WeakKeyDictionary()
        self.closed = False
        _LIVE_SESSIONS[self.id] = self

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Session {self.id.hex()[:12]} on device {self.device.identity} ({state})>"

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """End the session: its keys are dropped and its session-key blobs become unloadable."""
        if self.closed:
            return
        self.closed = True
        self.__vault.clear()
        self.__secret = self.__gcm_key = None
        _LIVE_SESSIONS.pop(self.id, None)

    # ---- vault ------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise SessionError(Reason.SESSION_CLOSED, "the device session is closed: open a new session")

    def _adopt(self, material: _Material, **props) -> Key:
        key = Key(session_id=self.id, **props)
        self.__vault[key] = material
        return key

    def _material(self, key) -> _Material:
        self._check_open()
        if not isinstance(key, Key):
            raise ParameterError(Reason.INVALID_PARAMETER, f"expected a device Key, got {type(key).__name__}")
        material = self.__vault.get(key)
        if material is None:
            raise SessionError(Reason.KEY_NOT_IN_SESSION, f"the {key.label} belongs to another session")
        return material

    def _adopt_private(self, private, flavour: str, usage: str, session_key: bool, rsa_form=None) -> Key:
        public = private.public_key()
        if flavour == "EC":
            curve = PYCA_CURVES[private.curve.name]
            props = dict(kind="ec", curve=curve, bits=CURVE_BITS[curve])
        else:
            props = dict(kind="rsa", bits=private.key_size, rsa_form=rsa_form or RSA_FORMS[0])
        return self._adopt(
            _Material(private=private, public=public),
            flavour=flavour,
            usage=usage,
            session_key=session_key,
            has_private=True,
            public_der=_spki(public),
            **props,
        )

    def _adopt_secret(
        self, secret: bytes, kind: str, usage: str, session_key: bool, hmac_digest=None, bits=None
    ) -> Key:
        """``bits`` defaults to the secret's length; an ECDH secret reports its curve's bits
        (521 for P-521, whose 66-byte secret has 7 leading zero bits)."""
        return self._adopt(
            _Material(secret=secret),
            kind=kind,
            bits=bits or len(secret) * 8,
            usage=usage,
            session_key=session_key,
            has_private=True,
            hmac_digest=hmac_digest,
        )

    def _session_gcm_key(self) -> bytes:
        if self.__gcm_key is None:
            self.__gcm_key = self.device._gcm_key(self.__secret)
        return self.__gcm_key

    # ---- key creation -----------------------------------------------------------------------

    def generate_ec(self, curve="P-256", usage="digitalSignature", session_key=False) -> Key:
        """Generate an EC key inside the device."""
        self._check_open()
        curve = canonical_curve(curve)
        check_create_usage("ec", "EC", usage)
        session_key = _as_bool(session_key, "session_key")
        from cryptography.hazmat.primitives.asymmetric import ec

        return self._adopt_private(ec.generate_private_key(pyca_curve(curve)), "EC", usage, session_key)

    def import_private_key(
        self, der, algorithm="EC", usage="digitalSignature", session_key=False, curve=None, bits=None, key_kind=None
    ) -> Key:
        """Import a DER private key the way the real provider does: normalise to PKCS#8 and
        wrap host-side for the device's unwrapping key, then unwrap inside the device.

        ``curve``/``bits`` are what the caller declared (None: nothing declared); the
        imported key must match them. ``key_kind`` (RSA only): "RSA-CRT" (default) or "RSA".
        """
        self._check_open()
        flavour = self._check_import_request(algorithm, usage, curve, bits, key_kind)
        _host_key, pkcs8 = normalise_private_key(der)
        wrapped = wrap_for_device(self.device.unwrapping_public_der, pkcs8)
        return self.import_wrapped(
            wrapped, algorithm=flavour, usage=usage, session_key=session_key, curve=curve, bits=bits, key_kind=key_kind
        )

    def import_wrapped(
        self, wrapped, algorithm="EC", usage="digitalSignature", session_key=False, curve=None, bits=None, key_kind=None
    ) -> Key:
        """Import a key already wrapped for this device (RSA-OAEP-SHA256 KEK || AES-KWP)."""
        self._check_open()
        flavour = self._check_import_request(algorithm, usage, curve, bits, key_kind)
        rsa_form = _rsa_form(key_kind) if flavour != "EC" else None
        session_key = _as_bool(session_key, "session_key")
        pkcs8 = unwrap_in_device(self.device._unwrapping_key(), wrapped)
        private = _load_unwrapped(pkcs8, flavour, rsa_form)
        _check_imported(private, flavour, curve, bits)
        return self._adopt_private(private, flavour, usage, session_key, rsa_form)

    @staticmethod
    def _check_import_request(algorithm, usage, curve, bits, key_kind=None) -> str:
        flavour = _ALGORITHMS.get(algorithm.lower() if isinstance(algorithm, str) else None)
        if flavour is None:
            raise KeyImportError(
                Reason.UNSUPPORTED_ALGORITHM, f"unsupported key algorithm {algorithm!r}: use EC, RSA or RSA-PSS"
            )
        kind = "ec" if flavour == "EC" else "rsa"
        check_create_usage(kind, flavour, usage)
        if key_kind is not None:
            if kind != "rsa":
                raise KeyImportError(Reason.INVALID_PARAMETER, f"a key kind was declared for an {flavour} key")
            _rsa_form(key_kind)
        if curve is not None:
            if kind != "ec":
                raise KeyImportError(Reason.INVALID_PARAMETER, f"a curve was declared for an {flavour} key")
            canonical_curve(curve)
        if bits is not None:
            if kind != "rsa":
                raise KeyImportError(
                    Reason.INVALID_PARAMETER, "a bit size was declared for an EC key (declare the curve)"
                )
            if bits not in RSA_SIZES:
                raise KeyImportError(
                    Reason.UNSUPPORTED_KEY_SIZE, f"unsupported RSA size {bits!r}: use 2048, 3072 or 4096"
                )
        return flavour

    def public_key(self, spki_der, usage=None) -> Key:
        """A public-only key from SubjectPublicKeyInfo DER (peer keys, verify-only keys).

        ``usage`` None allows every public operation (verify, encrypt).
        """
        self._check_open()
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        spki_der = as_bytes(spki_der, "public key")
        try:
            public = serialization.load_der_public_key(spki_der)
        except Exception:  # ValueError / UnsupportedAlgorithm, depending on the input
            raise KeyImportError(
                Reason.INVALID_KEY_ENCODING, "not a DER SubjectPublicKeyInfo of an EC or RSA key"
            ) from None
        if isinstance(public, ec.EllipticCurvePublicKey):
            curve = PYCA_CURVES.get(public.curve.name)
            if curve is None:
                raise KeyImportError(
                    Reason.UNSUPPORTED_CURVE, f"public key is on {public.curve.name}: use P-256, P-384 or P-521"
                )
            props = dict(kind="ec", flavour="EC", curve=curve, bits=CURVE_BITS[curve])
        elif isinstance(public, rsa.RSAPublicKey):
            flavour = "RSA-PSS" if _RSA_PSS_OID in spki_der[:32] else "RSA"
            props = dict(kind="rsa", flavour=flavour, bits=public.key_size)
        else:
            raise KeyImportError(Reason.UNSUPPORTED_ALGORITHM, "public key is neither EC nor RSA")
        if usage is not None:
            check_create_usage(props["kind"], props["flavour"], usage)
        return self._adopt(
            _Material(public=public),
            usage=usage,
            session_key=False,
            has_private=False,
            public_der=_spki(public),
            **props,
        )

    # ---- masking ------------------------------------------------------------------------------

    def mask(self, key: Key) -> bytes:
        """The masked key blob of ``key`` (bound to this device, and session for session keys)."""
        material = self._material(key)
        if not key.has_private:
            raise KeyUsageError(Reason.NO_PRIVATE_KEY, f"cannot mask a public-only {key.label}: nothing secret to mask")
        payload = material.secret if material.secret is not None else _private_payload(material.private, key.rsa_form)
        header = blob.BlobHeader(
            kind=key.kind,
            usage=key.usage,
            bits=key.bits,
            hmac_digest=key.hmac_digest,
            device_id=self.device.device_id,
            session_id=self.id if key.session_key else None,
        )
        gcm_key = self._session_gcm_key() if key.session_key else self.device._gcm_key()
        return blob.seal(header, gcm_key, payload)

    def unmask(self, masked, expect=None) -> Key:
        """Load a masked key blob. ``expect`` ("ec", "rsa", "rsa-pss", "secret", "aes", "hmac")
        is the type the caller asks for; for RSA it also decides the flavour."""
        self._check_open()
        wanted = None
        if expect is not None:
            wanted = _EXPECT.get(expect.lower() if isinstance(expect, str) else None)
            if wanted is None:
                raise ParameterError(
                    Reason.INVALID_PARAMETER, f"unknown key type {expect!r}: use ec, rsa, rsa-pss, secret, aes or hmac"
                )
        header = blob.read_header(masked)
        if header.device_id != self.device.device_id:
            raise BlobError(
                Reason.BLOB_OTHER_DEVICE,
                f"masked key blob was made by another device ({header.device_id.hex()}); "
                f"this device is {self.device.identity} (check AZIHSM_DEVICE_DIR)",
            )
        if header.session_key and header.session_id != self.id:
            if header.session_id in _LIVE_SESSIONS:
                raise BlobError(Reason.BLOB_OTHER_SESSION, "masked session key belongs to another open session")
            raise BlobError(
                Reason.BLOB_SESSION_ENDED,
                "masked session key is from an ended session: session keys live only as long "
                "as their session; generate it with session false to reuse it",
            )
        gcm_key = self._session_gcm_key() if header.session_key else self.device._gcm_key()
        payload = blob.open_body(masked, header, gcm_key)
        if wanted is not None and wanted[0] != header.kind:
            raise BlobError(
                Reason.BLOB_WRONG_KIND,
                f"masked key blob has the wrong kind for type {expect}: it holds an azihsm "
                f"{describe(header.kind, header.bits, hmac_digest=header.hmac_digest)}",
            )
        if header.kind in ("ec", "rsa") and header.usage != "unwrap":
            private, rsa_form = _private_from_payload(payload, header.bits)
            flavour = wanted[1] if wanted else ("EC" if header.kind == "ec" else "RSA")
            return self._adopt_private(private, flavour, header.usage, header.session_key, rsa_form)
        if header.kind in ("secret", "hmac", *aes.DEVICE_KINDS):
            return self._adopt_secret(
                payload, header.kind, header.usage, header.session_key, header.hmac_digest, header.bits
            )
        raise BlobError(Reason.BLOB_WRONG_KIND, "masked key blob holds the device's own unwrapping key")

    def _key_or_blob(self, key_or_blob) -> Key:
        return key_or_blob if isinstance(key_or_blob, Key) else self.unmask(key_or_blob)

    # ---- signatures ---------------------------------------------------------------------------

    def sign(self, key: Key, data, scheme) -> bytes:
        """Sign a message (or, with ``scheme.prehashed``, its digest)."""
        self._material(key)
        key.require("sign", ("ec", "rsa"))
        rs, message_digest = self._digest_for(key, scheme, data)
        return self._sign_resolved(key, rs, message_digest)

    def verify(self, key: Key, data, signature, scheme) -> bool:
        """True when ``signature`` is valid under exactly ``scheme``; malformed -> False."""
        self._material(key)
        key.require("verify", ("ec", "rsa"))
        rs, message_digest = self._digest_for(key, scheme, data)
        return self._verify_resolved(key, rs, message_digest, as_bytes(signature, "signature"))

    def signature_parameters(self, key: Key, scheme) -> signing.ResolvedScheme:
        """What a signature by KEY under SCHEME is made with: the digest and MGF1 digest it
        uses, and for PSS the salt length (an int) it carries. Lets a caller describe the
        signature (an AlgorithmIdentifier) without redoing the device's choices."""
        rs = signing.resolve(key, scheme)
        if rs.algorithm == "pss":
            rs = rs._replace(salt_length=signing.signed_salt_length(key, rs))
        return rs

    @staticmethod
    def _digest_for(key, scheme, data):
        """(resolved scheme, digest to sign) for a one-shot message or pre-hashed input."""
        data = as_bytes(data, "data to sign or verify")
        rs = signing.resolve(key, scheme, data)
        return rs, data if scheme.prehashed else digests.compute(rs.digest, data)

    def sign_stream(self, key: Key, scheme) -> signing.SignStream:
        """Streaming sign or verify over a message fed with update()."""
        self._material(key)
        key.require("verify", ("ec", "rsa"))  # same usage as sign; private half checked at sign
        rs = signing.resolve(key, scheme)
        if scheme.prehashed:
            raise ParameterError(
                Reason.INVALID_PARAMETER, "a signature stream hashes the message: prehashed must be False"
            )
        return signing.SignStream(self, key, rs)

    def _sign_resolved(self, key, rs, message_digest: bytes) -> bytes:
        material = self._material(key)
        key.require("sign", ("ec", "rsa"))
        return signing.sign_digest(material.private, key.kind, rs, message_digest)

    def _verify_resolved(self, key, rs, message_digest: bytes, signature) -> bool:
        material = self._material(key)
        return signing.verify_digest(material.public, key.kind, rs, message_digest, signature)

    # ---- RSA encryption -----------------------------------------------------------------------

    def encrypt(self, key: Key, plaintext, padding="oaep", digest="sha256", mgf1_digest=None, label=b"") -> bytes:
        material = self._material(key)
        self._require_rsa_cipher(key, "encrypt")
        params = cipher.resolve(padding, digest, mgf1_digest, label)
        return cipher.encrypt(material.public, params, as_bytes(plaintext, "plaintext"))

    def decrypt(self, key: Key, ciphertext, padding="oaep", digest="sha256", mgf1_digest=None, label=b"") -> bytes:
        material = self._material(key)
        self._require_rsa_cipher(key, "decrypt")
        params = cipher.resolve(padding, digest, mgf1_digest, label)
        return cipher.decrypt(material.private, params, as_bytes(ciphertext, "ciphertext"))

    @staticmethod
    def _require_rsa_cipher(key: Key, operation: str) -> None:
        key.require(operation, ("rsa",))
        if key.flavour == "RSA-PSS":
            raise KeyUsageError(Reason.WRONG_KEY_KIND, f"an RSA-PSS key cannot {operation}: import the key as RSA")

    # ---- key agreement and derivation -------------------------------------------------------

    def ecdh(self, key: Key, peer_spki_der) -> bytes:
        """ECDH with a peer public key; returns the masked shared secret, never raw bytes.

        The secret is a session key when ``key`` is one (it dies with the session)."""
        material = self._material(key)
        key.require("ecdh", ("ec",))
        if isinstance(peer_spki_der, Key):
            peer_spki_der = peer_spki_der.public_der
        peer = derive.load_peer(peer_spki_der, key.curve)
        from cryptography.hazmat.primitives.asymmetric import ec

        shared = material.private.exchange(ec.ECDH(), peer)
        secret = self._adopt_secret(shared, "secret", "derive", key.session_key, bits=key.bits)
        return self.mask(secret)

    def hkdf(self, ikm_blob, digest="sha256", salt=b"", info=b"", key_type="aes", bits=256) -> bytes:
        """HKDF extract-and-expand from a masked secret (ECDH output or an earlier KDF
        output); returns the masked AES or HMAC key. An HMAC key is bound to ``digest``."""
        ikm, material = self._kdf_input(ikm_blob, "hkdf")
        name, kind, bits = derive.hkdf_params(digest, key_type, bits)
        okm = derive.hkdf(material.secret, name, as_bytes(salt, "HKDF salt"), as_bytes(info, "HKDF info"), bits // 8)
        return self._kdf_output(okm, ikm, name, kind)

    def kbkdf(
        self, ikm_blob, digest="sha256", label=b"", context=b"", key_type="aes", bits=256, mode="counter", mac="HMAC"
    ) -> bytes:
        """KBKDF (SP 800-108, counter mode, HMAC PRF) from a masked secret; LABEL is what
        OpenSSL calls the salt, CONTEXT the info. Output rules as for :meth:`hkdf`."""
        ikm, material = self._kdf_input(ikm_blob, "kbkdf")
        label, context = as_bytes(label, "KBKDF label"), as_bytes(context, "KBKDF context")
        name, kind, bits = derive.kbkdf_params(digest, key_type, bits, label, context, mode, mac)
        okm = derive.kbkdf(material.secret, name, label, context, bits // 8)
        return self._kdf_output(okm, ikm, name, kind)

    def _kdf_input(self, ikm_blob, operation: str):
        ikm = self._key_or_blob(ikm_blob)
        material = self._material(ikm)
        ikm.require(operation, ("secret", "aes", "hmac"))
        return ikm, material

    def _kdf_output(self, okm: bytes, ikm, digest: str, kind: str) -> bytes:
        if kind == "aes":
            out = self._adopt_secret(okm, "aes", "encrypt", ikm.session_key)
        else:
            out = self._adopt_secret(okm, "hmac", "mac", ikm.session_key, hmac_digest=digest)
        return self.mask(out)

    # ---- AES (revision 2026-08) ---------------------------------------------------------------

    def generate_aes(self, kind="AES", length=None, session_key=False) -> Key:
        """Generate an AES key inside the device: KIND AES (16, 24 or 32 bytes; default 32),
        AES-GCM (32) or AES-XTS (64, two keys)."""
        self._check_open()
        device_kind, length = aes.kind_for(kind, length)
        session_key = _as_bool(session_key, "session_key")
        return self._adopt_secret(os.urandom(length), device_kind, "encrypt", session_key)

    def aes(self, key_or_blob, mode, iv, encrypt=True, padding=True) -> aes.AesStream:
        """An AES-CBC, AES-GCM or AES-XTS stream with a device AES key."""
        key = self._key_or_blob(key_or_blob)
        material = self._material(key)
        key.require("aes", aes.DEVICE_KINDS)
        aes.check_use(key.kind, len(material.secret), mode)
        return aes.AesStream(material.secret, mode, iv, _as_bool(encrypt, "encrypt"), _as_bool(padding, "padding"))

    def hmac(self, key_blob, digest="sha256") -> derive.Mac:
        """Start an HMAC with a masked HMAC key; the digest must be the key's own."""
        key = self._key_or_blob(key_blob)
        material = self._material(key)
        key.require("hmac", ("hmac",))
        name = digests.canonical(digest)
        if name != key.hmac_digest:
            raise ParameterError(
                Reason.DIGEST_MISMATCH,
                f"the HMAC key is bound to {key.hmac_digest.upper()} but {name.upper()} was "
                f"requested: use digest {key.hmac_digest.upper()}",
            )
        return derive.Mac.start(material.secret, name)


def _load_unwrapped(pkcs8: bytes, flavour: str, rsa_form):
    """The pyca key of an unwrapped PKCS#8, validated once, here. An RSA key without CRT
    components loads only in the plain form."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        # pyca's own RSA check tests p and q for primality (about 30 ms a key); the device
        # checks that the components agree instead, which every damaged key fails
        key = serialization.load_der_private_key(pkcs8, password=None, unsafe_skip_rsa_key_validation=True)
        if isinstance(key, rsa.RSAPrivateKey) and not _rsa_consistent(key.private_numbers()):
            raise ValueError("inconsistent RSA components")
        return key
    except Exception:  # ValueError / UnsupportedAlgorithm from pyca
        numbers = asn1.rsa_numbers_without_crt(pkcs8)
        if numbers is None or flavour == "EC":
            raise KeyImportError(
                Reason.INVALID_KEY_ENCODING, "the unwrapped key is not a valid unencrypted PKCS#8 private key"
            ) from None
    if rsa_form != "RSA":
        raise KeyImportError(
            Reason.INVALID_KEY_ENCODING,
            "the RSA key has no CRT components (p, q, dP, dQ, qInv are zero): import it in the plain form "
            "(key kind RSA), not RSA-CRT",
        )
    try:
        key = _rsa_from_n_e_d(*numbers, validate=False)
        if not _rsa_consistent(key.private_numbers()):
            raise ValueError("inconsistent")
        return key
    except ValueError:
        raise KeyImportError(Reason.INVALID_KEY_ENCODING, "the RSA key's n, e and d do not form a key") from None


def _rsa_consistent(numbers) -> bool:
    """Whether an RSA private key's components agree: n = pq, e and d inverse modulo p-1 and
    q-1, and the CRT values derived from them."""
    p, q, d = numbers.p, numbers.q, numbers.d
    e, n = numbers.public_numbers.e, numbers.public_numbers.n
    return (
        1 < p < n
        and 1 < q < n
        and p != q
        and p * q == n
        and 1 < e < n
        and e % 2 == 1
        and 0 < d < n
        and (d * e) % (p - 1) == 1
        and (d * e) % (q - 1) == 1
        and numbers.dmp1 == d % (p - 1)
        and numbers.dmq1 == d % (q - 1)
        and (numbers.iqmp * q) % p == 1
    )


def _check_imported(private, flavour: str, curve, bits) -> None:
    """Refuse an imported key whose type, curve or size is not what was asked for."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if flavour == "EC":
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise _type_mismatch(private, flavour)
        actual = PYCA_CURVES.get(private.curve.name)
        if actual is None:
            raise KeyImportError(
                Reason.UNSUPPORTED_CURVE,
                f"the imported key is on {private.curve.name}: the device supports P-256, P-384 and P-521",
            )
        if curve is not None and canonical_curve(curve) != actual:
            raise KeyImportError(
                Reason.CURVE_MISMATCH,
                f"the imported key is on {actual} but {canonical_curve(curve)} was declared: declare group {actual}",
            )
    else:
        if not isinstance(private, rsa.RSAPrivateKey):
            raise _type_mismatch(private, flavour)
        if private.key_size not in RSA_SIZES:
            raise KeyImportError(
                Reason.UNSUPPORTED_KEY_SIZE,
                f"the imported RSA key has {private.key_size} bits: the device supports 2048, 3072 and 4096",
            )
        if bits is not None and bits != private.key_size:
            raise KeyImportError(
                Reason.KEY_SIZE_MISMATCH,
                f"the imported RSA key has {private.key_size} bits but {bits} were "
                f"declared: declare {private.key_size} bits",
            )


def _type_mismatch(private, flavour: str) -> KeyImportError:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(private, ec.EllipticCurvePrivateKey):
        actual = "an EC key"
    elif isinstance(private, rsa.RSAPrivateKey):
        actual = "an RSA key"
    else:
        actual = f"a {type(private).__name__.replace('PrivateKey', '').lstrip('_')} key"
    return KeyImportError(Reason.KEY_TYPE_MISMATCH, f"the key to import is {actual} but {flavour} was requested")
