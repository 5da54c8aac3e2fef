"""SQLite store: WAL, one writer, many readers.

Concurrency invariants: all writes go through one connection guarded by a lock and run
in ``BEGIN IMMEDIATE`` transactions, so writers are serialised (``for_update`` is
implicit) and a crash mid-transaction leaves nothing behind (SQLite's journal). Readers
use one connection per thread; in WAL mode each read transaction sees a consistent
snapshot and never blocks the writer.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from helseflyt.storage.base import (
    HistoryQuery,
    Indexer,
    ResourceVersion,
    StorageError,
    TokenCriterion,
)
from helseflyt.storage.common import (
    Clock,
    from_micros,
    migrations,
    stamp,
    statements,
    to_micros,
    utc_now,
)

_ROW = "h.seq, h.res_type, h.res_id, h.version, h.last_updated, h.deleted, h.body"


def _version(row: tuple[Any, ...]) -> ResourceVersion:
    seq, res_type, res_id, version, micros, deleted, body = row
    return ResourceVersion(res_type, res_id, version, from_micros(micros), bool(deleted), body, seq)


def _path_of(url: str) -> str:
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a SQLite URL (expected sqlite:///path.db): {url}")
    return url[len("sqlite:///") :]


class _Reader:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def read(self, type: str, id: str) -> ResourceVersion | None:
        row = self.conn.execute(
            f"SELECT {_ROW} FROM resource_current c JOIN resource_history h ON h.seq = c.seq"
            " WHERE c.res_type = ? AND c.res_id = ?",
            (type, id),
        ).fetchone()
        return _version(row) if row else None

    def vread(self, type: str, id: str, version: int) -> ResourceVersion | None:
        row = self.conn.execute(
            f"SELECT {_ROW} FROM resource_history h WHERE h.res_type = ? AND h.res_id = ? AND h.version = ?",
            (type, id, version),
        ).fetchone()
        return _version(row) if row else None

    def _history_where(self, q: HistoryQuery) -> tuple[str, list[Any]]:
        where, args = [], []
        if q.type is not None:
            where.append("h.res_type = ?")
            args.append(q.type)
        if q.id is not None:
            where.append("h.res_id = ?")
            args.append(q.id)
        if q.since is not None:
            where.append("h.last_updated >= ?")
            args.append(to_micros(q.since))
        if q.at is not None:
            at = to_micros(q.at)
            where.append(
                "h.last_updated <= ? AND NOT EXISTS (SELECT 1 FROM resource_history n"
                " WHERE n.res_type = h.res_type AND n.res_id = h.res_id"
                " AND n.version > h.version AND n.last_updated <= ?)"
            )
            args += [at, at]
        return (" WHERE " + " AND ".join(where)) if where else "", args

    def history(self, query: HistoryQuery) -> list[ResourceVersion]:
        where, args = self._history_where(query)
        if query.before_seq is not None:
            where += (" AND " if where else " WHERE ") + "h.seq < ?"
            args.append(query.before_seq)
        rows = self.conn.execute(
            f"SELECT {_ROW} FROM resource_history h{where} ORDER BY h.seq DESC LIMIT ?",
            [*args, query.count],
        ).fetchall()
        return [_version(r) for r in rows]

    def history_count(self, query: HistoryQuery) -> int:
        where, args = self._history_where(query)
        return self.conn.execute(f"SELECT count(*) FROM resource_history h{where}", args).fetchone()[0]

    def find(
        self,
        type: str,
        *,
        ids: Sequence[str] | None = None,
        tokens: Sequence[Sequence[TokenCriterion]] = (),
        limit: int | None = None,
    ) -> list[str]:
        sql = ["SELECT c.res_id FROM resource_current c WHERE c.res_type = ? AND c.deleted = 0"]
        args: list[Any] = [type]
        if ids is not None:
            if not ids:
                return []
            sql.append(f"AND c.res_id IN ({','.join('?' * len(ids))})")
            args += ids
        for group in tokens:
            ors = []
            for crit in group:
                cond = ["t.param = ?"]
                args.append(crit.param)
                if crit.value is not None:
                    cond.append("t.value = ?")
                    args.append(crit.value)
                if crit.system == "":
                    cond.append("t.system IS NULL")
                elif crit.system is not None:
                    cond.append("t.system = ?")
                    args.append(crit.system)
                ors.append("(" + " AND ".join(cond) + ")")
            sql.append(
                "AND EXISTS (SELECT 1 FROM token_index t WHERE t.res_type = c.res_type"
                f" AND t.res_id = c.res_id AND ({' OR '.join(ors)}))"
            )
        sql.append("ORDER BY c.res_id")
        if limit is not None:
            sql.append("LIMIT ?")
            args.append(limit)
        return [r[0] for r in self.conn.execute(" ".join(sql), args)]


class _Transaction(_Reader):
    def __init__(self, conn: sqlite3.Connection, indexer: Indexer | None, clock: Clock) -> None:
        super().__init__(conn)
        self.indexer = indexer
        self.clock = clock

    def current(self, type: str, id: str, *, for_update: bool = False) -> ResourceVersion | None:
        return self.read(type, id)  # the single writer holds the database lock already

    def put(self, type: str, id: str, resource: dict[str, Any]) -> ResourceVersion:
        return self.put_many([(type, id, resource)])[0]

    def _versions(self, items: Sequence[tuple[str, str, Any]]) -> dict[tuple[str, str], int]:
        found: dict[tuple[str, str], int] = {}
        by_type: dict[str, list[str]] = {}
        for t, i, _ in items:
            by_type.setdefault(t, []).append(i)
        for t, ids in by_type.items():
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = self.conn.execute(
                    "SELECT res_id, version FROM resource_current WHERE res_type = ?"
                    f" AND res_id IN ({','.join('?' * len(chunk))})",
                    [t, *chunk],
                )
                found.update(((t, rid), v) for rid, v in rows)
        return found

    def put_many(self, items: Sequence[tuple[str, str, dict[str, Any]]]) -> list[ResourceVersion]:
        micros = to_micros(self.clock())
        known = self._versions(items)
        out: list[ResourceVersion] = []
        seen: dict[tuple[str, str], int] = {}
        for res_type, res_id, resource in items:
            key = (res_type, res_id)
            version = seen.get(key, known.get(key, 0)) + 1
            seen[key] = version
            body = stamp(res_id, resource, version, micros)
            cur = self.conn.execute(
                "INSERT INTO resource_history (res_type, res_id, version, last_updated, deleted, body)"
                " VALUES (?, ?, ?, ?, 0, ?)",
                (res_type, res_id, version, micros, body),
            )
            seq = cur.lastrowid
            self.conn.execute(
                "INSERT INTO resource_current (res_type, res_id, version, last_updated, deleted, seq)"
                " VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (res_type, res_id) DO UPDATE SET"
                " version = excluded.version, last_updated = excluded.last_updated,"
                " deleted = 0, seq = excluded.seq",
                (res_type, res_id, version, micros, seq),
            )
            if version > 1:
                self.conn.execute("DELETE FROM token_index WHERE res_type = ? AND res_id = ?", key)
            if self.indexer is not None:
                rows = [
                    (res_type, res_id, e.param, e.system, e.value) for e in self.indexer(res_type, resource)
                ]
                if rows:
                    self.conn.executemany(
                        "INSERT INTO token_index (res_type, res_id, param, system, value)"
                        " VALUES (?, ?, ?, ?, ?)",
                        rows,
                    )
            out.append(ResourceVersion(res_type, res_id, version, from_micros(micros), False, body, seq or 0))
        return out

    def delete(self, type: str, id: str) -> ResourceVersion | None:
        cur = self.current(type, id)
        if cur is None or cur.deleted:
            return None
        micros = to_micros(self.clock())
        version = cur.version + 1
        seq = self.conn.execute(
            "INSERT INTO resource_history (res_type, res_id, version, last_updated, deleted, body)"
            " VALUES (?, ?, ?, ?, 1, NULL)",
            (type, id, version, micros),
        ).lastrowid
        self.conn.execute(
            "UPDATE resource_current SET version = ?, last_updated = ?, deleted = 1, seq = ?"
            " WHERE res_type = ? AND res_id = ?",
            (version, micros, seq, type, id),
        )
        self.conn.execute("DELETE FROM token_index WHERE res_type = ? AND res_id = ?", (type, id))
        return ResourceVersion(type, id, version, from_micros(micros), True, None, seq or 0)


class SQLiteStore:
    """``sqlite:///path.db``; the folder is created if missing."""

    def __init__(self, url: str, *, indexer: Indexer | None = None, clock: Clock = utc_now) -> None:
        self.url = url
        self.path = _path_of(url)
        self.indexer = indexer
        self.clock = clock
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._writer = self._connect()
        self._migrate()

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = OFF")
            conn.execute("PRAGMA cache_size = -65536")
            conn.execute("PRAGMA temp_store = MEMORY")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite database {self.path}: {exc}") from exc
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _migrate(self) -> None:
        conn = self._writer
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations"
                    " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
                )
                done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
                for version, sql in migrations("helseflyt.storage.sqlite"):
                    if version in done:
                        continue
                    for statement in statements(sql):
                        conn.execute(statement)
                    conn.execute("INSERT INTO schema_migrations VALUES (?, datetime('now'))", (version,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        row = self._writer.execute("SELECT max(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def _read_conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    @contextmanager
    def reader(self) -> Iterator[_Reader]:
        conn = self._read_conn()
        try:
            conn.execute("BEGIN")
            try:
                yield _Reader(conn)
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite read failed: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[_Transaction]:
        with self._write_lock:
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageError(f"SQLite write failed: {exc}") from exc
            try:
                yield _Transaction(conn, self.indexer, self.clock)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise StorageError(f"SQLite commit failed: {exc}") from exc

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
