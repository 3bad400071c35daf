"""The pytest plugin, driven with pytester on a fake conformance module against the real
openssl and its default provider (standing in for a provider under test): every verdict
(pass with proof, inconclusive, not applicable, deviation, fixed deviation, failure, hang,
crash, traceback) is decided from pytest's report objects and stored as such."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from harness_helpers import EXPECTED_OUTCOMES, FAKE_SUITE, PYTEST_OUTCOMES, fake_script

from azihsm_conformance.harness.plugin.collection import stable_case_id
from azihsm_conformance.harness.store import COMPLETE, ResultsStore

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.openssl


@pytest.fixture
def suite(pytester, profile_file, catalogue_file):
    pytester.makepyfile(test_fake_suite=textwrap.dedent(FAKE_SUITE))
    return [
        "--azihsm-backend",
        str(profile_file),
        "--azihsm-clauses",
        str(catalogue_file),
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
    ]


def _stored(pytester, name="results.sqlite"):
    with ResultsStore(pytester.path / name, create=False) as store:
        run = store.get_run("latest")
        return run, {case.case_id: case for case in store.cases(run.id)}


def test_every_outcome_is_recorded(pytester, suite):
    result = pytester.runpytest(*suite, "--azihsm-results", "results.sqlite")
    result.assert_outcomes(**PYTEST_OUTCOMES)
    run, cases = _stored(pytester)
    assert {case_id: case.outcome for case_id, case in cases.items()} == EXPECTED_OUTCOMES
    assert run.status == COMPLETE and run.exit_status == 1 and run.level == "full"
    assert run.backend == "default-provider" and run.provider_name == "OpenSSL Default Provider"
    assert run.openssl_version.startswith("3.") and run.provider_version == run.openssl_version
    assert run.revision == "2026-03" and run.capabilities == "digests kdf"

    passed = cases["test_fake_suite.py::test_sha256[sha256-abc]"]
    assert passed.clause_id == "DGST-SHA256" and passed.clause_level == "MUST"
    assert passed.params == {"message": "b'abc'", "id": "sha256-abc"}
    assert passed.performed_by == "OpenSSL Default Provider"
    assert passed.evidence == ["isolated twin (digest withheld from every other provider) succeeded"]
    step, twin = passed.commands
    assert (step.role, twin.role) == ("step", "twin")
    assert "dgst -sha256 -r -propquery '?provider=azihsm' -provider default -provider default" in step.command_line
    assert "AZIHSM_DEVICE_DIR=" in step.command_line and "< " in step.command_line
    # the twin: no -provider default of its own, the isolation provider from its openssl.cnf
    assert "AZIHSM_ISOLATION_WITHHOLD=digest" in twin.command_line and "isolation.cnf" in twin.command_line
    assert "dgst -sha256 -r -propquery '?provider=azihsm' -provider default <" in twin.command_line

    unproven = cases["test_fake_suite.py::test_sha256_without_proof"]
    assert unproven.message.startswith("no command of this case showed that the provider under test performed digest")
    assert unproven.category == "inconclusive" and unproven.performed_by == ""

    parsed = cases["test_fake_suite.py::test_junk_option_refused_by_the_parser"]
    assert parsed.message.startswith(
        "refused by OpenSSL, not by the provider under test: openssl rejected the command line"
    )
    assert [c.role for c in parsed.commands] == ["refusal", "control"]

    refused = cases["test_fake_suite.py::test_hkdf_without_key_refused"]
    assert refused.performed_by == "OpenSSL Default Provider" and "missing key" in refused.evidence[0]

    failed = cases["test_fake_suite.py::test_junk_option_fails_wrongly"]
    assert failed.message.startswith("openssl failed (exit code 1)")
    assert "missing-file.bin" in failed.stderr_excerpt and failed.commands[0].returncode == 1
    assert "replay: cd " in failed.message

    fixed = cases["test_fake_suite.py::test_sha384_declared_deviation_that_passes"]
    assert "no longer observed" in fixed.message and fixed.category == "fixed-deviation"
    assert cases["test_fake_suite.py::test_unknown_digest_deviation"].message.startswith(
        "known deviation: stand-in deviation"
    )
    assert cases["test_fake_suite.py::test_tls_needs_capability"].message == (
        "backend default-provider does not claim tls (clause TLS-HANDSHAKE needs it)"
    )
    assert "applies to OpenSSL <3.0" in cases["test_fake_suite.py::test_clause_outside_version_range"].message
    assert (
        cases["test_fake_suite.py::test_info_clause_records_either_outcome"].message == "dgst of a missing file fails"
    )
    assert cases["test_fake_suite.py::test_info_clause_failure"].category == "info"


def test_failure_report_shows_the_replayable_command(pytester, suite):
    result = pytester.runpytest(*suite, "--azihsm-results", "results.sqlite", "-k", "fails_wrongly")
    result.stdout.fnmatch_lines(
        ["*openssl failed (exit code 1)*", "*replay: cd *dgst -sha256*missing-file.bin*", "*openssl commands*"]
    )


def test_report_header_names_openssl_and_provider(pytester, suite):
    result = pytester.runpytest(*suite, "--azihsm-results", "results.sqlite", "-k", "sha256-abc")
    result.stdout.fnmatch_lines(
        [
            "azihsm backend: default-provider (*default-provider.toml); revision 2026-03; capabilities digests, kdf",
            "azihsm openssl: OpenSSL 3.* at *openssl",
            "azihsm provider: OpenSSL Default Provider, version 3.*, build 3.* (loaded as default)",
            "azihsm provenance: isolated twins through *isolation.so",
            "azihsm level: full; clauses: *clauses.toml",
            "azihsm results: *results.sqlite (run *)",
        ]
    )


def test_nothing_is_recorded_when_nothing_runs(pytester, suite):
    assert pytester.runpytest(*suite, "--azihsm-results", "results.sqlite", "--collect-only").ret == 0
    assert pytester.runpytest(*suite, "--azihsm-results", "results.sqlite", "--markers").ret == 0
    assert not (pytester.path / "results.sqlite").exists()


def test_quick_level_keeps_one_representative_case_per_clause(pytester, suite):
    result = pytester.runpytest(*suite, "--azihsm-results", "results.sqlite", "--azihsm-level", "quick")
    _, cases = _stored(pytester)
    assert sorted(cases) == [
        "test_fake_suite.py::test_clause_outside_version_range",
        "test_fake_suite.py::test_hkdf_without_key_refused",
        "test_fake_suite.py::test_info_clause_failure",
        "test_fake_suite.py::test_junk_option_fails_wrongly",  # the case marked quick wins
        "test_fake_suite.py::test_sha256[sha256-abc]",  # first case of its clause
        "test_fake_suite.py::test_sha384_declared_deviation_that_passes",
        "test_fake_suite.py::test_tls_needs_capability",
        "test_fake_suite.py::test_unknown_digest_deviation",
    ]
    result.stdout.fnmatch_lines(["*5 deselected*"])


def test_results_are_recorded_under_xdist(pytester, suite):
    result = pytester.runpytest_subprocess(*suite, "--azihsm-results", "results.sqlite", "-n", "2")
    result.assert_outcomes(**PYTEST_OUTCOMES)
    run, cases = _stored(pytester)
    assert {case_id: case.outcome for case_id, case in cases.items()} == EXPECTED_OUTCOMES
    assert cases["test_fake_suite.py::test_sha256[sha256-abc]"].performed_by == "OpenSSL Default Provider"
    # each worker had its own device directory
    device_dirs = {
        c.command_line.split("AZIHSM_DEVICE_DIR=")[1].split()[0] for case in cases.values() for c in case.commands
    }
    assert len(device_dirs) == 2 and all("popen-gw" in d for d in device_dirs)


def test_xdist_workers_keep_the_default_reference_backend(pytester, catalogue_file):
    """Without --backend the controller picks the reference; its workers must too (not an
    'external' backend built from the provider directory they are handed)."""
    pytester.makepyfile(
        test_backend="""
        import pytest
        from azihsm_conformance.harness.markers import PROV
        from azihsm_conformance.harness.plugin.target import activate

        def pytest_configure(config):
            activate(config)

        @pytest.mark.clause("DGST-SHA256")
        @pytest.mark.parametrize("n", [1, 2, 3, 4])
        def test_backend_is_reference(openssl, backend, n):
            assert backend.name == "reference"
            openssl("dgst", "-sha256", PROV, "-r", input=b"abc", prove=True)
        """
    )
    pytester.makeconftest(
        "from azihsm_conformance.harness.plugin.target import activate\n\ndef pytest_configure(config):\n    activate(config)\n"
    )
    result = pytester.runpytest_subprocess(
        "--azihsm-clauses", str(catalogue_file), "--azihsm-results", "r.sqlite", "-n", "2", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=4)


def test_cases_are_stored_as_they_finish_and_interruption_is_recorded(pytester, profile_file, catalogue_file):
    pytester.makepyfile(
        test_x="""
        import sqlite3
        import pytest

        @pytest.mark.clause("DGST-INFO-ONLY")
        def test_first():
            pass

        @pytest.mark.clause("DGST-INFO-ONLY")
        def test_second_sees_the_first_stored():
            stored = sqlite3.connect("r.sqlite").execute("SELECT case_id, outcome FROM cases").fetchall()
            assert stored == [("test_x.py::test_first", "passed")]

        @pytest.mark.clause("DGST-REFUSE-JUNK")
        def test_user_presses_ctrl_c():
            raise KeyboardInterrupt
        """
    )
    # in a subprocess: in-process, the KeyboardInterrupt would stop this test session too
    result = pytester.runpytest_subprocess(
        "--azihsm-backend", str(profile_file), "--azihsm-clauses", str(catalogue_file), "--azihsm-results", "r.sqlite"
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    run, cases = _stored(pytester, "r.sqlite")
    assert run.status == "interrupted" and run.finished_at
    assert {case_id: case.outcome for case_id, case in cases.items()} == {
        "test_x.py::test_first": "passed",
        "test_x.py::test_second_sees_the_first_stored": "passed",
    }


def test_a_case_without_clause_is_an_error(pytester, profile_file, catalogue_file):
    pytester.makepyfile(test_x="def test_orphan(openssl):\n    pass\n")
    result = pytester.runpytest(
        "--azihsm-backend", str(profile_file), "--azihsm-clauses", str(catalogue_file), "--azihsm-results", "r.sqlite"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*test_x.py::test_orphan: no clause marker; every conformance case needs exactly one @pytest.mark.clause*"]
    )
    run, cases = _stored(pytester, "r.sqlite")
    assert run.status == "aborted" and cases == {}


def test_an_unknown_clause_is_an_error(pytester, profile_file, catalogue_file):
    pytester.makepyfile(test_x='import pytest\n@pytest.mark.clause("NOT-IN-CATALOGUE")\ndef test_a():\n    pass\n')
    result = pytester.runpytest(
        "--azihsm-backend", str(profile_file), "--azihsm-clauses", str(catalogue_file), "--azihsm-results", "r.sqlite"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*clause id(s) NOT-IN-CATALOGUE are not in *clauses.toml*"])


def test_hang_crash_and_traceback_fail_even_when_failure_is_expected(pytester, profile_file, catalogue_file, tmp_path):
    # a wrapper around the real openssl that misbehaves on request
    wrapper = fake_script(
        tmp_path / "openssl",
        f"""\
        case "$1" in
          hang-now) sleep 30 ;;
          crash-now) kill -SEGV $$ ;;
          traceback-now) printf 'Traceback (most recent call last):\\n  File "bridge.py"\\nValueError: boom\\n' >&2; exit 1 ;;
        esac
        exec {shutil.which("openssl")} "$@"
        """,
    )
    pytester.makepyfile(
        test_x="""
        import pytest
        from azihsm_conformance.harness.markers import PROV

        @pytest.mark.clause("DGST-SHA256")
        def test_hang(openssl):
            openssl("hang-now", PROV, timeout=0.5)

        @pytest.mark.clause("DGST-REFUSE-JUNK")
        def test_crash(openssl):
            openssl("crash-now", expect_fail=True)

        @pytest.mark.clause("DGST-REFUSE-JUNK")
        def test_traceback(openssl):
            openssl("traceback-now", expect_fail=True)
        """
    )
    result = pytester.runpytest(
        "--azihsm-openssl",
        str(wrapper),
        "--azihsm-backend",
        str(profile_file),
        "--azihsm-clauses",
        str(catalogue_file),
        "--azihsm-results",
        "r.sqlite",
    )
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*openssl timed out after 0.5s*",
            "*openssl crashed: killed by SIGSEGV*",
            "*a Python traceback was printed on stderr*",
        ]
    )
    _, cases = _stored(pytester, "r.sqlite")
    assert {case_id: case.outcome for case_id, case in cases.items()} == {
        "test_x.py::test_hang": "timeout",
        "test_x.py::test_crash": "crash",
        "test_x.py::test_traceback": "traceback",
    }
    assert cases["test_x.py::test_hang"].commands[0].returncode is None
    assert cases["test_x.py::test_crash"].commands[0].returncode == -11
    assert "ValueError: boom" in cases["test_x.py::test_traceback"].stderr_excerpt


def test_bad_backend_is_a_usage_error(pytester):
    pytester.makepyfile(test_x="def test_a():\n    pass\n")
    result = pytester.runpytest("--azihsm-backend", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: unknown backend 'nope'; choose one of *"])


def test_provider_that_does_not_load(pytester, tmp_path):
    pytester.makepyfile(test_x="def test_a():\n    pass\n")
    (tmp_path / "azihsm_provider.so").write_bytes(b"not an elf file")
    result = pytester.runpytest("--azihsm-provider-path", str(tmp_path), "--azihsm-results", "r.sqlite")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: backend external: provider did not load (exit code 1)*replay: *list -providers*"]
    )


@pytest.mark.parametrize(
    "path, nodeid, stable",
    [
        (
            "/src/conformance/test_sign.py",
            "conformance/test_sign.py::test_ecdsa[P384]",
            "test_sign.py::test_ecdsa[P384]",
        ),
        (
            "/venv/site-packages/conformance/sub/test_x.py",
            "../venv/site-packages/conformance/sub/test_x.py::T::test_y",
            "sub/test_x.py::T::test_y",
        ),
        ("/tmp/a/test_fake_suite.py", "a/test_fake_suite.py::test_a", "test_fake_suite.py::test_a"),
    ],
    ids=["checkout", "installed", "outside-a-package"],
)
def test_stable_case_ids(path, nodeid, stable):
    assert stable_case_id(Path(path), nodeid) == stable


def test_the_plugin_is_dormant_without_an_azihsm_option(pytester):
    """Installed as an entry point, it must not touch other projects' test runs."""
    pytester.makepyfile(test_x="def test_plain():\n    assert True\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "azihsm backend" not in result.stdout.str() and not list(pytester.path.glob("**/*.sqlite"))
