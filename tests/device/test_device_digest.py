"""The device's digests equal the standard ones, under every OpenSSL spelling."""

from __future__ import annotations

import hashlib  # fine in tests: the test process is not inside the provider

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azihsm_conformance.reference.device import HsmError, Reason, digest

SPELLINGS = {
    "sha1": ["SHA1", "sha-1", "SSL3-SHA1", "1.3.14.3.2.26"],
    "sha256": ["SHA256", "SHA2-256", "sha-256", "2.16.840.1.101.3.4.2.1"],
    "sha384": ["SHA384", "SHA2-384", "SHA-384", "2.16.840.1.101.3.4.2.2"],
    "sha512": ["SHA512", "sha2-512", "SHA-512", "2.16.840.1.101.3.4.2.3"],
}
SIZES = {"sha1": (20, 64), "sha256": (32, 64), "sha384": (48, 128), "sha512": (64, 128)}


@pytest.mark.parametrize(
    "name,spelling", [(n, s) for n, spellings in SPELLINGS.items() for s in spellings], ids=lambda v: v
)
def test_openssl_spellings_are_canonicalised(name, spelling):
    assert digest.canonical(spelling) == name


@pytest.mark.parametrize("bad", ["MD5", "SHA224", "SHA3-256", "", "sha 256"])
def test_unknown_digest_is_refused_with_the_allowed_names(bad):
    with pytest.raises(HsmError) as info:
        digest.new(bad)
    assert info.value.reason is Reason.UNSUPPORTED_DIGEST
    assert "SHA256" in str(info.value)


@pytest.mark.parametrize("name", list(SIZES))
def test_sizes(name):
    h = digest.new(name)
    assert (h.digest_size, h.block_size) == SIZES[name]


@pytest.mark.parametrize("name", list(SIZES))
@settings(deadline=None)  # the machine is shared: no timing targets in tests
@given(chunks=st.lists(st.binary(max_size=300), max_size=6))
def test_streaming_digest_equals_hashlib(name, chunks):
    h = digest.new(name)
    for chunk in chunks:
        h.update(chunk)
    assert h.digest() == hashlib.new(name, b"".join(chunks)).digest()


@pytest.mark.parametrize("name", list(SIZES))
def test_copy_forks_the_stream(name):
    h = digest.new(name, b"common prefix ")
    fork = h.copy()
    h.update(b"left")
    fork.update(b"right")
    assert h.digest() == hashlib.new(name, b"common prefix left").digest()
    assert fork.digest() == hashlib.new(name, b"common prefix right").digest()


def test_one_shot():
    assert digest.compute("SHA2-512", b"abc") == hashlib.sha512(b"abc").digest()
