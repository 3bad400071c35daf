"""``azihsm-conformance doctor``: checks what a run needs and says what to fix."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from azihsm_conformance.harness.backends import DEVICE_DIR_VAR, resolve_backend
from azihsm_conformance.harness.commands.common import DEFAULT_OUT, add_target_options, results_path
from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.openssl import resolve_openssl
from azihsm_conformance.harness.provider_info import ProviderLoadError, identify_provider
from azihsm_conformance.harness.store import ResultsStore

DEFAULT_DEVICE_DIR = "/var/lib/azihsm"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check the openssl binary, the provider, the device directory and the results path",
        description="Checks, in order, what a run needs and prints what to fix. Exits 1 when a check fails.",
    )
    add_target_options(parser)
    parser.add_argument(
        "--results", metavar="FILE", help=f"results database to check (default ./{DEFAULT_OUT}/results.sqlite)"
    )
    parser.set_defaults(func=run)


class Checklist:
    def __init__(self):
        self.failed = 0

    def ok(self, what: str, detail: str) -> None:
        print(f"  ok    {what}: {detail}")

    def warn(self, what: str, detail: str, fix: str) -> None:
        print(f"  warn  {what}: {detail}\n        fix: {fix}")

    def fail(self, what: str, detail: str, fix: str = "") -> None:
        self.failed += 1
        print(f"  FAIL  {what}: {detail}" + (f"\n        fix: {fix}" if fix else ""))


def run(args: argparse.Namespace) -> int:
    checks = Checklist()
    print("azihsm-conformance doctor")
    install = _check_openssl(args, checks)
    backend = _check_backend(args, checks)
    if install is not None and backend is not None:
        _check_provider(install, backend, checks)
        _check_device_dir(backend, checks)
    _check_results(args, checks)
    print("all checks passed" if not checks.failed else f"{checks.failed} check(s) failed")
    return 1 if checks.failed else 0


def _check_openssl(args, checks: Checklist):
    try:
        install = resolve_openssl(args.openssl)
    except UsageError as exc:
        checks.fail("openssl", str(exc))
        return None
    checks.ok("openssl", install.describe())
    if install.modulesdir and not Path(install.modulesdir).is_dir():
        checks.warn(
            "openssl MODULESDIR",
            f"{install.modulesdir} does not exist",
            "providers need -provider-path (the harness passes it) or OPENSSL_MODULES",
        )
    return install


def _check_backend(args, checks: Checklist):
    try:
        backend = resolve_backend(
            args.backend,
            provider_path=args.provider_path,
            provider_module=args.provider_module,
            openssl_conf=args.openssl_conf,
        )
        directory = backend.check()
    except UsageError as exc:
        checks.fail("backend", str(exc))
        return None
    where = directory or backend.openssl_conf or "openssl's MODULESDIR"
    checks.ok("backend", f"{backend.name} ({backend.source}); module {backend.provider_module} from {where}")
    return backend


def _check_provider(install, backend, checks: Checklist) -> None:
    try:
        info, result, _ = identify_provider(install, backend)
    except ProviderLoadError as exc:
        checks.fail(
            "provider load",
            f"{exc}\n        replay: {exc.result.command_line}",
            "run the replay line to see the whole error; check the .so was built for this OpenSSL and its dependencies are found (ldd)",
        )
        return
    checks.ok("provider load", f"{info.describe()} (loaded as {info.load_name}, {result.duration * 1000:.0f} ms)")
    if info.status and info.status != "active":
        checks.fail("provider status", f"the provider reports status '{info.status}'", "see the provider's own logs")


def _check_device_dir(backend, checks: Checklist) -> None:
    if backend.fresh_device_dir:
        scratch = Path(tempfile.gettempdir())
        if os.access(scratch, os.W_OK):
            checks.ok("device directory", f"a fresh {DEVICE_DIR_VAR} per run and worker under {scratch}")
        else:
            checks.fail("device directory", f"{scratch} is not writable", "set TMPDIR to a writable directory")
        return
    path = Path(backend.environment.get(DEVICE_DIR_VAR) or os.environ.get(DEVICE_DIR_VAR) or DEFAULT_DEVICE_DIR)
    if not path.is_dir():
        checks.warn(
            "device directory",
            f"{path} does not exist (the provider may need it)",
            f"sudo mkdir -p {path} && sudo chown $USER {path}, or set {DEVICE_DIR_VAR}",
        )
    elif not os.access(path, os.W_OK):
        checks.warn(
            "device directory",
            f"{path} is not writable by this user",
            f"sudo chown $USER {path}, or set {DEVICE_DIR_VAR}",
        )
    else:
        checks.ok("device directory", str(path))


def _check_results(args, checks: Checklist) -> None:
    path = results_path(args)
    try:
        existed = path.exists()
        ResultsStore(path, create=True).close()
        if not existed:
            path.unlink()  # doctor checks; it does not leave an empty database behind
            _remove_empty_dirs(path.parent)
    except UsageError as exc:
        checks.fail("results database", str(exc))
        return
    checks.ok("results database", f"{path} {'is readable and writable' if existed else 'can be created'}")


def _remove_empty_dirs(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass
