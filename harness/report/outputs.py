"""Chooses what a report covers and writes every output format."""

from __future__ import annotations

from pathlib import Path

from azihsm_conformance.harness.clauses import Clause
from azihsm_conformance.harness.fileutil import write_atomic
from azihsm_conformance.harness.report import exports, html, markdown
from azihsm_conformance.harness.report.model import (
    RunDiff,
    RunResults,
    diff_runs,
    latest_per_column,
    load_run,
    previous_run,
)
from azihsm_conformance.harness.store import ResultsStore

# file names inside an output directory
OUTPUT_FILES = {
    "markdown": "report.md",
    "html": "report.html",
    "json": "results.json",
    "junit": "junit.xml",
}


def select(store: ResultsStore, refs: list[str] | None) -> tuple[list[RunResults], list[RunDiff]]:
    """The runs named by REFS (default: the newest run per backend and OpenSSL version),
    each with its diff against the previous run of the same backend and version."""
    runs = [store.get_run(ref) for ref in refs] if refs else latest_per_column(store)
    results = [RunResults(run, store.cases(run.id)) for run in runs]
    diffs = []
    for result in results:
        before = previous_run(store, result.run)
        if before is not None:
            diffs.append(diff_runs(load_run(store, before.id), result))
    return results, diffs


def write_outputs(
    results: list[RunResults],
    diffs: list[RunDiff],
    clauses: dict[str, Clause],
    directory: Path,
    exported: list[RunResults] | None = None,
    *,
    junit_commands: bool = False,
    history: dict[str, list] | None = None,
) -> dict[str, Path]:
    """The pages show RESULTS (the matrix columns) and DIFFS; the JSON and JUnit exports
    hold EXPORTED (default: the same runs). JUNIT_COMMANDS: passing cases keep their
    command lines in JUnit too (they are always in the JSON and the store)."""
    directory = Path(directory)
    exported = results if exported is None else exported
    return {
        "markdown": write_atomic(directory / OUTPUT_FILES["markdown"], markdown.render_report(results, clauses, diffs)),
        "html": write_atomic(
            directory / OUTPUT_FILES["html"], html.render_report(results, clauses, diffs, history=history)
        ),
        "json": exports.write_json(exported, directory / OUTPUT_FILES["json"]),
        "junit": exports.write_junit(exported, directory / OUTPUT_FILES["junit"], all_commands=junit_commands),
    }
