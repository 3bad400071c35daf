"""Loads the clause catalogue (``fixtures/clauses.toml``, format in docs/suite-api.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError
from harness.tomlfile import load_toml

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "clauses.toml"
LEVELS = ("MUST", "SHOULD", "INFO")
# MUST and SHOULD failures make a run fail; INFO cases only record what a backend does
REQUIRED_LEVELS = ("MUST", "SHOULD")
_ID = re.compile(r"^[A-Z0-9]+(-[A-Z0-9]+)*$")
_RANGE = re.compile(r"^\s*(>=|<=|>|<|==)\s*(\d+(?:\.\d+){0,2})\s*$")


@dataclass(frozen=True)
class Clause:
    id: str
    section: str
    level: str
    text: str
    openssl: str = ""  # version range where the clause applies as written, e.g. ">=3.0,<3.5"

    @property
    def required(self) -> bool:
        return self.level in REQUIRED_LEVELS

    def applies_to(self, version: tuple[int, int, int]) -> bool:
        """Whether the clause's ``openssl`` range includes VERSION (no range: always)."""
        return all(_compare(version, op, bound) for op, bound in _parse_range(self.openssl, self.id))


def load_clauses(path: Path | str | None = None) -> dict[str, Clause]:
    """The catalogue at PATH (default ``fixtures/clauses.toml``), keyed by clause id."""
    path = Path(path) if path else DEFAULT_PATH
    data = load_toml(path, "clause catalogue")
    entries = data.get("clause", [])
    if not isinstance(entries, list):
        raise UsageError(f"clause catalogue {path}: 'clause' must be an array of tables ([[clause]]); fix the file")
    clauses: dict[str, Clause] = {}
    for number, entry in enumerate(entries, start=1):
        where = f"clause catalogue {path}, entry {number}"
        missing = [key for key in ("id", "section", "level", "text") if not entry.get(key)]
        if missing:
            raise UsageError(f"{where} lacks {', '.join(missing)}; every clause needs id, section, level and text")
        clause = Clause(
            id=str(entry["id"]),
            section=str(entry["section"]),
            level=str(entry["level"]).upper(),
            text=" ".join(str(entry["text"]).split()),
            openssl=str(entry.get("openssl", "")),
        )
        if not _ID.match(clause.id):
            raise UsageError(f"{where}: id '{clause.id}' must be upper-case words joined by dashes, e.g. SIGN-ECDSA-STREAM")
        if clause.level not in LEVELS:
            raise UsageError(f"{where} ({clause.id}): level '{clause.level}' must be one of {', '.join(LEVELS)}")
        if clause.id in clauses:
            raise UsageError(f"{where}: clause id {clause.id} appears twice; ids must be unique")
        _parse_range(clause.openssl, clause.id)  # reject a bad range at load time
        clauses[clause.id] = clause
    return clauses


def _parse_range(spec: str, clause_id: str) -> list[tuple[str, tuple[int, ...]]]:
    bounds = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        match = _RANGE.match(part)
        if not match:
            raise UsageError(f"clause {clause_id}: openssl range '{spec}' is not like '>=3.0' or '>=3.0,<3.5'; fix the catalogue")
        bounds.append((match.group(1), tuple(int(x) for x in match.group(2).split("."))))
    return bounds


def _compare(version: tuple[int, int, int], op: str, bound: tuple[int, ...]) -> bool:
    have = version[: len(bound)]
    return {
        ">=": have >= bound,
        "<=": have <= bound,
        ">": have > bound,
        "<": have < bound,
        "==": have == bound,
    }[op]
