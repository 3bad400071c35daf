"""EC key generation (spec: "EC Key Generation"; usage rules from "Key Usage ...")."""

from __future__ import annotations

import stat

import pytest

from azihsm_conformance.conformance import oracle
from azihsm_conformance.conformance.keys import CURVES, EC_USAGES, RSA_SIZES, export_public_der, genpkey_args
from azihsm_conformance.conformance.matrix import Named, grid, single
from azihsm_conformance.harness.markers import PROV

OPENSSL_CURVE_NAMES = {"P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1"}


def check_generated_key(openssl, workdir, blob_name: str, curve: str, usage: str, data) -> None:
    """The blob loads back as a key on CURVE; a signing key's signature verifies under its public half."""
    uri = f"azihsm://./{blob_name};type=ec"
    public = oracle.assert_curve(export_public_der(openssl, uri), curve)
    if usage == "digitalSignature":
        openssl("dgst", "-sha256", PROV, "-sign", uri, "-out", "check.sig", data)
        oracle.verify_ecdsa(public, (workdir / "check.sig").read_bytes(), data.read_bytes(), "sha256")


@pytest.mark.clause("KEYGEN-EC")
@pytest.mark.parametrize(
    "curve, usage, session",
    grid(curve=CURVES, usage=EC_USAGES, session=(Named("persistent_default", None), "false", "true")),
)
def test_generate_ec_key(openssl, workdir, data, curve, usage, session):
    openssl(*genpkey_args("EC", group=curve, usage=usage, session=session, masked_key="./k.bin"), prove=True)
    blob = workdir / "k.bin"
    assert blob.is_file() and blob.stat().st_size > 0, "genpkey exited 0 but wrote no masked key file"
    if session == "true":
        return  # a session key's blob is only usable by its own process (clause BLOB-ENDED-SESSION)
    check_generated_key(openssl, workdir, "k.bin", curve, usage, data)


@pytest.mark.clause("KEYGEN-EC-GROUP-ALIASES")
@pytest.mark.parametrize(
    "curve, option, name",
    [
        pytest.param(
            curve,
            option,
            name(curve),
            id=f"{curve}-{option}-{name(curve)}",
            marks=[pytest.mark.quick] if curve == "P-384" else [],
        )
        for curve in CURVES
        for option, name in (
            ("group", lambda c: OPENSSL_CURVE_NAMES[c]),
            ("ec_paramgen_curve", lambda c: c),
            ("ec_paramgen_curve", lambda c: OPENSSL_CURVE_NAMES[c]),
        )
    ],
)
def test_generate_ec_curve_spellings(openssl, workdir, data, curve, option, name):
    openssl(*genpkey_args("EC", group=name, group_option=option, masked_key="./k.bin"), prove=True)
    check_generated_key(openssl, workdir, "k.bin", curve, "digitalSignature", data)


@pytest.mark.clause("KEYGEN-EC-BAD-GROUP")
@pytest.mark.parametrize("group", single(["P-999", "P-224", "secp256k1", "brainpoolP256r1"]))
def test_generate_ec_unsupported_curve_refused(openssl, workdir, group):
    openssl.refuses(
        *genpkey_args("EC", group=group, masked_key="./k.bin"),
        control=genpkey_args("EC", group="P-256", masked_key="./control.bin"),
        because="curve",
    )
    assert not (workdir / "k.bin").exists(), f"a failed genpkey (group {group}) left a masked key file"


@pytest.mark.clause("KEYGEN-EC-DEFAULT-GROUP")
def test_generate_ec_without_group(openssl, workdir, observe):
    openssl(*genpkey_args("EC", masked_key="./k.bin"), prove=True)
    public = oracle.load_public(export_public_der(openssl, "azihsm://./k.bin;type=ec"))
    observe(f"without a group genpkey makes an {oracle.describe_public(public).removesuffix(' public key')} key")
    # recorded behaviour: the reference decided on P-256 (reference-behavior.md, "Defaults")
    assert oracle.describe_public(public) == "EC P-256 public key", (
        f"without a group the backend made an {oracle.describe_public(public)}"
    )


@pytest.mark.clause("KEYGEN-SESSION-VALUES")
@pytest.mark.parametrize(
    "usage, spelling",
    grid(usage=EC_USAGES, spelling=("true", "false", "yes", "no", "1", "0")),
)
def test_session_spellings(openssl, workdir, usage, spelling):
    openssl(*genpkey_args("EC", group="P-256", usage=usage, session=spelling, masked_key="./k.bin"), prove=True)
    assert (workdir / "k.bin").is_file(), "genpkey exited 0 but wrote no masked key file"
    # a later process can load a persistent key, never a session key
    load = ("pkey", PROV, "-in", "azihsm://./k.bin;type=ec", "-pubout", "-outform", "DER", "-out", "pub.der")
    if spelling in ("true", "yes", "1"):
        # the control: the same load of a persistent key made the same way
        openssl(
            *genpkey_args("EC", group="P-256", usage=usage, session="false", masked_key="./p.bin"), prerequisite=True
        )
        control = [arg if arg != "azihsm://./k.bin;type=ec" else "azihsm://./p.bin;type=ec" for arg in load]
        openssl.refuses(*load, control=control, because="blob")
    else:
        openssl(*load)
        oracle.assert_curve((workdir / "pub.der").read_bytes(), "P-256")


