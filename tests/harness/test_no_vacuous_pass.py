"""No vacuous pass: the suite run against providers that cannot do the work.

- A *hollow* provider (it loads and offers nothing) under the ``external`` profile, which
  claims everything: no case whose clause asks the provider to perform something may pass,
  and no refusal may pass (a refusal without the provider's error, or with a control that
  fails, is inconclusive).
- The *legacy* provider (it loads, but has no SHA-2) claiming digests: the default provider
  serves the documented ``dgst -sha256``, and every such case must fail, saying so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from azihsm_conformance.harness.clauses import load_clauses

pytestmark = [pytest.mark.openssl]
HERE = Path(__file__).resolve().parent


def cli(*args, timeout=900):
    return subprocess.run(
        [sys.executable, "-m", "azihsm_conformance.harness.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cases_of(out: Path) -> list[dict]:
    [run] = json.loads((out / "results.json").read_text())["runs"]
    return run["cases"]


@pytest.fixture(scope="module")
def hollow_provider(tmp_path_factory) -> Path:
    if not shutil.which("cc"):
        pytest.fail("no C compiler: .ci/system-deps installs gcc")
    directory = tmp_path_factory.mktemp("hollow")
    subprocess.run(
        ["cc", "-shared", "-fPIC", "-o", str(directory / "azihsm_provider.so"), str(HERE / "hollow_provider.c")],
        check=True,
    )
    return directory


def test_a_hollow_provider_passes_nothing(tmp_path, hollow_provider):
    out = tmp_path / "out"
    run = cli(
        "run", "--provider-path", hollow_provider, "--level", "quick", "--out", out, "-n", "2", "--openssl", "openssl"
    )
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert "external (hollow" in run.stdout and "DOES NOT CONFORM" in run.stdout
    clauses = load_clauses()
    cases = cases_of(out)
    passed = [case for case in cases if case["outcome"] == "passed"]
    # only clauses about the provider's presence (nothing to perform) may pass
    assert all(not clauses[case["clause_id"]].performs for case in passed), [c["case_id"] for c in passed]
    assert {case["clause_id"] for case in passed} <= {"PROV-FLAGS-DOCUMENTED"}
    refusals = [case for case in cases if any(c["role"] == "refusal" for c in case["commands"])]
    assert refusals and all(case["outcome"] in ("inconclusive", "failed", "deviation") for case in refusals)
    assert not any(case["outcome"] == "passed" for case in refusals)
    # a case whose key could not be made says so
    unmade = [
        case for case in cases if case["outcome"] == "inconclusive" and "prerequisite step failed" in case["message"]
    ]
    assert unmade


def test_a_provider_lacking_the_algorithm_fails_where_the_default_provider_served(tmp_path):
    modules = subprocess.run(["openssl", "version", "-m"], capture_output=True, text=True).stdout.split('"')[1]
    directory = tmp_path / "legacy-build"
    directory.mkdir()
    shutil.copy(Path(modules) / "legacy.so", directory / "legacy.so")
    out = tmp_path / "out"
    run = cli(
        "run",
        "--provider-path",
        directory,
        "--provider-module",
        "legacy",
        "--level",
        "quick",
        "--out",
        out,
        "-n",
        "0",
        "--openssl",
        "openssl",
        "--",
        "-k",
        "test_digest_values",
    )
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    cases = cases_of(out)
    assert cases and all(case["outcome"] == "failed" for case in cases), [c["outcome"] for c in cases]
    assert all(
        "did not perform this itself" in case["message"] and "another provider served" in case["message"]
        for case in cases
    )
