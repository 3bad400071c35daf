"""One verdict everywhere: a run of the fake suite holds an INFO clause that records a
failure, a declared deviation, a fixed deviation, not-applicable cases, inconclusive
cases and a real MUST failure; the exit code, JUnit, JSON, Markdown, HTML and
``compare --check`` must all tell the same story about it."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from harness_helpers import EXPECTED_OUTCOMES, write_fake_suite

from azihsm_conformance.harness import verdicts

pytestmark = pytest.mark.openssl


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "azihsm_conformance.harness.cli", *map(str, args)], capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    from harness_helpers import CATALOGUE, DEFAULT_PROVIDER_PROFILE

    root = tmp_path_factory.mktemp("verdicts")
    (root / "profile.toml").write_text(DEFAULT_PROVIDER_PROFILE)
    (root / "clauses.toml").write_text(CATALOGUE)
    suite = write_fake_suite(root)
    out = root / "out"
    common = [
        "--backend",
        root / "profile.toml",
        "--clauses",
        root / "clauses.toml",
        "--suite",
        suite,
        "--out",
        out,
        "-n",
        "0",
    ]
    # a first run where every required clause holds (the failing cases removed), then the whole suite
    text = (suite / "test_fake_suite.py").read_text()
    against = [
        name.split("::")[1]
        for name, outcome in EXPECTED_OUTCOMES.items()
        if outcome in ("inconclusive", "fixed-deviation") or name.endswith("fails_wrongly")
    ]
    first = cli("run", *common, "--", "-k", " and ".join(f"not {name}" for name in against))
    (suite / "test_fake_suite.py").write_text(text)
    second = cli("run", *common)
    return root, out, first, second


def test_exit_codes(recorded):
    _, _, first, second = recorded
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]  # an INFO failure and a deviation only
    assert "CONFORMS to revision 2026-03" in first.stdout
    assert second.returncode == 1 and "DOES NOT CONFORM to revision 2026-03" in second.stdout


def test_json_junit_markdown_html_agree(recorded):
    _, out, _, _ = recorded
    [run] = json.loads((out / "results.json").read_text())["runs"]
    cases = {case["case_id"]: case for case in run["cases"]}
    against = {case_id for case_id, case in cases.items() if case["category"] in verdicts.AGAINST}
    assert run["conforms"] is False and against == {
        "test_fake_suite.py::test_sha256_without_proof",
        "test_fake_suite.py::test_sha384_declared_deviation_that_passes",
        "test_fake_suite.py::test_junk_option_refused_by_the_parser",
        "test_fake_suite.py::test_junk_option_fails_wrongly",
    }
    assert cases["test_fake_suite.py::test_info_clause_failure"]["category"] == "info"
    assert sum(run["counts"].values()) == len(cases)

    # JUnit: failures and errors are exactly the cases against conformance; INFO is no failure
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    flagged = {
        case.get("name")
        for case in suite.findall("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    }
    assert flagged == against
    assert int(suite.get("failures")) + int(suite.get("errors")) == len(against)
    skipped = {case.get("name") for case in suite.findall("testcase") if case.find("skipped") is not None}
    assert skipped == {
        case_id for case_id, case in cases.items() if case["category"] in ("not-applicable", "deviation")
    }
    properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert properties["verdict"] == "does not conform"
    passing = suite.find("testcase[@name='test_fake_suite.py::test_sha256[sha256-abc]']")
    assert (
        passing.find("system-out") is not None and "$ " not in passing.find("system-out").text
    )  # evidence, no commands

    # Markdown: the banner, and ❌ exactly on the clauses holding such cases
    markdown = (out / "report.md").read_text()
    assert "❌ **default-provider / OpenSSL" in markdown and "DOES NOT CONFORM to revision 2026-03" in markdown
    marked = {line.split("`")[1] for line in markdown.splitlines() if line.startswith("| ❌ `")}
    assert marked == {cases[case_id]["clause_id"] for case_id in against}

    # HTML: the same banner, the INFO cell is info, not fail
    page = (out / "report.html").read_text()
    assert "<section class='banner fails'" in page and "DOES NOT CONFORM to revision 2026-03" in page
    assert "<td class='info'>" in page


def test_compare_check_flags_exactly_what_counts_against(recorded):
    root, out, _, _ = recorded
    forward = cli("compare", "latest~1", "latest", "--results", out / "results.sqlite", "--check")
    assert forward.returncode == 1
    # the four cases against conformance are new in the second run: --check counts them
    assert "**New cases** (4)" in forward.stdout and "4 case(s) now count against conformance" in forward.stderr
    backward = cli("compare", "latest", "latest~1", "--results", out / "results.sqlite", "--check")
    assert backward.returncode == 0  # nothing the first run holds is newly failing: the INFO failure never counts