@pytest.mark.clause("KEYGEN-SESSION-BAD-VALUE")
@pytest.mark.parametrize("spelling", single(["TRUE", "on", "2", "maybe"]))
def test_session_bad_value_refused(openssl, workdir, spelling):
    openssl.refuses(
        *genpkey_args("EC", group="P-256", session=spelling, masked_key="./k.bin"),
        control=genpkey_args("EC", group="P-256", session="true", masked_key="./control.bin"),
        because="parameter",
    )
    assert not (workdir / "k.bin").exists(), f"azihsm.session:{spelling} failed but left a masked key file"


@pytest.mark.clause("KEYGEN-BAD-USAGE")
@pytest.mark.parametrize(
    "algorithm, usage",
    [
        pytest.param("EC", "keyEncipherment", id="EC-keyEncipherment", marks=pytest.mark.quick),
        pytest.param("EC", "signing", id="EC-unknown_usage"),
        pytest.param("RSA", "keyAgreement", id="RSA-keyAgreement", marks=pytest.mark.quick),
        pytest.param("RSA-PSS", "keyAgreement", id="RSA-PSS-keyAgreement"),
        pytest.param("RSA", "digitalsignature", id="RSA-wrong_case_usage"),
    ],
)
def test_disallowed_usage_refused(openssl, workdir, software_keys, algorithm, usage):
    if algorithm == "EC":
        args = genpkey_args("EC", group="P-256", usage=usage, masked_key="./k.bin")
        control = genpkey_args("EC", group="P-256", usage="keyAgreement", masked_key="./control.bin")
    else:
        (workdir / "rsa.der").write_bytes(oracle.private_der(software_keys.rsa(2048), "pkcs8"))
        args = genpkey_args(algorithm, bits=2048, usage=usage, input_key="./rsa.der", masked_key="./k.bin")
        control = genpkey_args(
            algorithm, bits=2048, usage="keyEncipherment", input_key="./rsa.der", masked_key="./control.bin"
        )
    openssl.refuses(*args, control=control, because="usage")
    assert not (workdir / "k.bin").exists(), f"{algorithm} with usage {usage} failed but left a masked key file"


@pytest.mark.clause("KEYGEN-RSA-REFUSED")
@pytest.mark.parametrize("algorithm, bits", grid(algorithm=("RSA", "RSA-PSS"), bits=RSA_SIZES))
def test_rsa_generation_refused(openssl, workdir, software_keys, algorithm, bits):
    """The control imports a key of the same size: the one fault left is the missing input key."""
    (workdir / "rsa.der").write_bytes(oracle.private_der(software_keys.rsa(bits), "pkcs8"))
    openssl.refuses(
        *genpkey_args(algorithm, bits=bits, masked_key="./k.bin"),
        control=genpkey_args(algorithm, bits=bits, input_key="./rsa.der", masked_key="./control.bin"),
        because="generation",
    )
    assert not (workdir / "k.bin").exists(), "RSA generation failed but left a masked key file"


@pytest.mark.clause("KEYGEN-MASKED-FILE-MODE")
@pytest.mark.parametrize("kind", single(["EC-generated", "RSA-imported"]))
def test_masked_file_mode(openssl, workdir, software_keys, kind):
    if kind == "EC-generated":
        openssl(*genpkey_args("EC", group="P-256", masked_key="./k.bin"), prove=True)
    else:
        (workdir / "rsa.der").write_bytes(oracle.private_der(software_keys.rsa(2048), "pkcs1"))
        openssl(*genpkey_args("RSA", bits=2048, input_key="./rsa.der", masked_key="./k.bin"), prove=True)
    mode = stat.S_IMODE((workdir / "k.bin").stat().st_mode)
    assert mode == 0o600, f"masked key file has mode {mode:04o}, expected 0600"


@pytest.mark.clause("KEY-NOT-EXPORTABLE")
@pytest.mark.parametrize(
    "kind, outform", grid(kind=("EC-generated", "RSA-imported", "EC-imported"), outform=("PEM", "DER"))
)
def test_genpkey_output_holds_no_private_key(openssl, workdir, software_keys, kind, outform):
    if kind == "EC-generated":
        args = genpkey_args("EC", group="P-384", masked_key="./k.bin")
    elif kind == "EC-imported":
        (workdir / "in.der").write_bytes(oracle.private_der(software_keys.ec("P-384"), "sec1"))
        args = genpkey_args("EC", group="P-384", input_key="./in.der", masked_key="./k.bin")
    else:
        (workdir / "in.der").write_bytes(oracle.private_der(software_keys.rsa(2048), "pkcs8"))
        args = genpkey_args("RSA", bits=2048, input_key="./in.der", masked_key="./k.bin")
    # the spec's idiom ends with "-outform DER -out /dev/null"; here the output is kept
    args = args[: args.index("-outform")] + ["-outform", outform, "-out", "key.out"]
    openssl(*args, prove=True)
    oracle.assert_not_private_key((workdir / "key.out").read_bytes())
