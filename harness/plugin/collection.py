"""Collection: one clause per case, the level's selection, what does not apply to the
backend, and what the backend declares it gets wrong."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.markers import Inconclusive, NotApplicable
from azihsm_conformance.harness.plugin.target import STATE, HarnessState, active

CASE_PROPERTY = "azihsm.case"


@dataclass(frozen=True)
class CaseInfo:
    """What the plugin knows about a case before it runs (kept in the item's stash)."""

    case_id: str
    clause: str
    level: str
    params: dict
    deviation: str  # the backend's declared deviation reason, or ''
    not_applicable: str  # why the case does not apply to this backend, or ''

    def to_property(self) -> dict:
        return {
            "case_id": self.case_id,
            "clause": self.clause,
            "level": self.level,
            "params": self.params,
            "deviation": self.deviation,
        }


CASE = pytest.StashKey[CaseInfo]()


def clause_of(item: pytest.Item) -> str:
    marks = list(item.iter_markers("clause"))
    if len(marks) != 1 or len(marks[0].args) != 1 or not isinstance(marks[0].args[0], str):
        found = "no clause marker" if not marks else f"{len(marks)} clause markers"
        raise UsageError(
            f'{item.nodeid}: {found}; every conformance case needs exactly one @pytest.mark.clause("CLAUSE-ID")'
        )
    return marks[0].args[0]


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not active(config):
        return
    state = config.stash[STATE]
    try:
        clause_ids = {item.nodeid: clause_of(item) for item in items}
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    unknown = sorted({cid for cid in clause_ids.values() if cid not in state.clauses})
    if unknown:
        raise pytest.UsageError(
            f"clause id(s) {', '.join(unknown)} are not in {state.catalogue.path}; add them to the catalogue or fix the marker"
        )
    keep, dropped = select_level(items, clause_ids, state.level)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    for item in items:
        info = case_info(item, clause_ids[item.nodeid], state)
        item.stash[CASE] = info
        item.user_properties.append((CASE_PROPERTY, info.to_property()))


def select_level(items, clause_ids, level):
    """hostile: the hostile-input campaign alone (cases marked @pytest.mark.hostile); full:
    everything else; quick: no slow cases, and per clause the cases marked
    @pytest.mark.quick, or the first collected case when none is marked."""
    if level == "hostile":
        keep = [item for item in items if item.get_closest_marker("hostile") is not None]
        return keep, [item for item in items if item.get_closest_marker("hostile") is None]
    items, campaign = (
        [item for item in items if item.get_closest_marker("hostile") is None],
        [item for item in items if item.get_closest_marker("hostile") is not None],
    )
    if level == "full":
        return items, campaign
    candidates = [item for item in items if item.get_closest_marker("slow") is None]
    marked = {clause_ids[item.nodeid] for item in candidates if item.get_closest_marker("quick")}
    chosen, seen = set(), set()
    for item in candidates:
        clause = clause_ids[item.nodeid]
        if clause in marked:
            if item.get_closest_marker("quick"):
                chosen.add(item.nodeid)
        elif clause not in seen:
            chosen.add(item.nodeid)
        seen.add(clause)
    keep = [item for item in items if item.nodeid in chosen]
    return keep, [item for item in items if item.nodeid not in chosen] + campaign


def case_info(item: pytest.Item, clause_id: str, state: HarnessState) -> CaseInfo:
    clause = state.clauses[clause_id]
    deviation = state.backend.deviations.get(clause_id)
    return CaseInfo(
        case_id=stable_case_id(Path(item.path), item.nodeid),
        clause=clause_id,
        level=clause.level,
        params=_params(item),
        deviation=deviation.reason if deviation else "",
        not_applicable=not_applicable_reason(clause, state),
    )


def not_applicable_reason(clause, state: HarnessState) -> str:
    """Why CLAUSE does not apply to the backend and OpenSSL under test ('' when it does)."""
    backend = state.backend
    if not backend.claims_revision(clause.revision):
        return f"clause {clause.id} belongs to spec revision {clause.revision}; backend {backend.name} claims {backend.revision}"
    if clause.until and backend.claims_revision(clause.until):
        return (
            f"clause {clause.id} is the rule of spec revisions before {clause.until}, which replaced it; "
            f"backend {backend.name} claims {backend.revision}"
        )
    missing = [name for name in clause.needs if not backend.has_capability(name)]
    if missing:
        return f"backend {backend.name} does not claim {', '.join(missing)} (clause {clause.id} needs it)"
    if not clause.applies_to(state.install.version):
        return f"clause {clause.id} applies to OpenSSL {clause.openssl}, not {state.install.version_string}"
    return ""


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    info = item.stash.get(CASE, None)
    if info is None:
        return
    if info.not_applicable:
        raise NotApplicable(info.not_applicable)
    mark = item.get_closest_marker("inconclusive")
    if mark is not None:
        raise Inconclusive(str(mark.args[0]) if mark.args else "the suite cannot decide this case")


def _params(item: pytest.Item) -> dict:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return {}
    params = {
        name: value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        for name, value in callspec.params.items()
    }
    params["id"] = callspec.id
    return params


def stable_case_id(path: Path, nodeid: str) -> str:
    """The case's id without the part that depends on where the suite lives or which
    rootdir pytest picked: ``conformance/test_sign.py::test_ecdsa[P384]`` from a checkout
    and from site-packages both become ``test_sign.py::test_ecdsa[P384]``."""
    parts = path.parts
    if "conformance" in parts:
        relative = "/".join(parts[len(parts) - parts[::-1].index("conformance") :])
    else:
        relative = path.name
    _, sep, rest = nodeid.partition("::")
    return relative + sep + rest
