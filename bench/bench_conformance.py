"""Benchmark: what the conformance suite costs, and what one HSM-backed openssl command costs.

    .venv/bin/python bench/bench_conformance.py [--levels quick,full] [--workers 2]
                                                [--repeat 11] [--backend reference]

1. Per-command cost: the same ``openssl`` operation run REPEAT times through the backend
   (the spec's provider flags, azihsm:// keys) and on the default provider alone
   (PEM keys), median wall time of each, and the ratio.
2. Suite runs: ``azihsm-conformance run --level L -n WORKERS`` for each level, wall time,
   case counts and outcome counts.

Results go to bench/results/<UTC timestamp>.json and a Markdown summary is printed (and
written beside it). Timing never goes into tests: this script is the only place that
measures speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from azihsm_conformance.harness.backends import resolve_backend  # noqa: E402
from azihsm_conformance.harness.errors import UsageError  # noqa: E402
from azihsm_conformance.harness.openssl import resolve_openssl  # noqa: E402
from azihsm_conformance.harness.runner import run_command  # noqa: E402

RESULTS_DIR = PROJECT / "bench" / "results"


class BenchError(Exception):
    """A setup step failed; the message names the command and what it printed."""


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)


class Workbench:
    """A working directory with keys for both sides and a way to run openssl in it."""

    def __init__(self, workdir: Path, backend_name: str, openssl_spec: str | None):
        self.workdir = workdir
        self.install = resolve_openssl(openssl_spec)
        self.backend = resolve_backend(backend_name)
        self.backend.check()
        self.env = {**self.install.env, **self.backend.prepare(workdir / "backend")}
        self.flags = self.backend.provider_flags()

    def run(self, args: list[str], provider: bool) -> float:
        argv = [str(self.install.path), *args[:1], *(self.flags if provider else []), *args[1:]]
        result = run_command(argv, cwd=self.workdir, env=self.env)
        if result.returncode != 0:
            raise BenchError(f"{result.command_line} failed ({result.describe()}): {result.stderr.strip()[:300]}")
        return result.duration

    def prepare(self) -> None:
        w = self.workdir
        (w / "data.bin").write_bytes(os.urandom(4096))
        (w / "data.sha256").write_bytes(__import__("hashlib").sha256((w / "data.bin").read_bytes()).digest())
        self.run(
            [
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "group:P-256",
                "-pkeyopt",
                "azihsm.masked_key:./ec.bin",
                "-outform",
                "DER",
                "-out",
                "/dev/null",
            ],
            provider=True,
        )
        self.run(
            [
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "group:P-256",
                "-pkeyopt",
                "azihsm.key_usage:keyAgreement",
                "-pkeyopt",
                "azihsm.masked_key:./ecdh.bin",
                "-outform",
                "DER",
                "-out",
                "/dev/null",
            ],
            provider=True,
        )
        self.run(
            [
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-pkeyopt",
                "azihsm.input_key:" + str(PROJECT / "fixtures" / "keys" / "rsa-2048.pkcs8.der"),
                "-pkeyopt",
                "azihsm.masked_key:./rsa.bin",
                "-outform",
                "DER",
                "-out",
                "/dev/null",
            ],
            provider=True,
        )
        self.run(["genpkey", "-algorithm", "EC", "-pkeyopt", "group:P-256", "-out", "ec.pem"], provider=False)
        rsa_der = (PROJECT / "fixtures" / "keys" / "rsa-2048.pkcs8.der").read_bytes()
        rsa_key = serialization.load_der_private_key(rsa_der, None)
        (w / "rsa.pem").write_bytes(
            rsa_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        peer = ec.generate_private_key(ec.SECP256R1()).public_key()
        (w / "peer.pem").write_bytes(
            peer.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        self.run(["dgst", "-sha256", "-sign", "ec.pem", "-out", "ec.sig", "data.bin"], provider=False)


# operation -> (command with the provider, same operation on the default provider)
OPERATIONS: dict[str, tuple[list[str], list[str]]] = {
    "provider load (list -providers)": (["list", "-providers"], ["list", "-providers"]),
    "digest sha256 (dgst)": (["dgst", "-sha256", "data.bin"], ["dgst", "-sha256", "data.bin"]),
    "EC P-256 keygen (genpkey)": (
        [
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "group:P-256",
            "-pkeyopt",
            "azihsm.masked_key:./gen.bin",
            "-outform",
            "DER",
            "-out",
            "/dev/null",
        ],
        ["genpkey", "-algorithm", "EC", "-pkeyopt", "group:P-256", "-out", "gen.pem"],
    ),
    "ECDSA P-256 sign (dgst -sign)": (
        ["dgst", "-sha256", "-sign", "azihsm://./ec.bin;type=ec", "-out", "s.sig", "data.bin"],
        ["dgst", "-sha256", "-sign", "ec.pem", "-out", "s.sig", "data.bin"],
    ),
    "ECDSA P-256 one-shot sign (pkeyutl -sign)": (
        ["pkeyutl", "-sign", "-inkey", "azihsm://./ec.bin;type=ec", "-in", "data.sha256", "-out", "o.sig"],
        ["pkeyutl", "-sign", "-inkey", "ec.pem", "-in", "data.sha256", "-out", "o.sig"],
    ),
    "RSA-2048 PKCS#1 sign (dgst -sign)": (
        ["dgst", "-sha256", "-sign", "azihsm://./rsa.bin;type=rsa", "-out", "r.sig", "data.bin"],
        ["dgst", "-sha256", "-sign", "rsa.pem", "-out", "r.sig", "data.bin"],
    ),
    "public key export (pkey -pubout DER)": (
        ["pkey", "-in", "azihsm://./ec.bin;type=ec", "-pubout", "-outform", "DER", "-out", "pub.der"],
        ["pkey", "-in", "ec.pem", "-pubout", "-outform", "DER", "-out", "pub.der"],
    ),
    "ECDH P-256 (pkeyutl -derive)": (
        [
            "pkeyutl",
            "-derive",
            "-inkey",
            "azihsm://./ecdh.bin;type=ec",
            "-peerkey",
            "peer.pem",
            "-pkeyopt",
            "output_file:secret.bin",
        ],
        ["pkeyutl", "-derive", "-inkey", "ec.pem", "-peerkey", "peer.pem", "-out", "secret.raw"],
    ),
}


def measure_commands(bench: Workbench, repeat: int) -> list[dict]:
    rows = []
    for name, (with_provider, default_only) in OPERATIONS.items():
        row = {"operation": name}
        for side, args, provider in (("provider", with_provider, True), ("default", default_only, False)):
            try:
                bench.run(args, provider)  # warm the page cache once
                times = [bench.run(args, provider) for _ in range(repeat)]
                row[f"{side}_ms"] = round(statistics.median(times) * 1000, 1)
            except BenchError as exc:
                row[f"{side}_ms"] = None
                row[f"{side}_error"] = str(exc)
        if row.get("provider_ms") and row.get("default_ms"):
            row["ratio"] = round(row["provider_ms"] / row["default_ms"], 1)
        rows.append(row)
    return rows


def run_suite(level: str, workers: str, backend: str, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-{level}-") as out:
        (Path(out) / "work").mkdir()  # pytest's base temp directory lives there
        command = [
            str(Path(sys.executable).with_name("azihsm-conformance")),
            "run",
            "--backend",
            backend,
            "--level",
            level,
            "-n",
            workers,
            "--out",
            out,
            *(["--"] + extra if extra else []),
        ]
        started = time.monotonic()
        proc = subprocess.run(command, capture_output=True, text=True)
        elapsed = time.monotonic() - started
        summary = {
            "level": level,
            "workers": workers,
            "seconds": round(elapsed, 1),
            "exit_code": proc.returncode,
            "summary": [line for line in proc.stdout.splitlines() if "pass," in line][-1:],
        }
        results = Path(out) / "results.json"
        if results.is_file():
            summary["cases"] = _count_cases(json.loads(results.read_text()))
        else:
            summary["error"] = (proc.stderr.strip() or proc.stdout.strip())[-800:]
        return summary


def _count_cases(data) -> dict:
    """Cases per module and per outcome from the harness's results.json export."""
    runs = data.get("runs", [data]) if isinstance(data, dict) else data
    cases = [case for run in runs for case in run.get("cases", [])]
    per_module: dict[str, int] = {}
    per_outcome: dict[str, int] = {}
    not_passing = []
    for case in cases:
        case_id = str(case.get("case_id", case.get("id", "")))
        module = case_id.split("::")[0]
        per_module[module] = per_module.get(module, 0) + 1
        outcome = str(case.get("outcome", ""))
        per_outcome[outcome] = per_outcome.get(outcome, 0) + 1
        if outcome not in ("passed", "skipped"):
            not_passing.append(f"{case_id} [{case.get('clause_id', '')} {case.get('clause_level', '')}] {outcome}")
    return {
        "total": len(cases),
        "per_module": dict(sorted(per_module.items())),
        "per_outcome": per_outcome,
        "not_passing": not_passing,
    }


