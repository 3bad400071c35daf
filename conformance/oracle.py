"""Independent checks with pyca/cryptography: the suite's oracle.

No positive result is ever judged by the HSM alone. Every case hands what the backend
produced to one of the checks below, which recompute or verify it in software under
exactly the parameters the case asked for. A failed check raises ``AssertionError`` with
a message that says what was expected and, where it can be told, what was produced
instead (e.g. "this is a PKCS#1 v1.5 signature, not PSS").

Nothing here runs ``openssl``; nothing here knows about the reference HSM.
"""

from __future__ import annotations

import hashlib
import hmac as _hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# ----------------------------------------------------------------- names

# every OpenSSL spelling of the four digests the provider implements -> hashlib name
DIGEST_ALIASES: dict[str, str] = {}
for _canonical, _names in {
    "sha1": ("SHA1", "SHA-1", "SSL3-SHA1", "sha1", "sha-1", "ssl3-sha1"),
    "sha256": ("SHA256", "SHA2-256", "SHA-256", "sha256", "sha2-256", "sha-256"),
    "sha384": ("SHA384", "SHA2-384", "SHA-384", "sha384", "sha2-384", "sha-384"),
    "sha512": ("SHA512", "SHA2-512", "SHA-512", "sha512", "sha2-512", "sha-512"),
}.items():
    for _name in _names:
        DIGEST_ALIASES[_name] = _canonical

_HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}
CURVE_BY_NAME = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def canonical_digest(name: str) -> str:
    """'SHA2-384', 'sha-384', 'SHA384' -> 'sha384'."""
    try:
        return DIGEST_ALIASES.get(name) or DIGEST_ALIASES[name.upper()]
    except KeyError:
        raise ValueError(f"unknown digest name {name!r}; use one of {sorted(set(DIGEST_ALIASES.values()))}") from None


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    return _HASHES[canonical_digest(name)]()


def digest(name: str, data: bytes) -> bytes:
    """The digest of DATA computed by hashlib (never by the provider under test)."""
    return hashlib.new(canonical_digest(name), data).digest()


def digest_size(name: str) -> int:
    return hash_algorithm(name).digest_size


# ----------------------------------------------------------------- keys


def load_public(der_or_pem: bytes):
    """A pyca public key from SubjectPublicKeyInfo DER or PEM."""
    if der_or_pem.lstrip().startswith(b"-----BEGIN"):
        return serialization.load_pem_public_key(der_or_pem)
    return serialization.load_der_public_key(der_or_pem)


def spki_der(key) -> bytes:
    """SubjectPublicKeyInfo DER of a pyca public or private key."""
    if hasattr(key, "public_key"):
        key = key.public_key()
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def describe_public(key) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = CURVE_BY_NAME.get(key.curve.name, key.curve.name)
        return f"EC {curve} public key"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size} public key (e={key.public_numbers().e})"
    return type(key).__name__


def assert_public_key_equal(actual: bytes, expected) -> None:
    """ACTUAL (SPKI DER or PEM from the backend) is the public half of EXPECTED (a pyca key).

    RSA-PSS SPKIs (id-RSASSA-PSS) compare by modulus and exponent, since pyca loads them
    as plain RSA keys.
    """
    try:
        got = load_public(actual)
    except ValueError as exc:
        raise AssertionError(f"the backend's public key is not a SubjectPublicKeyInfo pyca can load: {exc}") from None
    want = expected.public_key() if hasattr(expected, "public_key") else expected
    if isinstance(want, rsa.RSAPublicKey) and isinstance(got, rsa.RSAPublicKey):
        same = got.public_numbers() == want.public_numbers()
    elif isinstance(want, ec.EllipticCurvePublicKey) and isinstance(got, ec.EllipticCurvePublicKey):
        same = got.curve.name == want.curve.name and got.public_numbers() == want.public_numbers()
    else:
        same = False
    if not same:
        raise AssertionError(
            f"public key mismatch: the backend returned a {describe_public(got)}, "
            f"expected the {describe_public(want)} of the key it was given"
        )


def assert_curve(public_der: bytes, curve: str) -> ec.EllipticCurvePublicKey:
    """PUBLIC_DER is an EC key on CURVE ('P-384'); returns it."""
    key = load_public(public_der)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise AssertionError(f"expected an EC {curve} public key, the backend returned a {describe_public(key)}")
    got = CURVE_BY_NAME.get(key.curve.name, key.curve.name)
    if got != curve:
        raise AssertionError(f"expected a key on {curve}, the backend's key is on {got}")
    return key


