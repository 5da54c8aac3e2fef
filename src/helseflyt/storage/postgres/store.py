"""PostgreSQL store: psycopg 3 with a connection pool, for production and scale-out.

``postgresql://user@host:port/db?schema=name&pool_size=10``; ``schema`` (default
``public``) and ``pool_size`` are Helseflyt's options, every other query option goes to
libpq unchanged. The schema is created if missing and the ``NNN_name.sql`` migrations
run on start, inside one transaction holding a ``pg_advisory_xact_lock`` per schema, so
two processes starting together migrate once.

Concurrency invariants:

* Readers run in ``REPEATABLE READ READ ONLY`` transactions: one consistent snapshot.
* Writers run in ``READ COMMITTED`` transactions. ``current(..., for_update=True)``
  locks the ``resource_current`` row (``SELECT ... FOR UPDATE``); ``put`` locks the
  rows of the resources it writes too, in key order, so blind writes queue up instead
  of failing. A resource that does not exist yet has no row to lock: ``current(...,
  for_update=True)`` then takes a transaction-scoped advisory lock on its key and
  reads again, so two "create if absent" transactions run one after the other.
  Two transactions that create the same new id *without* that lock both insert history
  version 1; the unique key ``(res_type, res_id, version)`` lets only the first commit
  and the second gets :class:`VersionConflict` (also raised for deadlocks and
  serialisation failures). Never do two writes succeed silently.
* ``seq`` comes from the identity sequence when a row is written, not when it commits;
  two concurrent transactions may therefore commit their seqs out of order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors, sql
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg_pool import ConnectionPool, PoolTimeout

from helseflyt.storage.base import Indexer, ResourceVersion, StorageError, VersionConflict
from helseflyt.storage.bulk import deferring, restore_on_open
from helseflyt.storage.common import Clock, TextArray, announce, migrations, utc_now
from helseflyt.storage.sql import INDEX_COLUMNS, INDEX_TABLES, VERSION_COLUMNS, Key, Row, SQLReader, SQLWriter
from helseflyt.storage.sql_search import POSTGRES

__all__ = ["PostgresStore"]

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_OUR_OPTIONS = ("schema", "pool_size")
_COPY_FROM = 16  # rows from which COPY / unnest beat executemany
TEXT_ARRAY_OID = 1009  # text[] (a built-in type: the same OID on every server)
_BUILDERS = 2  # connections rebuilding deferred indexes at once (one core each)
_CONFLICTS = (errors.UniqueViolation, errors.SerializationFailure, errors.DeadlockDetected)

_HISTORY_TYPES = ["int8", "text", "text", "int4", "int8", "bool", "bytea"]
_CURRENT_TYPES = ["text", "text", "int4", "int8", "bool", "int8"]
_TOKEN_TYPES = ["text"] * 5
_INDEX_TYPES = {  # binary COPY types of the 002_search.sql tables (after res_type, res_id)
    "string": ["text"] * 3,
    "date": ["text", "int8", "int8", "int2"],
    "number": ["text", "float8", "text", "text"],
    "reference": ["text"] * 4,
    "uri": ["text"] * 2,
    "composite": ["text"] * 5 + ["float8", "int8", "int8", "float8"],
}


def _storage_error(exc: psycopg.Error, what: str) -> StorageError:
    if isinstance(exc, _CONFLICTS):
        return VersionConflict(f"concurrent write, retry: {exc}")
    return StorageError(f"PostgreSQL {what} failed: {exc}")


def parse_url(url: str) -> tuple[str, str, int]:
    """``(libpq conninfo, schema, pool size)`` of a ``postgresql://`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL (expected postgresql://user@host:port/db): {url}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in _OUR_OPTIONS}
    schema = ours.get("schema", "public")
    if not _SCHEMA_NAME.fullmatch(schema):
        raise ValueError(f"invalid schema name {schema!r}: use letters, digits and _")
    try:
        pool_size = int(ours.get("pool_size", "10"))
    except ValueError:
        raise ValueError(f"pool_size must be an integer: {url}") from None
    rest = urlencode([(k, v) for k, v in query if k not in _OUR_OPTIONS])
    return urlunsplit(parts._replace(query=rest)), schema, max(pool_size, 1)


class _TextArrayDumper(Dumper):
    """:class:`~helseflyt.storage.common.TextArray` as the ``text[]`` it encoded once."""

    format = Format.BINARY
    oid = TEXT_ARRAY_OID

    def dump(self, obj: TextArray) -> bytes:
        return obj.binary()


