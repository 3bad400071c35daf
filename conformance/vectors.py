"""Wycheproof cases as pytest parameters: a stable sample per file, absent families reported.

Full level: the valid cases and a sample of invalid ones of every file (bounded, so the
count stays sensible); quick level: the first valid and the first invalid case of each
family are marked ``quick``. A family with no files becomes one skipped case whose reason
names the directory searched and the option that fixes it, and the terminal summary lists
it again, so a partial vectors checkout is visible, never silently smaller.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixtures.loaders import (
    DEFAULT_WYCHEPROOF_ROOT,
    WYCHEPROOF_FAMILIES,
    VectorsAbsent,
    load_wycheproof,
    sample,
    wycheproof_files,
)

ROOT_VARIABLE = "AZIHSM_WYCHEPROOF_ROOT"


def wycheproof_root(config: pytest.Config) -> Path:
    option = config.getoption("--wycheproof-root", default=None)
    return Path(option or os.environ.get(ROOT_VARIABLE) or DEFAULT_WYCHEPROOF_ROOT).expanduser()


def absent_families(root: Path) -> list[str]:
    return [family for family, pattern in WYCHEPROOF_FAMILIES.items() if not any(Path(root).glob(pattern))]


def wycheproof_params(config: pytest.Config, family: str, *, valid: int, invalid: int, accept=None) -> list:
    """Params (one WycheproofCase each) for FAMILY: up to VALID valid and INVALID invalid per file.

    ACCEPT(case) -> bool filters cases the suite cannot drive through the CLI.
    """
    root = wycheproof_root(config)
    try:
        files = wycheproof_files(root, family)
    except VectorsAbsent as exc:
        return [pytest.param(None, id=f"{family}-absent", marks=pytest.mark.skip(reason=str(exc)))]
    params = []
    quick_done: set[str] = set()
    for path in files:
        cases = [case for case in load_wycheproof(path) if accept is None or accept(case)]
        for case in sample(cases, valid=valid, invalid=invalid, seed=path.name):
            marks = []
            if case.result not in quick_done:
                quick_done.add(case.result)
                marks.append(pytest.mark.quick)
            params.append(pytest.param(case, id=case.id, marks=marks))
    return params


def check_verdict(openssl, args: list, *, rejects: bool) -> None:
    """Run ARGS (with PROV) expecting Wycheproof's verdict, if stock OpenSSL agrees with it.

    Verification with a public key file may run in either provider, so a vector that stock
    OpenSSL itself gets "wrong" (e.g. 3.0 accepting an RSA signature with appended zero
    bytes) says nothing about the backend: the same command without PROV is run first and
    the case is skipped, with that command in its record, when its verdict differs.
    """
    from harness.pytest_plugin import PROV  # not at import time: conftest imports this module

    try:
        openssl(*[arg for arg in args if arg is not PROV], expect_fail=rejects)
    except pytest.fail.Exception:
        verdict = "accepts" if rejects else "rejects"
        pytest.skip(f"stock OpenSSL (default provider) also {verdict} this vector: the verdict cannot be attributed to the backend")
    openssl(*args, expect_fail=rejects)