def assert_not_private_key(data: bytes) -> None:
    """DATA (whatever a command wrote as a 'key') holds no loadable private key."""
    loaders = (serialization.load_pem_private_key, serialization.load_der_private_key)
    for loader in loaders:
        try:
            loader(data, password=None)
        except (ValueError, TypeError):
            continue
        raise AssertionError(
            f"the output holds a private key that {loader.__name__} can load: key material was exported"
        )


def private_der(key, form: str) -> bytes:
    """DER of a pyca private key: form 'pkcs8', 'sec1' (EC) or 'pkcs1' (RSA)."""
    fmt = {
        "pkcs8": serialization.PrivateFormat.PKCS8,
        "sec1": serialization.PrivateFormat.TraditionalOpenSSL,
        "pkcs1": serialization.PrivateFormat.TraditionalOpenSSL,
    }[form]
    return key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())


# ----------------------------------------------------------------- ECDSA


def verify_ecdsa(public, signature: bytes, data: bytes, digest_name: str, *, prehashed: bool = False) -> None:
    """SIGNATURE is a DER ECDSA signature over DATA (or over the digest DATA) with DIGEST_NAME."""
    key = load_public(public) if isinstance(public, bytes) else public
    try:
        utils.decode_dss_signature(signature)
    except ValueError:
        raise AssertionError(f"the signature ({len(signature)} bytes) is not a DER ECDSA-Sig-Value") from None
    algorithm = utils.Prehashed(hash_algorithm(digest_name)) if prehashed else hash_algorithm(digest_name)
    try:
        key.verify(signature, data, ec.ECDSA(algorithm))
    except InvalidSignature:
        what = "the prehashed digest" if prehashed else f"the message with {canonical_digest(digest_name)}"
        raise AssertionError(f"pyca rejects the ECDSA signature over {what}") from None


def rsa_der_without_crt(private_key) -> bytes:
    """PKCS#1 RSAPrivateKey DER of PRIVATE_KEY's n, e and d with p, q, dP, dQ and qInv zero:
    a key "made from n, e, d alone" (pyca cannot write one, so it is built here)."""

    def element(tag: int, body: bytes) -> bytes:
        length = len(body)
        size = b"" if length < 0x80 else length.to_bytes((length.bit_length() + 7) // 8, "big")
        return bytes([tag]) + (bytes([0x80 | len(size)]) + size if size else bytes([length])) + body

    def integer(value: int) -> bytes:
        return element(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))

    numbers = private_key.private_numbers()
    fields = [0, numbers.public_numbers.n, numbers.public_numbers.e, numbers.d, 0, 0, 0, 0, 0]
    return element(0x30, b"".join(integer(value) for value in fields))


def wrap_for_device(wrapping_public_pem: bytes, private_pkcs8: bytes, *, wrong_kek: bool = False) -> bytes:
    """What a caller does offline to import a key (revision 2026-08): a fresh AES-256 KEK,
    RSA-OAEP(SHA-256, MGF1-SHA-256, empty label) of it under the device's wrapping public
    key, then RFC 5649 AES key wrap with padding of the PKCS#8 private key; KEK ciphertext
    first. WRONG_KEK wraps the key under another KEK than the one sent (a bad blob)."""
    import os

    from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

    public = serialization.load_pem_public_key(wrapping_public_pem)
    sent = os.urandom(32)
    used = os.urandom(32) if wrong_kek else sent
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return public.encrypt(sent, oaep) + aes_key_wrap_with_padding(used, private_pkcs8)


def ecdsa_sign(private_key, data: bytes, digest_name: str, *, prehashed: bool = False) -> bytes:
    algorithm = utils.Prehashed(hash_algorithm(digest_name)) if prehashed else hash_algorithm(digest_name)
    return private_key.sign(data, ec.ECDSA(algorithm))


# ----------------------------------------------------------------- RSA signatures


def pss_salt_length(spec: str | int, key_bits: int, digest_name: str) -> int:
    """The salt length an rsa_pss_saltlen value means for signing: digest, max or an integer."""
    if isinstance(spec, int) or str(spec).lstrip("-").isdigit():
        return int(spec)
    if spec == "digest":
        return digest_size(digest_name)
    if spec == "max":
        return (key_bits + 7) // 8 - digest_size(digest_name) - 2
    raise ValueError(f"salt length {spec!r} has no single value for signing")


