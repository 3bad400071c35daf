"""Reports and exports over a store filled with known runs."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import pytest

from azihsm_conformance.harness.clauses import load_clauses
from azihsm_conformance.harness.report import html, markdown
from azihsm_conformance.harness.report.exports import to_json, to_junit
from azihsm_conformance.harness.report.model import clause_matrix, diff_runs, latest_per_column, load_run
from azihsm_conformance.harness.report.outputs import OUTPUT_FILES, select, write_outputs
from azihsm_conformance.harness.store import COMPLETE, CaseRecord, CommandRecord, ResultsStore, RunRecord

# case id -> (clause, outcome) in the first and the second run of the same backend
FIRST = {
    "test_d.py::test_sha256[abc]": ("DGST-SHA256", "passed"),
    "test_d.py::test_sha256[empty]": ("DGST-SHA256", "failed"),
    "test_d.py::test_unknown": ("DGST-UNKNOWN-NAME", "deviation"),
    "test_d.py::test_tls": ("TLS-HANDSHAKE", "not-applicable"),
    "test_d.py::test_removed": ("DGST-SHA384", "passed"),
}
SECOND = {
    "test_d.py::test_sha256[abc]": ("DGST-SHA256", "crash"),
    "test_d.py::test_sha256[empty]": ("DGST-SHA256", "passed"),
    "test_d.py::test_unknown": ("DGST-UNKNOWN-NAME", "fixed-deviation"),
    "test_d.py::test_tls": ("TLS-HANDSHAKE", "passed"),
    "test_d.py::test_new": ("DGST-REFUSE-JUNK", "passed"),
}


def _record(store, backend, version, cases, run_id):
    store.begin_run(
        RunRecord(backend=backend, openssl_version=version, id=run_id, provider_name="azihsm", provider_version="0.1")
    )
    for case_id, (clause, outcome) in cases.items():
        failing = outcome not in ("passed", "not-applicable", "deviation")
        store.record_case(
            run_id,
            CaseRecord(
                case_id=case_id,
                clause_id=clause,
                outcome=outcome,
                clause_level="MUST",
                message=f"{case_id} went <{outcome}>" if failing else "",
                stderr_excerpt="error:80000002:system library" if failing else "",
                commands=[
                    CommandRecord(
                        f"cd /w && openssl dgst -sha256 '{case_id}'",
                        1 if failing else 0,
                        "error" if failing else "ok",
                        0.01,
                    )
                ],
            ),
        )
    store.finish_run(run_id, COMPLETE, 0)


@pytest.fixture
def store(tmp_path):
    with ResultsStore(tmp_path / "results.sqlite") as store:
        _record(store, "reference", "3.0.19", FIRST, "run-1")
        _record(store, "vendor-mock", "3.5.0", FIRST, "run-2")
        _record(store, "reference", "3.0.19", SECOND, "run-3")
        yield store


def test_default_selection_is_the_latest_run_per_column_with_its_diff(store):
    results, diffs = select(store, None)
    assert [r.run.id for r in results] == ["run-3", "run-2"]
    [diff] = diffs  # run-2 has no earlier run of its backend and version
    assert (diff.a.id, diff.b.id) == ("run-1", "run-3")


def test_changes_are_counted_from_the_last_complete_run(store):
    store.begin_run(RunRecord(backend="reference", openssl_version="3.0.19", id="run-4-killed"))
    store.record_case("run-4-killed", CaseRecord("test_d.py::test_new", "DGST-REFUSE-JUNK", "passed"))
    store.begin_run(RunRecord(backend="reference", openssl_version="3.0.19", id="run-5"))
    results, diffs = select(store, ["run-5"])
    assert [(d.a.id, d.b.id) for d in diffs] == [("run-3", "run-5")]


def test_diff_between_runs(store):
    diff = diff_runs(load_run(store, "run-1"), load_run(store, "run-3"))
    assert [(c.case_id, c.before, c.after) for c in diff.newly_failing] == [
        ("test_d.py::test_sha256[abc]", "passed", "crash"),
        ("test_d.py::test_unknown", "deviation", "fixed-deviation"),
    ]
    assert [c.case_id for c in diff.newly_passing] == ["test_d.py::test_sha256[empty]"]
    assert [(c.case_id, c.before, c.after) for c in diff.changed] == [
        ("test_d.py::test_tls", "not-applicable", "passed")
    ]
    assert [c.case_id for c in diff.added] == ["test_d.py::test_new"]
    assert [c.case_id for c in diff.removed] == ["test_d.py::test_removed"]


def test_clause_matrix_counts(store, catalogue_file):
    results, _ = select(store, ["run-1", "run-3"])
    rows = {row.clause_id: row for row in clause_matrix(results, load_clauses(catalogue_file))}
    assert dict(rows["DGST-SHA256"].cells[0]) == {"pass": 1, "fail": 1}
    assert dict(rows["DGST-SHA256"].cells[1]) == {"pass": 1, "fail": 1}
    assert dict(rows["DGST-UNKNOWN-NAME"].cells[0]) == {"deviation": 1}
    assert dict(rows["DGST-OLD-OPENSSL"].cells[0]) == {}  # catalogue clauses without cases are listed too
    assert rows["DGST-SHA256"].failing and not rows["TLS-HANDSHAKE"].failing


def test_markdown_report(store, catalogue_file):
    results, diffs = select(store, None)
    text = markdown.render_report(results, load_clauses(catalogue_file), diffs)
    assert "| clause | level | reference / OpenSSL 3.0.19 | vendor-mock / OpenSSL 3.5.0 |" in text
    assert "| ❌ `DGST-SHA256` | MUST | 1 pass, 1 fail | 1 pass, 1 fail |" in text
    assert "$ cd /w && openssl dgst -sha256 'test_d.py::test_sha256[abc]'" in text
    assert "- `test_d.py::test_sha256[abc]` (DGST-SHA256): passed → crash" in text
    assert "**Newly passing** (1)" in text


def test_json_export_round_trips(store):
    results, _ = select(store, ["run-1"])
    document = json.loads(to_json(results))
    assert document["format"] == "azihsm-conformance-results" and document["version"] == 2
    [run] = document["runs"]
    assert run["run"]["id"] == "run-1" and run["conforms"] is False
    assert run["counts"] == {
        "pass": 2,
        "fail": 1,
        "inconclusive": 0,
        "fixed-deviation": 0,
        "deviation": 1,
        "info": 0,
        "not-applicable": 1,
    }
    failed = next(case for case in run["cases"] if case["outcome"] == "failed")
    assert failed["commands"][0]["command_line"].startswith("cd /w && openssl") and failed["category"] == "fail"


def test_junit_export(store):
    results, _ = select(store, ["run-1", "run-3"])
    root = ET.fromstring(to_junit(results))
    suites = root.findall("testsuite")
    assert [s.get("id") for s in suites] == ["run-1", "run-3"]
    assert (suites[0].get("tests"), suites[0].get("failures"), suites[0].get("skipped")) == ("5", "1", "2")
    crashed = suites[1].find("testcase[@name='test_d.py::test_sha256[abc]']")
    assert crashed.get("classname") == "DGST-SHA256"
    failure = crashed.find("failure")
    assert failure.get("type") == "crash" and "openssl dgst -sha256" in failure.text
    case_properties = {p.get("name"): p.get("value") for p in crashed.find("properties")}
    assert case_properties == {"clause_level": "MUST", "outcome": "crash", "category": "fail", "performed_by": ""}
    properties = {p.get("name"): p.get("value") for p in suites[0].find("properties")}
    assert properties["provider_name"] == "azihsm" and properties["backend"] == "reference"


def test_html_report_is_escaped_and_complete(store, catalogue_file):
    results, diffs = select(store, None)
    page = html.render_report(results, load_clauses(catalogue_file), diffs)
    assert page.startswith("<!DOCTYPE html>") and "<link" not in page and "src=" not in page  # self-contained
    assert "went &lt;crash&gt;" in page and "went <crash>" not in page
    assert "<a href='#clause-DGST-SHA256'>" in page and "<section id='clause-DGST-SHA256'" in page
    assert "<a href='#clause-TLS-HANDSHAKE'>" not in page  # no failures there: nothing to drill into
    assert "<ul class='newly-failing'>" in page and "<ul class='newly-passing'>" in page


def test_outputs_are_written_whole(store, tmp_path):
    results, diffs = select(store, None)
    written = write_outputs(results, diffs, {}, tmp_path / "out")
    assert {name: path.name for name, path in written.items()} == OUTPUT_FILES
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(OUTPUT_FILES.values())  # no temp files left
    mask = os.umask(0)
    os.umask(mask)
    assert all(path.stat().st_mode & 0o777 == 0o666 & ~mask for path in written.values())


def test_info_clauses_show_what_each_backend_does(tmp_path, catalogue_file):
    with ResultsStore(tmp_path / "info.sqlite") as store:
        for run_id, backend, observed in (
            ("run-a", "reference", "TLS 1.3 completes"),
            ("run-b", "vendor-mock", "refused cleanly (no shared cipher)"),
        ):
            store.begin_run(RunRecord(backend=backend, openssl_version="3.0.19", id=run_id))
            for n in range(2):
                store.record_case(
                    run_id,
                    CaseRecord(
                        case_id=f"test_t.py::test_tls[{n}]",
                        clause_id="TLS-HANDSHAKE",
                        clause_level="INFO",
                        outcome="passed",
                        message=observed,
                    ),
                )
            store.finish_run(run_id, COMPLETE, 0)
        results, diffs = select(store, None)
        clauses = load_clauses(catalogue_file)
        text = markdown.render_report(results, clauses, diffs)
        page = html.render_report(results, clauses, diffs)
    assert "## What each backend does (INFO clauses)" in text
    assert "| `TLS-HANDSHAKE` | TLS 1.3 completes (×2) | refused cleanly (no shared cipher) (×2) |" in text
    assert "<table id=observations>" in page and "<td>TLS 1.3 completes (×2)</td>" in page


def test_columns_are_ordered_by_openssl_version(tmp_path):
    with ResultsStore(tmp_path / "v.sqlite") as store:
        for run_id, version in (("r1", "4.0.2"), ("r2", "3.0.19"), ("r3", "3.10.1"), ("r4", "3.5.7")):
            store.begin_run(RunRecord(backend="reference", openssl_version=version, id=run_id))
            store.finish_run(run_id, COMPLETE, 0)
        assert [run.openssl_version for run in latest_per_column(store)] == ["3.0.19", "3.5.7", "3.10.1", "4.0.2"]
