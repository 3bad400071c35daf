"""Speed of single openssl processes: the default provider and the reference HSM, side by side.

    .venv/bin/python bench/bench_speed.py [--rounds 21] [--cold-runs 5] [--modes default,server,in-process]
                                          [--openssl PATH] [--record] [--suite [-n 2]]

Times the wall time of one ``openssl`` process per operation (digest, provider listing, EC
keygen, ECDSA sign and verify, RSA PKCS#1 v1.5 and PSS signing, OAEP decryption, ECDH,
HKDF, HMAC, storeutl), each run three ways (``--modes`` picks a subset):

* ``default``: the default provider alone, with ordinary key files (PEM);
* ``server``: the reference HSM through ``azihsm_provider.so`` in server mode (operations go
  to a device server over a Unix socket), masked keys through ``azihsm://`` URIs;
* ``in-process``: the same with the in-process build (Python inside the openssl process).

Setup happens in a temporary directory. Ordinary keys and inputs are made by the default
provider; the RSA keys are imported into each device with ``azihsm.input_key``, so one OAEP
ciphertext serves every mode. Masked keys are made by each mode's provider, one device
directory per mode. Every command runs once and is checked before anything is timed (exit
code 0; signatures verified by the default provider; outputs compared where they can be).
Then ``--rounds`` rounds run every (operation, mode) once, in an order rotated per round, so
drift on a shared machine hits all modes alike; each sample is ``time.perf_counter`` around
``subprocess.run`` (fork, exec and pipes included). The device server is warm during the
rounds; its cold start (the first command on a device no server runs for yet: an EC keygen on
a new device directory) is measured apart, ``--cold-runs`` times, beside the same first use
of a new device in-process.

The report gives per operation the median (min-max) ms of every mode, the ratio
median(mode) / median(default) and the geometric mean of the ratios. ``--record`` writes
``bench/results/speed-<UTC timestamp>.json`` (raw samples, ``openssl version``, the machine,
every command line with the setup that makes its files: replay them after
``export BENCH_DIR=$(mktemp -d)``) and ``.md`` (the summary it prints). ``--suite`` also times
``azihsm-conformance run --level quick|full -n WORKERS`` for the backends ``reference``
(server mode) and ``reference-in-process``, with the openssl processes each case ran.

Exit code 0 when everything ran, 1 when a command failed (printed with its stderr), 2 on bad
arguments.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
RESULTS_DIR = PROJECT / "bench" / "results"
sys.path.insert(0, str(PROJECT))

from azihsm_conformance.harness.errors import UsageError  # noqa: E402
from azihsm_conformance.harness.openssl import resolve_openssl  # noqa: E402
from azihsm_conformance.reference.bridge.build import BuildError, provider_dir  # noqa: E402

MODES = ("default", "server", "in-process")
SUITE_BACKENDS = {"server": "reference", "in-process": "reference-in-process"}
SUITE_LEVELS = ("quick", "full")
TIMEOUT = 120  # seconds for one openssl command
OAEP = ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"]
PSS = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]
# made once by the default provider in shared/, copied into every mode's directory
SHARED_FILES = ["data.bin", "plaintext.bin", "rsa2048.der", "rsa2048_pub.pem", "rsa3072.der", "rsa3072_pub.pem"]
SHARED_FILES += ["peer_pub.pem", "oaep.bin"]
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


class BenchError(Exception):
    """A command failed; the message holds it and what it printed."""


@dataclass
class Mode:
    """One way of running openssl: a working directory with its keys, and the provider flags.
    The working directory (and the device directory) sit directly in the scratch directory."""

    name: str
    workdir: Path
    openssl: Path
    env: dict[str, str]  # added to the caller's environment (library path, device directory)
    provider: Path | None = None  # -provider-path DIR; None: the default provider alone
    setup_lines: list[str] = field(default_factory=list)

    @property
    def masked(self) -> bool:
        return self.provider is not None

    def cmd(self, command: str, *args: str) -> list[str]:
        """``openssl COMMAND [the documented provider flags] ARGS`` (tests/bridge/bridge_helpers.py)."""
        if not self.masked:
            return self.plain(command, *args)
        flags = ["-provider-path", str(self.provider), "-propquery", "?provider=azihsm"]
        return [str(self.openssl), command, *flags, "-provider", "default", "-provider", "azihsm_provider", *args]

    def plain(self, command: str, *args: str) -> list[str]:
        """``openssl COMMAND ARGS`` on the default provider, whatever the mode (setup, checks)."""
        return [str(self.openssl), command, *args]

    def key(self, stem: str, kind: str) -> str:
        return f"azihsm://./{stem}.bin;type={kind}" if self.masked else f"{stem}.pem"

    def read(self, name: str) -> bytes:
        return (self.workdir / name).read_bytes()

    def replay(self, argv: list[str]) -> str:
        """A shell line for ARGV, scratch paths written as ``$BENCH_DIR/...``."""
        words = [f"cd {shell_word(str(self.workdir), self.workdir.parent)} &&"]
        words += [f"{name}={shell_word(value, self.workdir.parent)}" for name, value in sorted(self.env.items())]
        return " ".join(words + [shell_word(arg, self.workdir.parent) for arg in argv])


def shell_word(text: str, scratch: Path) -> str:
    prefix = f"{scratch}/"
    return f'"$BENCH_DIR/{text[len(prefix) :]}"' if text.startswith(prefix) else shlex.quote(text)


def run_checked(m: Mode, argv: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    """Run ARGV in M's directory: (wall seconds, result); BenchError unless it exits 0 cleanly."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("OPENSSL_")}
    env.update(m.env)
    try:
        started = time.perf_counter()
        proc = subprocess.run(
            argv, cwd=m.workdir, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT
        )
        seconds = time.perf_counter() - started
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"{m.name}: {exc}\n$ {m.replay(argv)}") from None
    stderr = proc.stderr.decode(errors="replace").strip()
    if proc.returncode != 0 or "Traceback" in stderr:
        raise BenchError(f"{m.name}: exit code {proc.returncode}\n$ {m.replay(argv)}\n{stderr[-3000:]}")
    return seconds, proc


