"""``azihsm-conformance run``: the conformance suite against one backend, recorded."""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

from azihsm_conformance.harness import verdicts
from azihsm_conformance.harness.commands.common import (
    DEFAULT_OUT,
    add_clauses_option,
    add_target_options,
    load_catalogue,
    results_path,
)
from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.report.model import histories
from azihsm_conformance.harness.report.outputs import select, write_outputs
from azihsm_conformance.harness.runner import DEFAULT_TIMEOUT
from azihsm_conformance.harness.store import ABORTED, ResultsStore, new_run_id
from azihsm_conformance.harness.target import resolve_target

PYTEST_SETTINGS = Path(__file__).resolve().parent.parent / "pytest-run.toml"
# pytest exit codes (pytest.ExitCode) the command translates
PYTEST_INTERRUPTED, PYTEST_INTERNAL_ERROR, PYTEST_USAGE_ERROR, PYTEST_NO_TESTS = 2, 3, 4, 5
DEFAULT_KEEP_WORK = 5


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the conformance suite against a backend and record the results",
        description="Runs the conformance suite (in parallel with pytest-xdist) against one backend and "
        "one openssl, records every case in the results database and writes results.json, junit.xml, "
        "report.md and report.html. Exits 1 when a MUST or SHOULD clause fails. "
        "Arguments after -- go to pytest (e.g. -- -k ecdsa).",
    )
    add_target_options(parser)
    parser.add_argument(
        "--level",
        choices=("quick", "full", "hostile"),
        default="full",
        help="quick: representative cases per clause, no slow cases; full (default): every conformance "
        "case; hostile: the hostile-input campaign (--hostile-budget inputs per family)",
    )
    parser.add_argument(
        "--hostile-budget",
        type=_positive_inputs,
        default=25,
        metavar="N",
        help="hostile level: inputs per family (default 25; the long campaign: 2000)",
    )
    parser.add_argument(
        "--hostile-seed", type=int, default=1, metavar="SEED", help="hostile level: random seed (default 1)"
    )
    parser.add_argument(
        "--out", metavar="DIR", type=Path, default=DEFAULT_OUT, help=f"output directory (default ./{DEFAULT_OUT})"
    )
    parser.add_argument("--results", metavar="FILE", help="results database (default OUT/results.sqlite)")
    parser.add_argument(
        "-n",
        "--workers",
        type=_workers_value,
        default="auto",
        help="parallel workers: a number, 'auto' (default), or 0 for none",
    )
    parser.add_argument(
        "--suite",
        metavar="DIR",
        type=Path,
        help="conformance suite directory (default: the installed conformance package)",
    )
    parser.add_argument(
        "--command-timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"seconds before one openssl command counts as hung (default {DEFAULT_TIMEOUT:g}, at most 3600)",
    )
    parser.add_argument(
        "--keep-work",
        type=_positive,
        default=DEFAULT_KEEP_WORK,
        metavar="N",
        help="keep the working and device directories (what replay lines need) of the newest N "
        f"runs under OUT/work, this one included (default {DEFAULT_KEEP_WORK})",
    )
    parser.add_argument(
        "--progress",
        type=float,
        metavar="SECONDS",
        help="a progress line every SECONDS (default 5 on a terminal, 15 otherwise; 0: none)",
    )
    parser.add_argument(
        "--junit-commands", action="store_true", help="keep the command lines of passing cases in junit.xml too"
    )
    add_clauses_option(parser)
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def _workers_value(text: str) -> str:
    if text != "auto" and not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers or 'auto' (e.g. -n 2, -n 0 for none)")
    return text


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0 and at most 3600 seconds")
    return value


def _positive_inputs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of inputs, at least 1")
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of runs, at least 1")
    return int(text)


def prune_work(work: Path, keep: int, current: str) -> list[Path]:
    """Delete the working directories of all but the newest KEEP runs (run ids sort by start
    time) and return them; CURRENT, the run just made, always stays."""
    runs = sorted((entry for entry in work.iterdir() if entry.is_dir()), key=lambda entry: entry.name)
    removed = [entry for entry in runs[:-keep] if entry.name != current]
    for entry in removed:
        shutil.rmtree(entry, ignore_errors=True)
        entry.with_name(f"{entry.name}.target.json").unlink(missing_ok=True)
    return removed


def suite_directory(explicit: Path | None) -> Path:
    if explicit is not None:
        if not explicit.is_dir():
            raise UsageError(f"--suite {explicit} is not a directory; pass the conformance suite's directory")
        return explicit.resolve()
    spec = importlib.util.find_spec("azihsm_conformance.conformance")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("the conformance package is not installed; run 'make venv' (pip install -e .) in the project")
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def _workers(value: str) -> list[str]:
    if value == "auto":
        return ["-n", "auto"]
    return ["-n", value] if int(value) > 0 else ["-p", "no:xdist"]


