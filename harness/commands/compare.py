"""``azihsm-conformance compare RUN_A RUN_B``: what changed, case by case."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.commands.common import DEFAULT_OUT, add_clauses_option, load_catalogue, results_path
from harness.fileutil import write_atomic
from harness.report import html, markdown
from harness.report.model import RunResults, diff_runs, load_run
from harness.store import ResultsStore


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="show newly failing and newly passing cases between two runs",
        description="Compares two runs case by case (by stable case id) and prints the difference as "
        "Markdown. RUN is a run id, a unique id prefix, 'latest' or 'latest~N' in --results, or "
        "FILE.sqlite[:RUN] for a run in another results database (its latest by default).",
    )
    parser.add_argument("run_a", metavar="RUN_A")
    parser.add_argument("run_b", metavar="RUN_B")
    parser.add_argument("--results", metavar="FILE", help=f"results database (default ./{DEFAULT_OUT}/results.sqlite)")
    parser.add_argument("--html", metavar="FILE", type=Path, help="also write an HTML page of both runs and their difference")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a case counts against conformance in RUN_B and did not in RUN_A (newly failing or new)")
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


def run(args: argparse.Namespace) -> int:
    a = load(args.run_a, results_path(args))
    b = load(args.run_b, results_path(args))
    diff = diff_runs(a, b)
    sys.stdout.write(markdown.render_diff(diff))
    if args.html:
        page = html.render_report([a, b], load_catalogue(args), [diff], title=f"azihsm conformance: {a.run.id} → {b.run.id}")
        write_atomic(args.html, page)
        print(f"html: {args.html}")
    if args.check and diff.regressions:
        print(f"azihsm-conformance: {len(diff.regressions)} case(s) now count against conformance", file=sys.stderr)
        return 1
    return 0
