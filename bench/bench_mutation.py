"""Mutation check: how many deliberate defects of the reference HSM the suite catches.

    .venv/bin/python bench/bench_mutation.py [--level quick|full] [--only ID[,ID...]] [-n 2]

Each mutant of ``bench/mutants.toml`` is a small edit of the reference (a check removed, a
parameter ignored, a wrong default). For the baseline and then for each mutant, the
reference package is copied into a scratch directory, the edit applied there, the provider
built from that copy (its device server, started from the scratch copy, imports the scratch
``reference`` first; every copy has a build key and so a server of its own) and
the suite run against it with ``azihsm-conformance run --backend reference --provider-path``.
A mutant is *killed* when a case that passes on the baseline does not pass under it; the
clauses that caught it are recorded. A *survivor* is a defect no case noticed: the results
list each one with the explanation kept in ``mutants.toml`` (``survivor = "..."``), or
none, which then is the suite's to fix.

Writes ``bench/results/mutation-<UTC timestamp>.json`` and ``.md`` (the summary it prints).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import tomllib

PROJECT = Path(__file__).resolve().parent.parent
MUTANTS = PROJECT / "bench" / "mutants.toml"
RESULTS_DIR = PROJECT / "bench" / "results"


class MutationError(Exception):
    """A mutant cannot be applied or built; the message says which and why."""


def load_mutants(path: Path = MUTANTS) -> list[dict]:
    mutants = tomllib.loads(path.read_text())["mutant"]
    ids = [m["id"] for m in mutants]
    if len(ids) != len(set(ids)):
        raise MutationError(f"{path}: mutant ids are not unique")
    return mutants


def scratch_copy(root: Path, mutant: dict | None) -> Path:
    """ROOT: a checkout whose reference package is a copy with MUTANT's edit applied (the
    other parts link to the project's own)."""
    shutil.copytree(PROJECT / "reference", root / "reference", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        PROJECT / "azihsm_conformance", root / "azihsm_conformance", ignore=shutil.ignore_patterns("__pycache__")
    )
    for part in ("harness", "conformance", "fixtures"):
        (root / part).symlink_to(PROJECT / part)
    if mutant is not None:
        target = root / mutant["file"]
        text = target.read_text()
        if text.count(mutant["find"]) != 1:
            raise MutationError(
                f"mutant {mutant['id']}: its find text occurs {text.count(mutant['find'])} times in {mutant['file']}"
            )
        target.write_text(text.replace(mutant["find"], mutant["replace"]))
    return root


def build_provider(root: Path) -> Path:
    """The provider built from the copy in ROOT (cached inside ROOT)."""
    env = {**os.environ, "PYTHONPATH": str(root), "AZIHSM_PROVIDER_CACHE": str(root / "cache")}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from azihsm_conformance.reference.bridge.build import provider_dir; print(provider_dir())",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise MutationError(
            f"building the provider in {root} failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}"
        )
    return Path(proc.stdout.strip().splitlines()[-1])


