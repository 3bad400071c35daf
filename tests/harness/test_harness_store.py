"""The SQLite results store: transactions, run life cycle, bad databases."""

from __future__ import annotations

import os
import sqlite3

import pytest

from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.store import (
    COMPLETE,
    INCOMPLETE,
    SCHEMA_VERSION,
    CaseRecord,
    CommandRecord,
    ResultsStore,
    RunRecord,
)


def _case(case_id: str, outcome: str = "passed", clause: str = "DGST-SHA256") -> CaseRecord:
    return CaseRecord(
        case_id=case_id,
        clause_id=clause,
        outcome=outcome,
        clause_level="MUST",
        params={"digest": "sha256", "id": "sha256-abc"},
        duration=0.25,
        message="" if outcome == "passed" else "openssl failed",
        commands=[
            CommandRecord("cd /w && openssl dgst -sha256", 0, "ok", 0.01, ""),
            CommandRecord("openssl x", 1, "error", 0.02, "bad"),
        ],
    )


def test_run_and_cases_round_trip(tmp_path):
    path = tmp_path / "deep" / "results.sqlite"
    with ResultsStore(path) as store:
        run_id = store.begin_run(RunRecord(backend="reference", openssl_version="3.0.19", provider_name="azihsm"))
        store.record_case(run_id, _case("test_a.py::test_one[sha256-abc]"))
        store.record_case(run_id, _case("test_a.py::test_two", "failed"))
        store.finish_run(run_id, COMPLETE, 1)
    with ResultsStore(path, create=False) as store:
        run = store.get_run("latest")
        assert (run.id, run.status, run.exit_status, run.provider_name) == (run_id, COMPLETE, 1, "azihsm")
        assert run.finished_at and run.started_at <= run.finished_at
        cases = store.cases(run_id)
    assert [c.case_id for c in cases] == ["test_a.py::test_one[sha256-abc]", "test_a.py::test_two"]
    assert cases[0].params == {"digest": "sha256", "id": "sha256-abc"} and cases[0].category == "pass"
    assert cases[1].category == "fail"
    assert [c.command_line for c in cases[1].commands] == ["cd /w && openssl dgst -sha256", "openssl x"]
    version = sqlite3.connect(path).execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    assert version == str(SCHEMA_VERSION)


def test_recording_a_case_again_replaces_it(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        run_id = store.begin_run(RunRecord(backend="b", openssl_version="3.0.19"))
        store.record_case(run_id, _case("t::c", "failed"))
        store.record_case(run_id, _case("t::c", "passed"))
        [case] = store.cases(run_id)
    assert case.outcome == "passed" and len(case.commands) == 2


def test_killed_run_stays_incomplete_and_earlier_runs_survive(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        first = store.begin_run(RunRecord(backend="b", openssl_version="3.0.19"))
        store.record_case(first, _case("t::a"))
        store.finish_run(first, COMPLETE, 0)
    # a second run that dies mid-way: the process is killed after one case
    pid = os.fork()
    if pid == 0:
        store = ResultsStore(path)
        run_id = store.begin_run(RunRecord(backend="b", openssl_version="3.0.19", id="killed-run"))
        store.record_case(run_id, _case("t::a"))
        os.kill(os.getpid(), 9)
    os.waitpid(pid, 0)
    with ResultsStore(path, create=False) as store:
        runs = {run.id: run for run in store.runs()}
        assert runs[first].status == COMPLETE and len(store.cases(first)) == 1
        assert runs["killed-run"].status == INCOMPLETE and runs["killed-run"].finished_at is None
        assert len(store.cases("killed-run")) == 1


def test_two_runs_write_one_database_at_once(tmp_path):
    path = tmp_path / "r.sqlite"
    ResultsStore(path).close()
    children = []
    for backend in ("reference", "vendor"):
        pid = os.fork()
        if pid == 0:  # each child records a whole run, interleaved with the other
            try:
                store = ResultsStore(path)
                run_id = store.begin_run(RunRecord(backend=backend, openssl_version="3.0.19", id=f"run-{backend}"))
                for n in range(40):
                    store.record_case(run_id, _case(f"t::case{n}"))
                store.finish_run(run_id, COMPLETE, 0)
                os._exit(0)
            except BaseException:
                os._exit(1)
        children.append(pid)
    assert [os.waitpid(pid, 0)[1] for pid in children] == [0, 0]
    with ResultsStore(path, create=False) as store:
        assert {run.id: run.status for run in store.runs()} == {"run-reference": COMPLETE, "run-vendor": COMPLETE}
        assert len(store.cases("run-reference")) == len(store.cases("run-vendor")) == 40


def test_run_references(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        ids = [store.begin_run(RunRecord(backend="b", openssl_version="3.0.19", id=f"run-{n}")) for n in range(3)]
        assert store.get_run("latest").id == ids[2]
        assert store.get_run("latest~2").id == ids[0]
        assert store.get_run("run-1").id == ids[1]
        for ref, problem in [
            ("latest~3", "holds only 3 run"),
            ("run-", "matches 3 runs"),
            ("nope", "no run 'nope'"),
            ("latest~x", "not like latest~2"),
        ]:
            with pytest.raises(UsageError, match=problem):
                store.get_run(ref)


@pytest.mark.parametrize(
    "content, problem",
    [
        (
            b"this is not a database at all" * 100,
            "is not an azihsm-conformance results database \\(not an SQLite file at all\\)",
        ),
        (b"SQLite format 3\x00" + b"\xff" * 4000, "is corrupt \\(file is not a database\\); move it aside"),
        (None, "not an azihsm-conformance results database"),
    ],
    ids=["garbage-file", "damaged-sqlite", "foreign-sqlite"],
)
def test_bad_database_files(tmp_path, content, problem):
    path = tmp_path / "r.sqlite"
    if content is None:
        sqlite3.connect(path).execute("CREATE TABLE other (x)").connection.commit()
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    with pytest.raises(UsageError, match=problem):
        ResultsStore(path)
    assert path.read_bytes() == before  # nothing is overwritten


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "r.sqlite"
    ResultsStore(path).close()
    connection = sqlite3.connect(path)
    connection.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    connection.commit()
    with pytest.raises(UsageError, match="schema version 99, newer than this"):
        ResultsStore(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(UsageError, match="not writable; pass --results"):
        ResultsStore(locked / "r.sqlite")


def test_path_where_no_file_can_be_created():
    # /proc refuses new files even to root
    with pytest.raises(
        UsageError, match="cannot write results database /proc/results.sqlite .*pass --results with a writable path"
    ):
        ResultsStore("/proc/results.sqlite")


def test_results_path_under_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="cannot create results directory .*choose a writable output directory"):
        ResultsStore(blocker / "sub" / "r.sqlite")


def test_missing_database_for_reading(tmp_path):
    with pytest.raises(UsageError, match="no results database at .*run 'azihsm-conformance run' first"):
        ResultsStore(tmp_path / "absent.sqlite", create=False)