# -- setup ---------------------------------------------------------------------------------------

# in shared/, default provider: the data, the RSA keys to import, the ECDH peer, the ciphertext
SHARED_SETUP: list[Callable[[Mode], list[str]]] = [
    lambda m: m.plain("rand", "-out", "data.bin", "4096"),
    lambda m: m.plain("rand", "-out", "plaintext.bin", "32"),
    lambda m: (
        m.plain("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-outform", "DER")
        + ["-out", "rsa2048.der"]
    ),
    lambda m: m.plain("pkey", "-inform", "DER", "-in", "rsa2048.der", "-pubout", "-out", "rsa2048_pub.pem"),
    lambda m: (
        m.plain("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072", "-outform", "DER")
        + ["-out", "rsa3072.der"]
    ),
    lambda m: m.plain("pkey", "-inform", "DER", "-in", "rsa3072.der", "-pubout", "-out", "rsa3072_pub.pem"),
    lambda m: m.plain("genpkey", "-algorithm", "EC", "-pkeyopt", "group:P-256", "-out", "peer.pem"),
    lambda m: m.plain("pkey", "-in", "peer.pem", "-pubout", "-out", "peer_pub.pem"),
    lambda m: (
        m.plain("pkeyutl", "-encrypt", "-pubin", "-inkey", "rsa2048_pub.pem", *OAEP)
        + ["-in", "plaintext.bin", "-out", "oaep.bin"]
    ),
]


def ec_key(m: Mode, stem: str, usage: str, public: str) -> list[str]:
    """An EC P-256 key: STEM.bin in the device for USAGE (its encoder writes the public key
    to PUBLIC), or STEM.pem."""
    if not m.masked:
        return m.cmd("genpkey", "-algorithm", "EC", "-pkeyopt", "group:P-256", "-out", f"{stem}.pem")
    options = ["group:P-256", f"azihsm.key_usage:{usage}", f"azihsm.masked_key:./{stem}.bin"]
    pkeyopts = [arg for option in options for arg in ("-pkeyopt", option)]
    return m.cmd("genpkey", "-algorithm", "EC", *pkeyopts, "-out", public)


def rsa_key(m: Mode, stem: str, source: str, bits: int, usage: str) -> list[str]:
    """SOURCE (PKCS#8 DER) imported into the device for USAGE as STEM.bin, or as STEM.pem."""
    if not m.masked:
        return m.cmd("pkey", "-inform", "DER", "-in", source, "-out", f"{stem}.pem")
    options = [f"rsa_keygen_bits:{bits}", f"azihsm.input_key:./{source}", f"azihsm.key_usage:{usage}"]
    pkeyopts = [arg for option in options + [f"azihsm.masked_key:./{stem}.bin"] for arg in ("-pkeyopt", option)]
    return m.cmd("genpkey", "-algorithm", "RSA", *pkeyopts, "-outform", "DER", "-out", "/dev/null")


