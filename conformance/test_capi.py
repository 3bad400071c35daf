"""C-API contracts the openssl CLI cannot show (spec: "ECDH Key Exchange", "HKDF Key
Derivation"), checked through the C-API host against the libcrypto under test: the secret
length a derive into output_file reports, the error a too-small KDF buffer gets, and an
empty error queue after every successful call."""

from __future__ import annotations

import pytest

from azihsm_conformance.conformance import commands


@pytest.mark.clause("CAPI-DERIVE-SECRETLEN")
def test_derive_into_output_file_reports_no_secret(openssl, workdir, keys, software_keys):
    key = keys.imported_ec("P-256", "keyAgreement")
    peer = commands.write_peer(workdir, software_keys.ec("P-256", 1).public_key(), "pem")
    answer = openssl.capi(
        "derive", {"key": key.absolute_uri(), "peer": str(workdir / peer), "output_file": str(workdir / "secret.bin")}
    )
    assert answer["size_query"] > 0, "the size query answered 0: a caller would never call the derive"
    assert answer["secretlen"] == 0, f"EVP_PKEY_derive reported {answer['secretlen']} secret bytes, not 0"
    assert (workdir / "secret.bin").stat().st_size, "the derive wrote no masked secret to output_file"
    assert answer["queue"] == [], f"a successful derive left errors on the queue: {answer['queue']}"


@pytest.mark.clause("CAPI-KDF-SMALL-BUFFER")
def test_kdf_into_a_too_small_buffer(openssl, workdir, keys):
    secret = keys.shared_secret("P-256")
    secret.copy_to(workdir, "secret.bin")
    request = {
        "kdf": "HKDF",
        "params": {"azihsm.ikm_file": str(workdir / "secret.bin"), "derived_key_type": "hmac", "derived_key_bits": 256},
    }
    fitting = openssl.capi("kdf", {**request, "size": 4096})
    assert fitting["queue"] == [], f"a successful derive left errors on the queue: {fitting['queue']}"
    small = openssl.capi("kdf", {**request, "size": 8}, expect_ok=False)
    said = " ".join(small["errors"]).lower().replace("-", " ")
    assert "output buffer too small" in said, f"the failure does not say the buffer is too small: {small['errors']}"
