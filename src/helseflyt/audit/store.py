"""The audit trail's storage boundary: a narrow :class:`AuditStore`, kept apart from the
resource store's Protocol, backed by the same database (tables of ``003_audit.sql``).

:class:`SQLAuditStore` runs on either SQL backend through the store's own transactions
(``store.transaction()``/``store.reader()`` and their ``conn``, the shared
:class:`helseflyt.storage.sql.Connection`), so audit writes share the store's single
SQLite writer and PostgreSQL pool instead of opening connections of their own.

Concurrency invariant: ``append`` reads the chain head and inserts its records in one
write transaction that excludes every other appender: SQLite's write lock (across
processes too); on PostgreSQL a transaction-scoped advisory lock per schema. So ``seq``
is gapless and each record links to the one committed just before it, also with several
server processes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from helseflyt.audit.chain import GENESIS, link
from helseflyt.storage.base import Store

__all__ = ["AuditQuery", "AuditRow", "AuditStore", "NewRecord", "SQLAuditStore", "StoredRecord"]


@dataclass(frozen=True, slots=True)
class NewRecord:
    id: str
    recorded: int  # epoch microseconds
    org: str | None
    review: bool
    body: bytes  # canonical JSON
    patients: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which audit records to read; times in epoch µs (``since`` inclusive, ``until`` exclusive)."""

    patients: tuple[str, ...] | None = None  # records about any of these Patient ids
    since: int | None = None
    until: int | None = None
    review: bool = False  # only records flagged for follow-up
    org: str | None = None  # only records of this organisation (orgnr_parent)
    before: tuple[int, int] | None = None  # keyset paging: (recorded, seq) of the last row seen


@dataclass(frozen=True, slots=True)
class AuditRow:
    recorded: int
    seq: int
    body: bytes


@dataclass(frozen=True, slots=True)
class StoredRecord:
    seq: int
    id: str
    body: bytes
    hash: str


class AuditStore(Protocol):
    def append(self, records: Sequence[NewRecord]) -> list[StoredRecord]:
        """Chain and insert ``records`` in order, atomically."""

    def get(self, id: str) -> bytes | None: ...

    def find(self, query: AuditQuery, limit: int = 100) -> list[AuditRow]:
        """Records newest first (``recorded``, then ``seq``), after ``query.before``."""

    def total(self, query: AuditQuery) -> int:
        """How many records ``query`` selects (``before`` ignored)."""

    def records(self, after_seq: int = 0, limit: int = 1000) -> list[StoredRecord]:
        """The chain in ``seq`` order, from ``after_seq`` + 1."""


_INSERT = "INSERT INTO audit_event (seq, id, recorded, org, review, body, hash) VALUES (?, ?, ?, ?, ?, ?, ?)"
_INSERT_PATIENT = "INSERT INTO audit_patient (patient, recorded, seq) VALUES (?, ?, ?)"
# PostgreSQL: every patient row of a batch in one statement (executemany sends one per row)
_INSERT_PATIENTS_PG = (
    "INSERT INTO audit_patient (patient, recorded, seq) SELECT * FROM unnest(?::text[], ?::int8[], ?::int8[])"
)


class SQLAuditStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.postgres = store.url.startswith(("postgresql://", "postgres://"))
        self._lock_key = f"helseflyt.audit.{getattr(store, 'schema', '')}"

    def append(self, records: Sequence[NewRecord]) -> list[StoredRecord]:
        if not records:
            return []
        with self.store.transaction() as tx:
            conn: Any = tx.conn  # type: ignore[attr-defined]
            if self.postgres:
                conn.query("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (self._lock_key,))
            head = conn.query("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")
            seq, prev = (int(head[0][0]), str(head[0][1])) if head else (0, GENESIS)
            rows, patient_rows, out = [], [], []
            for r in records:
                seq += 1
                prev = link(prev, r.body)
                rows.append((seq, r.id, r.recorded, r.org, int(r.review), r.body, prev))
                patient_rows.extend((p, r.recorded, seq) for p in r.patients)
                out.append(StoredRecord(seq, r.id, r.body, prev))
            conn.executemany(_INSERT, rows)
            if patient_rows and self.postgres:  # one statement: a search page names ~40 patients
                conn.run(_INSERT_PATIENTS_PG, [list(column) for column in zip(*patient_rows, strict=True)])
            elif patient_rows:
                conn.executemany(_INSERT_PATIENT, patient_rows)
        return out

    def _query(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self.store.reader() as r:
            rows: list[tuple[Any, ...]] = r.conn.query(sql, args)  # type: ignore[attr-defined]
            return rows

    def get(self, id: str) -> bytes | None:
        rows = self._query("SELECT body FROM audit_event WHERE id = ?", (id,))
        return bytes(rows[0][0]) if rows else None

    def _where(self, query: AuditQuery, args: list[Any], paged: bool) -> str:
        where: list[str] = []
        if query.patients is not None:
            if not query.patients:
                return " WHERE 1 = 0"
            marks = ", ".join("?" * len(query.patients))
            inner = f"SELECT p.seq FROM audit_patient p WHERE p.patient IN ({marks})"
            args.extend(query.patients)
            for op, value in ((">=", query.since), ("<", query.until)):
                if value is not None:  # narrows the patient index range too
                    inner += f" AND p.recorded {op} ?"
                    args.append(value)
            where.append(f"e.seq IN ({inner})")
        for op, value in ((">=", query.since), ("<", query.until)):
            if value is not None:
                where.append(f"e.recorded {op} ?")
                args.append(value)
        if query.review:
            where.append("e.review = 1")
        if query.org is not None:
            where.append("e.org = ?")
            args.append(query.org)
        if paged and query.before is not None:
            recorded, seq = query.before
            where.append("(e.recorded < ? OR (e.recorded = ? AND e.seq < ?))")
            args += [recorded, recorded, seq]
        return f" WHERE {' AND '.join(where)}" if where else ""

    def find(self, query: AuditQuery, limit: int = 100) -> list[AuditRow]:
        args: list[Any] = []
        clause = self._where(query, args, paged=True)
        sql = (
            f"SELECT e.recorded, e.seq, e.body FROM audit_event e{clause}"
            " ORDER BY e.recorded DESC, e.seq DESC LIMIT ?"
        )
        return [AuditRow(int(r), int(q), bytes(b)) for r, q, b in self._query(sql, [*args, limit])]

    def total(self, query: AuditQuery) -> int:
        args: list[Any] = []
        clause = self._where(query, args, paged=False)
        return int(self._query(f"SELECT count(*) FROM audit_event e{clause}", args)[0][0])

    def records(self, after_seq: int = 0, limit: int = 1000) -> list[StoredRecord]:
        rows = self._query(
            "SELECT seq, id, body, hash FROM audit_event WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [StoredRecord(int(s), str(i), bytes(b), str(h)) for s, i, b, h in rows]

    def count(self) -> int:
        return int(self._query("SELECT count(*) FROM audit_event", ())[0][0])


def iterate(store: AuditStore, batch: int = 5000) -> Iterator[StoredRecord]:
    after = 0
    while True:
        page = store.records(after, batch)
        yield from page
        if len(page) < batch:
            return
        after = page[-1].seq
