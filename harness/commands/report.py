"""``azihsm-conformance report``: reports over runs already in the results database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from azihsm_conformance.harness.commands.common import DEFAULT_OUT, add_clauses_option, load_catalogue, results_path
from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.fileutil import write_atomic
from azihsm_conformance.harness.report import markdown
from azihsm_conformance.harness.report.model import histories
from azihsm_conformance.harness.report.outputs import select, write_outputs
from azihsm_conformance.harness.store import ResultsStore


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write Markdown, HTML, JSON and JUnit reports from the results database",
        description="Writes report.md, report.html, results.json and junit.xml for the chosen runs "
        "(default: the newest run of every backend and OpenSSL version), each compared with the "
        "previous run of the same backend and version.",
    )
    parser.add_argument("--results", metavar="FILE", help=f"results database (default ./{DEFAULT_OUT}/results.sqlite)")
    parser.add_argument(
        "--run",
        metavar="RUN",
        action="append",
        dest="runs",
        help="a run id, id prefix, 'latest' or 'latest~N' (repeatable)",
    )
    parser.add_argument("--out", metavar="DIR", type=Path, help="output directory (default: the database's directory)")
    parser.add_argument(
        "--markdown",
        metavar="FILE",
        help="also write the Markdown report to FILE ('-' for stdout, e.g. >> $GITHUB_STEP_SUMMARY)",
    )
    parser.add_argument("--list", action="store_true", help="list the recorded runs and exit")
    parser.add_argument(
        "--junit-commands", action="store_true", help="keep the command lines of passing cases in junit.xml too"
    )
    add_clauses_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    database = results_path(args)
    with ResultsStore(database, create=False) as store:
        if args.list:
            for recorded in store.runs():
                print(
                    f"{recorded.id}  {recorded.status:<11} {recorded.column:<40} {recorded.started_at}  level {recorded.level}"
                )
            return 0
        results, diffs = select(store, args.runs)
        history = histories(store, results)
    if not results:
        raise UsageError(f"results database {database} has no runs yet; run 'azihsm-conformance run' first")
    clauses = load_catalogue(args)
    outputs = write_outputs(
        results, diffs, clauses, args.out or database.parent, junit_commands=args.junit_commands, history=history
    )
    if args.markdown == "-":
        sys.stdout.write(markdown.render_report(results, clauses, diffs))
    else:
        if args.markdown:
            write_atomic(Path(args.markdown), markdown.render_report(results, clauses, diffs))
        for name, path in outputs.items():
            print(f"{name}: {path}")
    return 0
