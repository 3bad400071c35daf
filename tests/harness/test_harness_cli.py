"""The azihsm-conformance run / report / compare / doctor commands, end to end against the
real openssl (default provider standing in for a provider), and their bad-input errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from harness_helpers import fake_script, write_fake_suite

from azihsm_conformance.harness.cli import main
from azihsm_conformance.harness.store import ResultsStore

pytestmark = pytest.mark.openssl


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "azihsm_conformance.harness.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_run_report_and_compare(tmp_path, profile_file, catalogue_file):
    suite = write_fake_suite(tmp_path)
    out = tmp_path / "results"
    common = ["--backend", profile_file, "--clauses", catalogue_file, "--suite", suite, "--out", out]

    first = cli("run", *common, "-n", "2")
    assert first.returncode == 1, first.stderr  # MUST clauses failed or stayed undecided
    assert "case(s) count against conformance in: DGST-REFUSE-JUNK, DGST-SHA256, DGST-SHA384" in first.stderr
    assert "DOES NOT CONFORM to revision 2026-03" in first.stdout
    assert "2 workers [13 items]" in first.stdout  # parallel by default: progress is pytest's
    for name in ("results.sqlite", "results.json", "junit.xml", "report.md", "report.html"):
        assert (out / name).is_file(), name

    # the provider and the suite are fixed: the wrong failure passes, the undecided cases
    # prove themselves, the sha384 deviation really happens
    test_file = suite / "test_fake_suite.py"
    text = test_file.read_text()
    text = text.replace(
        'openssl("dgst", "-sha256", PROV, "missing-file.bin")',
        'openssl("dgst", "-sha256", PROV, input=b"", prove=True)',
    )
    text = text.replace(
        'openssl("dgst", "-sha256", "-r", PROV, input=b"abc")',
        'openssl("dgst", "-sha256", "-r", PROV, input=b"abc", prove=True)',
    )
    text = text.replace(
        'openssl.refuses("dgst", "-sha256", "--junk-option", PROV, control=("dgst", "-sha256", PROV), because="parameter")',
        'openssl("dgst", "-sha256", PROV, input=b"", prove=True)',
    )
    text = text.replace(
        'openssl("dgst", "-sha384", PROV, "data.bin", prove=True)', 'openssl("dgst", "-sha384", PROV, "absent.bin")'
    )
    test_file.write_text(text)
    second = cli("run", *common, "-n", "0", "--level", "full")
    assert second.returncode == 0, second.stdout + second.stderr  # only an INFO clause fails now
    assert "CONFORMS to revision 2026-03" in second.stdout
    assert "0 newly failing, 3 newly passing" in second.stdout

    runs = cli("report", "--results", out / "results.sqlite", "--list")
    ids = [line.split()[0] for line in runs.stdout.splitlines()]
    assert len(ids) == 2 and all(" complete " in line for line in runs.stdout.splitlines())

    # a recorded failure replays by hand: its working directory is kept under OUT/work/RUN
    failed = next(
        case
        for run in json.loads((out / "results.json").read_text())["runs"]
        for case in run["cases"]
        if case["outcome"] == "failed"
    )
    replay = subprocess.run(["bash", "-c", failed["commands"][0]["command_line"]], capture_output=True, text=True)
    assert f"{out}/work/{ids[1]}/" in failed["commands"][0]["command_line"]
    assert replay.returncode == failed["commands"][0]["returncode"] and replay.stderr.strip()

    forward = cli("compare", ids[0], ids[1], "--results", out / "results.sqlite", "--check")
    assert forward.returncode == 0, forward.stderr
    assert "**Newly passing** (3)" in forward.stdout and "**Other changes** (1)" in forward.stdout
    assert (
        "- `test_fake_suite.py::test_junk_option_fails_wrongly` (DGST-REFUSE-JUNK): failed → passed" in forward.stdout
    )
    assert (
        "- `test_fake_suite.py::test_sha384_declared_deviation_that_passes` (DGST-SHA384): fixed-deviation → deviation"
        in forward.stdout
    )

    backward = cli(
        "compare",
        "latest",
        "latest~1",
        "--results",
        out / "results.sqlite",
        "--check",
        "--html",
        tmp_path / "diff.html",
    )
    assert backward.returncode == 1  # --check: something is newly failing
    assert "**Newly failing** (4)" in backward.stdout
    assert "newly-failing" in (tmp_path / "diff.html").read_text()

    # the same comparison with each run in a database of its own (e.g. two CI artifacts)
    elsewhere = tmp_path / "artifact.sqlite"
    shutil.copy(out / "results.sqlite", elsewhere)
    across = cli("compare", f"{elsewhere}:{ids[0]}", f"{out / 'results.sqlite'}", "--check")
    assert across.returncode == 0 and "**Newly passing** (3)" in across.stdout

    summary = cli("report", "--results", out / "results.sqlite", "--clauses", catalogue_file, "--markdown", "-")
    assert summary.returncode == 0 and summary.stdout.startswith("# azihsm conformance")
    assert f"### Changes from `{ids[0]}` to `{ids[1]}`" in summary.stdout

    document = json.loads((out / "results.json").read_text())
    assert [run["run"]["id"] for run in document["runs"]] == [ids[1]]
    junit = ET.parse(out / "junit.xml").getroot()
    assert junit.find("testsuite").get("tests") == "13"
    sha256 = junit.find("testsuite/testcase[@name='test_fake_suite.py::test_sha256[sha256-abc]']")
    # a pass is brief: its parameters are in its name; failures keep them as properties
    assert {p.get("name") for p in sha256.find("properties")} == {"clause_level", "performed_by"}


def test_run_against_an_external_provider_directory(tmp_path, catalogue_file):
    # the default provider's module, copied into a directory of its own, loaded by path
    modules = subprocess.run(["openssl", "version", "-m"], capture_output=True, text=True).stdout.split('"')[1]
    provider_dir = tmp_path / "provider-build"
    provider_dir.mkdir()
    shutil.copy(os.path.join(modules, "legacy.so"), provider_dir / "legacy.so")
    suite = tmp_path / "conformance"
    suite.mkdir()
    (suite / "test_ext.py").write_text(
        "import pytest\nfrom azihsm_conformance.harness.markers import PROV\n\n"
        '@pytest.mark.clause("DGST-SHA256")\ndef test_md4_from_the_external_module(openssl):\n'
        '    result = openssl("dgst", "-md4", PROV, input=b"abc", prove=True)\n'
        '    assert result.stdout.strip().endswith(b"a448017aaf21d8525fc10ae87aa6729d")\n'
    )
    run = cli(
        "run",
        "--provider-path",
        provider_dir,
        "--provider-module",
        "legacy",
        "--clauses",
        catalogue_file,
        "--suite",
        suite,
        "--out",
        tmp_path / "out",
        "-n",
        "0",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "external (OpenSSL Legacy Provider" in run.stdout and "CONFORMS to revision 2026-03 (1 pass)" in run.stdout


@pytest.mark.parametrize(
    "args, problem",
    [
        (["run", "--backend", "nope"], "unknown backend 'nope'; choose one of"),
        (
            ["run", "--provider-path", "/no/such/dir"],
            "provider directory /no/such/dir does not exist; pass --provider-path",
        ),
        (["run", "--backend", "external"], "backend external needs --provider-path DIR"),
        (["report", "--results", "/no/such/results.sqlite"], "no results database at /no/such/results.sqlite"),
        (["compare", "a", "b", "--results", "/no/such/results.sqlite"], "no results database at"),
        (["compare", "/no/such/ci.sqlite:latest", "b"], "no results database at /no/such/ci.sqlite"),
    ],
    ids=[
        "unknown-backend",
        "missing-provider-dir",
        "external-without-path",
        "report-without-database",
        "compare-without-database",
        "compare-missing-artifact",
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, problem):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("azihsm-conformance: error: ") and problem in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "script, problem",
    [('echo "OpenSSL 1.1.1w  11 Sep 2023"', "older than 3.0"), ('echo "LibreSSL 3.8.2"', "is not OpenSSL")],
    ids=["openssl-1.1", "not-openssl"],
)
def test_unsuitable_openssl(tmp_path, capsys, profile_file, script, problem):
    binary = fake_script(tmp_path / "openssl", script + "\n")
    assert main(["run", "--backend", str(profile_file), "--openssl", str(binary), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert problem in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_suite_that_does_not_import(tmp_path, capsys, profile_file, catalogue_file):
    suite = write_fake_suite(tmp_path)
    (suite / "test_broken.py").write_text("import no_such_module_here\n")
    out = tmp_path / "out"
    code = main(
        [
            "run",
            "--backend",
            str(profile_file),
            "--clauses",
            str(catalogue_file),
            "--suite",
            str(suite),
            "--out",
            str(out),
            "-n",
            "0",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "could not be collected (errors above)" in err and "recorded as aborted" in err


def test_report_on_an_empty_database(tmp_path, capsys):
    ResultsStore(tmp_path / "r.sqlite").close()
    assert main(["report", "--results", str(tmp_path / "r.sqlite")]) == 2
    assert "has no runs yet; run 'azihsm-conformance run' first" in capsys.readouterr().err


def test_corrupt_database_is_refused_and_kept(tmp_path, capsys, profile_file, catalogue_file):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.sqlite").write_bytes(b"not sqlite" * 500)
    assert (
        main(
            [
                "run",
                "--backend",
                str(profile_file),
                "--clauses",
                str(catalogue_file),
                "--suite",
                str(write_fake_suite(tmp_path)),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "is not an azihsm-conformance results database (not an SQLite file at all)" in err and err.count("\n") == 1
    assert (out / "results.sqlite").read_bytes() == b"not sqlite" * 500


def test_unwritable_results_path(tmp_path, capsys, profile_file):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["run", "--backend", str(profile_file), "--results", str(blocker / "results.sqlite")]) == 2
    assert "cannot create results directory" in capsys.readouterr().err


def test_doctor_reports_each_check(tmp_path, profile_file):
    good = cli("doctor", "--backend", profile_file, "--results", tmp_path / "r" / "results.sqlite")
    assert good.returncode == 0, good.stdout
    for check in ("openssl", "backend", "provider load", "device directory", "results database"):
        assert f"  ok    {check}: " in good.stdout
    assert "OpenSSL Default Provider" in good.stdout and not (tmp_path / "r").exists()

    (tmp_path / "azihsm_provider.so").write_bytes(b"\x7fELF but not really")
    bad = cli("doctor", "--provider-path", tmp_path, "--results", tmp_path / "r" / "results.sqlite")
    assert bad.returncode == 1
    assert (
        "  FAIL  provider load: provider did not load" in bad.stdout
        and "replay: " in bad.stdout
        and "fix: " in bad.stdout
    )
    assert "1 check(s) failed" in bad.stdout


def test_old_working_directories_are_pruned(tmp_path):
    from azihsm_conformance.harness.commands.run import prune_work

    work = tmp_path / "work"
    ids = ["20261130T060000Z-aaaaaa", "20261130T061000Z-bbbbbb", "20261130T062000Z-cccccc", "20261130T063000Z-dddddd"]
    for run_id in ids:
        (work / run_id / "case").mkdir(parents=True)
    removed = prune_work(work, 2, current=ids[-1])
    assert [p.name for p in removed] == ids[:2]
    assert sorted(p.name for p in work.iterdir()) == ids[2:]
    assert prune_work(work, 1, current=ids[-1])[0].name == ids[2]  # the current run always stays
    assert [p.name for p in work.iterdir()] == [ids[-1]]


def test_keep_work_must_be_a_positive_count(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--keep-work", "0"])
    assert exit_info.value.code == 2
    assert "is not a whole number of runs, at least 1" in capsys.readouterr().err


def test_run_loads_the_provider_once(tmp_path, profile_file, catalogue_file):
    """The target is resolved (and the provider loaded: `openssl list -providers`) once, by
    `run`; the pytest controller and its workers take it from the target file."""
    log = tmp_path / "openssl-calls.log"
    wrapper = fake_script(tmp_path / "openssl", f'echo "$*" >> {log}\nexec {shutil.which("openssl")} "$@"\n')
    suite = write_fake_suite(tmp_path)
    done = cli(
        "run",
        "--backend",
        profile_file,
        "--clauses",
        catalogue_file,
        "--suite",
        suite,
        "--out",
        tmp_path / "out",
        "--openssl",
        wrapper,
        "-n",
        "2",
        "--",
        "-k",
        "sha256",
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    loads = [line for line in log.read_text().splitlines() if line.startswith("list -providers")]
    assert len(loads) == 1, loads
