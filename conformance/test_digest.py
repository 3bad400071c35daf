"""Digests (spec: "Digest (Hashing)"): SHA-1/256/384/512 under every name, equal to hashlib."""

from __future__ import annotations

import hashlib
import re

import pytest

from azihsm_conformance.conformance import oracle
from azihsm_conformance.conformance.matrix import grid, single
from azihsm_conformance.fixtures.loaders import VectorsAbsent, nist_sha_vectors
from azihsm_conformance.harness.markers import PROV, Inconclusive

# every spelling `openssl dgst -NAME` accepts for the four digests (see `openssl list -digest-algorithms`)
NAMES = {
    "sha1": ("sha1", "SHA1", "sha-1", "SHA-1", "ssl3-sha1"),
    "sha256": ("sha256", "SHA256", "sha2-256", "SHA2-256", "sha-256", "SHA-256"),
    "sha384": ("sha384", "SHA384", "sha2-384", "SHA2-384", "sha-384", "SHA-384"),
    "sha512": ("sha512", "SHA512", "sha2-512", "SHA2-512", "sha-512", "SHA-512"),
}
BLOCK = {"sha1": 64, "sha256": 64, "sha384": 128, "sha512": 128}
SIZES = ("empty", "one_byte", "block_minus_1", "block", "block_plus_1", "1MiB_plus_3")


def message(size: str, block: int) -> bytes:
    length = {
        "empty": 0,
        "one_byte": 1,
        "block_minus_1": block - 1,
        "block": block,
        "block_plus_1": block + 1,
        "1MiB_plus_3": (1 << 20) + 3,
    }[size]
    return bytes((i * 7 + 3) & 0xFF for i in range(length))


def dgst(openssl, name: str, *files) -> list[bytes]:
    """Digests of FILES by ``dgst -NAME -r`` with the provider, in order (proven: the
    isolated twin has no digest but the provider's)."""
    result = openssl("dgst", f"-{name}", PROV, "-r", *files, prove=True)
    lines = result.stdout.decode().splitlines()
    assert len(lines) == len(files), f"dgst printed {len(lines)} lines for {len(files)} files"
    return [bytes.fromhex(line.split()[0]) for line in lines]


@pytest.mark.clause("DIGEST-VALUES")
@pytest.mark.parametrize(
    "algorithm, name, size",
    [param for algorithm, names in NAMES.items() for param in grid(algorithm=(algorithm,), name=names, size=SIZES)],
)
def test_digest_values(openssl, workdir, algorithm, name, size):
    data = message(size, BLOCK[algorithm])
    (workdir / "in.bin").write_bytes(data)
    [produced] = dgst(openssl, name, "in.bin")
    expected = hashlib.new(algorithm, data).digest()
    assert produced == expected, f"dgst -{name} of {len(data)} bytes gave {produced.hex()}, hashlib {expected.hex()}"


@pytest.mark.clause("DIGEST-NIST-VECTORS")
@pytest.mark.parametrize("algorithm, kind", grid(algorithm=tuple(NAMES), kind=("ShortMsg", "LongMsg")))
def test_digest_nist_vectors(openssl, workdir, algorithm, kind):
    try:
        vectors = nist_sha_vectors(algorithm, kind)
    except VectorsAbsent as exc:
        raise Inconclusive(str(exc)) from None
    files = []
    for index, vector in enumerate(vectors):
        name = f"v{index:03d}.bin"
        (workdir / name).write_bytes(vector.message)
        files.append(name)
    # one process digests every vector file of the set
    produced = dgst(openssl, algorithm, *files)
    wrong = [v.id for v, got in zip(vectors, produced) if got != v.digest]
    assert not wrong, f"{len(wrong)} of {len(vectors)} NIST vectors differ: {', '.join(wrong[:8])}"


_PROVIDED_LINE = re.compile(r"^\s*\{?(?P<names>[^}@]*)\}?\s*@\s*(?P<provider>\S+)\s*$")


@pytest.mark.clause("DIGEST-PROVIDED")
def test_digests_come_from_the_provider(openssl):
    result = openssl("list", "-digest-algorithms", PROV)
    provided: set[str] = set()
    for line in result.stdout.decode().splitlines():
        match = _PROVIDED_LINE.match(line)
        if match and match["provider"] not in ("default", "base", "legacy", "fips"):
            provided |= {name.strip().upper() for name in match["names"].split(",")}
    missing = [name for name in ("SHA1", "SHA2-256", "SHA2-384", "SHA2-512") if name not in provided]
    assert not missing, (
        f"no provider besides default lists {', '.join(missing)}; it lists {sorted(provided) or 'nothing'}"
    )


@pytest.mark.clause("DIGEST-DUPCTX")
@pytest.mark.parametrize("algorithm", single(NAMES, quick=tuple(NAMES)))  # each digest's own context code
def test_digest_context_copies(openssl, workdir, algorithm):
    """PBKDF2 (the default provider's) keeps an HMAC template and copies its digest context
    for every block; its digest is fetched with the provider's forced property, so only the
    provider under test can serve it, and a provider that cannot copy a context fails here."""
    names = {"sha1": "SHA1", "sha256": "SHA2-256", "sha384": "SHA2-384", "sha512": "SHA2-512"}
    length = oracle.digest_size(algorithm) * 2 + 5  # several blocks: several copies
    openssl.forced(
        "kdf",
        PROV,
        "-keylen",
        str(length),
        "-kdfopt",
        f"digest:{names[algorithm]}",
        "-kdfopt",
        f"properties:{openssl.forced_property}",
        "-kdfopt",
        "pass:azihsm",
        "-kdfopt",
        "salt:conformance-salt",
        "-kdfopt",
        "iter:3",
        "-binary",
        "-out",
        "okm.bin",
        "PBKDF2",
        what=f"PBKDF2's {names[algorithm]}",
    )
    expected = hashlib.pbkdf2_hmac(algorithm, b"azihsm", b"conformance-salt", 3, length)
    produced = (workdir / "okm.bin").read_bytes()
    assert produced == expected, f"PBKDF2-HMAC-{algorithm} through the provider's digests differs from hashlib"
