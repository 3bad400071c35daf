"""The azihsm:// store (spec: "The azihsm:// URI Scheme"): URI forms, malformed URIs, storeutl.

A URI that must load is checked by exporting the key's public half
(``pkey -pubout -outform DER``) and comparing it with the key the suite imported. A URI
that must not load has to fail visibly: non-zero exit and a message on stderr.
"""

from __future__ import annotations

import pytest

from azihsm_conformance.conformance import oracle
from azihsm_conformance.conformance.keys import CURVES, RSA_SIZES
from azihsm_conformance.conformance.matrix import Named, grid, single
from azihsm_conformance.harness.markers import PROV

KINDS = ("ec", "rsa", "rsa-pss")


def key_of(keys, kind: str):
    """One imported key per kind (true public half known)."""
    if kind == "ec":
        return keys.imported_ec("P-384")
    return keys.imported_rsa(2048, algorithm="RSA-PSS" if kind == "rsa-pss" else "RSA")


def load_args(uri: str, out: str = "pub.der") -> tuple:
    return ("pkey", PROV, "-in", uri, "-pubout", "-outform", "DER", "-out", out)


def assert_loads(openssl, workdir, uri: str, key) -> None:
    openssl(*load_args(uri), prove=True)
    oracle.assert_public_key_equal((workdir / "pub.der").read_bytes(), key.private)


def assert_load_fails(openssl, workdir, uri: str, control_uri: str, because: str) -> None:
    """URI must not load, for the provider's reason BECAUSE, while CONTROL_URI (the same key
    named correctly) loads in the same case."""
    result = openssl.refuses(*load_args(uri), control=load_args(control_uri, "control.der"), because=because)
    assert result.stderr.strip(), f"loading {uri} failed without any message on stderr"
    written = workdir / "pub.der"
    assert not (written.exists() and written.stat().st_size), f"loading {uri} failed but still wrote a public key"


@pytest.mark.clause("STORE-STOREUTL")
@pytest.mark.parametrize(
    "kind, param",
    [pytest.param("ec", c, id=f"ec-{c}", marks=[pytest.mark.quick] if c == "P-256" else []) for c in CURVES]
    + [
        pytest.param(k, b, id=f"{k}-{b}", marks=[pytest.mark.quick] if b == 4096 else [])
        for k in ("rsa", "rsa-pss")
        for b in RSA_SIZES
    ],
)
def test_storeutl_finds_one_key(openssl, workdir, keys, kind, param):
    key = keys.for_algorithm(kind, param)
    result = openssl("storeutl", PROV, key.uri(workdir), prove=True)
    output = result.stdout.decode(errors="replace")
    assert "0: Pkey" in output, f"storeutl did not list the key as '0: Pkey':\n{output[:500]}"
    assert "Total found: 1" in output, f"storeutl did not report 'Total found: 1':\n{output[-300:]}"


@pytest.mark.clause("STORE-URI-RELATIVE")
@pytest.mark.parametrize("kind, form", grid(kind=KINDS, form=("dot_slash", "bare", "subdir", "dot_dot")))
def test_relative_uri(openssl, workdir, keys, kind, form):
    key = key_of(keys, kind)
    (workdir / "sub").mkdir()
    key.copy_to(workdir, "k.bin")
    key.copy_to(workdir / "sub", "k.bin")
    path = {"dot_slash": "./k.bin", "bare": "k.bin", "subdir": "sub/k.bin", "dot_dot": "./sub/../k.bin"}[form]
    assert_loads(openssl, workdir, f"azihsm://{path};type={key.type}", key)


@pytest.mark.clause("STORE-URI-ABSOLUTE")
@pytest.mark.parametrize("kind", single(KINDS))
def test_absolute_uri(openssl, workdir, keys, kind):
    key = key_of(keys, kind)
    path = key.copy_to(workdir, "k.bin").resolve()
    assert_loads(openssl, workdir, f"azihsm://{path};type={key.type}", key)


@pytest.mark.clause("STORE-URI-TYPE-CASE")
@pytest.mark.parametrize(
    "kind, spelling",
    [
        pytest.param("ec", "EC", id="EC", marks=pytest.mark.quick),
        pytest.param("ec", "Ec", id="Ec"),
        pytest.param("rsa", "RSA", id="RSA"),
        pytest.param("rsa-pss", "RSA-PSS", id="RSA-PSS"),
        pytest.param("rsa-pss", "Rsa-Pss", id="Rsa-Pss"),
    ],
)
def test_type_is_case_insensitive(openssl, workdir, keys, kind, spelling):
    key = key_of(keys, kind)
    key.copy_to(workdir, "k.bin")
    assert_loads(openssl, workdir, f"azihsm://./k.bin;type={spelling}", key)


@pytest.mark.clause("STORE-URI-EXTRA-ATTRS")
@pytest.mark.parametrize(
    "suffix",
    [
        pytest.param(";type={t};label=server", id="attr_after", marks=pytest.mark.quick),
        pytest.param(";object=x;type={t}", id="attr_before"),
        pytest.param(";;type={t}", id="empty_segment"),
        pytest.param(";type={t};", id="trailing_semicolon"),
        pytest.param(";flag;type={t}", id="segment_without_value"),
    ],
)
def test_extra_attributes_ignored(openssl, workdir, keys, suffix):
    key = key_of(keys, "ec")
    key.copy_to(workdir, "k.bin")
    assert_loads(openssl, workdir, "azihsm://./k.bin" + suffix.format(t=key.type), key)


