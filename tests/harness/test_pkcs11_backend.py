"""A second real provider (pkcs11-provider over SoftHSM, Debian packages) certified at the
quick level: generic clauses get real verdicts, azihsm-only clauses are not applicable,
and what this provider gets wrong shows up as findings (a crash included), never as a
harness error or a pass served by the default provider."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from azihsm_conformance.harness.backend_tools.pkcs11 import CANDIDATES

pytestmark = [
    pytest.mark.openssl,
    pytest.mark.skipif(
        not shutil.which("softhsm2-util") or not any(__import__("glob").glob(p) for p in CANDIDATES),
        reason="pkcs11-provider and softhsm2 are not installed (run .ci/system-deps)",
    ),
]

# clauses that need azihsm's own forms (masked blobs, azihsm:// URIs, masked ECDH/KDF)
AZIHSM_ONLY = (
    "KEYGEN-EC",
    "IMPORT-RSA",
    "BLOB-TAMPERED",
    "STORE-URI-RELATIVE",
    "ECDH-DERIVE",
    "HKDF-DERIVE",
    "HMAC-MAC",
    "DIGEST-VALUES",
)
# generic clauses whose quick cases pkcs11-provider + SoftHSM pass, proven by isolated twins
PASSING = (
    "SIGN-ECDSA-STREAM",
    "SIGN-ECDSA-ONESHOT",
    "SIGN-RSA-PKCS1-STREAM",
    "SIGN-RSA-PSS-SIGOPTS",
    "CERT-X509",
    "STORE-PUBOUT-DER",
    "STORE-STOREUTL",
    "USAGE-SIGN-REFUSED",
    "USAGE-DERIVE-REFUSED",
    "ECDH-DERIVE-RAW",
    "TLS-SERVER-HSM-KEY",
)


@pytest.fixture(scope="module")
def pkcs11_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pkcs11")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "azihsm_conformance.harness.cli",
            "run",
            "--backend",
            "pkcs11-softhsm",
            "--level",
            "quick",
            "--openssl",
            "openssl",
            "--out",
            str(out),
            "-n",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 1, (
        f"the run did not end as 'does not conform' (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    )
    [run] = json.loads((out / "results.json").read_text())["runs"]
    return proc, run


def by_clause(run) -> dict[str, set[str]]:
    outcomes: dict[str, set[str]] = {}
    for case in run["cases"]:
        outcomes.setdefault(case["clause_id"], set()).add(case["outcome"])
    return outcomes


def test_azihsm_only_clauses_are_not_applicable(pkcs11_run):
    _, run = pkcs11_run
    outcomes = by_clause(run)
    for clause in AZIHSM_ONLY:
        assert outcomes[clause] == {"not-applicable"}, f"{clause}: {outcomes[clause]}"


def test_generic_clauses_pass_with_proof(pkcs11_run):
    _, run = pkcs11_run
    for clause in PASSING:
        cases = [case for case in run["cases"] if case["clause_id"] == clause]
        decided = [case for case in cases if case["outcome"] != "not-applicable"]
        assert decided and all(case["outcome"] == "passed" for case in decided), (
            f"{clause}: {[c['outcome'] for c in cases]}"
        )
        assert all(case["performed_by"] == "PKCS#11 Provider" and case["evidence"] for case in decided), clause


def test_findings_are_real_verdicts(pkcs11_run):
    proc, run = pkcs11_run
    outcomes = by_clause(run)
    # dgst -verify with a token public key segfaults on OpenSSL 3.0: a crash finding of the case
    assert "crash" in outcomes["VERIFY-ECDSA"] | outcomes["VERIFY-RSA"]
    # SoftHSM 2.6.1 does OAEP with SHA-1 only: OAEP-SHA-256 fails, OAEP-SHA-1 is accepted
    assert "failed" in outcomes["ENC-RSA-OAEP"] and "failed" in outcomes["ENC-RSA-OAEP-SHA1-REFUSED"]
    # verifying with a key the default provider decoded: pkcs11-provider cannot do it alone
    wycheproof = [
        case for case in run["cases"] if case["clause_id"] == "VERIFY-ECDSA-WYCHEPROOF" and case["outcome"] == "failed"
    ]
    assert wycheproof and "did not perform this itself" in wycheproof[0]["message"]
    assert "DOES NOT CONFORM" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
