"""Results beyond one machine and one run: merging stores from many hosts or CI jobs,
certification bundles (hashed, optionally signed, verified), and golden results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from azihsm_conformance.harness.store import COMPLETE, CaseRecord, CommandRecord, ResultsStore, RunRecord

pytestmark = pytest.mark.openssl


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "azihsm_conformance.harness.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def make_store(
    path: Path,
    run_id: str,
    version: str,
    host: str = "ci-1 (Linux x86_64, Python 3.11.7)",
    outcomes: dict | None = None,
) -> Path:
    outcomes = outcomes or {"t.py::test_a": "passed", "t.py::test_b": "failed"}
    with ResultsStore(path) as store:
        store.begin_run(
            RunRecord(
                backend="reference",
                openssl_version=version,
                id=run_id,
                host=host,
                revision="2026-03",
                provider_name="azihsm",
                identity="firmware 1.2.3 serial 42",
            )
        )
        for case_id, outcome in outcomes.items():
            store.record_case(
                run_id,
                CaseRecord(
                    case_id,
                    "DGST-SHA256",
                    outcome,
                    "MUST",
                    message=f"{case_id} {outcome}",
                    performed_by="azihsm" if outcome == "passed" else "",
                    commands=[CommandRecord("openssl dgst", 0, "ok", 0.1, role="step")],
                ),
            )
        store.finish_run(run_id, COMPLETE, 0)
    return path


def test_merge_brings_runs_together_once(tmp_path, catalogue_file):
    a = make_store(tmp_path / "a.sqlite", "run-30", "3.0.19")
    b = make_store(tmp_path / "b.sqlite", "run-35", "3.5.7")
    into = tmp_path / "fleet" / "results.sqlite"
    first = cli("merge", a, b, "--into", into)
    assert first.returncode == 0, first.stderr
    assert "1 run(s) added, 0 already present" in first.stdout and "now holds 2 run(s)" in first.stdout
    again = cli("merge", a, b, "--into", into)
    assert again.returncode == 0 and again.stdout.count("0 run(s) added, 1 already present") == 2
    with ResultsStore(into, create=False) as store:
        runs = {run.id: run for run in store.runs()}
        assert set(runs) == {"run-30", "run-35"} and runs["run-30"].identity == "firmware 1.2.3 serial 42"
        assert [c.commands[0].role for c in store.cases("run-35")] == ["step", "step"]
    report = cli("report", "--results", into, "--clauses", catalogue_file, "--markdown", "-")
    assert "| clause | level | reference / OpenSSL 3.0.19 | reference / OpenSSL 3.5.7 |" in report.stdout


def test_merge_refuses_a_conflicting_run_id(tmp_path):
    a = make_store(tmp_path / "a.sqlite", "run-x", "3.0.19")
    b = make_store(tmp_path / "b.sqlite", "run-x", "3.0.19", outcomes={"t.py::test_a": "failed"})
    into = tmp_path / "into.sqlite"
    assert cli("merge", a, "--into", into).returncode == 0
    conflict = cli("merge", b, "--into", into)
    assert (
        conflict.returncode == 2
        and "run run-x is in both" in conflict.stderr
        and "different content" in conflict.stderr
    )
    assert conflict.stderr.count("\n") == 1


def test_the_same_pair_from_two_hosts_gets_a_column_each(tmp_path, catalogue_file):
    a = make_store(tmp_path / "a.sqlite", "run-h1", "3.0.19", host="hsm-host-1 (Linux x86_64, Python 3.11.7)")
    b = make_store(tmp_path / "b.sqlite", "run-h2", "3.0.19", host="hsm-host-2 (Linux x86_64, Python 3.11.7)")
    into = tmp_path / "into.sqlite"
    assert cli("merge", a, b, "--into", into).returncode == 0
    report = cli("report", "--results", into, "--clauses", catalogue_file, "--markdown", "-")
    assert "reference / OpenSSL 3.0.19 @ hsm-host-1 | reference / OpenSSL 3.0.19 @ hsm-host-2 |" in report.stdout


@pytest.fixture
def bundle(tmp_path, catalogue_file):
    store = make_store(tmp_path / "r.sqlite", "run-c", "3.0.19")
    out = tmp_path / "bundle"
    made = cli("certify", "--results", store, "--clauses", catalogue_file, "--out", out)
    assert made.returncode == 0, made.stderr
    return out


def test_certify_round_trips_and_detects_any_tampering(bundle):
    files = sorted(p.name for p in bundle.iterdir())
    assert files == [
        "MANIFEST.sha256",
        "environment.json",
        "junit.xml",
        "report.html",
        "report.md",
        "results.json",
        "results.sqlite",
    ]
    environment = json.loads((bundle / "environment.json").read_text())
    assert environment["identity"] == "firmware 1.2.3 serial 42" and environment["packages"]["cryptography"]
    assert cli("certify", "--verify", bundle).returncode == 0
    for name in files:
        if name == "MANIFEST.sha256":
            continue
        original = (bundle / name).read_bytes()
        (bundle / name).write_bytes(original + b" ")
        checked = cli("certify", "--verify", bundle)
        assert checked.returncode == 1 and f"{name} does not match its SHA-256" in checked.stderr, name
        (bundle / name).write_bytes(original)
    (bundle / "extra.txt").write_text("smuggled")
    assert "extra.txt is not in the manifest" in cli("certify", "--verify", bundle).stderr
    (bundle / "extra.txt").unlink()
    (bundle / "report.md").unlink()
    assert "report.md is listed but missing" in cli("certify", "--verify", bundle).stderr


def test_a_signed_bundle_verifies_under_its_key_only(tmp_path, catalogue_file):
    store = make_store(tmp_path / "r.sqlite", "run-s", "3.0.19")
    for name in ("signer", "other"):
        subprocess.run(
            [
                "openssl",
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                tmp_path / f"{name}.pem",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["openssl", "pkey", "-in", tmp_path / f"{name}.pem", "-pubout", "-out", tmp_path / f"{name}.pub.pem"],
            check=True,
            capture_output=True,
        )
    out = tmp_path / "signed"
    made = cli(
        "certify", "--results", store, "--clauses", catalogue_file, "--out", out, "--sign", tmp_path / "signer.pem"
    )
    assert made.returncode == 0 and "signed" in made.stdout, made.stderr
    assert cli("certify", "--verify", out, "--pubkey", tmp_path / "signer.pub.pem").returncode == 0
    other = cli("certify", "--verify", out, "--pubkey", tmp_path / "other.pub.pem")
    assert other.returncode == 1 and "signature does not verify" in other.stderr
    manifest = out / "MANIFEST.sha256"
    manifest.write_text(manifest.read_text().replace("results.json", "results.json "))  # a forged manifest
    forged = cli("certify", "--verify", out, "--pubkey", tmp_path / "signer.pub.pem")
    assert forged.returncode == 1 and "signature does not verify" in forged.stderr


def test_certify_never_leaves_half_a_bundle(tmp_path, catalogue_file):
    store = make_store(tmp_path / "r.sqlite", "run-f", "3.0.19")
    failed = cli(
        "certify",
        "--results",
        store,
        "--clauses",
        catalogue_file,
        "--out",
        tmp_path / "b",
        "--sign",
        tmp_path / "nope.pem",
    )
    assert failed.returncode == 2 and "signing the manifest" in failed.stderr
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".b*"))


def test_golden_results_show_every_changed_case(tmp_path, catalogue_file):
    store = make_store(tmp_path / "r.sqlite", "run-g1", "3.0.19")
    assert cli("report", "--results", store, "--clauses", catalogue_file, "--out", tmp_path / "golden").returncode == 0
    golden = tmp_path / "golden" / "results.json"
    with ResultsStore(store) as s:
        s.begin_run(RunRecord(backend="reference", openssl_version="3.0.19", id="run-g2", host="ci-1 (Linux)"))
        s.record_case("run-g2", CaseRecord("t.py::test_a", "DGST-SHA256", "passed", "MUST", performed_by="azihsm"))
        s.record_case("run-g2", CaseRecord("t.py::test_b", "DGST-SHA256", "passed", "MUST", performed_by="azihsm"))
        s.finish_run("run-g2", COMPLETE, 0)
    same = cli("compare", "--against", golden, "run-g1", "--results", store, "--check")
    assert same.returncode == 0 and "No case changed outcome." in same.stdout
    moved = cli("compare", "--against", golden, "--results", store, "--check")
    assert moved.returncode == 1 and "`t.py::test_b` (DGST-SHA256): failed → passed" in moved.stdout
    assert "1 case(s) differ from the golden result" in moved.stderr