@pytest.mark.clause("STORE-URI-TYPE-REQUIRED")
@pytest.mark.parametrize(
    "suffix",
    single(
        [
            Named("no_attributes", ""),
            Named("empty_attributes", ";"),
            Named("other_attribute", ";label=x"),
            Named("misspelt_type", ";types=ec"),
        ]
    ),
)
def test_type_required(openssl, workdir, keys, suffix):
    keys.imported_ec("P-384").copy_to(workdir, "k.bin")
    assert_load_fails(openssl, workdir, "azihsm://./k.bin" + suffix, "azihsm://./k.bin;type=ec", "uri")


@pytest.mark.clause("STORE-URI-UNKNOWN-TYPE")
@pytest.mark.parametrize(
    "value",
    single(
        [
            "dsa",
            "ecdsa",
            Named("empty", ""),
            "aes",
            Named("trailing_space", "ec "),
            "rsa_pss",
        ],
        # near misses of a real type are the likely bugs (a trimmed or loosely matched
        # value): the quick level keeps them too
        quick=("dsa", "trailing_space", "rsa_pss"),
    ),
)
def test_unknown_type_refused(openssl, workdir, keys, value):
    keys.imported_ec("P-384").copy_to(workdir, "k.bin")
    assert_load_fails(openssl, workdir, f"azihsm://./k.bin;type={value}", "azihsm://./k.bin;type=ec", "uri")


@pytest.mark.clause("STORE-URI-EMPTY-PATH")
@pytest.mark.parametrize(
    "uri", single([Named("with_type", "azihsm://;type=ec"), Named("nothing_after_scheme", "azihsm://")])
)
def test_empty_path_refused(openssl, workdir, keys, uri):
    keys.imported_ec("P-384").copy_to(workdir, "k.bin")
    assert_load_fails(openssl, workdir, uri, "azihsm://./k.bin;type=ec", "uri")


@pytest.mark.clause("STORE-URI-MISSING-FILE")
@pytest.mark.parametrize("target", single(["missing_relative", "missing_absolute", "directory", "empty_file"]))
def test_missing_file_refused(openssl, workdir, keys, target):
    keys.imported_ec("P-384").copy_to(workdir, "k.bin")
    (workdir / "adir").mkdir()
    (workdir / "empty.bin").write_bytes(b"")
    path = {
        "missing_relative": "./no-such-key.bin",
        "missing_absolute": str(workdir / "no-such-key.bin"),
        "directory": "./adir",
        "empty_file": "./empty.bin",
    }[target]
    assert_load_fails(openssl, workdir, f"azihsm://{path};type=ec", "azihsm://./k.bin;type=ec", "file")


@pytest.mark.clause("STORE-TYPE-MISMATCH")
@pytest.mark.parametrize(
    "kind, wrong_type",
    [
        pytest.param("ec", "rsa", id="ec_blob-as-rsa", marks=pytest.mark.quick),
        pytest.param("ec", "rsa-pss", id="ec_blob-as-rsa-pss"),
        pytest.param("rsa", "ec", id="rsa_blob-as-ec", marks=pytest.mark.quick),
        pytest.param("rsa-pss", "ec", id="rsa-pss_blob-as-ec"),
    ],
)
def test_type_mismatch_refused(openssl, workdir, keys, kind, wrong_type):
    key_of(keys, kind).copy_to(workdir, "k.bin")
    assert_load_fails(
        openssl, workdir, f"azihsm://./k.bin;type={wrong_type}", f"azihsm://./k.bin;type={kind}", "key-type"
    )


@pytest.mark.clause("STORE-FAILURE-VISIBLE")
@pytest.mark.parametrize("problem", single(["tampered", "wrong_type", "session_key"]))
def test_storeutl_failure_visible(openssl, workdir, keys, problem):
    key = key_of(keys, "ec")
    key.copy_to(workdir, "good.bin")
    uri = "azihsm://./k.bin;type=ec"
    if problem == "session_key":
        openssl(
            "genpkey",
            PROV,
            "-algorithm",
            "EC",
            "-pkeyopt",
            "group:P-256",
            "-pkeyopt",
            "azihsm.session:true",
            "-pkeyopt",
            "azihsm.masked_key:./k.bin",
            "-outform",
            "DER",
            "-out",
            "/dev/null",
            prerequisite=True,
        )
    else:
        path = key.copy_to(workdir, "k.bin")
        if problem == "tampered":
            blob = bytearray(path.read_bytes())
            blob[len(blob) // 2] ^= 0x01
            path.write_bytes(bytes(blob))
        else:
            uri = "azihsm://./k.bin;type=rsa"
    result = openssl.refuses(
        "storeutl",
        PROV,
        uri,
        control=("storeutl", PROV, "azihsm://./good.bin;type=ec"),
        because="key-type" if problem == "wrong_type" else "blob",
    )
    assert result.stderr.strip(), "storeutl failed without any message on stderr"