def ecdh(m: Mode, out: str) -> list[str]:
    """ECDH with the peer: the masked secret into OUT (output_file), or the raw secret."""
    output = ["-pkeyopt", f"output_file:{out}"] if m.masked else ["-out", out]
    return m.cmd("pkeyutl", "-derive", "-inkey", m.key("ecdh", "ec"), "-peerkey", "peer_pub.pem", *output)


def hkdf(m: Mode, out: str) -> list[str]:
    """HKDF-SHA256 over secret.bin into an HMAC-SHA256 key OUT: masked (azihsm.ikm_file and
    output_file, as the bridge tests make HMAC keys) or 32 raw bytes (hexkey)."""
    if m.masked:
        options = ["digest:SHA256", "azihsm.ikm_file:./secret.bin", f"output_file:./{out}"]
        options += ["derived_key_type:hmac", "derived_key_bits:256"]
        keylen, target = "4096", "/dev/null"
    else:
        options, keylen, target = ["digest:SHA256", f"hexkey:{m.read('secret.bin').hex()}"], "32", out
    kdfopts = [arg for option in options for arg in ("-kdfopt", option)]
    return m.cmd("kdf", "-keylen", keylen, *kdfopts, "-binary", "-out", target, "HKDF")


# in each mode's directory, in order, after the shared files are copied in (None: skipped)
MODE_SETUP: list[Callable[[Mode], list[str] | None]] = [
    lambda m: ec_key(m, "ec", "digitalSignature", public="ec_pub.pem"),
    lambda m: None if m.masked else m.plain("pkey", "-in", "ec.pem", "-pubout", "-out", "ec_pub.pem"),
    lambda m: ec_key(m, "ecdh", "keyAgreement", public="ecdh_pub.pem"),
    lambda m: rsa_key(m, "rsa2048_sign", "rsa2048.der", 2048, "digitalSignature"),
    lambda m: rsa_key(m, "rsa2048_enc", "rsa2048.der", 2048, "keyEncipherment"),
    lambda m: rsa_key(m, "rsa3072_sign", "rsa3072.der", 3072, "digitalSignature"),
    lambda m: ecdh(m, "secret.bin"),
    lambda m: hkdf(m, "hmac_key.bin"),
]


def prepare(scratch: Path, openssl: Path, base_env: dict[str, str], names: list[str]) -> tuple[Mode, list[Mode]]:
    """The shared inputs, then one directory (and device) per mode with its keys."""
    shared = Mode("shared", scratch / "shared", openssl, dict(base_env), setup_lines=['mkdir "$BENCH_DIR/shared"'])
    shared.workdir.mkdir()
    for step in SHARED_SETUP:
        run_step(shared, step)
    modes = []
    for name in names:
        workdir = scratch / name
        workdir.mkdir()
        env, provider, lines = dict(base_env), None, [f'mkdir "$BENCH_DIR/{name}"']
        if name != "default":
            device = scratch / f"{name}-device"  # must exist, mode 0700, ours
            device.mkdir(mode=0o700)
            device.chmod(0o700)
            env["AZIHSM_DEVICE_DIR"] = str(device)
            lines.append(f'mkdir -m 700 "$BENCH_DIR/{name}-device"')
            provider = provider_dir(name)
        for file in SHARED_FILES:
            shutil.copy(shared.workdir / file, workdir / file)
        lines.append(f'cd "$BENCH_DIR/shared" && cp {" ".join(SHARED_FILES)} "$BENCH_DIR/{name}/"')
        mode = Mode(name, workdir, openssl, env, provider, lines)
        for step in MODE_SETUP:
            run_step(mode, step)
        modes.append(mode)
    return shared, modes


def run_step(m: Mode, step: Callable[[Mode], list[str] | None]) -> None:
    argv = step(m)
    if argv is not None:
        m.setup_lines.append(m.replay(argv))
        run_checked(m, argv)


# -- operations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    name: str
    argv: Callable[[Mode], list[str]]
    # run once before anything is timed, after the command exited 0; raises BenchError
    check: Callable[[Mode, subprocess.CompletedProcess], None]


