"""Masked key blobs: round trips, and a specific reason for every way a blob can be wrong."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azihsm_conformance.reference.device import BlobError, HsmError, Reason, SignScheme
from azihsm_conformance.reference.device.blob import HEADER_LEN, MAGIC


@pytest.fixture(scope="module")
def module_session(device):
    sess = device.open_session()
    yield sess
    sess.close()


@pytest.fixture(scope="module")
def ec_blob(module_session):
    return module_session.mask(module_session.generate_ec("P-256"))


def expected_flip_reason(byte_index: int) -> Reason:
    """What a single flipped bit at ``byte_index`` must be reported as."""
    if byte_index < len(MAGIC):
        return Reason.BLOB_NOT_A_BLOB
    if byte_index == len(MAGIC):
        return Reason.BLOB_UNKNOWN_VERSION
    return Reason.BLOB_TAMPERED


@pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521"])
@pytest.mark.parametrize("session_key", [False, True], ids=["persistent", "session"])
def test_round_trip_keeps_key_and_properties(session, curve, session_key):
    key = session.generate_ec(curve, usage="keyAgreement", session_key=session_key)
    loaded = session.unmask(session.mask(key), expect="ec")
    assert loaded.public_der == key.public_der
    assert (loaded.curve, loaded.usage, loaded.session_key, loaded.flavour) == (
        curve,
        "keyAgreement",
        session_key,
        "EC",
    )


def test_persistent_blob_loads_in_a_later_session(device):
    with device.open_session() as first:
        key = first.generate_ec("P-384")
        masked = first.mask(key)
    with device.open_session() as later:
        loaded = later.unmask(masked, expect="ec")
        sig = later.sign(loaded, b"msg", SignScheme("ecdsa"))
    assert loaded.public_der == key.public_der and sig


def test_persistent_blob_loads_after_reopening_the_device(device, tmp_path):
    from azihsm_conformance.reference.device import Device

    with device.open_session() as first:
        masked = first.mask(first.generate_ec("P-521"))
    with Device.open(device.path).open_session() as again:
        assert again.unmask(masked).curve == "P-521"


def test_each_mask_is_fresh(module_session):
    key = module_session.generate_ec("P-256")
    assert module_session.mask(key) != module_session.mask(key)


def test_session_key_blob_from_an_ended_session(device):
    first = device.open_session()
    masked = first.mask(first.generate_ec("P-256", session_key=True))
    first.close()
    with device.open_session() as later:
        with pytest.raises(BlobError) as info:
            later.unmask(masked, expect="ec")
    assert info.value.reason is Reason.BLOB_SESSION_ENDED
    assert "ended session" in str(info.value)


def test_session_key_blob_in_another_open_session(device):
    with device.open_session() as owner, device.open_session() as other:
        masked = owner.mask(owner.generate_ec("P-256", session_key=True))
        with pytest.raises(BlobError) as info:
            other.unmask(masked)
    assert info.value.reason is Reason.BLOB_OTHER_SESSION


def test_blob_from_another_device(ec_blob, other_device):
    with other_device.open_session() as sess:
        with pytest.raises(BlobError) as info:
            sess.unmask(ec_blob, expect="ec")
    assert info.value.reason is Reason.BLOB_OTHER_DEVICE
    assert other_device.identity in str(info.value)


@pytest.mark.parametrize("expect", ["rsa", "rsa-pss", "secret", "aes", "hmac"])
def test_wrong_kind_for_the_requested_type(module_session, ec_blob, expect):
    with pytest.raises(BlobError) as info:
        module_session.unmask(ec_blob, expect=expect)
    assert info.value.reason is Reason.BLOB_WRONG_KIND
    assert "EC P-256" in str(info.value) and expect in str(info.value)


def test_unknown_expected_type_is_a_parameter_error(module_session, ec_blob):
    with pytest.raises(HsmError) as info:
        module_session.unmask(ec_blob, expect="dsa")
    assert info.value.reason is Reason.INVALID_PARAMETER


@pytest.mark.parametrize("session_key", [False, True], ids=["persistent", "session"])
def test_every_single_bit_flip_is_refused_with_the_right_reason(module_session, session_key):
    masked = module_session.mask(module_session.generate_ec("P-256", session_key=session_key))
    wrong = []
    for bit in range(len(masked) * 8):
        damaged = bytearray(masked)
        damaged[bit // 8] ^= 1 << (bit % 8)
        try:
            module_session.unmask(bytes(damaged), expect="ec")
            wrong.append((bit, "loaded"))
        except BlobError as exc:
            if exc.reason is not expected_flip_reason(bit // 8):
                wrong.append((bit, exc.reason.slug))
    assert wrong == []


def test_every_truncation_is_reported_as_truncated(module_session, ec_blob):
    reasons = set()
    for length in range(len(ec_blob)):
        with pytest.raises(BlobError) as info:
            module_session.unmask(ec_blob[:length])
        reasons.add(info.value.reason)
    assert reasons == {Reason.BLOB_TRUNCATED}


def test_trailing_bytes_are_tampering(module_session, ec_blob):
    with pytest.raises(BlobError) as info:
        module_session.unmask(ec_blob + b"\0")
    assert info.value.reason is Reason.BLOB_TAMPERED


def test_unknown_version(module_session, ec_blob):
    future = bytearray(ec_blob)
    future[len(MAGIC)] = 2
    with pytest.raises(BlobError) as info:
        module_session.unmask(bytes(future))
    assert info.value.reason is Reason.BLOB_UNKNOWN_VERSION
    assert "version 2" in str(info.value)


@pytest.mark.parametrize("data", [b"-----BEGIN PRIVATE KEY-----\nMIIB...\n", b"\x30\x82" * 40], ids=["pem", "der-junk"])
def test_other_files_are_not_blobs(module_session, data):
    with pytest.raises(BlobError) as info:
        module_session.unmask(data)
    assert info.value.reason is Reason.BLOB_NOT_A_BLOB


@settings(max_examples=200, deadline=None)
@given(data=st.one_of(st.binary(max_size=400), st.binary(max_size=300).map(lambda b: MAGIC + bytes([1]) + b)))
def test_arbitrary_bytes_only_ever_raise_blob_errors(device, data):
    sess = device.open_session()
    try:
        with pytest.raises(BlobError):
            sess.unmask(data)
    finally:
        sess.close()


def test_header_is_a_fixed_size_prefix(ec_blob):
    assert ec_blob.startswith(MAGIC) and len(ec_blob) > HEADER_LEN


def test_public_only_key_cannot_be_masked(module_session, ec_keys):
    from device_checks import spki

    public = module_session.public_key(spki(ec_keys["P-256"].public_key()))
    with pytest.raises(HsmError) as info:
        module_session.mask(public)
    assert info.value.reason is Reason.NO_PRIVATE_KEY


def test_the_devices_own_unwrapping_key_file_is_not_loadable(module_session, device):
    from azihsm_conformance.reference.device.device import UNWRAP_FILE

    with pytest.raises(BlobError) as info:
        module_session.unmask((device.path / UNWRAP_FILE).read_bytes(), expect="rsa")
    assert info.value.reason is Reason.BLOB_WRONG_KIND
