"""AES with opaque keys (spec revision 2026-08, "AES with opaque symmetric keys", OpenSSL 3.5
and later). CBC runs through ``openssl enc``; GCM and XTS, which ``enc`` refuses, through the
C-API host (``harness/capi_host.py``). Where the suite can know the key (an AES key derived
by HKDF from a masked secret whose value the oracle recomputes), pyca checks both
directions; a key generated in the HSM is checked by round trips and tampering."""

from __future__ import annotations

import pytest

from azihsm_conformance.conformance import commands, oracle
from azihsm_conformance.conformance.matrix import grid, single

IV = bytes(range(16))
GCM_IV = bytes(range(12))
AAD = b"associated data, authenticated, not encrypted"
CBC_CIPHERS = {128: "AES-128-CBC", 192: "AES-192-CBC", 256: "AES-256-CBC"}


def known_aes_key(openssl, workdir, keys, bits: int, name: str = "aes.bin") -> bytes:
    """A masked AES key made by HKDF from a masked ECDH secret; returns the key's value."""
    secret = keys.shared_secret("P-256")
    secret.copy_to(workdir, "secret.bin")
    openssl(
        *commands.hkdf_args("./secret.bin", key_type="aes", bits=bits, output_file=f"./{name}", info=b"aes"),
        prerequisite=True,
    )
    return oracle.hkdf(secret.value, "sha256", bits // 8, b"", b"aes")


def plaintext(length: int) -> bytes:
    return bytes((7 * i + 3) % 256 for i in range(length))


@pytest.mark.clause("AES-SKEY-GENERATE")
@pytest.mark.parametrize(
    "kind, length",
    [
        pytest.param(None, 32, id="default-kind-32", marks=pytest.mark.quick),
        pytest.param("AES", 16, id="AES-16"),
        pytest.param("AES", 24, id="AES-24"),
        pytest.param("AES-GCM", 32, id="AES-GCM-32", marks=pytest.mark.quick),
        pytest.param("AES-XTS", 64, id="AES-XTS-64", marks=pytest.mark.quick),
    ],
)
def test_generate_writes_a_masked_key(openssl, workdir, kind, length):
    result = openssl(*commands.skey_generate_args("./k.bin", length=length, kind=kind), prove=True)
    blob = workdir / "k.bin"
    assert blob.is_file() and blob.stat().st_size > length, "skeyutl -genkey wrote no masked key file"
    assert blob.stat().st_mode & 0o077 == 0, f"the masked key file is mode {blob.stat().st_mode & 0o777:o}, not 0600"
    assert b"opaque key" in result.stdout, "skeyutl did not report the opaque key it made"


@pytest.mark.clause("AES-SKEY-GENERATE")
@pytest.mark.parametrize(
    "kind, length, good", [("AES", 20, 16), ("AES-GCM", 16, 32), ("AES-XTS", 32, 64), ("AES-OFB", 32, 32)]
)
def test_generate_refuses_other_kinds_and_lengths(openssl, workdir, kind, length, good):
    control_kind = kind if kind != "AES-OFB" else "AES"
    openssl.refuses(
        *commands.skey_generate_args("./k.bin", length=length, kind=kind),
        control=commands.skey_generate_args("./control.bin", length=good, kind=control_kind),
        because="parameter" if kind == "AES-OFB" else "key-size",
    )
    assert not (workdir / "k.bin").exists(), "a refused generation still wrote a masked key"


@pytest.mark.clause("AES-CBC")
@pytest.mark.parametrize("bits, size", grid(bits=(128, 192, 256), size=(0, 15, 16, 1000)))
def test_cbc_with_a_known_key_matches_pyca(openssl, workdir, keys, bits, size):
    key = known_aes_key(openssl, workdir, keys, bits)
    data = plaintext(size)
    (workdir / "plain.bin").write_bytes(data)
    cipher = CBC_CIPHERS[bits]
    openssl(*commands.enc_args(cipher, "./aes.bin", IV, "plain.bin", "hsm.ct"), prove=True)
    assert oracle.aes_cbc(key, IV, (workdir / "hsm.ct").read_bytes(), encrypt=False) == data, (
        "pyca does not decrypt the HSM's ciphertext to the plaintext"
    )
    (workdir / "pyca.ct").write_bytes(oracle.aes_cbc(key, IV, data, encrypt=True))
    openssl(*commands.enc_args(cipher, "./aes.bin", IV, "pyca.ct", "back.bin", decrypt=True))
    assert (workdir / "back.bin").read_bytes() == data, "the HSM does not decrypt pyca's ciphertext"


@pytest.mark.clause("AES-CBC")
def test_cbc_without_padding(openssl, workdir, keys):
    key = known_aes_key(openssl, workdir, keys, 256)
    data = plaintext(64)
    (workdir / "plain.bin").write_bytes(data)
    openssl(*commands.enc_args("AES-256-CBC", "./aes.bin", IV, "plain.bin", "hsm.ct", nopad=True))
    assert (workdir / "hsm.ct").read_bytes() == oracle.aes_cbc(key, IV, data, encrypt=True, pad=False)
    (workdir / "odd.bin").write_bytes(plaintext(17))
    openssl.refuses(
        *commands.enc_args("AES-256-CBC", "./aes.bin", IV, "odd.bin", "odd.ct", nopad=True),
        control=commands.enc_args("AES-256-CBC", "./aes.bin", IV, "plain.bin", "control.ct", nopad=True),
        because="parameter",
    )


@pytest.mark.clause("AES-CBC")
@pytest.mark.parametrize("length", single((16, 24, 32), quick=(32,)))
def test_cbc_with_a_generated_key_round_trips(openssl, workdir, length):
    openssl(*commands.skey_generate_args("./k.bin", length=length), prerequisite=True)
    cipher = CBC_CIPHERS[length * 8]
    data = plaintext(333)
    (workdir / "plain.bin").write_bytes(data)
    openssl(*commands.enc_args(cipher, "./k.bin", IV, "plain.bin", "ct.bin"), prove=True)
    ciphertext = (workdir / "ct.bin").read_bytes()
    assert len(ciphertext) == 336 and data[:16] not in ciphertext, (
        "the ciphertext is not 333 bytes padded and encrypted"
    )
    openssl(*commands.enc_args(cipher, "./k.bin", IV, "ct.bin", "back.bin", decrypt=True))
    assert (workdir / "back.bin").read_bytes() == data


@pytest.mark.clause("AES-KEY-MISMATCH")
@pytest.mark.parametrize("fault", ("128-bit-key-for-AES-256-CBC", "GCM-key-for-CBC", "XTS-key-for-CBC"))
def test_a_key_of_another_size_or_kind_is_refused(openssl, workdir, fault):
    made = {
        "128-bit-key-for-AES-256-CBC": dict(length=16),
        "GCM-key-for-CBC": dict(length=32, kind="AES-GCM"),
        "XTS-key-for-CBC": dict(length=64, kind="AES-XTS"),
    }[fault]
    openssl(*commands.skey_generate_args("./wrong.bin", **made), prerequisite=True)
    openssl(*commands.skey_generate_args("./right.bin", length=32), prerequisite=True)
    (workdir / "plain.bin").write_bytes(plaintext(32))
    openssl.refuses(
        *commands.enc_args("AES-256-CBC", "./wrong.bin", IV, "plain.bin", "ct.bin"),
        control=commands.enc_args("AES-256-CBC", "./right.bin", IV, "plain.bin", "control.bin"),
        because="key-kind",
    )


@pytest.mark.clause("AES-RAW-KEY-REFUSED")
def test_a_raw_key_is_refused_and_never_exported(openssl, workdir):
    openssl(*commands.skey_generate_args("./k.bin", length=32), prerequisite=True)
    (workdir / "plain.bin").write_bytes(plaintext(32))
    openssl.refuses(
        *commands.enc_args("AES-256-CBC", None, IV, "plain.bin", "raw.ct", raw_key=bytes(32)),
        control=commands.enc_args("AES-256-CBC", "./k.bin", IV, "plain.bin", "control.ct"),
        because="raw-key",
    )
    answer = openssl.capi("raw_key", {"masked_key": str(workdir / "k.bin")})
    assert not answer["exported"], f"EVP_SKEY_get0_raw_key handed out {answer['length']} bytes of an HSM key"
    assert answer["errors"], "the refused raw-key export left no error saying why"


@pytest.mark.clause("AES-GCM")
@pytest.mark.parametrize("size", single((0, 1, 16, 1000), quick=(1000,)))
def test_gcm_round_trip_with_a_generated_key(openssl, workdir, size):
    openssl(*commands.skey_generate_args("./k.bin", length=32, kind="AES-GCM"), prerequisite=True)
    data = plaintext(size)
    base = {"cipher": "AES-256-GCM", "masked_key": str(workdir / "k.bin"), "iv": GCM_IV.hex(), "aad": AAD.hex()}
    sealed = openssl.capi("aes", {**base, "data": data.hex()})
    assert sealed["queue"] == [], f"the error queue is not empty after a successful encryption: {sealed['queue']}"
    ciphertext, tag = bytes.fromhex(sealed["out"]), bytes.fromhex(sealed["tag"])
    assert len(ciphertext) == size and len(tag) == 16 and (size < 16 or data not in ciphertext)
    opened = openssl.capi("aes", {**base, "encrypt": False, "data": ciphertext.hex(), "tag": tag.hex()})
    assert bytes.fromhex(opened["out"]) == data and opened["queue"] == []
    for what, change in (
        ("tag", {"tag": bytes([tag[0] ^ 1]) + tag[1:]}),
        ("additional data", {"aad": (AAD + b"!").hex()}),
        ("ciphertext", {"data": (bytes([ciphertext[0] ^ 1]) + ciphertext[1:]).hex()} if size else {"tag": bytes(16)}),
    ):
        altered = {**base, "encrypt": False, "data": ciphertext.hex(), "tag": tag.hex()}
        altered.update({k: (v.hex() if isinstance(v, bytes) else v) for k, v in change.items()})
        refused = openssl.capi("aes", altered, expect_ok=False)
        assert refused["errors"], f"a GCM decryption with a changed {what} failed without a reason"


@pytest.mark.clause("AES-GCM-KNOWN-KEY")
def test_gcm_with_a_known_key_matches_pyca(openssl, workdir, keys):
    key = known_aes_key(openssl, workdir, keys, 256)
    data = plaintext(100)
    base = {"cipher": "AES-256-GCM", "masked_key": str(workdir / "aes.bin"), "iv": GCM_IV.hex(), "aad": AAD.hex()}
    sealed = openssl.capi("aes", {**base, "data": data.hex()})
    assert (
        oracle.aes_gcm(key, GCM_IV, bytes.fromhex(sealed["out"]), AAD, encrypt=False, tag=bytes.fromhex(sealed["tag"]))
        == data
    )
    ciphertext, tag = oracle.aes_gcm(key, GCM_IV, data, AAD, encrypt=True)
    opened = openssl.capi("aes", {**base, "encrypt": False, "data": ciphertext.hex(), "tag": tag.hex()})
    assert bytes.fromhex(opened["out"]) == data


@pytest.mark.clause("AES-XTS")
def test_xts_round_trip_with_a_generated_key(openssl, workdir):
    openssl(*commands.skey_generate_args("./k.bin", length=64, kind="AES-XTS"), prerequisite=True)
    data = plaintext(100)
    base = {"cipher": "AES-256-XTS", "masked_key": str(workdir / "k.bin")}
    first = openssl.capi("aes", {**base, "iv": IV.hex(), "data": data.hex()})
    other_tweak = openssl.capi("aes", {**base, "iv": bytes(16).hex(), "data": data.hex()})
    ciphertext = bytes.fromhex(first["out"])
    assert len(ciphertext) == len(data) and ciphertext != data, "XTS must keep the length and change the data"
    assert other_tweak["out"] != first["out"], "another tweak gave the same ciphertext"
    back = openssl.capi("aes", {**base, "iv": IV.hex(), "encrypt": False, "data": ciphertext.hex()})
    assert bytes.fromhex(back["out"]) == data
    short = openssl.capi("aes", {**base, "iv": IV.hex(), "data": plaintext(15).hex()}, expect_ok=False)
    assert short["errors"], "XTS over less than a block failed without a reason"