def output_has(m: Mode, proc: subprocess.CompletedProcess, expected: str) -> None:
    output = proc.stdout.decode(errors="replace")
    if expected.lower() not in output.lower():
        raise BenchError(f"{m.name}: expected {expected!r} in the output, got:\n{output[:600]}")


def file_holds(m: Mode, name: str, expected: bytes | None = None) -> None:
    """NAME exists and is not empty; it equals EXPECTED unless that is None."""
    content = m.read(name) if (m.workdir / name).is_file() else b""
    if not content or (expected is not None and content != expected):
        raise BenchError(f"{m.name}: {name} is {'not what was expected' if content else 'missing or empty'}")


def verified(m: Mode, public: str, signature: str, *sigopts: str) -> None:
    """SIGNATURE over data.bin verifies with PUBLIC on the default provider."""
    argv = m.plain("dgst", "-sha256", "-verify", public, *sigopts, "-signature", signature, "data.bin")
    output_has(m, run_checked(m, argv)[1], "Verified OK")


def keygen_output(m: Mode) -> list[str]:
    if m.masked:
        return ["-pkeyopt", "azihsm.masked_key:./gen.bin", "-outform", "DER", "-out", "/dev/null"]
    return ["-out", "gen.pem"]


def hmac_checked(m: Mode, proc: subprocess.CompletedProcess) -> None:
    """A 32-byte tag in hex; for an ordinary key, the one Python's hmac computes."""
    tag = proc.stdout.decode(errors="replace").strip().lower()
    if len(tag) != 64 or not (
        m.masked or tag == hmac.new(m.read("hmac_key.bin"), m.read("data.bin"), "sha256").hexdigest()
    ):
        raise BenchError(f"{m.name}: HMAC printed {tag!r}, expected a 32-byte tag in hex")


def mac(m: Mode) -> list[str]:
    key = ["-macopt", "key:./hmac_key.bin"] if m.masked else ["-macopt", f"hexkey:{m.read('hmac_key.bin').hex()}"]
    return m.cmd("mac", *key, "-macopt", "digest:SHA256", "-in", "data.bin", "HMAC")


OPERATIONS: list[Operation] = [
    Operation(
        "digest SHA-256 (dgst)",
        lambda m: m.cmd("dgst", "-sha256", "data.bin"),
        lambda m, p: output_has(m, p, hashlib.sha256(m.read("data.bin")).hexdigest()),
    ),
    Operation(
        "provider load (list -providers)",
        lambda m: m.cmd("list", "-providers"),
        lambda m, p: output_has(m, p, "name: azihsm" if m.masked else "OpenSSL Default Provider"),
    ),
    Operation(
        "EC P-256 keygen (genpkey)",
        lambda m: m.cmd("genpkey", "-algorithm", "EC", "-pkeyopt", "group:P-256", *keygen_output(m)),
        lambda m, p: file_holds(m, "gen.bin" if m.masked else "gen.pem"),
    ),
    Operation(
        "ECDSA P-256 sign (dgst -sign)",
        lambda m: m.cmd("dgst", "-sha256", "-sign", m.key("ec", "ec"), "-out", "ec.sig", "data.bin"),
        lambda m, p: verified(m, "ec_pub.pem", "ec.sig"),
    ),
    Operation(  # ec.sig: written by the sign operation, which the check pass runs first
        "ECDSA P-256 verify (dgst -verify)",
        lambda m: (
            m.cmd("dgst", "-sha256", "-verify", m.key("ec", "ec") if m.masked else "ec_pub.pem")
            + ["-signature", "ec.sig", "data.bin"]
        ),
        lambda m, p: output_has(m, p, "Verified OK"),
    ),
    Operation(
        "RSA-2048 PKCS#1 v1.5 sign, SHA-256 (dgst -sign)",
        lambda m: m.cmd("dgst", "-sha256", "-sign", m.key("rsa2048_sign", "rsa"), "-out", "rsa2048.sig", "data.bin"),
        lambda m, p: verified(m, "rsa2048_pub.pem", "rsa2048.sig"),
    ),
    Operation(
        "RSA-3072 PSS sign, SHA-256 (dgst -sign)",
        lambda m: (
            m.cmd("dgst", "-sha256", *PSS, "-sign", m.key("rsa3072_sign", "rsa"), "-out", "rsa3072.sig") + ["data.bin"]
        ),
        lambda m, p: verified(m, "rsa3072_pub.pem", "rsa3072.sig", *PSS),
    ),
    Operation(
        "RSA-2048 OAEP-SHA256 decrypt (pkeyutl)",
        lambda m: (
            m.cmd("pkeyutl", "-decrypt", "-inkey", m.key("rsa2048_enc", "rsa"), *OAEP, "-in", "oaep.bin")
            + ["-out", "decrypted.bin"]
        ),
        lambda m, p: file_holds(m, "decrypted.bin", m.read("plaintext.bin")),
    ),
    Operation(
        "ECDH P-256 derive (pkeyutl -derive)",
        lambda m: ecdh(m, "derived.bin"),
        lambda m, p: file_holds(m, "derived.bin", None if m.masked else m.read("secret.bin")),
    ),
    Operation("HKDF-SHA256 (kdf)", lambda m: hkdf(m, "hkdf.bin"), lambda m, p: file_holds(m, "hkdf.bin")),
    Operation("HMAC-SHA256 (mac)", mac, hmac_checked),
    Operation(
        "store load (storeutl)",
        lambda m: m.cmd("storeutl", m.key("ec", "ec")),
        lambda m, p: output_has(m, p, "Total found: 1"),
    ),
]
COLD_OPERATION = "EC P-256 keygen (genpkey)"


