"""Data and helpers the harness tests share: a backend profile that stands OpenSSL's
default provider in for a provider under test, a tiny clause catalogue, and a fake
conformance module that uses the plugin's fixtures the way the real suite does.
(A plain module, not conftest.py: other test folders have conftest modules too.)"""

from __future__ import annotations

import textwrap
from pathlib import Path

DEFAULT_PROVIDER_PROFILE = """\
name = "default-provider"
description = "OpenSSL's default provider standing in for a provider under test"
capabilities = ["digests", "kdf"]
fresh_device_dir = true

[provider]
module = "default"
# the errors the default provider raises (OpenSSL prints them under "Provider routines")
error_origin = "^Provider routines:"

[refusal_reasons]
missing-key = "missing key"

[[deviation]]
clause = "DGST-UNKNOWN-NAME"
reason = "stand-in deviation: this digest name does not exist"

[[deviation]]
clause = "DGST-SHA384"
reason = "stand-in deviation that does not happen: reported as fixed"
"""

CATALOGUE = """\
[capability.digests]
text = "The provider implements SHA-2."

[capability.kdf]
text = "The provider implements HKDF."

[capability.tls]
text = "TLS handshakes."

[[clause]]
id = "DGST-SHA256"
section = "Digest"
level = "MUST"
needs = ["digests"]
performs = ["digest"]
text = "dgst -sha256 prints the SHA-256 digest."

[[clause]]
id = "DGST-SHA384"
section = "Digest"
level = "MUST"
needs = ["digests"]
performs = ["digest"]
text = "dgst -sha384 prints the SHA-384 digest."

[[clause]]
id = "DGST-UNKNOWN-NAME"
section = "Digest"
level = "SHOULD"
performs = ["digest"]
text = "An unknown digest name is refused."

[[clause]]
id = "DGST-REFUSE-JUNK"
section = "Digest"
level = "MUST"
performs = ["digest"]
text = "A junk option is refused."

[[clause]]
id = "KDF-NEEDS-KEY"
section = "KDF"
level = "MUST"
needs = ["kdf"]
performs = ["kdf"]
text = "HKDF without a key is refused by the provider."

[[clause]]
id = "TLS-HANDSHAKE"
section = "TLS"
level = "INFO"
needs = ["tls"]
text = "A TLS handshake completes."

[[clause]]
id = "DGST-INFO-ONLY"
section = "Digest"
level = "INFO"
text = "Records what -sha1 prints."

[[clause]]
id = "DGST-OLD-OPENSSL"
section = "Digest"
level = "MUST"
openssl = "<3.0"
text = "Only for OpenSSL before 3.0 (never applies here)."
"""

# a fake conformance module: every outcome the store knows, with real openssl commands
FAKE_SUITE = """
import hashlib
import pytest
from azihsm_conformance.harness.markers import PROV


@pytest.mark.clause("DGST-SHA256")
@pytest.mark.parametrize("message", [b"abc", b""], ids=["sha256-abc", "sha256-empty"])
def test_sha256(openssl, message):
    result = openssl("dgst", "-sha256", "-r", PROV, input=message, prove=True)
    assert result.stdout.split()[0].decode() == hashlib.sha256(message).hexdigest()


@pytest.mark.clause("DGST-SHA256")
def test_sha256_without_proof(openssl):
    openssl("dgst", "-sha256", "-r", PROV, input=b"abc")


@pytest.mark.clause("DGST-SHA384")
def test_sha384_declared_deviation_that_passes(openssl, workdir):
    (workdir / "data.bin").write_bytes(b"data")
    openssl("dgst", "-sha384", PROV, "data.bin", prove=True)


@pytest.mark.clause("DGST-UNKNOWN-NAME")
def test_unknown_digest_deviation(openssl):
    openssl("dgst", "-no-such-digest", PROV)


@pytest.mark.clause("DGST-REFUSE-JUNK")
def test_junk_option_refused_by_the_parser(openssl):
    openssl.refuses("dgst", "-sha256", "--junk-option", PROV, control=("dgst", "-sha256", PROV), because="parameter")


@pytest.mark.clause("DGST-REFUSE-JUNK")
@pytest.mark.quick
def test_junk_option_fails_wrongly(openssl):
    openssl("dgst", "-sha256", PROV, "missing-file.bin")


@pytest.mark.clause("KDF-NEEDS-KEY")
def test_hkdf_without_key_refused(openssl):
    hkdf = ("kdf", PROV, "-keylen", "16", "-kdfopt", "digest:SHA256")
    openssl.refuses(*hkdf, "HKDF", control=(*hkdf, "-kdfopt", "hexkey:00112233", "HKDF"), because="missing-key")


@pytest.mark.clause("TLS-HANDSHAKE")
def test_tls_needs_capability(openssl):
    openssl("s_client", "-help")


@pytest.mark.clause("DGST-INFO-ONLY")
def test_info_clause_failure(openssl):
    openssl("dgst", "-sha1", PROV, "absent.bin")


@pytest.mark.clause("DGST-INFO-ONLY")
def test_info_clause_records_either_outcome(openssl, observe):
    result = openssl("dgst", "-sha1", PROV, "absent.bin", expect_fail=None)
    assert result.returncode == 1 and result.errors
    observe("dgst of a missing file fails")


@pytest.mark.clause("DGST-OLD-OPENSSL")
def test_clause_outside_version_range(openssl):
    openssl("dgst", "-sha256", PROV, "absent.bin")


@pytest.mark.clause("DGST-SHA256")
@pytest.mark.slow
def test_slow_case(openssl):
    openssl("dgst", "-sha256", PROV, input=b"x" * 1000, prove=True)
"""

# what the fake suite's cases end as, keyed by the stored case id
EXPECTED_OUTCOMES = {
    "test_fake_suite.py::test_sha256[sha256-abc]": "passed",
    "test_fake_suite.py::test_sha256[sha256-empty]": "passed",
    "test_fake_suite.py::test_sha256_without_proof": "inconclusive",
    "test_fake_suite.py::test_sha384_declared_deviation_that_passes": "fixed-deviation",
    "test_fake_suite.py::test_unknown_digest_deviation": "deviation",
    "test_fake_suite.py::test_junk_option_refused_by_the_parser": "inconclusive",
    "test_fake_suite.py::test_junk_option_fails_wrongly": "failed",
    "test_fake_suite.py::test_hkdf_without_key_refused": "passed",
    "test_fake_suite.py::test_tls_needs_capability": "not-applicable",
    "test_fake_suite.py::test_info_clause_failure": "failed",
    "test_fake_suite.py::test_info_clause_records_either_outcome": "passed",
    "test_fake_suite.py::test_clause_outside_version_range": "not-applicable",
    "test_fake_suite.py::test_slow_case": "passed",
}
# pytest's own counts for the fake suite
PYTEST_OUTCOMES = dict(passed=5, failed=5, skipped=2, xfailed=1)


def write_fake_suite(directory: Path) -> Path:
    """The fake suite as a `conformance` directory (what `run --suite` expects)."""
    suite = directory / "conformance"
    suite.mkdir(parents=True, exist_ok=True)
    (suite / "test_fake_suite.py").write_text(textwrap.dedent(FAKE_SUITE))
    return suite


def fake_script(path: Path, body: str) -> Path:
    """An executable shell script standing in for a binary."""
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path
