"""Build one OpenSSL version from a source tree and install it into the cache, atomically.

Layout under the cache root (``<cache>/openssl``)::

    3.5.7/                  a complete install: bin/openssl, lib/, ssl/openssl.cnf, azihsm-build.json
    3.5.7.tmp-<pid>/        DESTDIR of an install in progress (renamed into place when done)
    .work-3.5.7-<pid>/      the build tree (objects), deleted afterwards
    .locks/3.5.7.lock       flock: one builder per version, other callers wait and reuse
    logs/3.5.7.log          output of the last build attempt

A version directory appears only through ``rename`` after its build, install and smoke
check succeeded, so a reader never sees half an installation.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.fileutil import write_atomic
from azihsm_conformance.harness.provision_files import file_lock

BUILD_MARKER = "azihsm-build.json"
_VERSION_LINE = re.compile(r"^OpenSSL (\d+\.\d+\.\d+)(\S*)")

# Minimal and self-contained on purpose: no .include of system files, no x509_extensions,
# so `req -x509` shows each version's own defaults. The default provider loads implicitly.
OPENSSL_CNF = """\
# openssl.cnf of the azihsm-conformance build of OpenSSL {version}.
# Self-contained: nothing from the system's configuration is included.
HOME = .

[req]
distinguished_name = req_distinguished_name

[req_distinguished_name]
"""


def read_source_version(source_dir: Path) -> str:
    """The version an OpenSSL 3+ source tree builds, from its VERSION.dat."""
    version_file = source_dir / "VERSION.dat"
    if not version_file.is_file():
        raise UsageError(
            f"{source_dir} has no VERSION.dat, so it is not an OpenSSL 3.0 or later source tree; "
            "pass the source of OpenSSL 3.0 or later"
        )
    fields = dict(line.split("=", 1) for line in version_file.read_text(errors="replace").splitlines() if "=" in line)
    try:
        version = f"{int(fields['MAJOR'])}.{int(fields['MINOR'])}.{int(fields['PATCH'])}"
    except (KeyError, ValueError):
        raise UsageError(
            f"{version_file} lacks MAJOR/MINOR/PATCH numbers; pass an unmodified OpenSSL source tree"
        ) from None
    tag = fields.get("PRE_RELEASE_TAG", "").strip().strip('"')
    return f"{version}-{tag}" if tag else version


def build_environment(prefix: Path) -> dict[str, str]:
    """Variables that pin a cached build to its own configuration and modules."""
    return {
        "OPENSSL_CONF": str(prefix / "ssl" / "openssl.cnf"),
        "OPENSSL_MODULES": str(prefix / "lib" / "ossl-modules"),
    }


def is_complete(prefix: Path) -> bool:
    return (prefix / BUILD_MARKER).is_file() and (prefix / "bin" / "openssl").is_file()


def read_marker(prefix: Path) -> dict:
    try:
        return json.loads((prefix / BUILD_MARKER).read_text())
    except (OSError, ValueError):
        return {}


def version_lock(root: Path, version: str) -> contextlib.AbstractContextManager[None]:
    """Hold the per-version build lock; a second caller waits here, then reuses the build."""
    return file_lock(
        root / ".locks" / f"{version}.lock", f"another process is building OpenSSL {version}; waiting for it"
    )


def remove_leftovers(root: Path, version: str) -> None:
    """Delete what an interrupted build of VERSION left (call only while holding its lock)."""
    for leftover in [*root.glob(f"{version}.tmp-*"), *root.glob(f".work-{version}-*")]:
        shutil.rmtree(leftover, ignore_errors=True)
    final = root / version
    if final.exists() and not is_complete(final):
        shutil.rmtree(final, ignore_errors=True)


def configure_arguments(prefix: Path) -> list[str]:
    """Shared libraries found through an rpath to the build's own lib/; no tests, no docs."""
    return [
        f"--prefix={prefix}",
        f"--openssldir={prefix}/ssl",
        "--libdir=lib",
        "shared",
        "no-tests",
        f"-Wl,-rpath,{prefix}/lib",
        # DT_RPATH, not DT_RUNPATH: a stray LD_LIBRARY_PATH cannot swap in another libcrypto
        "-Wl,--disable-new-dtags",
    ]


