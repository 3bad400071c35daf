"""Loads the clause catalogue (``fixtures/clauses.toml``, format in docs/suite-api.md).

Besides the clauses, the catalogue defines the named *capabilities* (conformance profiles)
a backend may claim; each clause says which it ``needs`` (a backend lacking one gets *not
applicable*), which spec ``revision`` introduced it (and, for a rule a later revision
replaced, ``until`` which), and which operation classes the
provider under test must be shown to ``perform`` (its positive cases prove it with an
isolated twin, see ``harness.isolation``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from azihsm_conformance.harness.backends import DEFAULT_REVISION, REVISIONS
from azihsm_conformance.harness.errors import UsageError
from azihsm_conformance.harness.isolation import OPERATION_CLASSES
from azihsm_conformance.harness.tomlfile import load_toml
from azihsm_conformance.harness.verdicts import REQUIRED_LEVELS

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "clauses.toml"
LEVELS = ("MUST", "SHOULD", "INFO")
_ID = re.compile(r"^[A-Z0-9]+(-[A-Z0-9]+)*$")
_CAPABILITY = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_CLAUSE_KEYS = {"id", "section", "level", "text", "openssl", "needs", "performs", "revision", "until"}


@dataclass(frozen=True)
class Clause:
    id: str
    section: str
    level: str
    text: str
    openssl: str = ""  # version range where the clause applies as written, e.g. ">=3.0,<3.5"
    needs: tuple[str, ...] = ()  # capabilities a backend must claim
    performs: tuple[str, ...] = ()  # operation classes the provider must be shown to perform
    revision: str = DEFAULT_REVISION
    until: str = ""  # the revision that replaced this rule: it applies to earlier ones only

    @property
    def required(self) -> bool:
        return self.level in REQUIRED_LEVELS

    def applies_to(self, version: tuple[int, int, int]) -> bool:
        """Whether the clause's ``openssl`` range includes VERSION (no range: always)."""
        return not self.openssl or Version(".".join(map(str, version))) in SpecifierSet(self.openssl)


@dataclass(frozen=True)
class Catalogue:
    clauses: dict[str, Clause]
    capabilities: dict[str, str]  # name -> what claiming it means
    path: Path


def load_catalogue(path: Path | str | None = None) -> Catalogue:
    """The catalogue at PATH (default ``fixtures/clauses.toml``)."""
    path = Path(path) if path else DEFAULT_PATH
    data = load_toml(path, "clause catalogue")
    capabilities = {}
    for name, entry in data.get("capability", {}).items():
        if not _CAPABILITY.match(name) or not isinstance(entry, dict) or not entry.get("text"):
            raise UsageError(f"clause catalogue {path}: [capability.{name}] needs a lower-case dashed name and a text")
        capabilities[name] = " ".join(str(entry["text"]).split())
    entries = data.get("clause", [])
    if not isinstance(entries, list):
        raise UsageError(f"clause catalogue {path}: 'clause' must be an array of tables ([[clause]]); fix the file")
    clauses: dict[str, Clause] = {}
    for number, entry in enumerate(entries, start=1):
        clause = _clause(entry, f"clause catalogue {path}, entry {number}", capabilities)
        if clause.id in clauses:
            raise UsageError(
                f"clause catalogue {path}, entry {number}: clause id {clause.id} appears twice; ids must be unique"
            )
        clauses[clause.id] = clause
    return Catalogue(clauses, capabilities, path)


def load_clauses(path: Path | str | None = None) -> dict[str, Clause]:
    """Just the clauses of the catalogue at PATH, keyed by id."""
    return load_catalogue(path).clauses


def _clause(entry: dict, where: str, capabilities: dict[str, str]) -> Clause:
    missing = [key for key in ("id", "section", "level", "text") if not entry.get(key)]
    if missing:
        raise UsageError(f"{where} lacks {', '.join(missing)}; every clause needs id, section, level and text")
    unknown = set(entry) - _CLAUSE_KEYS
    if unknown:
        raise UsageError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; a clause has {', '.join(sorted(_CLAUSE_KEYS))}"
        )
    clause = Clause(
        id=str(entry["id"]),
        section=str(entry["section"]),
        level=str(entry["level"]).upper(),
        text=" ".join(str(entry["text"]).split()),
        openssl=str(entry.get("openssl", "")),
        needs=tuple(entry.get("needs", ())),
        performs=tuple(entry.get("performs", ())),
        revision=str(entry.get("revision", DEFAULT_REVISION)),
        until=str(entry.get("until", "")),
    )
    where = f"{where} ({clause.id})"
    if not _ID.match(clause.id):
        raise UsageError(f"{where}: id must be upper-case words joined by dashes, e.g. SIGN-ECDSA-STREAM")
    if clause.level not in LEVELS:
        raise UsageError(f"{where}: level '{clause.level}' must be one of {', '.join(LEVELS)}")
    if clause.revision not in REVISIONS:
        raise UsageError(f"{where}: revision '{clause.revision}' must be one of {', '.join(REVISIONS)}")
    if clause.until and (
        clause.until not in REVISIONS or REVISIONS.index(clause.until) <= REVISIONS.index(clause.revision)
    ):
        raise UsageError(
            f"{where}: until '{clause.until}' must be a revision after {clause.revision} "
            f"(one of {', '.join(REVISIONS)})"
        )
    strange = [name for name in clause.needs if name not in capabilities]
    if strange:
        raise UsageError(f"{where}: needs unknown capability {', '.join(strange)}; define it under [capability.NAME]")
    strange = [name for name in clause.performs if name not in OPERATION_CLASSES]
    if strange:
        raise UsageError(
            f"{where}: performs unknown operation class {', '.join(strange)}; use {', '.join(OPERATION_CLASSES)}"
        )
    if clause.openssl:
        try:
            SpecifierSet(clause.openssl)
        except InvalidSpecifier:
            raise UsageError(
                f"{where}: openssl range '{clause.openssl}' is not like '>=3.0' or '>=3.0,<3.5'; fix the catalogue"
            ) from None
    return clause
