"""The oracle is itself checked against published vectors, and its checks must fail on
wrong input (a check that cannot fail checks nothing)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from azihsm_conformance.conformance import oracle
from azihsm_conformance.fixtures import loaders

WYCHEPROOF = loaders.DEFAULT_WYCHEPROOF_ROOT


@pytest.fixture(scope="module")
def rsa_key():
    return serialization.load_der_private_key(
        (loaders.Path(__file__).parents[2] / "fixtures/keys/rsa-2048.pkcs8.der").read_bytes(), None
    )


def wycheproof(family: str, limit: int = 40):
    try:
        files = loaders.wycheproof_files(WYCHEPROOF, family)
    except loaders.VectorsAbsent as exc:
        pytest.skip(str(exc))
    return [case for path in files[:2] for case in loaders.load_wycheproof(path)[:limit]]


@pytest.mark.parametrize("vector", loaders.rfc5869_vectors(), ids=lambda v: v.source)
def test_hkdf_matches_rfc5869(vector):
    assert oracle.hkdf(vector.ikm, "sha256", vector.length, vector.salt, vector.info) == vector.okm


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha384", "sha512"])
def test_kbkdf_matches_nist_sp800_108(digest):
    vectors = loaders.nist_kbkdf_vectors(digest)
    assert len(vectors) == 40
    for vector in vectors:
        assert oracle.kbkdf_counter(vector.key, digest, vector.fixed_input, vector.length) == vector.output, (
            vector.source
        )


def test_kbkdf_fixed_input_is_openssls():
    """Label || 0x00 || Context || [L]32, as OpenSSL's KBKDF and pyca's KBKDFHMAC build it;
    without the separator the output differs."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode

    for label, context in ((b"label", b""), (b"", b"context"), (b"label", b"context")):
        expected = KBKDFHMAC(
            hashes.SHA384(), Mode.CounterMode, 48, 4, 4, CounterLocation.BeforeFixed, label, context, None
        ).derive(b"k" * 48)
        assert oracle.kbkdf(b"k" * 48, "sha384", 48, label, context) == expected
        assert oracle.kbkdf(b"k" * 48, "sha384", 48, label, context, separator=False) != expected


@pytest.mark.parametrize("digest", ["sha256", "sha384", "sha512"])
def test_hmac_matches_rfc4231(digest):
    vectors = loaders.rfc4231_vectors(digest)
    assert vectors
    for vector in vectors:
        assert oracle.hmac(vector.key, digest, vector.message) == vector.tag, vector.source


def test_hkdf_and_hmac_match_wycheproof():
    for case in wycheproof("hkdf"):
        if case.result == "valid":
            digest = case.file.split("_")[1]
            assert oracle.hkdf(
                case.hex("ikm"), digest, case.test["size"], case.hex("salt"), case.hex("info")
            ) == case.hex("okm")
    for case in wycheproof("hmac"):
        digest = case.file.split("_")[1]
        tag = oracle.hmac(case.hex("key"), digest, case.hex("msg"))[: len(case.hex("tag"))]
        assert (tag == case.hex("tag")) == (case.result == "valid"), case.id


def test_digest_names_and_nist_vectors():
    for name in ("SHA2-384", "sha-384", "SHA384", "sha384"):
        assert oracle.canonical_digest(name) == "sha384"
    with pytest.raises(ValueError, match="unknown digest"):
        oracle.canonical_digest("MD5")
    for vector in loaders.nist_sha_vectors("sha1", "ShortMsg")[:10]:
        assert oracle.digest("SHA-1", vector.message) == vector.digest


def test_ecdsa_verification_agrees_with_wycheproof():
    for case in wycheproof("ecdsa"):
        if case.result == "acceptable":
            continue
        public = case.hex("publicKeyDer")
        if case.result == "valid":
            oracle.verify_ecdsa(public, case.hex("sig"), case.hex("msg"), case.group["sha"])
        else:
            with pytest.raises(AssertionError):
                oracle.verify_ecdsa(public, case.hex("sig"), case.hex("msg"), case.group["sha"])


def test_ecdsa_prehashed_and_wrong_digest():
    key = ec.generate_private_key(ec.SECP384R1())
    digest = oracle.digest("sha512", b"message")
    signature = oracle.ecdsa_sign(key, digest, "sha512", prehashed=True)
    oracle.verify_ecdsa(key.public_key(), signature, b"message", "sha512")
    with pytest.raises(AssertionError, match="rejects"):
        oracle.verify_ecdsa(key.public_key(), signature, b"message", "sha256")
    with pytest.raises(AssertionError, match="not a DER"):
        oracle.verify_ecdsa(key.public_key(), b"\x01" * 96, b"message", "sha512")


def test_pkcs1_byte_exact_against_wycheproof_sig_gen():
    for case in wycheproof("rsa_pkcs1_sig_gen", limit=12):
        if case.result != "valid" or oracle.DIGEST_ALIASES.get(case.group["sha"]) is None:
            continue
        private = serialization.load_der_private_key(case.hex("privateKeyPkcs8"), None)
        oracle.assert_rsa_pkcs1_signature(private, case.hex("sig"), case.hex("msg"), case.group["sha"])


