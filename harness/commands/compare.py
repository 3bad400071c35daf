"""``azihsm-conformance compare RUN_A RUN_B``: what changed, case by case."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from azihsm_conformance.harness.commands.common import DEFAULT_OUT, add_clauses_option, load_catalogue, results_path
from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.fileutil import write_atomic
from azihsm_conformance.harness.report import html, markdown
from azihsm_conformance.harness.report.model import RunResults, diff_runs, load_run
from azihsm_conformance.harness.store import CaseRecord, CommandRecord, ResultsStore, RunRecord


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="show newly failing and newly passing cases between two runs",
        description="Compares two runs case by case (by stable case id) and prints the difference as "
        "Markdown. RUN is a run id, a unique id prefix, 'latest' or 'latest~N' in --results, or "
        "FILE.sqlite[:RUN] for a run in another results database (its latest by default).",
    )
    parser.add_argument(
        "runs", nargs="*", metavar="RUN", help="RUN_A RUN_B; with --against, the one run to check (default latest)"
    )
    parser.add_argument(
        "--against",
        type=Path,
        metavar="GOLDEN",
        help="a golden result (the results.json of a run you trust, e.g. per firmware version): "
        "report every case whose outcome differs from it",
    )
    parser.add_argument("--results", metavar="FILE", help=f"results database (default ./{DEFAULT_OUT}/results.sqlite)")
    parser.add_argument(
        "--html", metavar="FILE", type=Path, help="also write an HTML page of both runs and their difference"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a case counts against conformance in RUN_B and did not in RUN_A (newly failing or "
        "new); with --against, when any case's outcome differs from the golden result",
    )
    add_clauses_option(parser)
    parser.set_defaults(func=run)


def load(ref: str, default_database: Path) -> RunResults:
    """RUN is looked up in --results; FILE.sqlite or FILE.sqlite:RUN names a run in another
    database (e.g. a CI artifact), its latest run by default."""
    database, _, run_ref = ref.rpartition(":")
    if not database and Path(ref).is_file():
        database, run_ref = ref, "latest"
    if database and (Path(database).is_file() or database.endswith((".sqlite", ".db"))):
        with ResultsStore(database, create=False) as store:  # a missing file is a clear error here
            return load_run(store, run_ref or "latest")
    with ResultsStore(default_database, create=False) as store:
        return load_run(store, ref)


def load_golden(path: Path) -> RunResults:
    """The run held in a results.json export (its first run)."""
    try:
        document = json.loads(path.read_text())
        if document.get("format") != "azihsm-conformance-results" or not document.get("runs"):
            raise ValueError("not an azihsm-conformance results.json")
        run = document["runs"][0]
        record = RunRecord(**{k: v for k, v in run["run"].items() if k in RunRecord.__dataclass_fields__})
        cases = []
        for case in run["cases"]:
            commands = [CommandRecord(**c) for c in case.get("commands", [])]
            fields = {k: v for k, v in case.items() if k in CaseRecord.__dataclass_fields__ and k != "commands"}
            cases.append(CaseRecord(**fields, commands=commands))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"golden result {path} cannot be read ({exc}); give the results.json of a run") from None
    return RunResults(record, cases)


def run(args: argparse.Namespace) -> int:
    if args.against:
        if len(args.runs) > 1:
            raise UsageError("with --against GOLDEN give at most one run to check")
        a = load_golden(args.against)
        b = load(args.runs[0] if args.runs else "latest", results_path(args))
    else:
        if len(args.runs) != 2:
            raise UsageError("compare needs RUN_A and RUN_B, or --against GOLDEN [RUN]")
        a = load(args.runs[0], results_path(args))
        b = load(args.runs[1], results_path(args))
    diff = diff_runs(a, b)
    sys.stdout.write(markdown.render_diff(diff))
    if args.html:
        page = html.render_report(
            [a, b], load_catalogue(args), [diff], title=f"azihsm conformance: {a.run.id} → {b.run.id}"
        )
        write_atomic(args.html, page)
        print(f"html: {args.html}")
    if args.against and not diff.empty:
        print(
            f"azihsm-conformance: {len(diff.newly_failing) + len(diff.newly_passing) + len(diff.changed) + len(diff.added) + len(diff.removed)} "
            f"case(s) differ from the golden result {args.against}",
            file=sys.stderr,
        )
        return 1 if args.check else 0
    if args.check and diff.regressions:
        print(f"azihsm-conformance: {len(diff.regressions)} case(s) now count against conformance", file=sys.stderr)
        return 1
    return 0
