"""The results store: one SQLite file holding every run and every case of every run.

Writes are transactions (a run row first, then one transaction per finished case, then
the run's end), so a run that is killed leaves the earlier runs intact and itself marked
``incomplete``. The schema is versioned in the ``meta`` table.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from azihsm_conformance.harness import verdicts
from azihsm_conformance.harness.errors import UsageError

SCHEMA_VERSION = 3
DEFAULT_FILENAME = "results.sqlite"

# run statuses: a run is "incomplete" until it finishes (and stays so when killed);
# "aborted" when pytest stopped on a usage or internal error
INCOMPLETE, COMPLETE, INTERRUPTED, ABORTED = "incomplete", "complete", "interrupted", "aborted"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    exit_status INTEGER,
    backend TEXT NOT NULL,
    backend_source TEXT NOT NULL,
    provider_dir TEXT NOT NULL,
    provider_name TEXT NOT NULL,
    provider_version TEXT NOT NULL,
    provider_buildinfo TEXT NOT NULL,
    openssl_version TEXT NOT NULL,
    openssl_version_text TEXT NOT NULL,
    openssl_path TEXT NOT NULL,
    level TEXT NOT NULL,
    host TEXT NOT NULL,
    project_version TEXT NOT NULL,
    command TEXT NOT NULL,
    revision TEXT NOT NULL DEFAULT '',
    capabilities TEXT NOT NULL DEFAULT '',
    identity TEXT NOT NULL DEFAULT ''
);
CREATE TABLE cases (
    run_id TEXT NOT NULL REFERENCES runs(id),
    case_id TEXT NOT NULL,
    clause_id TEXT NOT NULL,
    clause_level TEXT NOT NULL,
    params TEXT NOT NULL,
    outcome TEXT NOT NULL,
    duration REAL NOT NULL,
    message TEXT NOT NULL,
    stderr_excerpt TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    performed_by TEXT NOT NULL DEFAULT '',
    evidence TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (run_id, case_id)
);
CREATE TABLE commands (
    run_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    command_line TEXT NOT NULL,
    returncode INTEGER,
    outcome TEXT NOT NULL,
    duration REAL NOT NULL,
    stderr TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'step',
    PRIMARY KEY (run_id, case_id, seq),
    FOREIGN KEY (run_id, case_id) REFERENCES cases(run_id, case_id)
);
CREATE INDEX cases_by_clause ON cases(run_id, clause_id);
"""
# schema 1 -> 2: the verdict model (who performed each case, its evidence, command roles)
_MIGRATIONS = {
    1: (
        "ALTER TABLE runs ADD COLUMN revision TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE runs ADD COLUMN capabilities TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE cases ADD COLUMN performed_by TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE cases ADD COLUMN evidence TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE commands ADD COLUMN role TEXT NOT NULL DEFAULT 'step'",
    ),
    # schema 2 -> 3: what the backend's identity command printed
    2: ("ALTER TABLE runs ADD COLUMN identity TEXT NOT NULL DEFAULT ''",),
}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class RunRecord:
    backend: str
    openssl_version: str
    id: str = ""
    started_at: str = ""
    finished_at: str | None = None
    status: str = INCOMPLETE
    exit_status: int | None = None
    backend_source: str = ""
    provider_dir: str = ""
    provider_name: str = ""
    provider_version: str = ""
    provider_buildinfo: str = ""
    openssl_version_text: str = ""
    openssl_path: str = ""
    level: str = "full"
    host: str = ""
    project_version: str = ""
    command: str = ""
    revision: str = ""
    capabilities: str = ""
    identity: str = ""  # what the backend's identity command printed (firmware, serial...)
    # not stored: reports set it when runs of one backend and version come from several hosts
    show_host: bool = field(default=False, compare=False)

    @property
    def host_name(self) -> str:
        return self.host.split(" (")[0]

    @property
    def series(self) -> tuple[str, str, str]:
        """Runs that follow one another: same backend, OpenSSL version and host."""
        return (self.backend, self.openssl_version, self.host_name)

    @property
    def column(self) -> str:
        """The report column this run belongs to: backend and OpenSSL version (and host,
        when a report holds the same pair from several hosts)."""
        label = f"{self.backend} / OpenSSL {self.openssl_version}"
        return f"{label} @ {self.host_name}" if self.show_host else label

    def to_record(self) -> dict:
        """The stored fields (what the runs table holds)."""
        values = asdict(self)
        values.pop("show_host")
        return values


