"""EC keys generated in the device and ECDSA, checked independently with pyca/cryptography."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from device_checks import load_spki, spki
from hypothesis import given, settings
from hypothesis import strategies as st

from azihsm_conformance.reference.device import HsmError, Reason, SignScheme

CURVES = ["P-256", "P-384", "P-521"]
DIGESTS = ["sha1", "sha256", "sha384", "sha512"]
PYCA = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
MESSAGE = b"The quick brown fox jumps over the lazy dog" * 3


def pyca_verify(key, signature, message, digest_name):
    """Raises InvalidSignature unless the signature is ECDSA-<digest> over message."""
    load_spki(key.public_der).verify(signature, message, ec.ECDSA(PYCA[digest_name]()))


@pytest.fixture(scope="module")
def keys(device):
    sess = device.open_session()
    yield {curve: sess.generate_ec(curve) for curve in CURVES}, sess
    sess.close()


@pytest.mark.parametrize("curve", CURVES)
def test_generated_key_properties(keys, curve):
    generated, _sess = keys
    key = generated[curve]
    assert (key.kind, key.flavour, key.curve, key.usage) == ("ec", "EC", curve, "digitalSignature")
    assert key.bits == {"P-256": 256, "P-384": 384, "P-521": 521}[curve]
    assert key.has_private and not key.session_key and key.hmac_digest is None
    assert load_spki(key.public_der).curve.key_size == key.bits


MODES = ("oneshot", "prehashed", "stream")
CASES = [(c, d, mode) for c in CURVES for d in DIGESTS for mode in MODES]


@pytest.mark.parametrize(
    "curve,digest_name,mode", CASES, ids=[f"ecdsa-{c.replace('-', '')}-{d}-{m}" for c, d, m in CASES]
)
def test_ecdsa_signature_verifies_with_exactly_the_requested_digest(keys, curve, digest_name, mode):
    generated, sess = keys
    key = generated[curve]
    if mode == "oneshot":
        sig = sess.sign(key, MESSAGE, SignScheme("ecdsa", digest_name))
    elif mode == "prehashed":
        sig = sess.sign(
            key, hashlib.new(digest_name, MESSAGE).digest(), SignScheme("ecdsa", digest_name, prehashed=True)
        )
    else:
        stream = sess.sign_stream(key, SignScheme("ecdsa", digest_name))
        for i in range(0, len(MESSAGE), 17):
            stream.update(MESSAGE[i : i + 17])
        sig = stream.sign()
    pyca_verify(key, sig, MESSAGE, digest_name)
    other = next(d for d in DIGESTS if d != digest_name)
    with pytest.raises(InvalidSignature):
        pyca_verify(key, sig, MESSAGE, other)
    assert sess.verify(key, MESSAGE, sig, SignScheme("ecdsa", digest_name))
    assert not sess.verify(key, MESSAGE + b"!", sig, SignScheme("ecdsa", digest_name))


@pytest.mark.parametrize("curve,natural", [("P-256", "sha256"), ("P-384", "sha384"), ("P-521", "sha512")])
def test_default_digest_is_the_curves_natural_hash(keys, curve, natural):
    generated, sess = keys
    sig = sess.sign(generated[curve], MESSAGE, SignScheme("ecdsa"))
    pyca_verify(generated[curve], sig, MESSAGE, natural)


@pytest.mark.parametrize("size,name", [(20, "sha1"), (32, "sha256"), (48, "sha384"), (64, "sha512")])
def test_prehashed_without_digest_takes_the_digest_from_its_length(keys, size, name):
    generated, sess = keys
    md = hashlib.new(name, MESSAGE).digest()
    sig = sess.sign(generated["P-384"], md, SignScheme("ecdsa", prehashed=True))
    load_spki(generated["P-384"].public_der).verify(sig, md, ec.ECDSA(Prehashed(PYCA[name]())))


def test_prehashed_input_of_the_wrong_length_is_refused(keys):
    generated, sess = keys
    with pytest.raises(HsmError) as info:
        sess.sign(generated["P-256"], b"x" * 31, SignScheme("ecdsa", "sha256", prehashed=True))
    assert info.value.reason is Reason.INVALID_DIGEST_LENGTH
    with pytest.raises(HsmError) as info:
        sess.sign(generated["P-256"], b"x" * 31, SignScheme("ecdsa", prehashed=True))
    assert info.value.reason is Reason.INVALID_DIGEST_LENGTH


def test_stream_copy_signs_both_branches(keys):
    generated, sess = keys
    key = generated["P-256"]
    stream = sess.sign_stream(key, SignScheme("ecdsa", "sha256"))
    stream.update(b"prefix-")
    fork = stream.copy()
    stream.update(b"left")
    fork.update(b"right")
    pyca_verify(key, stream.sign(), b"prefix-left", "sha256")
    pyca_verify(key, fork.sign(), b"prefix-right", "sha256")


def test_finished_stream_refuses_more_work(keys):
    generated, sess = keys
    stream = sess.sign_stream(generated["P-256"], SignScheme("ecdsa", "sha256"))
    stream.sign()
    with pytest.raises(HsmError) as info:
        stream.update(b"more")
    assert info.value.reason is Reason.STREAM_FINISHED


def test_streaming_verify(keys):
    generated, sess = keys
    key = generated["P-521"]
    sig = sess.sign(key, MESSAGE, SignScheme("ecdsa", "sha512"))
    stream = sess.sign_stream(key, SignScheme("ecdsa", "sha512"))
    stream.update(MESSAGE)
    assert stream.verify(sig)


@pytest.mark.parametrize("garbage", [b"", b"\x30\x00", b"junk" * 20], ids=["empty", "empty-seq", "junk"])
def test_malformed_signature_verifies_false(keys, garbage):
    generated, sess = keys
    assert sess.verify(generated["P-256"], MESSAGE, garbage, SignScheme("ecdsa")) is False


def test_public_only_key_verifies_but_cannot_sign(keys, ec_keys):
    _generated, sess = keys
    soft = ec_keys["P-384"]
    pub = sess.public_key(spki(soft.public_key()))
    assert (pub.kind, pub.curve, pub.has_private) == ("ec", "P-384", False)
    sig = soft.sign(MESSAGE, ec.ECDSA(hashes.SHA384()))
    assert sess.verify(pub, MESSAGE, sig, SignScheme("ecdsa", "sha384"))
    with pytest.raises(HsmError) as info:
        sess.sign(pub, MESSAGE, SignScheme("ecdsa"))
    assert info.value.reason is Reason.NO_PRIVATE_KEY


def test_key_agreement_key_cannot_sign_and_the_message_says_why(session):
    key = session.generate_ec("P-256", usage="keyAgreement")
    with pytest.raises(HsmError) as info:
        session.sign(key, MESSAGE, SignScheme("ecdsa"))
    assert info.value.reason is Reason.USAGE_NOT_ALLOWED
    assert "keyAgreement" in str(info.value) and "sign" in str(info.value)
    with pytest.raises(HsmError) as info:
        session.sign_stream(key, SignScheme("ecdsa"))
    assert info.value.reason is Reason.USAGE_NOT_ALLOWED


@pytest.mark.parametrize("curve", ["P-999", "secp256k1", "P-224", ""])
def test_unsupported_curves_are_refused(session, curve):
    with pytest.raises(HsmError) as info:
        session.generate_ec(curve)
    assert info.value.reason is Reason.UNSUPPORTED_CURVE
    assert "P-256" in str(info.value)


@pytest.mark.parametrize(
    "alias,curve", [("prime256v1", "P-256"), ("secp384r1", "P-384"), ("secp521r1", "P-521"), ("p-384", "P-384")]
)
def test_openssl_curve_names_are_accepted(session, alias, curve):
    assert session.generate_ec(alias).curve == curve


def test_ec_key_with_key_encipherment_usage_is_refused(session):
    with pytest.raises(HsmError) as info:
        session.generate_ec("P-256", usage="keyEncipherment")
    assert info.value.reason is Reason.INVALID_KEY_USAGE
    assert "digitalSignature or keyAgreement" in str(info.value)


def test_ecdsa_scheme_cannot_use_rsa_padding(keys):
    generated, sess = keys
    with pytest.raises(HsmError) as info:
        sess.sign(generated["P-256"], MESSAGE, SignScheme("pss"))
    assert info.value.reason is Reason.UNSUPPORTED_PADDING


@settings(max_examples=40, deadline=None)
@given(
    curve=st.sampled_from(CURVES),
    digest_name=st.sampled_from(DIGESTS),
    message=st.binary(max_size=300),
    split=st.integers(0, 300),
)
def test_property_ecdsa_verifies_in_software_only_for_its_message(keys, curve, digest_name, message, split):
    generated, sess = keys
    key = generated[curve]
    stream = sess.sign_stream(key, SignScheme("ecdsa", digest_name))
    stream.update(message[:split])
    stream.update(message[split:])
    sig = stream.sign()
    pyca_verify(key, sig, message, digest_name)
    with pytest.raises(InvalidSignature):
        pyca_verify(key, sig, message + b"\0", digest_name)
