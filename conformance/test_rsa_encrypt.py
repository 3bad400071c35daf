"""RSA encryption and decryption (spec: "RSA Encryption and Decryption"), both directions:
HSM ciphertexts are decrypted by pyca, pyca ciphertexts by the HSM."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from azihsm_conformance.conformance import oracle
from azihsm_conformance.conformance.commands import crypt_args, rsa_crypt
from azihsm_conformance.conformance.keys import RSA_SIZES
from azihsm_conformance.conformance.matrix import Named, grid, single
from azihsm_conformance.conformance.vectors import valid_sibling, wycheproof_params, wycheproof_root
from azihsm_conformance.harness.markers import Inconclusive

OAEP_DIGESTS = ("sha256", "sha384", "sha512")
DIRECTIONS = ("hsm_encrypts", "hsm_decrypts")
PLAINTEXT = b"azihsm conformance: a secret worth wrapping"


def enc_key(keys, bits: int):
    return keys.imported_rsa(bits, "keyEncipherment")


def refuse_decryption(
    openssl,
    uri: str,
    faulty: bytes,
    control: bytes,
    because: str = "decryption",
    *,
    control_options: dict | None = None,
    **options,
):
    """Decrypting FAULTY must be refused while CONTROL (a good ciphertext for the same key,
    decrypted with CONTROL_OPTIONS, default OPTIONS) decrypts; nothing may be written."""
    (openssl.cwd / "faulty.ct").write_bytes(faulty)
    (openssl.cwd / "control.ct").write_bytes(control)
    openssl.refuses(
        *crypt_args("decrypt", uri, infile="faulty.ct", outfile="faulty.out", **options),
        control=crypt_args("decrypt", uri, infile="control.ct", outfile="control.out", **(control_options or options)),
        because=because,
    )
    output = openssl.cwd / "faulty.out"
    return output.read_bytes() if output.exists() else b""


def refuse_encryption(
    openssl, uri: str, faulty: bytes, control: bytes, because: str, *, control_options: dict | None = None, **options
):
    """Encrypting FAULTY must be refused while CONTROL (with CONTROL_OPTIONS) encrypts."""
    (openssl.cwd / "faulty.pt").write_bytes(faulty)
    (openssl.cwd / "control.pt").write_bytes(control)
    openssl.refuses(
        *crypt_args("encrypt", uri, infile="faulty.pt", outfile="faulty.out", **options),
        control=crypt_args("encrypt", uri, infile="control.pt", outfile="control.out", **(control_options or options)),
        because=because,
    )


@pytest.mark.clause("ENC-RSA-OAEP")
@pytest.mark.parametrize(
    "bits, digest, mgf1, direction",
    grid(bits=RSA_SIZES, digest=OAEP_DIGESTS, mgf1=("mgf1_explicit", "mgf1_default"), direction=DIRECTIONS),
)
def test_oaep_round_trip(openssl, workdir, keys, bits, digest, mgf1, direction):
    key = enc_key(keys, bits)
    mgf1_option = digest if mgf1 == "mgf1_explicit" else None
    if direction == "hsm_encrypts":
        ciphertext = rsa_crypt(
            openssl, "encrypt", key.public_uri(workdir), PLAINTEXT, digest=digest, mgf1=mgf1_option, prove=True
        )
        oracle.assert_oaep_decrypts(key.private, ciphertext, PLAINTEXT, digest)
    else:
        ciphertext = oracle.oaep_encrypt(key.public, PLAINTEXT, digest)
        plaintext = rsa_crypt(
            openssl, "decrypt", key.uri(workdir), ciphertext, digest=digest, mgf1=mgf1_option, prove=True
        )
        assert plaintext == PLAINTEXT, f"the HSM decrypted pyca's OAEP-{digest} ciphertext to {plaintext[:40]!r}"


@pytest.mark.clause("ENC-RSA-OAEP-LABEL")
@pytest.mark.parametrize(
    "bits, digest, scenario",
    grid(bits=RSA_SIZES, digest=OAEP_DIGESTS, scenario=("hsm_encrypts", "hsm_decrypts")),
)
def test_oaep_label(openssl, workdir, keys, bits, digest, scenario):
    key = enc_key(keys, bits)
    label = b"azihsm-label\x00\x01"
    if scenario == "hsm_encrypts":
        ciphertext = rsa_crypt(
            openssl, "encrypt", key.public_uri(workdir), PLAINTEXT, digest=digest, label=label, prove=True
        )
        oracle.assert_oaep_decrypts(key.private, ciphertext, PLAINTEXT, digest, label=label)
        return
    ciphertext = oracle.oaep_encrypt(key.public, PLAINTEXT, digest, label=label)
    plaintext = rsa_crypt(openssl, "decrypt", key.uri(workdir), ciphertext, digest=digest, label=label, prove=True)
    assert plaintext == PLAINTEXT, "the HSM decrypted a labelled OAEP ciphertext to other bytes"


@pytest.mark.clause("ENC-RSA-OAEP-WRONG-LABEL")
@pytest.mark.parametrize(
    "bits, made_with, given",
    grid(
        bits=RSA_SIZES,
        made_with=(Named("label", b"azihsm-label"), Named("no_label", b"")),
        given=(Named("other_label", b"another label"), Named("no_label", None)),
        exclude=lambda bits, made_with, given: not made_with and given is None,
    ),
)
def test_oaep_wrong_label_refused(openssl, workdir, keys, bits, made_with, given):
    """The control decrypts a ciphertext made under the label given."""
    key = enc_key(keys, bits)
    ciphertext = oracle.oaep_encrypt(key.public, PLAINTEXT, "sha256", label=made_with)
    control = oracle.oaep_encrypt(key.public, PLAINTEXT, "sha256", label=given or b"")
    output = refuse_decryption(openssl, key.uri(workdir), ciphertext, control, digest="sha256", label=given)
    assert PLAINTEXT not in output, "decryption under the wrong label failed but still wrote the plaintext"


@pytest.mark.clause("ENC-RSA-PKCS1")
@pytest.mark.parametrize("bits, direction", grid(bits=RSA_SIZES, direction=DIRECTIONS))
def test_pkcs1_round_trip(openssl, workdir, keys, bits, direction):
    key = enc_key(keys, bits)
    if direction == "hsm_encrypts":
        ciphertext = rsa_crypt(openssl, "encrypt", key.public_uri(workdir), PLAINTEXT, padding="pkcs1", prove=True)
        oracle.assert_pkcs1_decrypts(key.private, ciphertext, PLAINTEXT)
    else:
        plaintext = rsa_crypt(
            openssl,
            "decrypt",
            key.uri(workdir),
            oracle.pkcs1_encrypt(key.public, PLAINTEXT),
            padding="pkcs1",
            prove=True,
        )
        assert plaintext == PLAINTEXT, "the HSM decrypted pyca's PKCS#1 v1.5 ciphertext to other bytes"


@pytest.mark.clause("ENC-RSA-PLAINTEXT-LIMIT")
@pytest.mark.parametrize(
    "bits, padding, edge",
    grid(bits=RSA_SIZES, padding=("oaep-sha256", "oaep-sha512", "pkcs1"), edge=("at_limit", "one_over")),
)
def test_plaintext_limit(openssl, workdir, keys, bits, padding, edge):
    key = enc_key(keys, bits)
    mode, _, digest = padding.partition("-")
    limit = oracle.max_plaintext(bits, mode, digest or "sha256")
    plaintext = bytes((i * 13 + 1) & 0xFF for i in range(limit))
    if edge == "one_over":  # the control encrypts the longest plaintext allowed
        refuse_encryption(
            openssl,
            key.public_uri(workdir),
            plaintext + b"\x01",
            plaintext,
            "data-size",
            padding=mode,
            digest=digest or None,
        )
        return
    ciphertext = rsa_crypt(
        openssl, "encrypt", key.public_uri(workdir), plaintext, padding=mode, digest=digest or None, prove=True
    )
    if mode == "oaep":
        oracle.assert_oaep_decrypts(key.private, ciphertext, plaintext, digest)
    else:
        oracle.assert_pkcs1_decrypts(key.private, ciphertext, plaintext)


@pytest.mark.clause("ENC-RSA-OAEP-SHA1-REFUSED")
@pytest.mark.parametrize("bits, direction", grid(bits=RSA_SIZES, direction=("encrypt", "decrypt")))
def test_oaep_sha1_refused(openssl, workdir, keys, bits, direction):
    """The control does the same with SHA-256."""
    key = enc_key(keys, bits)
    good = dict(digest="sha256", mgf1="sha256")
    if direction == "encrypt":
        refuse_encryption(
            openssl,
            key.public_uri(workdir),
            PLAINTEXT,
            PLAINTEXT,
            "digest",
            digest="sha1",
            mgf1="sha1",
            control_options=good,
        )
        return
    output = refuse_decryption(
        openssl,
        key.uri(workdir),
        oracle.oaep_encrypt(key.public, PLAINTEXT, "sha1"),
        oracle.oaep_encrypt(key.public, PLAINTEXT, "sha256"),
        "digest",
        digest="sha1",
        mgf1="sha1",
        control_options=good,
    )
    assert PLAINTEXT not in output, "a refused OAEP-SHA1 decryption still wrote the plaintext"


@pytest.mark.clause("ENC-RSA-MGF1-MISMATCH")
@pytest.mark.parametrize(
    "digest, mgf1, direction",
    grid(digest=OAEP_DIGESTS, mgf1=("sha1", "other_sha2"), direction=("encrypt", "decrypt")),
)
def test_oaep_mgf1_mismatch_refused(openssl, workdir, keys, digest, mgf1, direction):
    """The control uses the OAEP digest for MGF1 too."""
    key = enc_key(keys, 2048)
    mgf1_digest = "sha1" if mgf1 == "sha1" else ("sha256" if digest != "sha256" else "sha384")
    good = dict(digest=digest, mgf1=digest)
    if direction == "encrypt":
        refuse_encryption(
            openssl,
            key.public_uri(workdir),
            PLAINTEXT,
            PLAINTEXT,
            "digest",
            digest=digest,
            mgf1=mgf1_digest,
            control_options=good,
        )
        return
    output = refuse_decryption(
        openssl,
        key.uri(workdir),
        oracle.oaep_encrypt(key.public, PLAINTEXT, digest, mgf1_digest),
        oracle.oaep_encrypt(key.public, PLAINTEXT, digest),
        "digest",
        digest=digest,
        mgf1=mgf1_digest,
        control_options=good,
    )
    assert PLAINTEXT not in output, "a refused decryption still wrote the plaintext"


def _bad_ciphertext(keys, padding: str, problem: str) -> bytes:
    """A ciphertext for the 2048-bit key that must not decrypt: PROBLEM corrupted, other_key or too_long."""
    target = keys.imported_rsa(2048, "keyEncipherment", index=1) if problem == "other_key" else enc_key(keys, 2048)
    if padding == "oaep":
        ciphertext = oracle.oaep_encrypt(target.public, PLAINTEXT, "sha256")
    else:
        ciphertext = oracle.pkcs1_encrypt(target.public, PLAINTEXT)
    if problem == "corrupted":
        ciphertext = ciphertext[:20] + bytes([ciphertext[20] ^ 0x40]) + ciphertext[21:]
    elif problem == "too_long":
        ciphertext = b"\x01" + ciphertext
    return ciphertext


def _good_ciphertext(keys, padding: str) -> bytes:
    key = enc_key(keys, 2048)
    return (
        oracle.oaep_encrypt(key.public, PLAINTEXT, "sha256")
        if padding == "oaep"
        else oracle.pkcs1_encrypt(key.public, PLAINTEXT)
    )


@pytest.mark.clause("ENC-RSA-DECRYPT-INVALID")
@pytest.mark.parametrize(
    "padding, problem",
    grid(
        padding=("oaep", "pkcs1"),
        problem=("corrupted", "other_key", "too_long"),
        exclude=lambda padding, problem: padding == "pkcs1" and problem != "too_long",
    ),
)
def test_invalid_ciphertext_refused(openssl, workdir, keys, padding, problem):
    ciphertext = _bad_ciphertext(keys, padding, problem)
    output = refuse_decryption(
        openssl,
        enc_key(keys, 2048).uri(workdir),
        ciphertext,
        _good_ciphertext(keys, padding),
        padding=padding,
        digest="sha256" if padding == "oaep" else None,
    )
    assert PLAINTEXT not in output, "a refused decryption still wrote the plaintext"


def record_pkcs1_invalid_padding(
    openssl, observe, uri: str, ciphertext: bytes, control: bytes, expected_plaintext: bytes | None = None
) -> None:
    """Passes when the backend refuses (what the real HSM does); otherwise fails with a
    message that records what it returned instead (an INFO clause never fails the run)."""
    try:
        refuse_decryption(openssl, uri, ciphertext, control, padding="pkcs1")
        observe("invalid PKCS#1 v1.5 padding is refused with an error")
        return
    except Inconclusive:
        raise
    except pytest.fail.Exception:
        output = (openssl.cwd / "faulty.out").read_bytes() if (openssl.cwd / "faulty.out").exists() else b""
    if expected_plaintext is not None and expected_plaintext in output:
        pytest.fail("recorded: a ciphertext with invalid PKCS#1 v1.5 padding decrypted to the original plaintext")
    pytest.fail(
        f"recorded: the backend did not refuse the invalid padding; it returned a {len(output)}-byte "
        "synthetic message (implicit rejection) instead of an error"
    )


@pytest.mark.clause("ENC-RSA-PKCS1-INVALID-PADDING")
@pytest.mark.parametrize("problem", single(["corrupted", "other_key"]))
def test_pkcs1_invalid_padding(openssl, workdir, keys, observe, problem):
    record_pkcs1_invalid_padding(
        openssl,
        observe,
        enc_key(keys, 2048).uri(workdir),
        _bad_ciphertext(keys, "pkcs1", problem),
        _good_ciphertext(keys, "pkcs1"),
        PLAINTEXT,
    )


@pytest.mark.clause("ENC-RSA-DEFAULT-PADDING")
def test_default_padding(openssl, workdir, keys, observe):
    """Records the padding used without rsa_padding_mode (reference: OAEP with SHA-256, as upstream)."""
    key = enc_key(keys, 2048)
    ciphertext = rsa_crypt(openssl, "encrypt", key.public_uri(workdir), PLAINTEXT, padding=None, prove=True)
    candidates = {
        "OAEP-SHA256": lambda: oracle.assert_oaep_decrypts(key.private, ciphertext, PLAINTEXT, "sha256"),
        "OAEP-SHA1": lambda: oracle.assert_oaep_decrypts(key.private, ciphertext, PLAINTEXT, "sha1"),
        "PKCS#1 v1.5": lambda: oracle.assert_pkcs1_decrypts(key.private, ciphertext, PLAINTEXT),
    }
    used = []
    for name, check in candidates.items():
        try:
            check()
            used.append(name)
        except AssertionError:
            pass
    observe(f"without rsa_padding_mode the backend uses {' or '.join(used) or 'an unrecognised padding'}")
    assert used == ["OAEP-SHA256"], (
        f"without rsa_padding_mode the backend used {used[0] if used else 'an unrecognised padding'}"
    )


# ----------------------------------------------------------------- Wycheproof


def _key_size_ok(case) -> bool:
    return int(case.group.get("keySize", 0)) in RSA_SIZES


def _oaep_kind(case) -> str:
    """'supported', 'sha1' (OAEP digest SHA-1) or 'mgf1_mismatch'."""
    digest = oracle.canonical_digest(case.group["sha"])
    mgf1 = oracle.canonical_digest(case.group["mgfSha"])
    if digest == "sha1":
        return "sha1"
    return "supported" if mgf1 == digest else "mgf1_mismatch"


def pytest_generate_tests(metafunc):
    config = metafunc.config
    selections = {
        "oaep_vector": (
            "rsa_oaep",
            dict(valid=5, invalid=0),
            lambda c: _key_size_ok(c) and _oaep_kind(c) == "supported" and not c.test["label"],
        ),
        "oaep_label_vector": (
            "rsa_oaep",
            dict(valid=3, invalid=0),
            lambda c: _key_size_ok(c) and _oaep_kind(c) == "supported" and c.test["label"],
        ),
        "oaep_invalid_vector": (
            "rsa_oaep",
            dict(valid=0, invalid=6),
            lambda c: _key_size_ok(c) and _oaep_kind(c) == "supported",
        ),
        "oaep_sha1_vector": (
            "rsa_oaep",
            dict(valid=3, invalid=0),
            lambda c: _key_size_ok(c) and _oaep_kind(c) == "sha1",
        ),
        "oaep_mgf1_vector": (
            "rsa_oaep",
            dict(valid=3, invalid=0),
            lambda c: _key_size_ok(c) and _oaep_kind(c) == "mgf1_mismatch",
        ),
        "pkcs1_vector": ("rsa_pkcs1_decrypt", dict(valid=6, invalid=0), _key_size_ok),
        "pkcs1_invalid_vector": ("rsa_pkcs1_decrypt", dict(valid=0, invalid=4), _key_size_ok),
    }
    for name, (family, counts, accept) in selections.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, wycheproof_params(config, family, accept=accept, **counts))


def vector_key(keys, case):
    private = serialization.load_der_private_key(case.hex("privateKeyPkcs8"), password=None)
    fingerprint = private.public_key().public_numbers().n % 10**8
    return keys.imported(f"wycheproof-{case.file}-{fingerprint}", private, "RSA", "keyEncipherment")


def oaep_options(case) -> dict:
    return dict(
        padding="oaep",
        digest=oracle.canonical_digest(case.group["sha"]),
        mgf1=oracle.canonical_digest(case.group["mgfSha"]),
        label=case.hex("label") or None,
    )


@pytest.mark.clause("ENC-RSA-WYCHEPROOF")
def test_oaep_wycheproof_decrypt(openssl, workdir, keys, oaep_vector):
    case = oaep_vector
    plaintext = rsa_crypt(
        openssl, "decrypt", vector_key(keys, case).uri(workdir), case.hex("ct"), **oaep_options(case), prove=True
    )
    assert plaintext == case.hex("msg"), (
        f"tc {case.tc_id}: decrypted to {plaintext.hex()[:40]}, expected {case.test['msg'][:40]}"
    )


@pytest.mark.clause("ENC-RSA-OAEP-LABEL")
def test_oaep_wycheproof_labelled_decrypt(openssl, workdir, keys, oaep_label_vector):
    case = oaep_label_vector
    plaintext = rsa_crypt(
        openssl, "decrypt", vector_key(keys, case).uri(workdir), case.hex("ct"), **oaep_options(case), prove=True
    )
    assert plaintext == case.hex("msg"), (
        f"tc {case.tc_id} (label {case.test['label'][:16]}...): decrypted to other bytes"
    )


@pytest.mark.clause("ENC-RSA-WYCHEPROOF")
def test_pkcs1_wycheproof_decrypt(openssl, workdir, keys, pkcs1_vector):
    case = pkcs1_vector
    plaintext = rsa_crypt(
        openssl, "decrypt", vector_key(keys, case).uri(workdir), case.hex("ct"), padding="pkcs1", prove=True
    )
    assert plaintext == case.hex("msg"), (
        f"tc {case.tc_id}: decrypted to {plaintext.hex()[:40]}, expected {case.test['msg'][:40]}"
    )


@pytest.mark.clause("ENC-RSA-DECRYPT-INVALID")
def test_oaep_wycheproof_invalid_refused(openssl, workdir, keys, request, oaep_invalid_vector):
    """The control decrypts a valid vector of the same group (same key and parameters)."""
    case = oaep_invalid_vector
    control = valid_sibling(case, wycheproof_root(request.config))
    if control is None:
        raise Inconclusive(f"no valid case in the group of {case.id} to serve as the positive control")
    refuse_decryption(
        openssl,
        vector_key(keys, case).uri(workdir),
        case.hex("ct"),
        control.hex("ct"),
        control_options=oaep_options(control),
        **oaep_options(case),
    )


@pytest.mark.clause("ENC-RSA-PKCS1-INVALID-PADDING")
def test_pkcs1_wycheproof_invalid_padding(openssl, workdir, keys, observe, pkcs1_invalid_vector):
    key = vector_key(keys, pkcs1_invalid_vector)
    record_pkcs1_invalid_padding(
        openssl, observe, key.uri(workdir), pkcs1_invalid_vector.hex("ct"), oracle.pkcs1_encrypt(key.public, PLAINTEXT)
    )


def assert_vector_refused(openssl, workdir, keys, case) -> None:
    """A valid vector with an OAEP parameter set the spec refuses; the control decrypts the
    same message encrypted under SHA-256 for the same key."""
    key = vector_key(keys, case)
    control = oracle.oaep_encrypt(key.public, PLAINTEXT, "sha256")
    output = refuse_decryption(
        openssl,
        key.uri(workdir),
        case.hex("ct"),
        control,
        "digest",
        control_options=dict(padding="oaep", digest="sha256", mgf1="sha256"),
        **oaep_options(case),
    )
    assert not output or output != case.hex("msg"), "a refused OAEP parameter set still decrypted the message"


@pytest.mark.clause("ENC-RSA-OAEP-SHA1-REFUSED")
def test_oaep_wycheproof_sha1_refused(openssl, workdir, keys, oaep_sha1_vector):
    """Valid vectors of the OAEP-SHA1 file: the documented refusal, never a decryption."""
    assert_vector_refused(openssl, workdir, keys, oaep_sha1_vector)


@pytest.mark.clause("ENC-RSA-MGF1-MISMATCH")
def test_oaep_wycheproof_mgf1_mismatch_refused(openssl, workdir, keys, oaep_mgf1_vector):
    """Valid vectors whose MGF1 digest differs from the OAEP digest: refused, never decrypted."""
    assert_vector_refused(openssl, workdir, keys, oaep_mgf1_vector)