def run_suite(
    provider: Path, out: Path, level: str, workers: str, openssl: str | None
) -> tuple[dict[str, dict], float, int]:
    """Case id -> case (as results.json has it), wall seconds, exit code."""
    command = [
        sys.executable,
        "-m",
        "azihsm_conformance.harness.cli",
        "run",
        "--backend",
        "reference",
        "--provider-path",
        str(provider),
        "--level",
        level,
        "-n",
        workers,
        "--out",
        str(out),
        "--keep-work",
        "1",
    ]
    if openssl:
        command += ["--openssl", openssl]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=3600)
    elapsed = time.monotonic() - started
    results = out / "results.json"
    if proc.returncode not in (0, 1) or not results.is_file():
        raise MutationError(f"the suite did not run (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    [run] = json.loads(results.read_text())["runs"]
    return {case["case_id"]: case for case in run["cases"]}, elapsed, proc.returncode


def verdict(mutant: dict, baseline: dict[str, dict], cases: dict[str, dict]) -> dict:
    caught = [
        case
        for case_id, case in cases.items()
        if baseline.get(case_id, {}).get("outcome") == "passed" and case["outcome"] != "passed"
    ]
    clauses = Counter(case["clause_id"] for case in caught)
    expected = set(mutant.get("expect", []))
    return {
        "id": mutant["id"],
        "file": mutant["file"],
        "defect": mutant["defect"],
        "killed": bool(caught),
        "cases_caught": len(caught),
        "outcomes": dict(Counter(case["outcome"] for case in caught)),
        "clauses": dict(clauses.most_common()),
        "expected_clauses": sorted(expected),
        "caught_by_expected": sorted(expected & set(clauses)),
        "survivor_explanation": mutant.get("survivor", ""),
        "example": (caught[0]["case_id"] + ": " + caught[0]["message"].splitlines()[0][:200]) if caught else "",
    }


def summary(record: dict) -> str:
    rows = record["mutants"]
    killed = [row for row in rows if row["killed"]]
    lines = [
        f"### {record['started']} — {record['host']}",
        "",
        f"Level {record['level']}, OpenSSL {record['openssl']}; baseline: {record['baseline']['cases']} cases, "
        f"{record['baseline']['passed']} pass ({record['baseline']['seconds']:.0f} s). "
        f"**{len(killed)} of {len(rows)} mutants killed ({100 * len(killed) / max(len(rows), 1):.0f} %)**; "
        f"{record['seconds'] / 60:.0f} min in all.",
        "",
        "| mutant | defect | killed | caught by (cases) |",
        "|---|---|---|---|",
    ]
    for row in rows:
        caught = ", ".join(f"{clause} ({count})" for clause, count in row["clauses"].items()) or "—"
        if row.get("error"):
            caught = f"not run: {row['error']}"
        lines.append(f"| `{row['id']}` | {row['defect']} | {'yes' if row['killed'] else '**no**'} | {caught} |")
    survivors = [row for row in rows if not row["killed"] and not row.get("error")]
    if survivors:
        lines += ["", "Survivors:", ""]
        lines += [
            f"- `{row['id']}`: {row['survivor_explanation'] or 'no explanation recorded: a gap in the suite'}"
            for row in survivors
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--level", choices=("quick", "full"), default="quick")
    parser.add_argument("--only", help="comma-separated mutant ids (default: all)")
    parser.add_argument("-n", "--workers", default="2")
    parser.add_argument("--openssl", help="openssl to run the suite with (default: PATH)")
    args = parser.parse_args(argv)
    from azihsm_conformance.harness.errors import UsageError
    from azihsm_conformance.harness.openssl import resolve_openssl

    try:  # before the long run: a bad --openssl (a path, a name or a version like 3.5) ends it here
        openssl_version = resolve_openssl(args.openssl).version_text
    except UsageError as exc:
        print(f"bench_mutation: {exc}", file=sys.stderr)
        return 2
    mutants = load_mutants()
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {m["id"] for m in mutants}
        if unknown:
            print(f"bench_mutation: unknown mutant id(s) {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        mutants = [m for m in mutants if m["id"] in wanted]
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="azihsm-mutation-") as scratch:
        scratch = Path(scratch)
        base_root = scratch_copy(scratch / "baseline", None)
        baseline, baseline_seconds, code = run_suite(
            build_provider(base_root), scratch / "baseline-out", args.level, args.workers, args.openssl
        )
        if code != 0:
            print("bench_mutation: the unmutated reference does not conform; fix that first", file=sys.stderr)
            return 1
        print(f"baseline: {len(baseline)} cases in {baseline_seconds:.0f} s", flush=True)
        rows = []
        for number, mutant in enumerate(mutants, start=1):
            root = scratch / mutant["id"]
            try:
                cases, seconds, _ = run_suite(
                    build_provider(scratch_copy(root, mutant)), root / "out", args.level, args.workers, args.openssl
                )
                row = verdict(mutant, baseline, cases)
                row["seconds"] = round(seconds, 1)
            except MutationError as exc:
                row = {**verdict(mutant, {}, {}), "error": str(exc)}
            rows.append(row)
            print(
                f"[{number}/{len(mutants)}] {mutant['id']}: {'killed' if row['killed'] else 'SURVIVED'} "
                f"{row['clauses'] or row.get('error', '')}",
                flush=True,
            )
            shutil.rmtree(root, ignore_errors=True)
    record = {
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()})",
        "openssl": openssl_version,
        "level": args.level,
        "seconds": round(time.monotonic() - clock, 1),
        "baseline": {
            "cases": len(baseline),
            "passed": sum(c["outcome"] == "passed" for c in baseline.values()),
            "seconds": round(baseline_seconds, 1),
        },
        "mutants": rows,
    }
    stamp = started.strftime("%Y-%m-%dT%H%M%SZ")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"mutation-{stamp}.json").write_text(json.dumps(record, indent=2) + "\n")
    text = summary(record)
    (RESULTS_DIR / f"mutation-{stamp}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
