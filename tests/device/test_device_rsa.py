"""RSA signatures (PKCS#1 v1.5 and PSS) and encryption (OAEP and PKCS#1 v1.5), every result
checked with pyca/cryptography and the private keys the test holds."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from device_checks import der_private
from hypothesis import given, settings
from hypothesis import strategies as st

from azihsm_conformance.reference.device import HsmError, Reason, SignScheme

DIGESTS = ["sha1", "sha256", "sha384", "sha512"]
PYCA = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
MESSAGE = b"attack at dawn " * 11


@pytest.fixture(scope="module")
def sess(device):
    s = device.open_session()
    yield s
    s.close()


@pytest.fixture(scope="module")
def signer(sess, rsa_keys):
    """(device key, software key) for RSA-2048 digitalSignature."""
    soft = rsa_keys[2048]
    return sess.import_private_key(der_private(soft, "pkcs8"), algorithm="RSA"), soft


@pytest.fixture(scope="module")
def pss_signer(sess, rsa_keys):
    soft = rsa_keys[3072]
    return sess.import_private_key(der_private(soft, "traditional"), algorithm="RSA-PSS"), soft


@pytest.fixture(scope="module")
def decrypter(sess, rsa_keys):
    soft = rsa_keys[2048]
    return sess.import_private_key(der_private(soft, "pkcs8"), algorithm="RSA", usage="keyEncipherment"), soft


def sign(sess, key, digest_name, mode, **scheme):
    """Sign MESSAGE one-shot, pre-hashed or streaming."""
    if mode == "oneshot":
        return sess.sign(key, MESSAGE, SignScheme(digest=digest_name, **scheme))
    if mode == "prehashed":
        return sess.sign(
            key, hashlib.new(digest_name, MESSAGE).digest(), SignScheme(digest=digest_name, prehashed=True, **scheme)
        )
    stream = sess.sign_stream(key, SignScheme(digest=digest_name, **scheme))
    stream.update(MESSAGE[:7])
    stream.update(MESSAGE[7:])
    return stream.sign()


MODES = ["oneshot", "prehashed", "stream"]
PKCS1_CASES = [(d, m) for d in DIGESTS for m in MODES]


@pytest.mark.parametrize("digest_name,mode", PKCS1_CASES, ids=[f"pkcs1-RSA2048-{d}-{m}" for d, m in PKCS1_CASES])
def test_pkcs1_signature_equals_pyca_byte_for_byte(sess, signer, digest_name, mode):
    key, soft = signer
    sig = sign(sess, key, digest_name, mode, algorithm="pkcs1")
    assert sig == soft.sign(MESSAGE, padding.PKCS1v15(), PYCA[digest_name]())
    assert sess.verify(key, MESSAGE, sig, SignScheme("pkcs1", digest_name))
    assert not sess.verify(key, MESSAGE, sig, SignScheme("pss", digest_name))


def expected_salt(salt, digest_name, bits):
    """The salt length a PSS signature must carry, computed from the definitions."""
    if salt == "digest":
        return SIZES[digest_name]
    if salt in ("max", "auto"):  # auto means max when signing
        return (bits + 6) // 8 - SIZES[digest_name] - 2
    return salt


PSS_CASES = [
    (d, salt, mgf1, mode)
    for d in DIGESTS
    for salt in ("digest", "max", "auto", 0, 17)
    for mgf1 in (None, "sha1", "sha512")
    for mode in ("oneshot", "stream")
    if not (mgf1 and mode == "stream" and salt != "digest")
]


@pytest.mark.parametrize(
    "digest_name,salt,mgf1,mode",
    PSS_CASES,
    ids=[f"pss-RSA3072-{d}-salt_{s}-mgf1_{m or 'same'}-{mode}" for d, s, m, mode in PSS_CASES],
)
def test_pss_signature_verifies_under_exactly_the_requested_parameters(sess, pss_signer, digest_name, salt, mgf1, mode):
    key, soft = pss_signer
    sig = sign(sess, key, digest_name, mode, algorithm="pss", salt_length=salt, mgf1_digest=mgf1)
    mgf1_name = mgf1 or digest_name
    salt_len = expected_salt(salt, digest_name, key.bits)
    public = soft.public_key()
    public.verify(
        sig, MESSAGE, padding.PSS(mgf=padding.MGF1(PYCA[mgf1_name]()), salt_length=salt_len), PYCA[digest_name]()
    )
    with pytest.raises(InvalidSignature):  # exactly that salt length, not another one
        public.verify(
            sig,
            MESSAGE,
            padding.PSS(mgf=padding.MGF1(PYCA[mgf1_name]()), salt_length=salt_len + 1),
            PYCA[digest_name](),
        )
    other_mgf1 = "sha256" if mgf1_name != "sha256" else "sha384"
    with pytest.raises(InvalidSignature):  # exactly that MGF1 digest
        public.verify(
            sig,
            MESSAGE,
            padding.PSS(mgf=padding.MGF1(PYCA[other_mgf1]()), salt_length=padding.PSS.AUTO),
            PYCA[digest_name](),
        )
    assert sess.verify(key, MESSAGE, sig, SignScheme("pss", digest_name, salt_length="auto", mgf1_digest=mgf1))
    assert sess.verify(key, MESSAGE, sig, SignScheme("pss", digest_name, salt_length=salt_len, mgf1_digest=mgf1))


@pytest.mark.parametrize("salt", ["digest", "max", 0, 32])
def test_pss_verify_of_software_signatures(sess, signer, salt):
    key, soft = signer
    salt_len = expected_salt(salt, "sha256", 2048)
    sig = soft.sign(MESSAGE, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt_len), hashes.SHA256())
    assert sess.verify(key, MESSAGE, sig, SignScheme("pss", "sha256", salt_length=salt))
    assert sess.verify(key, MESSAGE, sig, SignScheme("pss", "sha256", salt_length="auto"))
    assert not sess.verify(key, MESSAGE, sig, SignScheme("pss", "sha256", salt_length=salt_len + 1))


def test_pss_prehashed_sign(sess, signer):
    key, soft = signer
    md = hashlib.sha384(MESSAGE).digest()
    sig = sess.sign(key, md, SignScheme("pss", prehashed=True))
    soft.public_key().verify(
        sig, md, padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48), Prehashed(hashes.SHA384())
    )


def test_rsa_default_digest_is_sha256(sess, signer):
    key, soft = signer
    sig = sess.sign(key, MESSAGE, SignScheme("pkcs1"))
    assert sig == soft.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256())


def test_rsa_pss_key_refuses_pkcs1(sess, pss_signer):
    key, _soft = pss_signer
    with pytest.raises(HsmError) as info:
        sess.sign(key, MESSAGE, SignScheme("pkcs1"))
    assert info.value.reason is Reason.UNSUPPORTED_PADDING
    assert "PSS" in str(info.value)


def test_salt_too_large_for_the_key(sess, signer):
    key, _soft = signer
    with pytest.raises(HsmError) as info:
        sess.sign(key, MESSAGE, SignScheme("pss", "sha512", salt_length=200))
    assert info.value.reason is Reason.INVALID_SALT_LENGTH


@pytest.mark.parametrize("salt", [-1, "longest", 1.5, True])
def test_invalid_salt_length(sess, signer, salt):
    key, _soft = signer
    with pytest.raises(HsmError) as info:
        sess.sign(key, MESSAGE, SignScheme("pss", "sha256", salt_length=salt))
    assert info.value.reason is Reason.INVALID_SALT_LENGTH


def test_malformed_rsa_signature_verifies_false(sess, signer):
    key, _soft = signer
    assert sess.verify(key, MESSAGE, b"\x00" * 3, SignScheme("pkcs1")) is False
    assert sess.verify(key, MESSAGE, b"\xff" * 256, SignScheme("pss")) is False


def test_key_encipherment_key_cannot_sign_or_verify(sess, decrypter):
    key, _soft = decrypter
    for call in (
        lambda: sess.sign(key, MESSAGE, SignScheme("pkcs1")),
        lambda: sess.verify(key, MESSAGE, b"x", SignScheme("pkcs1")),
    ):
        with pytest.raises(HsmError) as info:
            call()
        assert info.value.reason is Reason.USAGE_NOT_ALLOWED
        assert "keyEncipherment" in str(info.value)


# ---- encryption ----------------------------------------------------------------------------

OAEP_DIGESTS = ["sha256", "sha384", "sha512"]


def pyca_oaep(digest_name, label):
    return padding.OAEP(mgf=padding.MGF1(PYCA[digest_name]()), algorithm=PYCA[digest_name](), label=label or None)


@pytest.mark.parametrize("label", [b"", b"context label"], ids=["nolabel", "label"])
@pytest.mark.parametrize("digest_name", OAEP_DIGESTS)
def test_oaep_round_trips_both_ways(sess, decrypter, digest_name, label):
    key, soft = decrypter
    ct = sess.encrypt(key, b"session key bytes", digest=digest_name, label=label)
    assert soft.decrypt(ct, pyca_oaep(digest_name, label)) == b"session key bytes"
    ct2 = soft.public_key().encrypt(b"from software", pyca_oaep(digest_name, label))
    assert sess.decrypt(key, ct2, digest=digest_name, label=label, mgf1_digest=digest_name) == b"from software"


def test_oaep_label_is_honoured(sess, decrypter):
    key, soft = decrypter
    ct = soft.public_key().encrypt(b"labelled", pyca_oaep("sha256", b"right"))
    with pytest.raises(HsmError) as info:
        sess.decrypt(key, ct, label=b"wrong")
    assert info.value.reason is Reason.DECRYPT_FAILED
    with pytest.raises(HsmError):
        sess.decrypt(key, ct)


def test_pkcs1_encryption_round_trips_both_ways(sess, decrypter):
    key, soft = decrypter
    ct = sess.encrypt(key, b"v1.5", padding="pkcs1")
    assert soft.decrypt(ct, padding.PKCS1v15()) == b"v1.5"
    ct2 = soft.public_key().encrypt(b"legacy", padding.PKCS1v15())
    assert sess.decrypt(key, ct2, padding="pkcs1") == b"legacy"


def _raw_rsa_encrypt(soft, em: bytes) -> bytes:
    """Encrypt an arbitrary encoded message, so the test controls the padding bytes."""
    pub = soft.public_key().public_numbers()
    return pow(int.from_bytes(em, "big"), pub.e, pub.n).to_bytes(256, "big")


@pytest.mark.parametrize(
    "em",
    [
        b"\x00\x01" + b"\xff" * 8 + b"\x00" + b"m" * 245,  # block type 1 (signature padding)
        b"\x00\x02" + b"\x11" * 7 + b"\x00" + b"m" * 246,  # padding string shorter than 8
        b"\x00\x02" + b"\x11" * 254,  # no zero separator
        b"\x01\x02" + b"\x11" * 8 + b"\x00" + b"m" * 245,  # leading byte not zero
    ],
    ids=["block-type-1", "short-padding", "no-separator", "leading-byte"],
)
def test_pkcs1_decryption_refuses_bad_padding(sess, decrypter, em):
    key, soft = decrypter
    with pytest.raises(HsmError) as info:
        sess.decrypt(key, _raw_rsa_encrypt(soft, em), padding="pkcs1")
    assert info.value.reason is Reason.DECRYPT_FAILED


def test_pkcs1_decryption_accepts_minimal_padding(sess, decrypter):
    key, soft = decrypter
    em = b"\x00\x02" + b"\x11" * 8 + b"\x00" + b"m" * 245
    assert sess.decrypt(key, _raw_rsa_encrypt(soft, em), padding="pkcs1") == b"m" * 245


def test_oaep_sha1_is_refused_with_a_message_saying_so(sess, decrypter):
    key, _soft = decrypter
    with pytest.raises(HsmError) as info:
        sess.encrypt(key, b"x", digest="SHA1")
    assert info.value.reason is Reason.UNSUPPORTED_DIGEST
    assert "SHA1" in str(info.value) and "SHA256" in str(info.value)


def test_mgf1_digest_must_equal_the_oaep_digest(sess, decrypter):
    key, _soft = decrypter
    with pytest.raises(HsmError) as info:
        sess.encrypt(key, b"x", digest="sha256", mgf1_digest="sha384")
    assert info.value.reason is Reason.DIGEST_MISMATCH


@pytest.mark.parametrize("pad,limit", [("oaep", 256 - 2 * 32 - 2), ("pkcs1", 256 - 11)])
def test_plaintext_limits(sess, decrypter, pad, limit):
    key, soft = decrypter
    ct = sess.encrypt(key, b"a" * limit, padding=pad)
    assert len(ct) == 256
    with pytest.raises(HsmError) as info:
        sess.encrypt(key, b"a" * (limit + 1), padding=pad)
    assert info.value.reason is Reason.DATA_TOO_LARGE
    assert str(limit) in str(info.value)


def test_unknown_padding(sess, decrypter):
    key, _soft = decrypter
    with pytest.raises(HsmError) as info:
        sess.encrypt(key, b"x", padding="raw")
    assert info.value.reason is Reason.UNSUPPORTED_PADDING


def test_damaged_ciphertext(sess, decrypter):
    key, _soft = decrypter
    ct = bytearray(sess.encrypt(key, b"x"))
    ct[10] ^= 1
    with pytest.raises(HsmError) as info:
        sess.decrypt(key, bytes(ct))
    assert info.value.reason is Reason.DECRYPT_FAILED
    with pytest.raises(HsmError) as info:
        sess.decrypt(key, bytes(ct[:-1]))
    assert info.value.reason is Reason.DECRYPT_FAILED


def test_signature_key_cannot_encrypt_and_the_message_says_why(sess, signer):
    key, _soft = signer
    with pytest.raises(HsmError) as info:
        sess.encrypt(key, b"x")
    assert info.value.reason is Reason.USAGE_NOT_ALLOWED
    assert "digitalSignature" in str(info.value) and "encrypt" in str(info.value)


def test_rsa_pss_key_cannot_encrypt(sess, rsa_keys):
    key = sess.import_private_key(der_private(rsa_keys[2048], "pkcs8"), algorithm="RSA-PSS", usage="keyEncipherment")
    with pytest.raises(HsmError) as info:
        sess.encrypt(key, b"x")
    assert info.value.reason is Reason.WRONG_KEY_KIND


def test_public_only_key_encrypts_for_the_device_key(sess, decrypter):
    key, soft = decrypter
    public = sess.public_key(key.public_der)
    ct = sess.encrypt(public, b"to the hsm", digest="sha512")
    assert sess.decrypt(key, ct, digest="sha512") == b"to the hsm"
    with pytest.raises(HsmError) as info:
        sess.decrypt(public, ct, digest="sha512")
    assert info.value.reason is Reason.NO_PRIVATE_KEY


@settings(max_examples=25, deadline=None)
@given(plaintext=st.binary(max_size=190), label=st.binary(max_size=40), digest_name=st.sampled_from(OAEP_DIGESTS))
def test_property_oaep_decrypts_what_software_encrypts(sess, decrypter, plaintext, label, digest_name):
    key, soft = decrypter
    limit = 256 - 2 * SIZES[digest_name] - 2
    plaintext = plaintext[:limit]
    ct = soft.public_key().encrypt(plaintext, pyca_oaep(digest_name, label))
    assert sess.decrypt(key, ct, digest=digest_name, label=label) == plaintext


@settings(max_examples=25, deadline=None)
@given(
    message=st.binary(max_size=500),
    digest_name=st.sampled_from(DIGESTS),
    salt=st.one_of(st.sampled_from(["digest", "max", "auto"]), st.integers(0, 64)),
)
def test_property_pss_signatures_verify_in_software(sess, signer, message, digest_name, salt):
    key, soft = signer
    sig = sess.sign(key, message, SignScheme("pss", digest_name, salt_length=salt))
    soft.public_key().verify(
        sig,
        message,
        padding.PSS(mgf=padding.MGF1(PYCA[digest_name]()), salt_length=expected_salt(salt, digest_name, 2048)),
        PYCA[digest_name](),
    )


def test_plain_form_factor_recovery_matches_pyca_and_refuses_a_wrong_exponent():
    """The device recovers p and q of a plain-form key itself (faster than pyca's
    rsa_recover_prime_factors); it must find the same factors, and refuse a bad d quickly."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from azihsm_conformance.reference.device.session import _recover_factors

    numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_numbers()
    n, e, d = numbers.public_numbers.n, numbers.public_numbers.e, numbers.d
    assert _recover_factors(n, e, d) == rsa.rsa_recover_prime_factors(n, e, d)
    with pytest.raises(ValueError, match="do not form an RSA key"):
        _recover_factors(n, e, d + 2)
