"""``azihsm-conformance merge``: runs from many results stores (hosts, CI jobs) in one.

Each run keeps what it recorded (host, backend, OpenSSL version, identity, every case and
command). Merging is idempotent: a run already present with the same content is skipped;
the same run id with other content is refused, naming both files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from azihsm_conformance.harness.commands.common import DEFAULT_DB_NAME, DEFAULT_OUT
from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.store import ResultsStore


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "merge",
        help="bring the runs of several results databases into one",
        description="Copies every run of each SOURCE results database into --into (created if absent). "
        "Runs already there with the same content are skipped, so merging twice changes nothing; "
        "a run id present with different content is refused. Then 'azihsm-conformance report "
        "--results INTO' shows them side by side (one column per backend, OpenSSL version and host).",
    )
    parser.add_argument(
        "sources", nargs="+", type=Path, metavar="SOURCE", help="results databases to merge (results.sqlite)"
    )
    parser.add_argument(
        "--into",
        type=Path,
        default=DEFAULT_OUT / DEFAULT_DB_NAME,
        metavar="FILE",
        help=f"the database to merge into (default ./{DEFAULT_OUT}/{DEFAULT_DB_NAME})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    into = args.into.absolute()
    sources = [source.absolute() for source in args.sources]
    if into in sources:
        raise UsageError(f"{into} is both a source and the target; merge into another file")
    # open every source first: a missing or foreign file stops the merge before anything is written
    opened = [ResultsStore(source, create=False) for source in sources]
    try:
        with ResultsStore(into) as target:
            for source in opened:
                added = skipped = 0
                for run in source.runs():
                    if target.import_run(source, run.id):
                        added += 1
                    else:
                        skipped += 1
                print(f"merge: {source.path}: {added} run(s) added, {skipped} already present")
            print(f"merge: {into} now holds {len(target.runs())} run(s)")
    finally:
        for source in opened:
            source.close()
    return 0