@dataclass
class CommandRecord:
    command_line: str
    returncode: int | None
    outcome: str
    duration: float
    stderr: str = ""
    role: str = "step"  # step | prerequisite | control | refusal | twin


@dataclass
class CaseRecord:
    case_id: str
    clause_id: str
    outcome: str
    clause_level: str = ""
    params: dict = field(default_factory=dict)
    duration: float = 0.0
    message: str = ""
    stderr_excerpt: str = ""
    performed_by: str = ""  # the provider shown to have done the work ('' = not shown)
    evidence: list[str] = field(default_factory=list)
    commands: list[CommandRecord] = field(default_factory=list)

    @property
    def category(self) -> str:
        return verdicts.category(self.outcome, self.clause_level)


def _looks_like_sqlite(path: Path) -> bool:
    """Whether PATH starts like an SQLite database (a damaged one is worth recovering)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


class ResultsStore:
    """One results database. ``create=False`` opens an existing file for reading."""

    def __init__(self, path: Path | str, *, create: bool = True):
        self.path = Path(path).absolute()
        if not create and not self.path.is_file():
            raise UsageError(
                f"no results database at {self.path}; run 'azihsm-conformance run' first or pass --results FILE"
            )
        if create:
            self._make_parent()
        try:
            self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA foreign_keys = ON")
            self._check_or_create(create)
        except sqlite3.DatabaseError as exc:
            self._fail(exc)

    # -- opening -------------------------------------------------------------------------

    def _make_parent(self) -> None:
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"cannot create results directory {parent}: {exc.strerror}; choose a writable output directory "
                "(--out DIR, or --results FILE where the command has it)"
            ) from None
        if self.path.is_dir():
            raise UsageError(
                f"results path {self.path} is a directory; pass --results with a file name such as {self.path / DEFAULT_FILENAME}"
            )
        if not os.access(parent, os.W_OK) or (self.path.exists() and not os.access(self.path, os.W_OK)):
            raise UsageError(f"results path {self.path} is not writable; pass --results with a writable path")

    def _check_or_create(self, create: bool) -> None:
        tables = {row[0] for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            if not create:
                raise UsageError(f"{self.path} holds no results yet; run 'azihsm-conformance run' first")
            with self._transaction():
                # statement by statement: executescript would commit the open transaction
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    self.conn.execute(statement)
                self.conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            return
        if "meta" not in tables or "runs" not in tables:  # an SQLite file of something else
            raise UsageError(
                f"{self.path} is an SQLite file but not an azihsm-conformance results database; "
                "pass --results with another file name"
            )
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise UsageError(
                f"results database {self.path} has schema version {version}, newer than this "
                f"azihsm-conformance ({SCHEMA_VERSION}); upgrade azihsm-conformance or pass --results with another file"
            )
        if version < SCHEMA_VERSION:
            self._migrate(version)
        check = self.conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(check)

    def _migrate(self, version: int) -> None:
        """Bring an older database up to this schema in one transaction (additive changes only)."""
        if version not in _MIGRATIONS:
            raise UsageError(
                f"results database {self.path} has unknown schema version {version}; move it aside or pass --results with another file"
            )
        try:
            with self._transaction():
                while version < SCHEMA_VERSION:
                    for statement in _MIGRATIONS[version]:
                        self.conn.execute(statement)
                    version += 1
                self.conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
        except sqlite3.OperationalError as exc:
            raise UsageError(
                f"cannot upgrade results database {self.path} to schema {SCHEMA_VERSION} ({exc}); "
                "pass --results with a writable or new file"
            ) from None

    def _fail(self, exc: sqlite3.Error):
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "file is not a database" in message and not _looks_like_sqlite(self.path):
            raise UsageError(
                f"{self.path} is not an azihsm-conformance results database (not an SQLite file at all); "
                "pass --results with a results.sqlite"
            ) from None
        if "readonly" in message or "unable to open" in message:
            raise UsageError(
                f"cannot write results database {self.path} ({message}); pass --results with a writable path"
            ) from None
        raise UsageError(
            f"results database {self.path} is corrupt ({message}); move it aside (earlier runs "
            "may be recoverable with sqlite3 .recover) or pass --results with a new file"
        ) from None

    @contextmanager
    def _transaction(self):
        """All or nothing; IMMEDIATE takes the write lock up front, so two runs writing
        one database wait for each other (up to the 30 s timeout) instead of failing."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- writing -------------------------------------------------------------------------

    def begin_run(self, run: RunRecord) -> str:
        run.id = run.id or new_run_id()
        run.started_at = run.started_at or now()
        run.status = INCOMPLETE
        values = run.to_record()
        columns = ", ".join(values)
        placeholders = ", ".join(f":{name}" for name in values)
        try:
            with self._transaction():
                self.conn.execute(f"INSERT INTO runs ({columns}) VALUES ({placeholders})", values)
        except sqlite3.Error as exc:
            self._fail(exc)
        return run.id

    def record_case(self, run_id: str, case: CaseRecord) -> None:
        """Store one finished case (replacing an earlier record of the same case id)."""
        try:
            with self._transaction():
                self.conn.execute("DELETE FROM commands WHERE run_id=? AND case_id=?", (run_id, case.case_id))
                self.conn.execute(
                    "INSERT OR REPLACE INTO cases (run_id, case_id, clause_id, clause_level, params, outcome, duration, "
                    "message, stderr_excerpt, recorded_at, performed_by, evidence) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        run_id,
                        case.case_id,
                        case.clause_id,
                        case.clause_level,
                        json.dumps(case.params, sort_keys=True, default=repr),
                        case.outcome,
                        case.duration,
                        case.message,
                        case.stderr_excerpt,
                        now(),
                        case.performed_by,
                        json.dumps(case.evidence),
                    ),
                )
                self.conn.executemany(
                    "INSERT INTO commands (run_id, case_id, seq, command_line, returncode, outcome, duration, stderr, role) "
                    "VALUES (?,?,?,?,?,?,?,?,?)",
                    [
                        (
                            run_id,
                            case.case_id,
                            seq,
                            c.command_line,
                            c.returncode,
                            c.outcome,
                            c.duration,
                            c.stderr,
                            c.role,
                        )
                        for seq, c in enumerate(case.commands, start=1)
                    ],
                )
        except sqlite3.Error as exc:
            self._fail(exc)

    def finish_run(self, run_id: str, status: str, exit_status: int | None) -> None:
        try:
            with self._transaction():
                self.conn.execute(
                    "UPDATE runs SET finished_at=?, status=?, exit_status=? WHERE id=?",
                    (now(), status, exit_status, run_id),
                )
        except sqlite3.Error as exc:
            self._fail(exc)

    # -- reading -------------------------------------------------------------------------

    def runs(self) -> list[RunRecord]:
        """Every run, oldest first."""
        rows = self.conn.execute("SELECT * FROM runs ORDER BY started_at, id").fetchall()
        return [RunRecord(**dict(row)) for row in rows]

    def commands_of(self, run_id: str) -> list[tuple]:
        return self.conn.execute("SELECT * FROM commands WHERE run_id=? ORDER BY case_id, seq", (run_id,)).fetchall()

    def import_run(self, source: ResultsStore, run_id: str) -> bool:
        """Copy run RUN_ID from SOURCE (its row, cases, commands) in one transaction.
        Returns False when this store already holds the identical run; a different run under
        the same id is refused (a UsageError naming both files)."""
        [run] = [r for r in source.runs() if r.id == run_id]
        mine = [r for r in self.runs() if r.id == run_id]
        if mine:
            if self._digest(run_id) == source._digest(run_id):
                return False
            raise UsageError(
                f"run {run_id} is in both {source.path} and {self.path} with different content; "
                "merge into another file, or drop one of them (run ids are unique per run)"
            )
        cases = source.conn.execute("SELECT * FROM cases WHERE run_id=?", (run_id,)).fetchall()
        commands = source.commands_of(run_id)
        values = run.to_record()
        try:
            with self._transaction():
                self.conn.execute(
                    f"INSERT INTO runs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                    list(values.values()),
                )
                for table, rows in (("cases", cases), ("commands", commands)):
                    for row in rows:
                        names = row.keys()
                        self.conn.execute(
                            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                            tuple(row),
                        )
        except sqlite3.Error as exc:
            self._fail(exc)
        return True

    def _digest(self, run_id: str) -> str:
        """A fingerprint of everything stored about one run."""
        import hashlib

        digest = hashlib.sha256()
        for query in (
            "SELECT * FROM runs WHERE id=?",
            "SELECT * FROM cases WHERE run_id=? ORDER BY case_id",
            "SELECT * FROM commands WHERE run_id=? ORDER BY case_id, seq",
        ):
            for row in self.conn.execute(query, (run_id,)):
                digest.update(
                    json.dumps(
                        {key: row[key] for key in row.keys() if key != "recorded_at"}, sort_keys=True, default=str
                    ).encode()
                )
        return digest.hexdigest()

    def get_run(self, ref: str) -> RunRecord:
        """A run by id, unique id prefix, ``latest`` or ``latest~N`` (N runs before it)."""
        runs = self.runs()
        if not runs:
            raise UsageError(f"results database {self.path} has no runs yet; run 'azihsm-conformance run' first")
        if ref == "latest" or ref.startswith("latest~"):
            back = ref.partition("~")[2]
            if back and not back.isdigit():
                raise UsageError(f"run reference '{ref}' is not like latest~2; use a run id, 'latest' or 'latest~N'")
            index = len(runs) - 1 - int(back or 0)
            if index < 0:
                raise UsageError(f"{ref}: the database holds only {len(runs)} run(s)")
            return runs[index]
        matches = [run for run in runs if run.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UsageError(f"no run '{ref}' in {self.path}; 'azihsm-conformance report --list' shows the run ids")
        raise UsageError(f"run prefix '{ref}' matches {len(matches)} runs; give more characters of the id")

    def cases(self, run_id: str) -> list[CaseRecord]:
        commands: dict[str, list[CommandRecord]] = {}
        for row in self.conn.execute("SELECT * FROM commands WHERE run_id=? ORDER BY case_id, seq", (run_id,)):
            commands.setdefault(row["case_id"], []).append(
                CommandRecord(
                    row["command_line"], row["returncode"], row["outcome"], row["duration"], row["stderr"], row["role"]
                )
            )
        return [
            CaseRecord(
                case_id=row["case_id"],
                clause_id=row["clause_id"],
                outcome=row["outcome"],
                clause_level=row["clause_level"],
                params=json.loads(row["params"]),
                duration=row["duration"],
                message=row["message"],
                stderr_excerpt=row["stderr_excerpt"],
                performed_by=row["performed_by"],
                evidence=json.loads(row["evidence"]),
                commands=commands.get(row["case_id"], []),
            )
            for row in self.conn.execute("SELECT * FROM cases WHERE run_id=? ORDER BY clause_id, case_id", (run_id,))
        ]
