"""Hostile-input campaign, long setting: figures per family and class, for the record.

    .venv/bin/python bench/bench_hostile.py [--budget 2000] [--seed 20261202] [--backend NAME]
                                            [--openssl SERIES|PATH] [-n 2] [--no-faults]

Runs ``azihsm-conformance run --level hostile`` with an input budget per family and a fixed
seed (so a finding can be replayed with the same seed), then reads each family's counts
back from the run's results: inputs per class (clean error, success, crash, hang,
traceback, internal error, empty message), tampered blobs refused, export paths scanned for
key leaks, findings. With the reference backend it also runs the fault tests
(``tests/bridge/test_faults.py``: concurrent first use, concurrent signing, SIGKILL during a
masked-key write and during first device use) and records their outcomes.

Writes ``bench/results/hostile-<UTC timestamp>.json`` and ``.md`` (the summary it prints).
Exit code 0 when the campaign has no finding, 1 when it has, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
RESULTS_DIR = PROJECT / "bench" / "results"
sys.path.insert(0, str(PROJECT))

from azihsm_conformance.harness.hostile import ALWAYS_FINDINGS, CLASSES, parse_summary  # noqa: E402

FAULT_TESTS = "tests/bridge/test_faults.py"
TAMPER_NOTE = "mutated blobs refused"
LEAK_NOTE = "export paths scanned"


class BenchError(Exception):
    """The campaign could not run; the message says why."""


def run_campaign(args, out: Path) -> tuple[dict, float, int]:
    command = [
        sys.executable,
        "-m",
        "azihsm_conformance.harness.cli",
        "run",
        "--backend",
        args.backend,
        "--level",
        "hostile",
        "--hostile-budget",
        str(args.budget),
        "--hostile-seed",
        str(args.seed),
        "-n",
        args.workers,
        "--out",
        str(out),
    ]
    if args.openssl:
        command += ["--openssl", args.openssl]
    print("$ " + " ".join(command), flush=True)
    started = time.monotonic()
    proc = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=6 * 3600)
    elapsed = time.monotonic() - started
    results = out / "results.json"
    if proc.returncode not in (0, 1) or not results.is_file():
        raise BenchError(f"the campaign did not run (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
    [run] = json.loads(results.read_text())["runs"]
    return run, elapsed, proc.returncode


def families(run: dict) -> list[dict]:
    """One row per hostile case: its clause, outcome and counts."""
    rows = []
    for case in run["cases"]:
        counts = parse_summary(case["message"]) or {"inputs": 0, "classes": {}, "notes": {}, "findings": 0}
        rows.append(
            {
                "case": case["case_id"],
                "clause": case["clause_id"],
                "outcome": case["outcome"],
                "seconds": round(case["duration"], 1),
                **counts,
                "message": "" if case["outcome"] == "passed" else case["message"][:2000],
            }
        )
    return rows


def totals(rows: list[dict]) -> dict:
    classes = Counter()
    notes = Counter()
    for row in rows:
        classes.update(row["classes"])
        notes.update(row["notes"])
    blobs = sum(row["inputs"] for row in rows if row["clause"] == "HOSTILE-BLOBS")
    return {
        "inputs": sum(row["inputs"] for row in rows),
        "classes": {name: classes.get(name, 0) for name in CLASSES},
        "findings": sum(row["findings"] for row in rows),
        "unclean": sum(classes.get(name, 0) for name in ALWAYS_FINDINGS),
        "tampered_blobs": blobs,
        "tampered_refused": notes.get(TAMPER_NOTE, 0),
        "tamper_detection_percent": round(100 * notes.get(TAMPER_NOTE, 0) / blobs, 2) if blobs else None,
        "export_paths_scanned": notes.get(LEAK_NOTE, 0),
        "leaks": sum(row["findings"] for row in rows if row["clause"] == "HOSTILE-KEY-LEAK"),
    }


def run_faults(scratch: Path) -> list[dict]:
    junit = scratch / "faults.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", FAULT_TESTS, f"--junitxml={junit}"]
    print("$ " + " ".join(command), flush=True)
    subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=3600)
    if not junit.is_file():
        raise BenchError(f"the fault tests did not run ({FAULT_TESTS})")
    rows = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        failed = case.find("failure") if case.find("failure") is not None else case.find("error")
        outcome = "skipped" if case.find("skipped") is not None else "failed" if failed is not None else "passed"
        rows.append(
            {
                "test": case.get("name"),
                "outcome": outcome,
                "seconds": round(float(case.get("time", 0)), 1),
                "message": (failed.get("message") or "")[:500] if failed is not None else "",
            }
        )
    return rows


def summary(record: dict) -> str:
    total = record["totals"]
    lines = [
        f"### {record['started']} — {record['host']}",
        "",
        f"{record['openssl']}, backend {record['backend']}, budget {record['budget']} inputs per family, "
        f"seed {record['seed']}, {record['seconds']:.0f} s",
        "",
        "| case | clause | outcome | inputs | " + " | ".join(CLASSES) + " | findings |",
        "|---|---|---|---:|" + "---:|" * len(CLASSES) + "---:|",
    ]
    for row in record["families"]:
        cells = " | ".join(str(row["classes"].get(name, 0)) for name in CLASSES)
        lines.append(
            f"| {row['case'].split('::')[-1]} | {row['clause']} | {row['outcome']} | {row['inputs']} | "
            f"{cells} | {row['findings']} |"
        )
    cells = " | ".join(f"**{total['classes'][name]}**" for name in CLASSES)
    lines.append(f"| **total** | | | **{total['inputs']}** | {cells} | **{total['findings']}** |")
    detection = total["tamper_detection_percent"]
    lines += [
        "",
        f"- tampered or truncated blobs refused: {total['tampered_refused']} of {total['tampered_blobs']}"
        + (f" ({detection} %)" if detection is not None else ""),
        f"- key-leak scan: {total['export_paths_scanned']} export paths, {total['leaks']} leak(s)",
        f"- crashes, hangs, tracebacks, internal errors, empty messages: {total['unclean']}",
    ]
    if record["faults"]:
        lines += ["", "Fault tests (`" + FAULT_TESTS + "`):", ""]
        lines += [
            f"- {row['test']}: {row['outcome']} ({row['seconds']} s){' — ' + row['message'] if row['message'] else ''}"
            for row in record["faults"]
        ]
    failing = [row for row in record["families"] if row["outcome"] != "passed"]
    if failing:
        lines += ["", "Findings:", ""] + [f"```\n{row['message']}\n```" for row in failing]
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=2000, help="inputs per family (default 2000)")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--backend", default="reference")
    parser.add_argument("--openssl", help="OpenSSL series or binary (default: the one on PATH)")
    parser.add_argument("-n", "--workers", default="2")
    parser.add_argument("--no-faults", dest="faults", action="store_false", help="skip the fault tests")
    args = parser.parse_args(argv)
    if args.budget < 1:
        parser.error("--budget must be at least 1")
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="azihsm-hostile-") as scratch:
            run, seconds, code = run_campaign(args, Path(scratch) / "out")
            faults = run_faults(Path(scratch)) if args.faults and args.backend == "reference" else []
    except (BenchError, subprocess.TimeoutExpired) as exc:
        print(f"bench_hostile: {exc}", file=sys.stderr)
        return 2
    rows = families(run)
    record = {
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()})",
        "openssl": run["run"].get("openssl_version_text", ""),
        "backend": args.backend,
        "budget": args.budget,
        "seed": args.seed,
        "seconds": round(time.monotonic() - clock, 1),
        "campaign_seconds": round(seconds, 1),
        "exit_code": code,
        "totals": totals(rows),
        "families": rows,
        "faults": faults,
    }
    stamp = started.strftime("%Y-%m-%dT%H%M%SZ")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    write_atomically(RESULTS_DIR / f"hostile-{stamp}.json", json.dumps(record, indent=2) + "\n")
    text = summary(record)
    write_atomically(RESULTS_DIR / f"hostile-{stamp}.md", text)
    print(text)
    failed_faults = any(row["outcome"] == "failed" for row in faults)
    return 1 if record["totals"]["findings"] or code == 1 or failed_faults else 0


if __name__ == "__main__":
    sys.exit(main())
