"""Sessions, key handles and errors: binding, closing, and no secret in any text."""

from __future__ import annotations

import pytest

from azihsm_conformance.reference.device import HsmError, Key, Reason, SessionError, SignScheme


def test_session_ids_are_distinct_bytes(device):
    with device.open_session() as a, device.open_session() as b:
        assert isinstance(a.id, bytes) and a.id != b.id


def test_closed_session_refuses_everything(device):
    sess = device.open_session()
    key = sess.generate_ec("P-256")
    masked = sess.mask(key)
    sess.close()
    sess.close()  # idempotent
    for call in (
        lambda: sess.sign(key, b"m", SignScheme("ecdsa")),
        lambda: sess.generate_ec("P-256"),
        lambda: sess.unmask(masked),
        lambda: sess.mask(key),
    ):
        with pytest.raises(SessionError) as info:
            call()
        assert info.value.reason is Reason.SESSION_CLOSED


def test_key_is_bound_to_its_session(device):
    with device.open_session() as a, device.open_session() as b:
        key = a.generate_ec("P-256")
        with pytest.raises(SessionError) as info:
            b.sign(key, b"m", SignScheme("ecdsa"))
    assert info.value.reason is Reason.KEY_NOT_IN_SESSION


def test_keys_cannot_be_pickled(session):
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(session.generate_ec("P-256"))


def test_no_private_bytes_in_repr_or_attributes(session):
    from cryptography.hazmat.primitives import serialization

    key = session.generate_ec("P-256")
    masked = session.mask(key)
    # read the private scalar through the test-only back door, to look for it everywhere
    material = session._Session__vault[key]
    scalar = material.private.private_numbers().private_value
    secret_forms = {f"{scalar:x}", str(scalar)}
    pkcs8 = material.private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    texts = [repr(key), str(key), repr(session), repr(material), repr(session.device)]
    texts += [repr(getattr(key, name)) for name in Key.__slots__ if name != "__weakref__"]
    for text in texts:
        assert not any(form in text for form in secret_forms), text
    assert pkcs8 not in masked
    assert not hasattr(key, "private") and not hasattr(key, "__dict__")


def test_error_messages_never_carry_blob_contents(session, other_device):
    masked = session.mask(session.generate_ec("P-256"))
    with other_device.open_session() as other:
        with pytest.raises(HsmError) as info:
            other.unmask(masked)
    assert masked.hex()[HEADER_HEX_SKIP:] not in str(info.value)


HEADER_HEX_SKIP = 96  # the 48-byte header (device id etc.) may be named; the body never


def test_reason_codes_are_stable_unique_and_above_openssl_common_codes():
    values = [r.value for r in Reason]
    assert len(values) == len(set(values)) and min(values) >= 100
    assert Reason.BLOB_TAMPERED.slug == "blob-tampered"
    assert Reason(142) is Reason.BLOB_TAMPERED


def test_hsm_error_is_one_line_with_reason():
    err = HsmError(Reason.INVALID_PARAMETER, "first line\nsecond line")
    assert str(err) == "first line second line"
    assert "invalid-parameter" in repr(err)


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_session_flag_must_be_a_bool(session, bad):
    with pytest.raises(HsmError) as info:
        session.generate_ec("P-256", session_key=bad)
    assert info.value.reason is Reason.INVALID_PARAMETER


def test_text_where_bytes_belong_is_a_parameter_error(session):
    from azihsm_conformance.reference.device import digest

    key = session.generate_ec("P-256")
    agree = session.generate_ec("P-256", usage="keyAgreement")
    stream = session.sign_stream(key, SignScheme("ecdsa"))
    calls = {
        "sign": lambda: session.sign(key, "text", SignScheme("ecdsa")),
        "verify": lambda: session.verify(key, b"m", "sig", SignScheme("ecdsa")),
        "stream": lambda: stream.update("text"),
        "digest": lambda: digest.new("sha256").update("text"),
        "public_key": lambda: session.public_key("spki"),
        "ecdh": lambda: session.ecdh(agree, "peer"),
        "unmask": lambda: session.unmask("blob"),
        "import": lambda: session.import_private_key("der"),
        "scheme": lambda: session.sign(key, b"m", ("ecdsa", "sha256")),
    }
    for name, call in calls.items():
        with pytest.raises(HsmError) as info:
            call()
        assert info.value.reason in (Reason.INVALID_PARAMETER, Reason.BLOB_NOT_A_BLOB, Reason.INVALID_KEY_ENCODING), (
            name
        )


def test_key_properties_are_read_only(session):
    key = session.generate_ec("P-256", usage="keyAgreement")
    with pytest.raises(AttributeError):
        key.usage = "digitalSignature"
    with pytest.raises(HsmError) as info:
        session.sign(key, b"m", SignScheme("ecdsa"))
    assert info.value.reason is Reason.USAGE_NOT_ALLOWED
