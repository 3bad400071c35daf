"""ECDH -> HKDF -> HMAC: the device's chain equals the same chain computed in software from
the peer's side; every refusal on the way has its own reason."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import hmac as soft_hmac
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from device_checks import load_spki, spki
from hypothesis import given, settings
from hypothesis import strategies as st

from azihsm_conformance.reference.device import BlobError, HsmError, Reason

CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}
PYCA = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
BITS = {"sha256": 256, "sha384": 384, "sha512": 512}
MESSAGE = b"message authenticated by a derived key"


@pytest.fixture(scope="module")
def sess(device):
    s = device.open_session()
    yield s
    s.close()


@pytest.fixture(scope="module")
def agreement(sess):
    """Device keyAgreement keys and software peers, by curve."""
    return {
        curve: (sess.generate_ec(curve, usage="keyAgreement"), ec.generate_private_key(cls()))
        for curve, cls in CURVES.items()
    }


def software_shared(device_key, peer):
    """The shared secret as the peer computes it: peer private x device public."""
    return peer.exchange(ec.ECDH(), load_spki(device_key.public_der))


def software_hkdf(ikm, digest_name, salt, info, nbytes):
    return HKDF(PYCA[digest_name](), nbytes, salt=salt or None, info=info).derive(ikm)


def software_mac(key, digest_name, message):
    h = soft_hmac.HMAC(key, PYCA[digest_name]())
    h.update(message)
    return h.finalize()


def device_mac(sess, key_blob, digest_name, message):
    mac = sess.hmac(key_blob, digest=digest_name)
    mac.update(message)
    return mac.finalize()


CHAIN = [(c, d) for c in CURVES for d in PYCA]


@pytest.mark.parametrize("curve,digest_name", CHAIN, ids=[f"ecdh-{c.replace('-', '')}-hkdf-{d}-hmac" for c, d in CHAIN])
def test_ecdh_hkdf_hmac_chain_equals_software_from_the_peer_side(sess, agreement, curve, digest_name):
    key, peer = agreement[curve]
    secret_blob = sess.ecdh(key, spki(peer.public_key()))
    hmac_blob = sess.hkdf(
        secret_blob, digest=digest_name, salt=b"salty", info=b"app v1", key_type="hmac", bits=BITS[digest_name]
    )
    tag = device_mac(sess, hmac_blob, digest_name, MESSAGE)

    shared = software_shared(key, peer)
    hmac_key = software_hkdf(shared, digest_name, b"salty", b"app v1", BITS[digest_name] // 8)
    assert tag == software_mac(hmac_key, digest_name, MESSAGE)


@pytest.mark.parametrize("aes_bits", [128, 192, 256])
def test_hkdf_from_a_derived_aes_key_then_hmac_equals_software(sess, agreement, aes_bits):
    key, peer = agreement["P-384"]
    secret_blob = sess.ecdh(key, spki(peer.public_key()))
    aes_blob = sess.hkdf(secret_blob, digest="SHA2-384", info=b"stage 1", bits=aes_bits)
    hmac_blob = sess.hkdf(aes_blob, digest="sha512", salt=b"s2", info=b"stage 2", key_type="HMAC", bits=512)

    aes_key = software_hkdf(software_shared(key, peer), "sha384", b"", b"stage 1", aes_bits // 8)
    hmac_key = software_hkdf(aes_key, "sha512", b"s2", b"stage 2", 64)
    assert device_mac(sess, hmac_blob, "sha512", MESSAGE) == software_mac(hmac_key, "sha512", MESSAGE)


def test_derived_key_properties(sess, agreement):
    key, peer = agreement["P-521"]
    secret = sess.unmask(sess.ecdh(key, spki(peer.public_key())), expect="secret")
    assert (secret.kind, secret.bits, secret.usage, secret.session_key) == ("secret", 521, "derive", False)
    aes = sess.unmask(sess.hkdf(sess.mask(secret), bits=192), expect="aes")
    assert (aes.kind, aes.bits, aes.usage, aes.hmac_digest) == ("aes", 192, "encrypt", None)
    mac_key = sess.unmask(sess.hkdf(secret, digest="sha384", key_type="hmac", bits=384), expect="hmac")
    assert (mac_key.kind, mac_key.bits, mac_key.hmac_digest) == ("hmac", 384, "sha384")
    assert secret.public_der is None and "derive" in repr(secret)


def test_compressed_peer_point_is_accepted(sess, agreement):
    key, peer = agreement["P-256"]
    compressed = peer.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    peer_spki = spki(ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), compressed))
    blob_a = sess.ecdh(key, peer_spki)
    mac_a = device_mac(sess, sess.hkdf(blob_a, key_type="hmac", bits=256), "sha256", MESSAGE)
    expected = software_mac(software_hkdf(software_shared(key, peer), "sha256", b"", b"", 32), "sha256", MESSAGE)
    assert mac_a == expected


def test_other_curve_peer_is_refused_as_mismatching_domain_parameters(sess, agreement):
    key, _peer = agreement["P-256"]
    other = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(HsmError) as info:
        sess.ecdh(key, spki(other.public_key()))
    assert info.value.reason is Reason.MISMATCHING_DOMAIN_PARAMETERS
    assert "mismatching domain parameters" in str(info.value)


def test_unsupported_curve_peer_is_refused_as_mismatching_domain_parameters(sess, agreement):
    key, _peer = agreement["P-256"]
    k1 = ec.generate_private_key(ec.SECP256K1())
    with pytest.raises(HsmError) as info:
        sess.ecdh(key, spki(k1.public_key()))
    assert info.value.reason is Reason.MISMATCHING_DOMAIN_PARAMETERS


def off_curve_spki(valid_spki: bytes) -> bytes:
    """Same SPKI with the point's last y byte changed: (x, y') is not on the curve."""
    damaged = bytearray(valid_spki)
    damaged[-1] ^= 0x01
    return bytes(damaged)


@pytest.mark.parametrize("peer_kind", ["off-curve", "junk", "rsa", "truncated"])
def test_invalid_peers_are_refused(sess, agreement, rsa_keys, peer_kind):
    key, peer = agreement["P-256"]
    valid = spki(peer.public_key())
    peer_der = {
        "off-curve": off_curve_spki(valid),
        "junk": b"\x30\x03junk",
        "rsa": spki(rsa_keys[2048].public_key()),
        "truncated": valid[:-5],
    }[peer_kind]
    with pytest.raises(HsmError) as info:
        sess.ecdh(key, peer_der)
    assert info.value.reason is Reason.INVALID_PEER_KEY


def test_signature_key_cannot_do_ecdh_and_the_message_says_why(sess, agreement):
    _key, peer = agreement["P-256"]
    signing_key = sess.generate_ec("P-256")
    with pytest.raises(HsmError) as info:
        sess.ecdh(signing_key, spki(peer.public_key()))
    assert info.value.reason is Reason.USAGE_NOT_ALLOWED
    assert "digitalSignature" in str(info.value) and "ecdh" in str(info.value)


def test_ecdh_with_a_session_key_yields_a_session_secret(device, agreement):
    _key, peer = agreement["P-256"]
    first = device.open_session()
    key = first.generate_ec("P-256", usage="keyAgreement", session_key=True)
    secret_blob = first.ecdh(key, spki(peer.public_key()))
    first.close()
    with device.open_session() as later:
        with pytest.raises(BlobError) as info:
            later.hkdf(secret_blob)
    assert info.value.reason is Reason.BLOB_SESSION_ENDED


@pytest.fixture(scope="module")
def secret_blob(sess, agreement):
    key, peer = agreement["P-256"]
    return sess.ecdh(key, spki(peer.public_key()))


@pytest.mark.parametrize(
    "key_type,digest_name,bits",
    [
        ("aes", "sha256", 0),
        ("aes", "sha256", 7),
        ("aes", "sha256", 264),
        ("aes", "sha256", 64),
        ("hmac", "sha256", 384),
        ("hmac", "sha512", 256),
        ("hmac", "sha384", -8),
    ],
)
def test_derived_key_length_rules(sess, secret_blob, key_type, digest_name, bits):
    with pytest.raises(HsmError) as info:
        sess.hkdf(secret_blob, digest=digest_name, key_type=key_type, bits=bits)
    assert info.value.reason is Reason.INVALID_DERIVED_KEY_LENGTH


def test_derived_key_type_must_be_aes_or_hmac(sess, secret_blob):
    with pytest.raises(HsmError) as info:
        sess.hkdf(secret_blob, key_type="des")
    assert info.value.reason is Reason.INVALID_DERIVED_KEY_TYPE


@pytest.mark.parametrize("digest_name", ["SHA1", "MD5"])
def test_hkdf_digest_must_be_sha2(sess, secret_blob, digest_name):
    with pytest.raises(HsmError) as info:
        sess.hkdf(secret_blob, digest=digest_name)
    assert info.value.reason is Reason.UNSUPPORTED_DIGEST


def test_ec_key_blob_is_not_keying_material(sess, agreement):
    key, _peer = agreement["P-256"]
    with pytest.raises(HsmError) as info:
        sess.hkdf(sess.mask(key))
    assert info.value.reason is Reason.USAGE_NOT_ALLOWED
    assert "keyAgreement" in str(info.value) and "hkdf" in str(info.value)


@pytest.mark.parametrize(
    "key_digest,asked", [("sha256", "sha384"), ("sha384", "sha256"), ("sha512", "sha256"), ("sha256", "sha1")]
)
def test_hmac_digest_must_equal_the_keys(sess, secret_blob, key_digest, asked):
    key_blob = sess.hkdf(secret_blob, digest=key_digest, key_type="hmac", bits=BITS[key_digest])
    with pytest.raises(HsmError) as info:
        sess.hmac(key_blob, digest=asked)
    assert info.value.reason is Reason.DIGEST_MISMATCH
    assert key_digest.upper() in str(info.value)


@pytest.mark.parametrize("spelling", ["SHA384", "SHA2-384", "sha-384", "2.16.840.1.101.3.4.2.2"])
def test_hmac_accepts_every_openssl_spelling(sess, secret_blob, spelling):
    key_blob = sess.hkdf(secret_blob, digest="sha384", key_type="hmac", bits=384)
    mac = sess.hmac(key_blob, digest=spelling)
    assert (mac.digest_size, mac.block_size) == (48, 128)


def test_aes_key_cannot_mac(sess, secret_blob):
    aes_blob = sess.hkdf(secret_blob)
    with pytest.raises(HsmError) as info:
        sess.hmac(aes_blob)
    assert info.value.reason is Reason.USAGE_NOT_ALLOWED


def test_hmac_copy_and_finalise(sess, secret_blob):
    key_blob = sess.hkdf(secret_blob, key_type="hmac", bits=256)
    reference = sess.unmask(key_blob, expect="hmac")
    mac = sess.hmac(reference)
    mac.update(b"prefix ")
    fork = mac.copy()
    mac.update(b"one")
    fork.update(b"two")
    one, two = mac.finalize(), fork.finalize()
    assert one == device_mac(sess, key_blob, "sha256", b"prefix one")
    assert two == device_mac(sess, key_blob, "sha256", b"prefix two")
    with pytest.raises(HsmError) as info:
        mac.update(b"late")
    assert info.value.reason is Reason.STREAM_FINISHED


@settings(max_examples=30, deadline=None)
@given(
    curve=st.sampled_from(sorted(CURVES)),
    digest_name=st.sampled_from(sorted(PYCA)),
    salt=st.binary(max_size=64),
    info=st.binary(max_size=64),
    message=st.binary(max_size=200),
)
def test_property_chain_equals_software(sess, agreement, curve, digest_name, salt, info, message):
    key, peer = agreement[curve]
    hmac_blob = sess.hkdf(
        sess.ecdh(key, spki(peer.public_key())),
        digest=digest_name,
        salt=salt,
        info=info,
        key_type="hmac",
        bits=BITS[digest_name],
    )
    expected_key = software_hkdf(software_shared(key, peer), digest_name, salt, info, BITS[digest_name] // 8)
    assert device_mac(sess, hmac_blob, digest_name, message) == software_mac(expected_key, digest_name, message)


# ---- KBKDF (revision 2026-08) ------------------------------------------------------------


def software_kbkdf(ikm, digest_name, label, context, nbytes):
    from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode

    algorithm = hashes.SHA1() if digest_name == "sha1" else PYCA[digest_name]()
    return KBKDFHMAC(
        algorithm, Mode.CounterMode, nbytes, 4, 4, CounterLocation.BeforeFixed, label, context, None
    ).derive(ikm)


@pytest.mark.parametrize("digest_name", ["sha256", "sha384", "sha512"])
@pytest.mark.parametrize("label, context", [(b"label", b""), (b"", b"context"), (b"label", b"context")])
def test_kbkdf_hmac_key_equals_software(sess, agreement, digest_name, label, context):
    key, peer = agreement["P-384"]
    secret = sess.ecdh(key, spki(peer.public_key()))
    hmac_key = sess.kbkdf(
        secret, digest=digest_name, label=label, context=context, key_type="hmac", bits=BITS[digest_name]
    )
    expected = software_kbkdf(software_shared(key, peer), digest_name, label, context, BITS[digest_name] // 8)
    assert device_mac(sess, hmac_key, digest_name, MESSAGE) == software_mac(expected, digest_name, MESSAGE)


def test_kbkdf_aes_key_with_sha1_chains_into_hkdf(sess, agreement):
    key, peer = agreement["P-256"]
    secret = sess.ecdh(key, spki(peer.public_key()))
    aes = sess.kbkdf(secret, digest="SHA1", label=b"l", context=b"c", key_type="aes", bits=256)
    hmac_key = sess.hkdf(aes, digest="sha256", key_type="hmac", bits=256)
    aes_value = software_kbkdf(software_shared(key, peer), "sha1", b"l", b"c", 32)
    expected = software_hkdf(aes_value, "sha256", b"", b"", 32)
    assert device_mac(sess, hmac_key, "sha256", MESSAGE) == software_mac(expected, "sha256", MESSAGE)


@pytest.mark.parametrize(
    "options, reason, words",
    [
        (dict(label=b"", context=b""), Reason.INVALID_PARAMETER, "label (salt) or a context"),
        (dict(mode="feedback"), Reason.INVALID_PARAMETER, "invalid mode"),
        (dict(mac="CMAC"), Reason.INVALID_PARAMETER, "invalid mac"),
        (dict(digest="sha1", key_type="hmac", bits=160), Reason.UNSUPPORTED_DIGEST, "SHA1 derives AES keys only"),
        (dict(key_type="hmac", bits=384), Reason.INVALID_DERIVED_KEY_LENGTH, "the KBKDF digest size"),
    ],
    ids=["no-label-no-context", "mode", "mac", "sha1-hmac", "hmac-bits"],
)
def test_kbkdf_refusals(sess, agreement, options, reason, words):
    key, peer = agreement["P-256"]
    secret = sess.ecdh(key, spki(peer.public_key()))
    arguments = dict(digest="sha256", label=b"l", context=b"c", key_type="aes", bits=256)
    arguments.update(options)
    with pytest.raises(HsmError) as info:
        sess.kbkdf(secret, **arguments)
    assert info.value.reason == reason and words in str(info.value)


def test_kbkdf_needs_a_derivable_key(sess, agreement):
    key, _ = agreement["P-256"]
    with pytest.raises(HsmError) as info:
        sess.kbkdf(sess.mask(key), label=b"l")
    assert info.value.reason == Reason.USAGE_NOT_ALLOWED and "kbkdf" in str(info.value)
