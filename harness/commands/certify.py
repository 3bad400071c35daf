"""``azihsm-conformance certify``: a bundle a third party can check, for one run.

    azihsm-conformance certify [--run RUN] --out BUNDLE [--sign KEY [--sign-backend NAME]]
    azihsm-conformance certify --verify BUNDLE [--pubkey PEM]

The bundle holds the run's results (``results.json``, ``junit.xml``, and ``results.sqlite``
with that run alone), its reports, ``environment.json`` (OpenSSL build, Python, package
versions, the backend profile and the provider's identity) and the profile file, with
``MANIFEST.sha256`` listing the SHA-256 of every file (``sha256sum -c`` reads it too).
``--sign KEY`` signs the manifest with ``openssl dgst -sha256 -sign`` (a PEM key file, or a
provider URI with ``--sign-backend`` giving the provider flags, so an HSM key can sign); the
signer's public key goes in ``signer.pub.pem``. ``--verify`` recomputes every hash, refuses
missing or extra files, and checks the signature (with ``--pubkey``, or the bundle's own
public key, whose fingerprint it prints for comparison with one you trust).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from azihsm_conformance.harness.backends import resolve_backend
from azihsm_conformance.harness.commands.common import DEFAULT_OUT, add_clauses_option, load_catalogue, results_path
from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.fileutil import write_atomic
from azihsm_conformance.harness.report.outputs import select, write_outputs
from azihsm_conformance.harness.store import ResultsStore

MANIFEST = "MANIFEST.sha256"
SIGNATURE = "MANIFEST.sha256.sig"
SIGNER = "signer.pub.pem"
PACKAGES = ("azihsm-conformance", "cryptography", "cffi", "pytest", "pytest-xdist", "packaging")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "certify",
        help="write (or verify) a signed, hash-checked bundle of one run",
        description=__doc__.split("\n\n", 2)[2] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--results", metavar="FILE", help=f"results database (default ./{DEFAULT_OUT}/results.sqlite)")
    parser.add_argument(
        "--run", default="latest", metavar="RUN", help="run id, prefix, 'latest' or 'latest~N' (default latest)"
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="the bundle directory to write (must not exist)")
    parser.add_argument("--sign", metavar="KEY", help="sign the manifest with this key (PEM file or provider URI)")
    parser.add_argument("--sign-backend", metavar="NAME", help="backend profile whose provider flags load --sign KEY")
    parser.add_argument("--verify", type=Path, metavar="BUNDLE", help="check a bundle instead of writing one")
    parser.add_argument(
        "--pubkey", type=Path, metavar="PEM", help="with --verify: the public key the signature must verify under"
    )
    parser.add_argument(
        "--openssl", default="openssl", metavar="PATH", help="openssl used to sign and verify (default: PATH)"
    )
    add_clauses_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.verify:
        return verify(args.verify, args.pubkey, args.openssl)
    if not args.out:
        raise UsageError("certify needs --out DIR (the bundle to write) or --verify BUNDLE")
    return write_bundle(args)


# -- writing --------------------------------------------------------------------------------


def write_bundle(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists():
        raise UsageError(f"{out} exists; certify writes a new bundle directory (remove it or choose another)")
    database = results_path(args)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        with ResultsStore(database, create=False) as store:
            [result], _ = select(store, [args.run])
            with ResultsStore(staging / "results.sqlite") as extract:
                extract.import_run(store, result.run.id)
        write_outputs([result], [], load_catalogue(args), staging)
        profile = Path(result.run.backend_source)
        if profile.is_file():
            shutil.copyfile(profile, staging / "profile.toml")
        write_atomic(staging / "environment.json", json.dumps(environment(result.run, profile), indent=2) + "\n")
        write_manifest(staging)
        if args.sign:
            sign(staging, args.sign, args.sign_backend, args.openssl)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # never a half-written bundle
        raise
    verdict = "conforms" if result.conforms else "does not conform"
    print(
        f"certify: {out}: run {result.run.id} ({result.run.column}, {verdict} to revision {result.run.revision}), "
        f"{len(list_files(out))} files{', signed' if args.sign else ''}"
    )
    return 0


def environment(run, profile: Path) -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = ""
    openssl = Path(run.openssl_path)
    build = ""
    if openssl.is_file():
        done = subprocess.run([str(openssl), "version", "-a"], capture_output=True, text=True, timeout=30)
        build = done.stdout.strip()
    return {
        "run": run.id,
        "backend": run.backend,
        "revision": run.revision,
        "capabilities": run.capabilities.split(),
        "provider": {"name": run.provider_name, "version": run.provider_version, "buildinfo": run.provider_buildinfo},
        "identity": run.identity,
        "openssl": {"path": run.openssl_path, "version": run.openssl_version_text, "build": build},
        "host": run.host,
        "python": platform.python_version(),
        "packages": versions,
        "profile": {
            "source": run.backend_source,
            "sha256": hashlib.sha256(profile.read_bytes()).hexdigest() if profile.is_file() else "",
        },
    }


def list_files(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file())


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(directory: Path) -> None:
    lines = [
        f"{sha256(directory / name)}  {name}"
        for name in list_files(directory)
        if name not in (MANIFEST, SIGNATURE, SIGNER)
    ]
    (directory / MANIFEST).write_text("\n".join(lines) + "\n")


def _openssl(openssl: str, args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [openssl, *args], capture_output=True, text=True, cwd=cwd, timeout=120, stdin=subprocess.DEVNULL
        )
    except OSError as exc:
        raise UsageError(f"cannot run {openssl}: {exc}") from None


def sign(directory: Path, key: str, backend_name: str | None, openssl: str) -> None:
    flags = resolve_backend(backend_name).provider_flags() if backend_name else []
    signed = _openssl(
        openssl,
        ["dgst", "-sha256", *flags, "-sign", key, "-out", str(directory / SIGNATURE), str(directory / MANIFEST)],
    )
    if signed.returncode != 0:
        raise UsageError(f"signing the manifest with {key} failed: {(signed.stderr.strip().splitlines() or ['?'])[-1]}")
    public = _openssl(openssl, ["pkey", *flags, "-in", key, "-pubout", "-out", str(directory / SIGNER)])
    if public.returncode != 0:
        raise UsageError(f"cannot export the public half of {key}: {(public.stderr.strip().splitlines() or ['?'])[-1]}")


# -- verifying ------------------------------------------------------------------------------


def verify(bundle: Path, pubkey: Path | None, openssl: str) -> int:
    manifest = bundle / MANIFEST
    if not manifest.is_file():
        raise UsageError(f"{bundle} is not a certify bundle (no {MANIFEST})")
    problems = []
    listed = {}
    for number, line in enumerate(manifest.read_text().splitlines(), start=1):
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            problems.append(f"{MANIFEST} line {number} is not 'SHA256  FILE'")
            continue
        listed[name] = digest
    present = set(list_files(bundle)) - {MANIFEST, SIGNATURE, SIGNER}
    for name in sorted(set(listed) - present):
        problems.append(f"{name} is listed but missing")
    for name in sorted(present - set(listed)):
        problems.append(f"{name} is not in the manifest")
    for name in sorted(set(listed) & present):
        if sha256(bundle / name) != listed[name]:
            problems.append(f"{name} does not match its SHA-256")
    signature = bundle / SIGNATURE
    if signature.is_file():
        key = pubkey or bundle / SIGNER
        if not key.is_file():
            problems.append(f"the manifest is signed but there is no public key to check it ({key})")
        else:
            checked = _openssl(
                openssl, ["dgst", "-sha256", "-verify", str(key), "-signature", str(signature), str(manifest)]
            )
            if checked.returncode != 0:
                problems.append(f"the manifest's signature does not verify under {key}")
            elif pubkey is None:
                fingerprint = hashlib.sha256(key.read_bytes()).hexdigest()
                print(
                    f"certify: signed by the key in {key} (SHA-256 of its PEM {fingerprint}); compare it with a key you trust, "
                    "or pass --pubkey"
                )
    elif pubkey is not None:
        problems.append("--pubkey given but the bundle is not signed")
    if problems:
        for problem in problems:
            print(f"certify: {bundle}: {problem}", file=sys.stderr)
        return 1
    print(
        f"certify: {bundle}: {len(listed)} files match the manifest{'; signature verified' if signature.is_file() else ''}"
    )
    return 0