def run(args: argparse.Namespace) -> int:
    # everything that can be wrong with the input is checked here, before pytest starts,
    # so it ends as one line and exit code 2; the provider is loaded once, here, and the
    # resolved target is handed to pytest and its workers in a file
    target = resolve_target(
        args.openssl,
        args.backend,
        provider_path=args.provider_path,
        provider_module=args.provider_module,
        openssl_conf=args.openssl_conf,
    )
    load_catalogue(args)
    suite = suite_directory(args.suite)
    database = results_path(args, args.out)
    ResultsStore(database).close()
    print(
        f"azihsm-conformance: {target.backend.name} ({target.provider.describe()}) with {target.install.version_text}",
        flush=True,
    )

    run_id = new_run_id()
    work = (args.out / "work").resolve()
    try:
        work.mkdir(parents=True, exist_ok=True)  # pytest creates only the last level of --basetemp
    except OSError as exc:
        raise UsageError(f"cannot create {work}: {exc.strerror}; pass --out with a writable directory") from None
    target_file = target.write(work / f"{run_id}.target.json")
    extra = [arg for arg in args.pytest_args if arg != "--"] if args.pytest_args else []
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(PYTEST_SETTINGS),
        "--rootdir",
        str(suite.parent),
        "-p",
        "azihsm",
        *_workers(args.workers),
        "--azihsm-target",
        str(target_file),
        "--azihsm-level",
        args.level,
        "--azihsm-hostile-budget",
        str(args.hostile_budget),
        "--azihsm-hostile-seed",
        str(args.hostile_seed),
        "--azihsm-results",
        str(database),
        "--azihsm-run-id",
        run_id,
        "--azihsm-command-timeout",
        str(args.command_timeout),
        # the cases' working and device directories live beside the results, so every
        # recorded command line can still be replayed after later runs
        "--basetemp",
        str(work / run_id),
        *(["--azihsm-clauses", args.clauses] if args.clauses else []),
        *(["--azihsm-progress", str(args.progress)] if args.progress is not None else []),
        *extra,
        str(suite),
    ]
    try:
        code = subprocess.run(command).returncode
    except KeyboardInterrupt:
        code = PYTEST_INTERRUPTED
    if code in (PYTEST_USAGE_ERROR, PYTEST_INTERNAL_ERROR):
        raise UsageError(
            f"pytest could not run the suite (exit code {code}, reason printed above); fix it and run again"
        )

    with ResultsStore(database, create=False) as store:
        try:
            recorded = store.get_run(run_id)
        except UsageError:
            raise UsageError(
                f"pytest ended (exit code {code}) before recording run {run_id}; see its output above"
            ) from None
        if recorded.status == ABORTED:
            raise UsageError(
                f"the conformance suite in {suite} could not be collected (errors above); run {run_id} is recorded as aborted"
            )
        [result], diffs = select(store, [run_id])
        # the pages show every backend and OpenSSL version recorded in this database (this
        # run is the newest of its column); the exports hold this run only
        columns, _ = select(store, None)
        history = histories(store, columns)
    outputs = write_outputs(
        columns,
        diffs,
        load_catalogue(args),
        args.out,
        exported=[result],
        junit_commands=args.junit_commands,
        history=history,
    )
    pruned = prune_work(work, args.keep_work, run_id)
    verdict = "CONFORMS" if result.conforms else "DOES NOT CONFORM"
    print(
        f"azihsm-conformance: run {run_id}: {verdict} to revision {target.backend.revision} "
        f"({verdicts.summary(result.counts())})"
    )
    for diff in diffs:
        print(f"  since {diff.a.id}: {len(diff.newly_failing)} newly failing, {len(diff.newly_passing)} newly passing")
    print(f"  results: {database}")
    if pruned:
        print(
            f"  removed the working directories of {len(pruned)} older run(s) from {work} (--keep-work {args.keep_work})"
        )
    for name, path in outputs.items():
        print(f"  {name}: {path}")
    if code < 0:
        print(
            f"azihsm-conformance: pytest was killed by signal {-code}; run {run_id} stays incomplete", file=sys.stderr
        )
        return 1
    if code == PYTEST_INTERRUPTED:
        print("azihsm-conformance: interrupted; the run is recorded as interrupted", file=sys.stderr)
        return 130
    if code == PYTEST_NO_TESTS:
        print(f"azihsm-conformance: no conformance cases selected in {suite}", file=sys.stderr)
        return 0
    against = result.failing()
    if against:
        clauses = sorted({case.clause_id for case in against})
        print(
            f"azihsm-conformance: {len(against)} case(s) count against conformance in: "
            f"{', '.join(clauses[:10])}{' ...' if len(clauses) > 10 else ''}",
            file=sys.stderr,
        )
        return 1
    return 0
