"""Wycheproof cases as pytest parameters: a stable sample per file, absent families reported.

Full level: the valid cases and a sample of invalid ones of every file (bounded, so the
count stays sensible); quick level: the first valid and the first invalid case of each
family are marked ``quick``. A family with no files becomes one *inconclusive* case whose
reason names the directory searched and the option that fixes it, and the terminal summary
lists it again, so a partial vectors checkout is visible, never silently smaller.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from azihsm_conformance.fixtures.loaders import (
    DEFAULT_WYCHEPROOF_ROOT,
    WYCHEPROOF_FAMILIES,
    VectorsAbsent,
    WycheproofCase,
    load_wycheproof,
    sample,
    wycheproof_files,
)
from azihsm_conformance.harness.markers import Inconclusive

ROOT_VARIABLE = "AZIHSM_WYCHEPROOF_ROOT"


def wycheproof_root(config: pytest.Config) -> Path:
    option = config.getoption("--azihsm-wycheproof-root", default=None)
    return Path(option or os.environ.get(ROOT_VARIABLE) or DEFAULT_WYCHEPROOF_ROOT).expanduser()


def absent_families(root: Path) -> list[str]:
    return [family for family, pattern in WYCHEPROOF_FAMILIES.items() if not any(Path(root).glob(pattern))]


@functools.cache
def _load(path: Path) -> tuple[WycheproofCase, ...]:
    return tuple(load_wycheproof(path))


def wycheproof_params(config: pytest.Config, family: str, *, valid: int, invalid: int, accept=None) -> list:
    """Params (one WycheproofCase each) for FAMILY: up to VALID valid and INVALID invalid per file.

    ACCEPT(case) -> bool filters cases the suite cannot drive through the CLI.
    """
    root = wycheproof_root(config)
    try:
        files = wycheproof_files(root, family)
    except VectorsAbsent as exc:
        return [pytest.param(None, id=f"{family}-absent", marks=pytest.mark.inconclusive(str(exc)))]
    params = []
    quick_done: set[str] = set()
    for path in files:
        cases = [case for case in _load(path) if accept is None or accept(case)]
        for case in sample(cases, valid=valid, invalid=invalid, seed=path.name):
            marks = []
            if case.result not in quick_done:
                quick_done.add(case.result)
                marks.append(pytest.mark.quick)
            params.append(pytest.param(case, id=case.id, marks=marks))
    return params


def valid_sibling(case: WycheproofCase, root: Path) -> WycheproofCase | None:
    """A valid case of the same test group (same key, same parameters): the positive
    control of an invalid case."""
    for path in Path(root).glob(f"{case.file}.json"):
        for other in _load(path):
            if other.group == case.group and other.result == "valid":
                return other
    return None


def check_verdict(openssl, case: WycheproofCase, root: Path, command_for) -> None:
    """Wycheproof's verdict, from the provider under test.

    COMMAND_FOR(case, prefix) writes a vector's files (names starting with PREFIX) and returns
    its command line. A valid vector must pass, proven by its isolated twin; an invalid one
    must be refused, with a valid vector of the same group as the positive control.
    """
    if case.result == "valid":
        openssl(*command_for(case, "vector"), prove=True)
        return
    control = valid_sibling(case, root)
    if control is None:
        raise Inconclusive(f"no valid case in the group of {case.id} to serve as the positive control")
    openssl.refuses(*command_for(case, "invalid"), control=command_for(control, "valid"), because="verification")