# -- timing --------------------------------------------------------------------------------------


def rotated(items: list, by: int) -> list:
    by %= len(items)
    return items[by:] + items[:by]


def check_all(modes: list[Mode]) -> dict[tuple[str, str], list[str]]:
    """Every (operation, mode) once, checked; returns the command lines the rounds replay."""
    commands = {}
    for operation in OPERATIONS:
        for m in modes:
            argv = operation.argv(m)
            operation.check(m, run_checked(m, argv)[1])
            commands[operation.name, m.name] = argv
    return commands


def measure(modes: list[Mode], commands: dict[tuple[str, str], list[str]], rounds: int) -> dict:
    """ROUNDS rounds of every (operation, mode), operations and modes rotated per round."""
    for m in modes:  # warm-up: the device server of each mode is running before the first sample
        run_checked(m, commands[COLD_OPERATION, m.name])
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in commands}
    started = time.monotonic()
    for number in range(rounds):
        for operation in rotated(OPERATIONS, number):
            for m in rotated(modes, number):
                samples[operation.name, m.name].append(run_checked(m, commands[operation.name, m.name])[0])
        progress(f"round {number + 1}/{rounds} ({time.monotonic() - started:.0f} s)")
    return samples


def cold_starts(scratch: Path, modes: list[Mode], runs: int) -> dict[str, dict]:
    """The first command on a new device directory (no server runs for it yet), RUNS times
    per provider mode, interleaved; each device is removed afterwards (its server exits)."""
    provider_modes = [m for m in modes if m.masked]
    found: dict[str, dict] = {m.name: {"command": "", "samples": []} for m in provider_modes}
    operation = next(op for op in OPERATIONS if op.name == COLD_OPERATION)
    for number in range(runs):
        for m in rotated(provider_modes, number):
            workdir, device = scratch / f"cold-{number}-{m.name}", scratch / f"cold-{number}-{m.name}-device"
            workdir.mkdir()
            device.mkdir(mode=0o700)
            device.chmod(0o700)
            fresh = Mode(m.name, workdir, m.openssl, {**m.env, "AZIHSM_DEVICE_DIR": str(device)}, m.provider)
            argv = operation.argv(fresh)
            found[m.name]["command"] = fresh.replay(argv)
            found[m.name]["samples"].append(run_checked(fresh, argv)[0])
            shutil.rmtree(device)
            shutil.rmtree(workdir)
    return found


def summarize(samples: list[float]) -> dict:
    ms = [round(s * 1000, 3) for s in samples]
    return {"median_ms": round(statistics.median(ms), 3), "min_ms": min(ms), "max_ms": max(ms), "samples_ms": ms}


def progress(text: str) -> None:
    print(f"bench_speed: {text}", file=sys.stderr, flush=True)


# -- the conformance suite -----------------------------------------------------------------------


def program(command_line: str) -> str:
    """The program a recorded replay line runs (``cd DIR && VAR=value ... PROGRAM ARGS``)."""
    words = shlex.split(command_line)
    words = words[words.index("&&") + 1 :] if "&&" in words else words
    while words and ENV_ASSIGNMENT.match(words[0]):
        words = words[1:]
    return Path(words[0]).name if words else ""


