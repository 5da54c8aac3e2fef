"""SQLite store: WAL, one writer, many readers.

Concurrency invariants: all writes go through one connection guarded by a lock and run
in ``BEGIN IMMEDIATE`` transactions, so writers are serialised (``for_update`` is
implicit) and a crash mid-transaction leaves nothing behind (SQLite's journal). Readers
borrow one of at most ``_READERS`` connections (more did not run faster on 2 cores,
and each holds its own page cache: one per server thread took 1.2 GB resident under 16
clients); in WAL mode each read transaction sees a consistent snapshot and never blocks
the writer.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from helseflyt.storage.base import Indexer, StorageError
from helseflyt.storage.bulk import deferring, restore_on_open
from helseflyt.storage.common import Clock, announce, migrations, statements, utc_now
from helseflyt.storage.sql import INDEX_TABLES, SQLReader, SQLWriter
from helseflyt.storage.sql_search import SQLITE

# WAL pages between automatic checkpoints (SQLite's default is 1,000). A checkpoint
# copies the WAL's pages into the database and syncs both; fewer, larger checkpoints
# copy a page that several transactions changed once instead of each time (REST
# transactions on SQLite: -40% commit time). The price is the power-loss window of
# synchronous = NORMAL: up to this many pages of recent commits (docs/storage.md).
_CHECKPOINT = 5000  # 40 MB of 8 KiB pages
_BULK_CHECKPOINT = 10000  # during bulk(): 80 MB
_READERS = 4  # read connections at most; a reader waits for a free one
_CACHE_KIB = 65536  # page cache of the writer
_READ_CACHE_KIB = 8192  # of each read connection (the OS caches the file as well)


class _Conn:
    """The shared SQL's :class:`~helseflyt.storage.sql.Connection` over sqlite3."""

    dialect = SQLITE

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.raw = conn

    def query(self, sql: str, args: Sequence[Any] = (), *, cached_plan: bool = True) -> list[tuple[Any, ...]]:
        try:
            return self.raw.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite query failed: {exc}") from exc

    def run(self, sql: str, args: Sequence[Any] = ()) -> None:
        try:
            self.raw.execute(sql, args)
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite write failed: {exc}") from exc

    def probe(self, sql: str, args: Sequence[Any] = ()) -> Callable[[], list[tuple[Any, ...]]]:
        """``sql``'s rows in this session's snapshot (read now: in-process, no round trip)."""
        rows = self.query(sql, args)
        return lambda: rows

    def executemany(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        try:
            self.raw.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite write failed: {exc}") from exc

    def in_list(self, values: Sequence[str]) -> tuple[str, Any]:
        return "IN (SELECT value FROM json_each(?))", json.dumps(list(values))


class _Transaction(SQLWriter):
    """Runs under ``BEGIN IMMEDIATE`` on the single writer: ``for_update`` is implicit."""

    def _next_seqs(self, n: int) -> list[int]:
        # Safe: the writer holds SQLite's write lock, across processes too.
        top = self.conn.query("SELECT coalesce(max(seq), 0) FROM resource_history")[0][0]
        return list(range(top + 1, top + 1 + n))

    def _index_definitions(self) -> list[tuple[Any, ...]]:
        member, tables = self.conn.in_list(INDEX_TABLES)
        return self.conn.query(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            f" AND sql NOT LIKE 'CREATE UNIQUE%' AND tbl_name {member} ORDER BY name",
            (tables,),
        )


def _enable_wal(conn: sqlite3.Connection, attempts: int = 200) -> None:
    """``journal_mode = WAL``, retried: when several processes or threads open a new
    database together, the switch can fail with "database is locked" without waiting
    for the busy timeout."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


def _path_of(url: str) -> str:
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a SQLite URL (expected sqlite:///path.db): {url}")
    return url[len("sqlite:///") :]


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
        self._idle: list[sqlite3.Connection] = []  # read connections not in use
        self._readers = threading.BoundedSemaphore(_READERS)
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._writer = self._connect()
        self.deferred = False  # see helseflyt.storage.bulk
        self._migrate()

    def _connect(self, cache_kib: int = _CACHE_KIB) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            # Only takes effect on a new database: fewer overflow pages for typical bodies.
            conn.execute("PRAGMA page_size = 8192")
            _enable_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = OFF")
            conn.execute(f"PRAGMA cache_size = -{cache_kib}")
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute(f"PRAGMA wal_autocheckpoint = {_CHECKPOINT}")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite database {self.path}: {exc}") from exc
        with self._all_lock:
            self._all.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` on the single writer; commit, or roll back on exception."""
        with self._write_lock:
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageError(f"SQLite write failed: {exc}") from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StorageError(f"SQLite write failed: {exc}") from exc
                raise

    def _migrate(self) -> None:
        with self._write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            restore_on_open(_Transaction(_Conn(conn), None, self.clock), done)
            for version, sql in migrations("helseflyt.storage.sqlite"):
                if version in done:
                    continue
                announce(version, sql, bool(done))
                for statement in statements(sql):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, datetime('now'))", (version,))

    def schema_version(self) -> int:
        """The newest applied migration (``NNN`` of ``NNN_name.sql``)."""
        with self.reader() as r:
            return int(r.conn.query("SELECT max(version) FROM schema_migrations")[0][0] or 0)

    @contextmanager
    def _read_conn(self) -> Iterator[sqlite3.Connection]:
        with self._readers:
            with self._all_lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._connect(_READ_CACHE_KIB)
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.rollback()
                with self._all_lock:
                    self._idle.append(conn)

    @contextmanager
    def reader(self) -> Iterator[SQLReader]:
        with self._read_conn() as conn:
            try:
                conn.execute("BEGIN")
                try:
                    yield SQLReader(_Conn(conn))
                finally:
                    conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StorageError(f"SQLite read failed: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[_Transaction]:
        with self._write() as conn:
            tx = _Transaction(_Conn(conn), self.indexer, self.clock)
            tx.deferred = self.deferred
            yield tx
            tx.finish()
        self.deferred = tx.deferred  # committed

    @contextmanager
    def bulk(self, *, defer_indexes: bool | None = None) -> Iterator[Callable[[], None]]:
        """A bulk load: indexes deferred (``helseflyt.storage.bulk``; ``None``: if the
        store is empty) and the WAL checkpointed rarely while it runs (each checkpoint
        syncs to disk), then completely at the end, synced: once ``bulk`` returns the
        whole load survives power loss too. Yields a function that rebuilds deferred
        indexes now."""
        with self._checkpoints(), deferring(self, defer_indexes) as restore:
            yield restore

    def rebuild_deferred(self) -> None:
        with self.transaction() as tx:  # one writer: one index after the other
            tx.restore_indexes()

    @contextmanager
    def _checkpoints(self) -> Iterator[None]:
        with self._write_lock:
            self._writer.execute(f"PRAGMA wal_autocheckpoint = {_BULK_CHECKPOINT}")
        try:
            yield
        finally:
            with self._write_lock:
                try:
                    self._writer.execute(f"PRAGMA wal_autocheckpoint = {_CHECKPOINT}")
                    self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error as exc:
                    raise StorageError(f"SQLite checkpoint failed: {exc}") from exc

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
            self._idle.clear()