class _Steps:
    """Runs the build's commands, all output into one log file."""

    def __init__(self, log_path: Path, version: str):
        self.log_path = log_path
        self.version = version
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(log_path, "w")

    def run(self, label: str, argv: list[str], cwd: Path) -> None:
        print(f"provision: {label} OpenSSL {self.version}", file=sys.stderr)
        self.log.write(f"$ cd {cwd} && {' '.join(argv)}\n")
        self.log.flush()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSSL_")}
        env["LC_ALL"] = "C"
        proc = subprocess.run(
            argv, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        if proc.returncode != 0:
            self.log.flush()
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-1:] or [""]
            raise UsageError(
                f"building OpenSSL {self.version} failed at '{label}' (exit {proc.returncode}: {tail[0][:160]}); "
                f"see {self.log_path}"
            )

    def close(self) -> None:
        self.log.close()


def _probe_version(binary: Path, extra_env: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENSSL_", "LD_LIBRARY_PATH"))}
    env.update(extra_env)
    try:
        proc = subprocess.run(
            [str(binary), "version"], capture_output=True, text=True, errors="replace", env=env, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run: {exc}"
    return (proc.stdout.strip() or proc.stderr.strip() or f"exit {proc.returncode}").splitlines()[0]


def _check_runs_own_libraries(binary: Path, version: str, extra_env: dict[str, str]) -> str:
    line = _probe_version(binary, extra_env)
    match = _VERSION_LINE.match(line)
    # `openssl version` names the libcrypto it runs on: "OpenSSL 3.5.7 ... (Library: OpenSSL 3.5.7 ...)"
    library = re.search(r"\(Library: OpenSSL (\d+\.\d+\.\d+)", line)
    wanted = version.split("-")[0]
    if not match or match.group(1) != wanted or (library and library.group(1) != wanted):
        raise UsageError(
            f"the freshly built {binary} does not run on its own OpenSSL {version} libraries "
            f"('openssl version' printed: {line[:120]}); see the build log"
        )
    return line


def build_and_install(source_dir: Path, version: str, root: Path, origin: dict, jobs: int) -> Path:
    """Configure, build and install SOURCE_DIR as ROOT/VERSION; the caller holds the lock.

    Everything lands in a temporary directory first; only a build that passed its smoke
    check is renamed into place. On any failure nothing of this attempt remains.
    """
    final = root / version
    staging = root / f"{version}.tmp-{os.getpid()}"
    work = root / f".work-{version}-{os.getpid()}"
    log_path = root / "logs" / f"{version}.log"
    steps = _Steps(log_path, version)
    started = time.monotonic()
    try:
        work.mkdir(parents=True)
        configure = source_dir / "Configure"
        launcher = [str(configure)] if os.access(configure, os.X_OK) else ["perl", str(configure)]
        # out of tree: the source stays untouched (it may be the user's own directory)
        steps.run("configuring", [*launcher, *configure_arguments(final)], cwd=work)
        steps.run("compiling", ["make", f"-j{jobs}", "build_sw"], cwd=work)
        steps.run("installing", ["make", "install_sw", "install_ssldirs", f"DESTDIR={staging}"], cwd=work)
        installed = staging / final.relative_to(final.anchor)
        if not (installed / "bin" / "openssl").is_file():
            raise UsageError(f"building OpenSSL {version} installed no bin/openssl; see {log_path}")
        write_atomic(installed / "ssl" / "openssl.cnf", OPENSSL_CNF.format(version=version))
        (installed / "lib" / "ossl-modules").mkdir(parents=True, exist_ok=True)
        _check_runs_own_libraries(installed / "bin" / "openssl", version, {"LD_LIBRARY_PATH": str(installed / "lib")})
        marker = {
            "version": version,
            "origin": origin,
            "configure": configure_arguments(final),
            "build_seconds": round(time.monotonic() - started, 1),
            "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        write_atomic(installed / BUILD_MARKER, json.dumps(marker, indent=2) + "\n")
        os.rename(installed, final)
        try:
            # only now does the rpath point at real files: prove the binary uses them
            marker["openssl_version"] = _check_runs_own_libraries(
                final / "bin" / "openssl", version, build_environment(final)
            )
        except UsageError:
            shutil.rmtree(final, ignore_errors=True)
            raise
        write_atomic(final / BUILD_MARKER, json.dumps(marker, indent=2) + "\n")
        print(f"provision: OpenSSL {version} ready in {final} ({marker['build_seconds']:.0f}s)", file=sys.stderr)
        return final
    finally:
        steps.close()
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