def run_suite(backend: str, level: str, workers: str, openssl: Path) -> dict:
    """``azihsm-conformance run``: wall time, outcomes, and the openssl processes per case as
    the harness records them (the commands a case ran through its ``openssl`` fixture; keys
    that session fixtures share between cases are not counted for any case)."""
    with tempfile.TemporaryDirectory(prefix="azihsm-speed-suite-") as out:
        command = [sys.executable, "-m", "azihsm_conformance.harness.cli", "run", "--backend", backend]
        command += ["--level", level, "-n", workers, "--openssl", str(openssl), "--out", out, "--progress", "0"]
        progress("$ " + shlex.join(command))
        started = time.monotonic()
        proc = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True)
        row = {"backend": backend, "level": level, "workers": workers, "command": shlex.join(command)}
        row.update(seconds=round(time.monotonic() - started, 1), exit_code=proc.returncode)
        results = Path(out) / "results.json"
        if not results.is_file():
            row["error"] = (proc.stderr.strip() or proc.stdout.strip())[-800:]
            return row
        cases = [case for run in json.loads(results.read_text())["runs"] for case in run["cases"]]
    per_case = {
        case["case_id"]: sum(program(c["command_line"]) == openssl.name for c in case["commands"]) for case in cases
    }
    counts = list(per_case.values()) or [0]
    row.update(
        cases=len(cases),
        outcomes=dict(Counter(case["outcome"] for case in cases)),
        openssl_processes=sum(counts),
        openssl_per_case={"mean": round(statistics.mean(counts), 2), "median": statistics.median(counts)},
        openssl_per_case_max=max(counts),
        openssl_processes_by_case=per_case,
    )
    return row


# -- report --------------------------------------------------------------------------------------