def rsa_pkcs1_sign(private_key, data: bytes, digest_name: str, *, prehashed: bool = False) -> bytes:
    """pyca's PKCS#1 v1.5 signature (deterministic: the byte-exact reference)."""
    algorithm = utils.Prehashed(hash_algorithm(digest_name)) if prehashed else hash_algorithm(digest_name)
    return private_key.sign(data, padding.PKCS1v15(), algorithm)


def rsa_pss_sign(private_key, data: bytes, digest_name: str, salt_length: int, mgf1_digest: str | None = None) -> bytes:
    mgf = padding.MGF1(hash_algorithm(mgf1_digest or digest_name))
    return private_key.sign(data, padding.PSS(mgf=mgf, salt_length=salt_length), hash_algorithm(digest_name))


def assert_rsa_pkcs1_signature(
    expected_private_key, signature: bytes, data: bytes, digest_name: str, *, prehashed: bool = False
) -> None:
    """SIGNATURE is byte for byte pyca's PKCS#1 v1.5 signature of DATA."""
    expected = rsa_pkcs1_sign(expected_private_key, data, digest_name, prehashed=prehashed)
    if signature != expected:
        found = describe_rsa_signature(expected_private_key.public_key(), signature)
        raise AssertionError(
            f"the signature differs from pyca's PKCS#1 v1.5 {canonical_digest(digest_name)} signature; "
            f"it looks like {found}"
        )


def verify_rsa_pss(
    public,
    signature: bytes,
    data: bytes,
    digest_name: str,
    salt_length: int,
    mgf1_digest: str | None = None,
    *,
    prehashed: bool = False,
) -> None:
    """SIGNATURE is a PSS signature with exactly SALT_LENGTH, DIGEST_NAME and MGF1_DIGEST."""
    key = load_public(public) if isinstance(public, bytes) else public
    mgf1 = mgf1_digest or digest_name
    algorithm = utils.Prehashed(hash_algorithm(digest_name)) if prehashed else hash_algorithm(digest_name)
    pss = padding.PSS(mgf=padding.MGF1(hash_algorithm(mgf1)), salt_length=salt_length)
    try:
        key.verify(signature, data, pss, algorithm)
    except InvalidSignature:
        found = describe_rsa_signature(key, signature, digest_name=digest_name, mgf1_digest=mgf1)
        raise AssertionError(
            f"pyca rejects the signature as PSS with {canonical_digest(digest_name)}, "
            f"MGF1-{canonical_digest(mgf1)}, salt length {salt_length}; it looks like {found}"
        ) from None


_DIGEST_INFO_PREFIX = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


def describe_rsa_signature(
    public, signature: bytes, digest_name: str | None = None, mgf1_digest: str | None = None
) -> str:
    """What an RSA signature is, told from its encoded message (for failure messages only).

    Opens the signature with the public key and recognises a PKCS#1 v1.5 DigestInfo or a
    PSS encoding (recovering the salt length when the digests are known).
    """
    numbers = public.public_numbers()
    k = (public.key_size + 7) // 8
    if len(signature) != k:
        return f"no RSA-{public.key_size} signature ({len(signature)} bytes, expected {k})"
    em = pow(int.from_bytes(signature, "big"), numbers.e, numbers.n).to_bytes(k, "big")
    if em.startswith(b"\x00\x01\xff"):
        body = em[2:].lstrip(b"\xff")
        if body[:1] == b"\x00":
            for name, prefix in _DIGEST_INFO_PREFIX.items():
                if body[1:].startswith(prefix):
                    return f"a PKCS#1 v1.5 signature with {name}"
            return "a PKCS#1 v1.5 signature with an unknown DigestInfo"
    if em.endswith(b"\xbc"):
        if digest_name:
            salt = _pss_salt_from_em(em, public.key_size, digest_name, mgf1_digest or digest_name)
            if salt is not None:
                return f"a PSS signature (MGF1-{canonical_digest(mgf1_digest or digest_name)}) with salt length {salt}"
        return "a PSS-encoded signature with other digest parameters"
    return "neither a PKCS#1 v1.5 nor a PSS encoding (wrong key or corrupt signature)"