def test_pss_checks_pin_the_salt_length(rsa_key):
    message = b"pss message"
    signature = oracle.rsa_pss_sign(rsa_key, message, "sha256", 0, "sha512")
    oracle.verify_rsa_pss(rsa_key.public_key(), signature, message, "sha256", 0, "sha512")
    with pytest.raises(AssertionError, match="salt length 0"):
        oracle.verify_rsa_pss(rsa_key.public_key(), signature, message, "sha256", 32, "sha512")
    # a PKCS#1 v1.5 signature offered as PSS is named as such in the failure
    pkcs1 = oracle.rsa_pkcs1_sign(rsa_key, message, "sha384")
    with pytest.raises(AssertionError, match="PKCS#1 v1.5 signature with sha384"):
        oracle.verify_rsa_pss(rsa_key.public_key(), pkcs1, message, "sha384", 48)
    with pytest.raises(AssertionError, match="differs from pyca's PKCS#1"):
        oracle.assert_rsa_pkcs1_signature(rsa_key, signature, message, "sha256")


def test_pss_salt_lengths(rsa_key):
    assert oracle.pss_salt_length("digest", 2048, "sha384") == 48
    assert oracle.pss_salt_length("max", 2048, "sha256") == 256 - 32 - 2
    assert oracle.pss_salt_length("17", 2048, "sha256") == 17
    with pytest.raises(ValueError):
        oracle.pss_salt_length("auto", 2048, "sha256")
    signature = oracle.rsa_pss_sign(rsa_key, b"m", "sha256", 222)
    assert "salt length 222" in oracle.describe_rsa_signature(rsa_key.public_key(), signature, "sha256")


def test_oaep_and_pkcs1_decryption_checks(rsa_key):
    public = rsa_key.public_key()
    ciphertext = oracle.oaep_encrypt(public, b"secret", "sha384", label=b"L")
    oracle.assert_oaep_decrypts(rsa_key, ciphertext, b"secret", "sha384", label=b"L")
    with pytest.raises(AssertionError, match="label"):
        oracle.assert_oaep_decrypts(rsa_key, ciphertext, b"secret", "sha384")
    with pytest.raises(AssertionError, match="other bytes"):
        oracle.assert_oaep_decrypts(rsa_key, ciphertext, b"secreT", "sha384", label=b"L")
    oracle.assert_pkcs1_decrypts(rsa_key, oracle.pkcs1_encrypt(public, b"x"), b"x")
    with pytest.raises(AssertionError):
        oracle.assert_pkcs1_decrypts(rsa_key, ciphertext, b"secret")
    assert oracle.max_plaintext(2048, "oaep", "sha256") == 190
    assert oracle.max_plaintext(4096, "pkcs1") == 501


def test_oaep_decryption_agrees_with_wycheproof():
    for case in wycheproof("rsa_oaep", limit=10):
        if case.result != "valid":
            continue
        private = serialization.load_der_private_key(case.hex("privateKeyPkcs8"), None)
        oracle.assert_oaep_decrypts(
            private, case.hex("ct"), case.hex("msg"), case.group["sha"], case.group["mgfSha"], case.hex("label")
        )


def test_ecdh_and_chain_agree_with_wycheproof():
    for case in wycheproof("ecdh", limit=15):
        if case.result != "valid":
            continue
        curve = oracle.CURVES[oracle.CURVE_BY_NAME[case.group["curve"]]]()
        private = ec.derive_private_key(int.from_bytes(case.hex("private"), "big"), curve)
        assert oracle.ecdh_shared_secret(private, case.hex("public")) == case.hex("shared")
    secret = bytes(range(32))
    key = oracle.hkdf(secret, "sha384", 48, b"s", b"i")
    assert oracle.software_chain(secret, "sha384", b"data", salt=b"s", info=b"i") == oracle.hmac(key, "sha384", b"data")
    with pytest.raises(AssertionError, match="differs from the software chain"):
        oracle.assert_tag(b"\x00" * 48, key, "chain")


def test_public_key_checks(rsa_key):
    other = rsa.generate_private_key(65537, 2048)
    oracle.assert_public_key_equal(oracle.spki_der(rsa_key), rsa_key)
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    oracle.assert_public_key_equal(pem, rsa_key.public_key())
    with pytest.raises(AssertionError, match="public key mismatch"):
        oracle.assert_public_key_equal(oracle.spki_der(other), rsa_key)
    with pytest.raises(AssertionError, match="cannot load|not a SubjectPublicKeyInfo"):
        oracle.assert_public_key_equal(b"junk", rsa_key)
    p256 = ec.generate_private_key(ec.SECP256R1())
    oracle.assert_curve(oracle.spki_der(p256), "P-256")
    with pytest.raises(AssertionError, match="P-384"):
        oracle.assert_curve(oracle.spki_der(p256), "P-384")


def test_not_private_key_check(rsa_key):
    oracle.assert_not_private_key(oracle.spki_der(rsa_key))
    oracle.assert_not_private_key(b"==== Key Generation Details ====\nprovider : azihsm\n")
    with pytest.raises(AssertionError, match="private key"):
        oracle.assert_not_private_key(oracle.private_der(rsa_key, "pkcs8"))
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(AssertionError):
        oracle.assert_not_private_key(pem)


def test_self_signed_certificate_check(rsa_key):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    cert = builder.sign(rsa_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    oracle.assert_self_signed_certificate(cert, rsa_key)
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(AssertionError, match="public key mismatch"):
        oracle.assert_self_signed_certificate(cert, other)