def summary(record: dict) -> str:
    names = record["modes"]
    ratios = [name for name in names if name != "default" and "default" in names]
    header = "| operation | " + " | ".join(
        f"{name} (ms)" + (f" | {name} / default" if name in ratios else "") for name in names
    )
    lines = [
        f"### {record['started']} — {record['host']}",
        "",
        f"{record['openssl']['version']} ({record['openssl']['path']}); {record['rounds']} round(s), order rotated per "
        "round; wall time of one openssl process: median (min–max) ms, ratio of medians to the default provider",
        "",
        header + " |",
        "|---|" + "---:|" * (len(names) + len(ratios)),
    ]
    for row in record["operations"]:
        cells = []
        for name in names:
            entry = row["modes"][name]
            cells.append(f"{entry['median_ms']:.1f} ({entry['min_ms']:.1f}–{entry['max_ms']:.1f})")
            if name in ratios:
                cells.append(f"{entry['ratio']:.1f}")
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    if ratios:
        cells = []  # the ms columns empty, the ratio columns the mean
        for name in names:
            cells.append("")
            if name in ratios:
                cells.append(f"**{record['geometric_mean_ratio'][name]:.1f}**")
        lines.append("| **geometric mean of the ratios** | " + " | ".join(cells) + " |")
    if record["cold_start"]:
        lines += [
            "",
            f"Cold start: the first command on a new device directory, no server running for it "
            f"({COLD_OPERATION}; {record['cold_runs']} run(s)); "
            "warm: the same command in the rounds above.",
            "",
        ]
        for name, entry in record["cold_start"].items():
            warm = next(row for row in record["operations"] if row["name"] == COLD_OPERATION)["modes"][name]
            what = "server start and device creation" if name == "server" else "device creation"
            lines.append(
                f"- {name}: {entry['median_ms']:.1f} ms ({entry['min_ms']:.1f}–{entry['max_ms']:.1f}); warm "
                f"{warm['median_ms']:.1f} ms, so {what} ≈ {entry['median_ms'] - warm['median_ms']:.1f} ms"
            )
    for run in record["suite"]:
        lines += [
            "",
            f"**suite, {run['backend']}, {run['level']} level** (-n {run['workers']}): {run['seconds']} s, "
            f"exit code {run['exit_code']}",
        ]
        if "error" in run:
            lines.append(f"- did not run: {run['error']}")
            continue
        per_case = run["openssl_per_case"]
        lines.append(
            f"- {run['cases']} cases, outcomes {run['outcomes']}; {run['openssl_processes']} openssl processes "
            f"recorded, per case mean {per_case['mean']}, median {per_case['median']}, max {run['openssl_per_case_max']}"
        )
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def modes_value(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"{text!r}: use one or more of {','.join(MODES)}, comma-separated")
    return [name for name in MODES if name in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21, help="timed runs of every (operation, mode) (default 21)")
    parser.add_argument("--cold-runs", type=int, default=5, help="cold starts per provider mode (default 5; 0: none)")
    parser.add_argument(
        "--modes", type=modes_value, default=list(MODES), help="default,server,in-process (default all)"
    )
    parser.add_argument("--openssl", default="openssl", help="openssl binary (default: openssl on PATH)")
    parser.add_argument("--record", action="store_true", help="write bench/results/speed-<UTC timestamp>.{json,md}")
    parser.add_argument(
        "--suite",
        action="store_true",
        help="also time the conformance suite (quick and full) for the provider modes selected",
    )
    parser.add_argument("-n", "--workers", default="2", help="pytest-xdist workers for --suite (default 2)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.cold_runs < 0:
        parser.error("--rounds must be at least 1 and --cold-runs at least 0")
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    try:
        install = resolve_openssl(args.openssl)
    except UsageError as exc:
        print(f"bench_speed: {exc}", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix="azihsm-speed-") as directory:
            scratch = Path(directory)
            progress(f"setup in {scratch} ({', '.join(args.modes)})")
            shared, modes = prepare(scratch, install.path, dict(install.env), args.modes)
            progress(f"checking {len(OPERATIONS)} operations in {len(modes)} modes")
            commands = check_all(modes)
            samples = measure(modes, commands, args.rounds)
            cold = cold_starts(scratch, modes, args.cold_runs) if args.cold_runs else {}
            version = run_checked(shared, shared.plain("version"))[1].stdout.decode().strip()
    except (BenchError, BuildError) as exc:
        print(f"bench_speed: a command failed (nothing recorded):\n{exc}", file=sys.stderr)
        return 1
    operations = []
    for operation in OPERATIONS:
        row = {"name": operation.name, "modes": {}}
        for m in modes:
            entry = {
                "command": m.replay(commands[operation.name, m.name]),
                **summarize(samples[operation.name, m.name]),
            }
            row["modes"][m.name] = entry
        if "default" in row["modes"]:
            for entry in row["modes"].values():
                entry["ratio"] = round(entry["median_ms"] / row["modes"]["default"]["median_ms"], 3)
        operations.append(row)
    record = {
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()})",
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processor": platform.processor(),
            "python": platform.python_version(),
        },
        "openssl": {"version": version, "path": str(install.path), "env": install.env},
        "command_line": [Path(sys.argv[0]).name, *(sys.argv[1:] if argv is None else argv)],
        "rounds": args.rounds,
        "cold_runs": args.cold_runs,
        "modes": args.modes,
        "provider_dirs": {m.name: str(m.provider) for m in modes if m.masked},
        "replay": (
            "export BENCH_DIR=$(mktemp -d), run the setup lines in order (shared first), then any command; "
            "the benchmark ran them without the caller's OPENSSL_* variables (only those shown); a cold-start "
            "command needs its new device directory first (mkdir -m 700)"
        ),
        "setup": {m.name: m.setup_lines for m in (shared, *modes)},
        "operations": operations,
        "geometric_mean_ratio": {
            m.name: round(statistics.geometric_mean(row["modes"][m.name]["ratio"] for row in operations), 3)
            for m in modes
            if "default" in args.modes
        },
        "cold_start": {
            name: {"command": entry["command"], **summarize(entry["samples"])} for name, entry in cold.items()
        },
        "suite": [],
    }
    if args.suite:
        for name in (name for name in args.modes if name in SUITE_BACKENDS):
            for level in SUITE_LEVELS:
                record["suite"].append(run_suite(SUITE_BACKENDS[name], level, args.workers, install.path))
    record["seconds"] = round(time.monotonic() - clock, 1)
    text = summary(record)
    if args.record:
        stamp = started.strftime("%Y-%m-%dT%H%M%SZ")
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        write_atomically(RESULTS_DIR / f"speed-{stamp}.json", json.dumps(record, indent=2) + "\n")
        write_atomically(RESULTS_DIR / f"speed-{stamp}.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