class _Probe:
    """A query sent with a session's first one (:meth:`_Conn.probe`)."""

    __slots__ = ("args", "conn", "rows", "text")

    def __init__(self, conn: _Conn, text: str, args: Sequence[Any]) -> None:
        self.conn, self.text, self.args = conn, text, args
        self.rows: list[Row] | None = None

    def __call__(self) -> list[Row]:
        if self.rows is None:  # nothing sent yet: alone (it begins the session)
            self.conn._probes.remove(self)
            self.rows = self.conn.query(self.text, self.args)
        return self.rows


class _Conn:
    """The shared SQL's :class:`~helseflyt.storage.sql.Connection` over psycopg.

    ``begin`` (the session's ``BEGIN ...``) is sent with the first query, in one pipeline:
    one round trip per transaction less (a search request opens two). Any other use of
    the connection (:attr:`raw`) sends it first on its own."""

    dialect = POSTGRES

    def __init__(self, conn: psycopg.Connection[Any], begin: str | None = None) -> None:
        self._raw = conn
        self._begin = begin
        self._probes: list[_Probe] = []  # sent with BEGIN and the first query

    def probe(self, text: str, args: Sequence[Any] = ()) -> Callable[[], list[Row]]:
        """``text``'s rows, read in this session's snapshot: before any query was sent,
        it goes in the same pipeline as ``BEGIN`` and the first query (no round trip of
        its own); calling the result before that sends it alone."""
        if self._begin is None:
            rows = self.query(text, args)
            return lambda: rows
        probe = _Probe(self, text, args)
        self._probes.append(probe)
        return probe

    @property
    def raw(self) -> psycopg.Connection[Any]:
        """The psycopg connection, inside the session's transaction."""
        if self._begin is not None:
            begin, self._begin = self._begin, None
            self._raw.execute(begin)
        return self._raw

    @property
    def begun(self) -> bool:
        return self._begin is None

    def query(self, text: str, args: Sequence[Any] = (), *, cached_plan: bool = True) -> list[Row]:
        prepare = None if cached_plan else False  # psycopg's default: prepared after 5 uses
        try:
            if self._begin is None:
                cur = self._raw.execute(text.replace("?", "%b"), args, binary=True, prepare=prepare)
                return cur.fetchall()
            begin, self._begin = self._begin, None
            probes, self._probes = self._probes, []
            with self._raw.pipeline():
                self._raw.execute(begin)
                sent = [
                    (p, self._raw.execute(p.text.replace("?", "%b"), p.args, binary=True)) for p in probes
                ]
                cursor = self._raw.execute(text.replace("?", "%b"), args, binary=True, prepare=prepare)
            for p, c in sent:
                p.rows = c.fetchall()
            return cursor.fetchall()
        except psycopg.Error as exc:
            raise _storage_error(exc, "query") from exc

    def run(self, text: str, args: Sequence[Any] = ()) -> None:
        """A statement without result rows; parameters sent in binary (fast for arrays)."""
        try:
            self.raw.execute(text.replace("?", "%b"), args)
        except psycopg.Error as exc:
            raise _storage_error(exc, "write") from exc

    def executemany(self, text: str, rows: Iterable[Row]) -> None:
        try:
            with self.raw.cursor() as cur:
                cur.executemany(text.replace("?", "%s"), rows)
        except psycopg.Error as exc:
            raise _storage_error(exc, "write") from exc

    def in_list(self, values: Sequence[str]) -> tuple[str, Any]:
        return "= ANY(?::text[])", list(values)

    def copy(self, table: str, columns: str, types: list[str], rows: list[Row]) -> None:
        try:
            with (
                self.raw.cursor() as cur,
                cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as exc:
            raise _storage_error(exc, "bulk write") from exc


class _Transaction(SQLWriter):
    conn: _Conn

    def __init__(self, conn: _Conn, indexer: Indexer | None, clock: Clock, store: PostgresStore) -> None:
        super().__init__(conn, indexer, clock)
        self.store = store

    def _next_seqs(self, n: int) -> list[int]:
        rows = self.conn.query(
            "SELECT nextval(?::regclass) FROM generate_series(1, ?)", (self.store.seq_name, n)
        )
        return sorted(r[0] for r in rows)

    def current(self, type: str, id: str, *, for_update: bool = False) -> ResourceVersion | None:
        if not for_update:
            return self.read(type, id)
        text = (
            f"SELECT {VERSION_COLUMNS} FROM resource_current c JOIN resource_history h ON h.seq = c.seq"
            " WHERE c.res_type = ? AND c.res_id = ? FOR UPDATE OF c"
        )
        found = self._one(text, (type, id))
        if found is None:
            self._lock_absent(type, id)
            found = self._one(text, (type, id))  # created meanwhile by the lock's holder?
        return found

    def _index_definitions(self) -> list[Row]:
        return self.conn.query(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x"
            " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
            " WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(?::text[])"
            " AND NOT x.indisunique ORDER BY i.relname",
            (INDEX_TABLES,),
        )

    def _lock_absent(self, type: str, id: str) -> None:
        key = f"{self.store.schema}\x1f{type}/{id}"
        self.conn.query("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (key,))

    def _current_versions(self, keys: Sequence[Key]) -> dict[Key, int]:
        rows = self.conn.query(
            "SELECT c.res_type, c.res_id, c.version FROM resource_current c"
            " JOIN unnest(?::text[], ?::text[]) k(t, i) ON c.res_type = k.t AND c.res_id = k.i"
            " ORDER BY c.res_type, c.res_id FOR UPDATE OF c",
            ([t for t, _ in keys], [i for _, i in keys]),
        )
        return {(t, i): v for t, i, v in rows}

    def _insert_history(self, rows: list[Row]) -> None:
        if len(rows) < _COPY_FROM:
            return super()._insert_history(rows)
        self.conn.copy(
            "resource_history",
            "seq, res_type, res_id, version, last_updated, deleted, body",
            _HISTORY_TYPES,
            rows,
        )

    def _insert_current(self, rows: list[Row]) -> None:
        if len(rows) < _COPY_FROM:
            return super()._insert_current(rows)
        self.conn.copy(
            "resource_current",
            "res_type, res_id, version, last_updated, deleted, seq",
            _CURRENT_TYPES,
            rows,
        )

    def _upsert_current(self, rows: list[Row]) -> None:
        if len(rows) < _COPY_FROM:
            return super()._upsert_current(rows)
        columns = [list(c) for c in zip(*rows, strict=True)]
        self.conn.run(
            "INSERT INTO resource_current (res_type, res_id, version, last_updated, deleted, seq)"
            " SELECT * FROM unnest(?::text[], ?::text[], ?::int4[], ?::int8[], ?::bool[], ?::int8[])"
            " ON CONFLICT (res_type, res_id) DO UPDATE SET version = excluded.version,"
            " last_updated = excluded.last_updated, deleted = excluded.deleted, seq = excluded.seq",
            columns,
        )

    def _delete_tokens(self, keys: list[Key]) -> None:
        if len(keys) < _COPY_FROM:
            return super()._delete_tokens(keys)
        self.conn.run(
            "DELETE FROM token_index t USING unnest(?::text[], ?::text[]) k(rt, ri)"
            " WHERE t.res_type = k.rt AND t.res_id = k.ri",
            ([t for t, _ in keys], [i for _, i in keys]),
        )

    def _insert_tokens(self, rows: list[Row]) -> None:
        if len(rows) < _COPY_FROM:
            return super()._insert_tokens(rows)
        self.conn.copy("token_index", "res_type, res_id, param, system, value", _TOKEN_TYPES, rows)

    def _delete_rows(self, table: str, keys: list[Key]) -> None:
        if len(keys) < _COPY_FROM:
            return super()._delete_rows(table, keys)
        self.conn.run(
            f"DELETE FROM {table}_index t USING unnest(?::text[], ?::text[]) k(rt, ri)"
            " WHERE t.res_type = k.rt AND t.res_id = k.ri",
            ([t for t, _ in keys], [i for _, i in keys]),
        )

    def _insert_rows(self, table: str, rows: list[Row]) -> None:
        if len(rows) < _COPY_FROM:
            return super()._insert_rows(table, rows)
        columns = "res_type, res_id, " + ", ".join(INDEX_COLUMNS[table])
        self.conn.copy(f"{table}_index", columns, ["text", "text", *_INDEX_TYPES[table]], rows)


class PostgresStore:
    """``postgresql://...``; see the module docstring for the URL options."""

    def __init__(self, url: str, *, indexer: Indexer | None = None, clock: Clock = utc_now) -> None:
        self.url = url
        conninfo, self.schema, pool_size = parse_url(url)
        self.indexer = indexer
        self.clock = clock
        self.deferred = False  # see helseflyt.storage.bulk
        self._pool = ConnectionPool(
            conninfo,
            kwargs={"autocommit": True},
            min_size=min(2, pool_size),
            max_size=pool_size,
            configure=self._configure,
            open=False,
            name="helseflyt",
        )
        try:
            self._pool.open(wait=True, timeout=10)
        except PoolTimeout as exc:
            self._pool.close()
            raise StorageError(f"cannot connect to PostgreSQL ({exc})") from exc
        try:
            self._migrate()
            with self.reader() as r:
                self.seq_name: str = r.conn.query(
                    "SELECT pg_get_serial_sequence(quote_ident(?) || '.resource_history', 'seq')",
                    (self.schema,),
                )[0][0]
        except BaseException:
            self._pool.close()
            raise

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.adapters.register_dumper(TextArray, _TextArrayDumper)
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
        # Searches are short: starting parallel workers (~5 ms) cost more than the
        # statement itself (a one-day Encounter range at 1M: 14.4 ms with 2 workers,
        # 2.3 ms without). A tenfold setup cost keeps parallel plans for big scans only.
        conn.execute("SET parallel_setup_cost = 10000")
        # No JIT compilation: it pays off for analytics, not for statements of a few ms;
        # a plan estimated above jit_above_cost (a broad count, a mis-estimated semi-join)
        # paid ~20 ms of compilation per execution (docs/search.md).
        conn.execute("SET jit = off")

    @contextmanager
    def _session(self, begin: str) -> Iterator[_Conn]:
        """One database transaction on a pooled connection: commit, or roll back."""
        try:
            with self._pool.connection() as conn:
                session = _Conn(conn, begin)
                try:
                    yield session
                    if session.begun:  # else nothing was sent: no transaction to end
                        conn.execute("COMMIT")
                except BaseException:
                    if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                        conn.execute("ROLLBACK")
                    raise
        except psycopg.Error as exc:
            raise _storage_error(exc, "transaction") from exc
        except PoolTimeout as exc:
            raise StorageError(f"no PostgreSQL connection available: {exc}") from exc

    def _migrate(self) -> None:
        with self._session("BEGIN") as conn:
            conn.query(
                "SELECT pg_advisory_xact_lock(hashtext('helseflyt.migrate'), hashtext(?))", (self.schema,)
            )
            exists = conn.query("SELECT 1 FROM pg_namespace WHERE nspname = ?", (self.schema,))
            if not exists:
                conn.raw.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
            conn.raw.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in conn.query("SELECT version FROM schema_migrations")}
            restore_on_open(_Transaction(conn, None, self.clock, self), done)
            for version, script in migrations("helseflyt.storage.postgres"):
                if version not in done:
                    announce(version, script, bool(done))
                    conn.raw.execute(script.encode())
                    conn.run("INSERT INTO schema_migrations (version) VALUES (?)", (version,))

    def schema_version(self) -> int:
        """The newest applied migration (``NNN`` of ``NNN_name.sql``)."""
        with self.reader() as r:
            return int(r.conn.query("SELECT max(version) FROM schema_migrations")[0][0] or 0)

    @contextmanager
    def reader(self) -> Iterator[SQLReader]:
        with self._session("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") as conn:
            yield SQLReader(conn)

    @contextmanager
    def transaction(self) -> Iterator[_Transaction]:
        with self._session("BEGIN") as conn:
            tx = _Transaction(conn, self.indexer, self.clock, self)
            tx.deferred = self.deferred
            yield tx
            tx.finish()
        self.deferred = tx.deferred  # committed

    @contextmanager
    def bulk(self, *, defer_indexes: bool | None = None) -> Iterator[Callable[[], None]]:
        """A bulk load: indexes deferred (``helseflyt.storage.bulk``; ``None``: if the
        store is empty). Yields a function that rebuilds deferred indexes now."""
        with deferring(self, defer_indexes) as restore:
            yield restore

    def rebuild_deferred(self) -> None:
        """One transaction per index on ``_BUILDERS`` connections at once: a backend
        builds one index on one core. Largest tables first, so the builders end together."""
        with self.reader() as r:
            names = [
                name
                for (name,) in r.conn.query(
                    "SELECT name FROM deferred_index ORDER BY"
                    " pg_relation_size(substring(definition from ' ON (\\S+) ')::regclass) DESC, name"
                )
            ]

        def build(name: str) -> None:
            with self.transaction() as tx:
                tx.restore_indexes([name])

        with ThreadPoolExecutor(_BUILDERS) as pool:
            list(pool.map(build, names))

    def close(self) -> None:
        self._pool.close()
