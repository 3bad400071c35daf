"""Provider flags (spec: "Provider Flags"): the documented order, other positions, and the
informational -propquery-after-provider order."""

from __future__ import annotations

import pytest

from azihsm_conformance.conformance import oracle
from azihsm_conformance.conformance.matrix import single
from azihsm_conformance.harness.markers import PROV


@pytest.mark.clause("PROV-FLAGS-DOCUMENTED")
def test_documented_flags_load_the_provider(openssl):
    result = openssl("list", "-providers", PROV)
    names = [
        line.strip()
        for line in result.stdout.decode().splitlines()
        if line.startswith("  ") and not line.startswith("    ")
    ]
    others = [name for name in names if name not in ("default", "base")]
    assert "default" in names, f"list -providers does not show the default provider: {names}"
    assert others, f"list -providers shows no provider besides default: {names}"


@pytest.mark.clause("PROV-FLAGS-POSITION")
@pytest.mark.parametrize(
    "position", single(["dgst_flags_first", "dgst_flags_last", "pkeyutl_flags_last", "req_flags_last"])
)
def test_flags_anywhere(openssl, workdir, keys, data, position):
    key = keys.ec("P-256")
    uri = key.uri(workdir)
    if position == "req_flags_last":  # a certificate request, signed by the key, flags last
        openssl(
            "req",
            "-new",
            "-key",
            uri,
            "-subj",
            "/CN=azihsm conformance",
            "-sha256",
            "-out",
            "req.pem",
            PROV,
            prove=True,
        )
        oracle.assert_csr_signed((workdir / "req.pem").read_bytes(), key.public)
    elif position == "dgst_flags_first":
        openssl("dgst", PROV, "-sha256", "-sign", uri, "-out", "sig.bin", data, prove=True)
        oracle.verify_ecdsa(key.public, (workdir / "sig.bin").read_bytes(), data.read_bytes(), "sha256")
    elif position == "dgst_flags_last":
        openssl("dgst", "-sha256", "-sign", uri, "-out", "sig.bin", PROV, data, prove=True)
        oracle.verify_ecdsa(key.public, (workdir / "sig.bin").read_bytes(), data.read_bytes(), "sha256")
    else:
        (workdir / "data.sha256").write_bytes(oracle.digest("sha256", data.read_bytes()))
        openssl("pkeyutl", "-sign", "-inkey", uri, "-in", "data.sha256", "-out", "sig.bin", PROV, prove=True)
        oracle.verify_ecdsa(
            key.public,
            (workdir / "sig.bin").read_bytes(),
            (workdir / "data.sha256").read_bytes(),
            "sha256",
            prehashed=True,
        )


@pytest.mark.clause("PROV-PROPQUERY-AFTER")
def test_propquery_after_provider(openssl, workdir, backend, observe):
    """Records whether the order the README warns against works (reference: it does)."""
    flags = backend.provider_flags()
    at = flags.index("-propquery")
    propquery = flags[at : at + 2]
    reordered = flags[:at] + flags[at + 2 :] + propquery
    openssl(
        "genpkey",
        *reordered,
        "-algorithm",
        "EC",
        "-pkeyopt",
        "group:P-384",
        "-pkeyopt",
        "azihsm.masked_key:./k.bin",
        "-outform",
        "DER",
        "-out",
        "/dev/null",
    )
    # the same with the provider flags as PROV (in the documented order) proves who made the key
    openssl(
        "genpkey",
        PROV,
        "-algorithm",
        "EC",
        "-pkeyopt",
        "group:P-384",
        "-pkeyopt",
        "azihsm.masked_key:./twin.bin",
        "-outform",
        "DER",
        "-out",
        "/dev/null",
        prove=True,
    )
    assert (workdir / "k.bin").is_file(), "genpkey with -propquery last exited 0 but wrote no masked key"
    observe("-propquery after the -provider flags works")
