"""Key import through the real wrap/unwrap path, and every refusal it must make."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
from device_checks import der_private, load_spki, spki

from azihsm_conformance.reference.device import HsmError, KeyImportError, Reason, SignScheme

CURVES = ["P-256", "P-384", "P-521"]


@pytest.fixture(scope="module")
def sess(device):
    s = device.open_session()
    yield s
    s.close()


def software_wrap(unwrapping_spki: bytes, pkcs8: bytes) -> bytes:
    """The import transport, built here from its definition rather than the device's code:
    RSA-OAEP(SHA-256, MGF1-SHA-256, no label)(KEK) || AES-KWP(KEK, PKCS#8)."""
    kek = os.urandom(32)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return load_spki(unwrapping_spki).encrypt(kek, oaep) + aes_key_wrap_with_padding(kek, pkcs8)


@pytest.mark.parametrize("fmt", ["traditional", "pkcs8"], ids=["sec1", "pkcs8"])
@pytest.mark.parametrize("curve", CURVES)
def test_ec_import_keeps_the_key(sess, ec_keys, curve, fmt):
    soft = ec_keys[curve]
    key = sess.import_private_key(der_private(soft, fmt), algorithm="EC", curve=curve)
    assert (key.kind, key.flavour, key.curve, key.has_private) == ("ec", "EC", curve, True)
    assert key.public_der == spki(soft.public_key())
    sig = sess.sign(key, b"imported", SignScheme("ecdsa", "sha256"))
    soft.public_key().verify(sig, b"imported", ec.ECDSA(hashes.SHA256()))


# every format x flavour on 2048 bits, each size once (a 4096-bit import costs ~0.5 s)
RSA_IMPORTS = [(2048, fmt, alg) for fmt in ("pkcs1", "pkcs8") for alg in ("RSA", "RSA-PSS")]
RSA_IMPORTS += [(3072, "pkcs8", "RSA"), (4096, "pkcs1", "RSA-PSS")]


@pytest.mark.parametrize(
    "bits,fmt,algorithm", RSA_IMPORTS, ids=[f"{alg}-{bits}-{fmt}" for bits, fmt, alg in RSA_IMPORTS]
)
def test_rsa_import_keeps_the_key(sess, rsa_keys, bits, fmt, algorithm):
    fmt = "traditional" if fmt == "pkcs1" else fmt
    soft = rsa_keys[bits]
    key = sess.import_private_key(der_private(soft, fmt), algorithm=algorithm, bits=bits)
    assert (key.kind, key.flavour, key.bits) == ("rsa", algorithm, bits)
    assert key.public_der == spki(soft.public_key())


def test_import_without_declarations_accepts_the_keys_own_properties(sess, ec_keys, rsa_keys):
    assert sess.import_private_key(der_private(ec_keys["P-521"], "pkcs8")).curve == "P-521"
    assert sess.import_private_key(der_private(rsa_keys[3072], "pkcs8"), algorithm="RSA").bits == 3072


def test_wrapped_import_matches_an_independent_wrap(sess, device, ec_keys):
    soft = ec_keys["P-384"]
    wrapped = software_wrap(device.unwrapping_public_der, der_private(soft, "pkcs8"))
    key = sess.import_wrapped(wrapped, algorithm="EC", curve="P-384")
    assert key.public_der == spki(soft.public_key())


def test_key_wrapped_for_another_device_is_refused(sess, other_device, ec_keys):
    wrapped = software_wrap(other_device.unwrapping_public_der, der_private(ec_keys["P-256"], "pkcs8"))
    with pytest.raises(KeyImportError) as info:
        sess.import_wrapped(wrapped, algorithm="EC")
    assert info.value.reason is Reason.UNWRAP_FAILED


@pytest.mark.parametrize("where", ["kek", "wrapped-key", "truncated"])
def test_damaged_wrapped_key_is_refused(sess, device, ec_keys, where):
    wrapped = bytearray(software_wrap(device.unwrapping_public_der, der_private(ec_keys["P-256"], "pkcs8")))
    if where == "kek":
        wrapped[5] ^= 0x40
    elif where == "wrapped-key":
        wrapped[-3] ^= 0x01
    else:
        wrapped = wrapped[:200]
    with pytest.raises(KeyImportError) as info:
        sess.import_wrapped(bytes(wrapped), algorithm="EC")
    assert info.value.reason is Reason.UNWRAP_FAILED


def test_unwrapping_key_is_rsa_2048(device):
    public = load_spki(device.unwrapping_public_der)
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048


@pytest.mark.parametrize("declared,actual", [(2048, 3072), (4096, 2048), (3072, 2048)])
def test_rsa_size_must_match_the_declaration(sess, rsa_keys, declared, actual):
    with pytest.raises(KeyImportError) as info:
        sess.import_private_key(der_private(rsa_keys[actual], "pkcs8"), algorithm="RSA", bits=declared)
    assert info.value.reason is Reason.KEY_SIZE_MISMATCH
    assert str(actual) in str(info.value) and str(declared) in str(info.value)


def test_ec_curve_must_match_the_declaration(sess, ec_keys):
    with pytest.raises(KeyImportError) as info:
        sess.import_private_key(der_private(ec_keys["P-384"], "pkcs8"), algorithm="EC", curve="P-256")
    assert info.value.reason is Reason.CURVE_MISMATCH
    assert "P-384" in str(info.value) and "P-256" in str(info.value)


@pytest.mark.parametrize("algorithm,soft", [("EC", "rsa"), ("RSA", "ec"), ("RSA-PSS", "ec")])
def test_key_type_must_match_the_algorithm(sess, ec_keys, rsa_keys, algorithm, soft):
    key = rsa_keys[2048] if soft == "rsa" else ec_keys["P-256"]
    with pytest.raises(KeyImportError) as info:
        sess.import_private_key(der_private(key, "pkcs8"), algorithm=algorithm)
    assert info.value.reason is Reason.KEY_TYPE_MISMATCH


def test_unsupported_rsa_size_is_refused(sess):
    small = rsa.generate_private_key(65537, 1024)
    with pytest.raises(KeyImportError) as info:
        sess.import_private_key(der_private(small, "pkcs8"), algorithm="RSA")
    assert info.value.reason is Reason.UNSUPPORTED_KEY_SIZE
    with pytest.raises(KeyImportError) as info:
        sess.import_private_key(der_private(small, "pkcs8"), algorithm="RSA", bits=1024)
    assert info.value.reason is Reason.UNSUPPORTED_KEY_SIZE


def test_unsupported_curve_is_refused(sess):
    k1 = ec.generate_private_key(ec.SECP256K1())
    with pytest.raises(KeyImportError) as info:
        sess.import_private_key(der_private(k1, "pkcs8"), algorithm="EC")
    assert info.value.reason is Reason.UNSUPPORTED_CURVE


def test_pem_input_is_refused_with_the_conversion(sess, ec_keys):
    pem = ec_keys["P-256"].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(KeyImportError) as info:
        sess.import_private_key(pem, algorithm="EC")
    assert info.value.reason is Reason.INVALID_KEY_ENCODING
    assert "-outform DER" in str(info.value)


def test_encrypted_pkcs8_is_refused(sess, ec_keys):
    encrypted = ec_keys["P-256"].private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    with pytest.raises(KeyImportError) as info:
        sess.import_private_key(encrypted, algorithm="EC")
    assert info.value.reason is Reason.ENCRYPTED_KEY_UNSUPPORTED


@pytest.mark.parametrize(
    "junk", [b"", b"junk", b"\x30\x03\x02\x01\x00", os.urandom(300)], ids=["empty", "text", "tiny-der", "random"]
)
def test_junk_is_refused(sess, junk):
    with pytest.raises(KeyImportError) as info:
        sess.import_private_key(junk, algorithm="EC")
    assert info.value.reason is Reason.INVALID_KEY_ENCODING


def test_ed25519_is_refused_as_a_type_mismatch(sess):
    from cryptography.hazmat.primitives.asymmetric import ed25519

    with pytest.raises(KeyImportError) as info:
        sess.import_private_key(der_private(ed25519.Ed25519PrivateKey.generate(), "pkcs8"), algorithm="EC")
    assert info.value.reason is Reason.KEY_TYPE_MISMATCH


@pytest.mark.parametrize(
    "algorithm,usage",
    [("RSA", "keyAgreement"), ("RSA-PSS", "keyAgreement"), ("EC", "keyEncipherment"), ("RSA", "sign")],
)
def test_usage_combinations_outside_the_table_are_refused(sess, ec_keys, rsa_keys, algorithm, usage):
    key = ec_keys["P-256"] if algorithm == "EC" else rsa_keys[2048]
    with pytest.raises(KeyImportError) as info:
        sess.import_private_key(der_private(key, "pkcs8"), algorithm=algorithm, usage=usage)
    assert info.value.reason is Reason.INVALID_KEY_USAGE
    assert repr(usage) in str(info.value)


@pytest.mark.parametrize("algorithm", ["DSA", "ed25519", None])
def test_unknown_algorithm_is_refused(sess, ec_keys, algorithm):
    with pytest.raises(HsmError) as info:
        sess.import_private_key(der_private(ec_keys["P-256"], "pkcs8"), algorithm=algorithm)
    assert info.value.reason is Reason.UNSUPPORTED_ALGORITHM


@pytest.mark.parametrize("bits", [1024, 2047, 8192])
def test_unsupported_declared_size_is_refused(sess, rsa_keys, bits):
    with pytest.raises(KeyImportError) as info:
        sess.import_private_key(der_private(rsa_keys[2048], "pkcs8"), algorithm="RSA", bits=bits)
    assert info.value.reason is Reason.UNSUPPORTED_KEY_SIZE


@pytest.mark.parametrize("expect,flavour", [("rsa", "RSA"), ("rsa-pss", "RSA-PSS")])
def test_store_type_decides_the_rsa_flavour(sess, rsa_keys, expect, flavour):
    key = sess.import_private_key(der_private(rsa_keys[2048], "pkcs8"), algorithm="RSA")
    loaded = sess.unmask(sess.mask(key), expect=expect)
    assert (loaded.kind, loaded.flavour, loaded.bits) == ("rsa", flavour, 2048)


def test_well_wrapped_junk_is_refused_after_unwrapping(sess, device):
    wrapped = software_wrap(device.unwrapping_public_der, b"not a PKCS#8 key at all")
    with pytest.raises(KeyImportError) as info:
        sess.import_wrapped(wrapped, algorithm="EC")
    assert info.value.reason is Reason.INVALID_KEY_ENCODING


@pytest.mark.parametrize(
    "damage",
    [
        lambda n: (n.p, n.q, n.d + 2, n.dmp1, n.dmq1, n.iqmp),
        lambda n: (n.p, n.q, n.d, n.dmp1 ^ 1, n.dmq1, n.iqmp),
        lambda n: (n.p, n.q, n.d, n.dmp1, n.dmq1, n.iqmp + 1),
        lambda n: (n.p + 2, n.q, n.d, n.dmp1, n.dmq1, n.iqmp),
    ],
    ids=["d", "dP", "qInv", "p"],
)
def test_rsa_key_with_inconsistent_components_is_refused(sess, rsa_keys, damage):
    """The device checks that an imported RSA key's components agree (what pyca's
    primality-testing check would also catch, for the keys a transfer can damage)."""
    numbers = rsa_keys[2048].private_numbers()
    public = numbers.public_numbers
    intact = (numbers.p, numbers.q, numbers.d, numbers.dmp1, numbers.dmq1, numbers.iqmp)
    d, p, q = intact[2], intact[0], intact[1]
    sess.import_private_key(_der_sequence(0, public.n, public.e, d, p, q, *intact[3:]), algorithm="RSA")
    p, q, d, dmp1, dmq1, iqmp = damage(numbers)
    der = _der_sequence(0, public.n, public.e, d, p, q, dmp1, dmq1, iqmp)  # PKCS#1 RSAPrivateKey
    with pytest.raises(KeyImportError) as info:
        sess.import_private_key(der, algorithm="RSA")
    assert info.value.reason is Reason.INVALID_KEY_ENCODING


def _der_sequence(*integers: int) -> bytes:
    """DER SEQUENCE of INTEGERs, written by hand: pyca refuses to write damaged keys."""

    def length(n: int) -> bytes:
        if n < 128:
            return bytes([n])
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return bytes([0x80 | len(raw)]) + raw

    body = b""
    for value in integers:
        raw = value.to_bytes(value.bit_length() // 8 + 1, "big")
        body += b"\x02" + length(len(raw)) + raw
    return b"\x30" + length(len(body)) + body