def _mgf1(seed: bytes, length: int, digest_name: str) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.new(canonical_digest(digest_name), seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def _pss_salt_from_em(em: bytes, key_bits: int, digest_name: str, mgf1_digest: str) -> int | None:
    em_bits = key_bits - 1
    em_len = (em_bits + 7) // 8
    em = em[-em_len:]
    h_len = digest_size(digest_name)
    if em_len < h_len + 2:
        return None
    masked_db, h = em[: em_len - h_len - 1], em[em_len - h_len - 1 : -1]
    db = bytes(a ^ b for a, b in zip(masked_db, _mgf1(h, len(masked_db), mgf1_digest)))
    db = bytes([db[0] & (0xFF >> (8 * em_len - em_bits))]) + db[1:]
    separator = db.find(b"\x01")
    if separator < 0 or db[:separator].strip(b"\x00"):
        return None
    return len(db) - separator - 1


# ----------------------------------------------------------------- RSA encryption


def _oaep(digest_name: str, mgf1_digest: str | None, label: bytes) -> padding.OAEP:
    return padding.OAEP(
        mgf=padding.MGF1(hash_algorithm(mgf1_digest or digest_name)),
        algorithm=hash_algorithm(digest_name),
        label=label or None,
    )


def oaep_encrypt(
    public, plaintext: bytes, digest_name: str, mgf1_digest: str | None = None, label: bytes = b""
) -> bytes:
    key = load_public(public) if isinstance(public, bytes) else public
    return key.encrypt(plaintext, _oaep(digest_name, mgf1_digest, label))


def pkcs1_encrypt(public, plaintext: bytes) -> bytes:
    key = load_public(public) if isinstance(public, bytes) else public
    return key.encrypt(plaintext, padding.PKCS1v15())


def assert_oaep_decrypts(
    private_key,
    ciphertext: bytes,
    expected: bytes,
    digest_name: str,
    mgf1_digest: str | None = None,
    label: bytes = b"",
) -> None:
    """pyca decrypts CIPHERTEXT (made by the backend) under exactly these OAEP parameters to EXPECTED."""
    try:
        plaintext = private_key.decrypt(ciphertext, _oaep(digest_name, mgf1_digest, label))
    except ValueError:
        detail = f" and label {label!r}" if label else " and an empty label"
        raise AssertionError(
            f"pyca cannot decrypt the backend's ciphertext as OAEP-{canonical_digest(digest_name)} "
            f"(MGF1-{canonical_digest(mgf1_digest or digest_name)}){detail}"
        ) from None
    if plaintext != expected:
        raise AssertionError(
            f"the ciphertext decrypts to {len(plaintext)} other bytes, not the {len(expected)}-byte plaintext"
        )


def assert_pkcs1_decrypts(private_key, ciphertext: bytes, expected: bytes) -> None:
    try:
        plaintext = private_key.decrypt(ciphertext, padding.PKCS1v15())
    except ValueError:
        raise AssertionError("pyca cannot decrypt the backend's ciphertext as PKCS#1 v1.5") from None
    if plaintext != expected:
        raise AssertionError(
            f"the ciphertext decrypts to {len(plaintext)} other bytes, not the {len(expected)}-byte plaintext"
        )


def max_plaintext(key_bits: int, padding_name: str, digest_name: str = "sha256") -> int:
    k = (key_bits + 7) // 8
    if padding_name == "pkcs1":
        return k - 11
    return k - 2 * digest_size(digest_name) - 2


# ----------------------------------------------------------------- ECDH -> HKDF/KBKDF -> HMAC


def ecdh_shared_secret(private_key, peer_public) -> bytes:
    peer = load_public(peer_public) if isinstance(peer_public, bytes) else peer_public
    return private_key.exchange(ec.ECDH(), peer)


def hkdf(ikm: bytes, digest_name: str, length: int, salt: bytes = b"", info: bytes = b"") -> bytes:
    """RFC 5869 extract-and-expand (an empty salt means a zero-filled salt, as the RFC says)."""
    return HKDF(algorithm=hash_algorithm(digest_name), length=length, salt=salt or None, info=info).derive(ikm)


def hmac(key: bytes, digest_name: str, data: bytes) -> bytes:
    return _hmac.new(key, data, canonical_digest(digest_name)).digest()


def kbkdf_counter(key: bytes, digest_name: str, fixed_input: bytes, length: int) -> bytes:
    """NIST SP 800-108 counter mode with an HMAC PRF and a 32-bit counter before the fixed
    input: K(i) = HMAC(key, [i]32 || fixed_input), i from 1. Written out here (not pyca's
    KBKDFHMAC, which the reference uses) so the check does not share the code it checks;
    tests/conformance/test_oracle.py holds it to the NIST CAVP vectors."""
    out = b""
    counter = 1
    while len(out) < length:
        out += hmac(key, digest_name, counter.to_bytes(4, "big") + fixed_input)
        counter += 1
    return out[:length]


def kbkdf(ikm: bytes, digest_name: str, length: int, label: bytes = b"", context: bytes = b"", *, separator=True):
    """KBKDF with OpenSSL's fixed input: Label || 0x00 || Context || [L]32 (L in bits); without
    SEPARATOR the 0x00 is left out (what upstream's firmware emulator does without a context)."""
    fixed = label + (b"\x00" if separator else b"") + context + (length * 8).to_bytes(4, "big")
    return kbkdf_counter(ikm, digest_name, fixed, length)


def software_chain(
    secret: bytes,
    digest_name: str,
    data: bytes,
    *,
    salt: bytes = b"",
    info: bytes = b"",
    key_bits: int | None = None,
    kdf: str = "HKDF",
    separator: bool = True,
) -> bytes:
    """The tag of DATA under an HMAC key derived from SECRET: what ECDH -> KDF(hmac) -> HMAC
    gives, with KDF HKDF (salt, info) or KBKDF (salt = label, info = context)."""
    length = (key_bits or digest_size(digest_name) * 8) // 8
    if kdf == "KBKDF":
        key = kbkdf(secret, digest_name, length, salt, info, separator=separator)
    else:
        key = hkdf(secret, digest_name, length, salt, info)
    return hmac(key, digest_name, data)


def assert_tag(actual: bytes, expected: bytes, what: str) -> None:
    if actual != expected:
        raise AssertionError(
            f"{what}: the backend's tag {actual.hex()[:32]}... ({len(actual)} bytes) differs from "
            f"the software chain's {expected.hex()[:32]}... ({len(expected)} bytes)"
        )


# ----------------------------------------------------------------- certificates


def load_certificate(pem_or_der: bytes):
    from cryptography import x509

    if pem_or_der.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(pem_or_der)
    return x509.load_der_x509_certificate(pem_or_der)


def assert_self_signed_certificate(pem_or_der: bytes, expected_key) -> None:
    """A certificate for EXPECTED_KEY's public half whose signature verifies under it."""
    try:
        certificate = load_certificate(pem_or_der)
    except ValueError as exc:
        raise AssertionError(f"the output is not an X.509 certificate pyca can load: {exc}") from None
    assert_public_key_equal(spki_der(certificate.public_key()), expected_key)
    try:
        certificate.verify_directly_issued_by(certificate)
    except (InvalidSignature, ValueError, TypeError) as exc:
        algorithm = certificate.signature_algorithm_oid._name
        raise AssertionError(
            f"pyca rejects the certificate's self-signature ({algorithm}): {exc or type(exc).__name__}"
        ) from None


def assert_csr_signed(pem_or_der: bytes, public) -> None:
    """A certificate request for PUBLIC whose self-signature pyca accepts."""
    from cryptography import x509

    try:
        loader = x509.load_pem_x509_csr if pem_or_der.lstrip().startswith(b"-----BEGIN") else x509.load_der_x509_csr
        request = loader(pem_or_der)
    except ValueError as exc:
        raise AssertionError(f"the output is not a certificate request pyca can load: {exc}") from None
    assert spki_der(request.public_key()) == spki_der(public), "the request carries another public key"
    if not request.is_signature_valid:
        raise AssertionError(f"pyca rejects the request's signature ({request.signature_algorithm_oid._name})")


# ----------------------------------------------------------------- AES


def aes_cbc(key: bytes, iv: bytes, data: bytes, *, encrypt: bool, pad: bool = True) -> bytes:
    """AES-CBC in pyca, PKCS#7 padding unless PAD is off."""
    from cryptography.hazmat.primitives import padding as pkcs7
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    if encrypt:
        if pad:
            padder = pkcs7.PKCS7(128).padder()
            data = padder.update(data) + padder.finalize()
        context = cipher.encryptor()
        return context.update(data) + context.finalize()
    context = cipher.decryptor()
    plain = context.update(data) + context.finalize()
    if not pad:
        return plain
    unpadder = pkcs7.PKCS7(128).unpadder()
    return unpadder.update(plain) + unpadder.finalize()


def aes_gcm(key: bytes, iv: bytes, data: bytes, aad: bytes, *, encrypt: bool, tag: bytes | None = None):
    """AES-GCM in pyca: (ciphertext, tag) when encrypting, the plaintext when decrypting."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if encrypt:
        sealed = AESGCM(key).encrypt(iv, data, aad or None)
        return sealed[:-16], sealed[-16:]
    return AESGCM(key).decrypt(iv, data + tag, aad or None)