def markdown(report: dict) -> str:
    lines = [
        f"## {report['timestamp']} — {report['host']}",
        "",
        f"OpenSSL {report['openssl']}, backend {report['backend']}",
        "",
    ]
    lines += ["| operation | provider (ms) | default provider (ms) | ratio |", "|---|---:|---:|---:|"]
    for row in report["commands"]:
        provider = row.get("provider_ms") if row.get("provider_ms") is not None else "failed"
        default = row.get("default_ms") if row.get("default_ms") is not None else "failed"
        lines.append(f"| {row['operation']} | {provider} | {default} | {row.get('ratio', '-')} |")
    for run in report["runs"]:
        cases = run.get("cases", {})
        lines += [
            "",
            f"**{run['level']} level** (-n {run['workers']}): {run['seconds']} s, {cases.get('total', '?')} cases, "
            f"exit code {run['exit_code']}; outcomes {cases.get('per_outcome', {})}",
        ]
        for module, count in cases.get("per_module", {}).items():
            lines.append(f"- {module}: {count}")
        if cases.get("not_passing"):
            lines += ["", "Not passing:"] + [f"- {entry}" for entry in cases["not_passing"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--levels", default="quick,full", help="suite levels to time, comma-separated (default quick,full; '' for none)"
    )
    parser.add_argument("--workers", default="2", help="pytest-xdist workers for the suite runs (default 2)")
    parser.add_argument(
        "--repeat", type=int, default=11, help="runs per command for the per-command medians (default 11)"
    )
    parser.add_argument("--backend", default="reference", help="backend profile (default reference)")
    parser.add_argument(
        "--openssl", default=None, help="openssl binary or version (default: $AZIHSM_OPENSSL, then PATH)"
    )
    parser.add_argument(
        "pytest_args", nargs=argparse.REMAINDER, help="after --: extra pytest arguments for the suite runs"
    )
    args = parser.parse_args(argv)
    levels = [level for level in args.levels.split(",") if level]
    if any(level not in ("quick", "full") for level in levels):
        print(f"bench: --levels {args.levels}: use quick, full or both", file=sys.stderr)
        return 2
    if args.repeat < 1:
        print("bench: --repeat must be at least 1", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix="azihsm-bench-") as directory:
            bench = Workbench(Path(directory), args.backend, args.openssl)
            bench.prepare()
            commands = measure_commands(bench, args.repeat)
    except (UsageError, BenchError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    extra = [arg for arg in args.pytest_args if arg != "--"]
    report = {
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()})",
        "openssl": bench.install.version_string,
        "backend": args.backend,
        "repeat": args.repeat,
        "commands": commands,
        "runs": [run_suite(level, args.workers, args.backend, extra) for level in levels],
    }
    stamp = report["timestamp"].replace(":", "")
    write_atomically(RESULTS_DIR / f"{stamp}.json", json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    write_atomically(RESULTS_DIR / f"{stamp}.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
