"""The SQL both relational backends share: reads, history, token search and writes.

The statements are written once, in the common subset of SQLite and PostgreSQL, with
``?`` placeholders; a backend's :class:`Connection` adapter runs them (PostgreSQL
rewrites ``?`` to ``%s``) and turns driver errors into :class:`StorageError`. Dialect
differences stay in the backends as overrides of the few ``_`` hooks of
:class:`SQLWriter` (allocating ``seq`` numbers, locking, bulk inserts).

Both backends have the same tables (see ``NNN_*.sql`` next to each backend):

* ``resource_history``: every version, ``seq`` the store-wide write number;
* ``resource_current``: one row per resource pointing to its newest history row;
* ``token_index``: token rows of current, non-deleted resources.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from helseflyt.storage.base import HistoryQuery, Indexer, ResourceVersion, Serialized, TokenCriterion
from helseflyt.storage.common import Clock, from_micros, index_rows, instant, splice, stamp, to_micros
from helseflyt.storage.query import SearchQuery, SearchResult, span_class

if TYPE_CHECKING:
    from helseflyt.storage.sql_search import Dialect

__all__ = ["VERSION_COLUMNS", "Connection", "SQLReader", "SQLWriter"]

Key = tuple[str, str]
Row = tuple[Any, ...]

VERSION_COLUMNS = "h.seq, h.res_type, h.res_id, h.version, h.last_updated, h.deleted, h.body"
_WIDTH = VERSION_COLUMNS.count(",") + 1
_CHUNK = 500  # ids per IN (...) list: far below every backend's parameter limit

INSERT_HISTORY = (
    "INSERT INTO resource_history (seq, res_type, res_id, version, last_updated, deleted, body)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
UPSERT_CURRENT = (
    "INSERT INTO resource_current (res_type, res_id, version, last_updated, deleted, seq)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (res_type, res_id) DO UPDATE SET"
    " version = excluded.version, last_updated = excluded.last_updated,"
    " deleted = excluded.deleted, seq = excluded.seq"
)
INSERT_CURRENT = (
    "INSERT INTO resource_current (res_type, res_id, version, last_updated, deleted, seq)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
DELETE_TOKENS = "DELETE FROM token_index WHERE res_type = ? AND res_id = ?"
INSERT_TOKEN = "INSERT INTO token_index (res_type, res_id, param, system, value) VALUES (?, ?, ?, ?, ?)"
# The other index tables (002_search.sql): columns after res_type, res_id.
INDEX_COLUMNS = {
    "token": ("param", "system", "value"),
    "string": ("param", "norm", "exact"),
    "date": ("param", "low", "high", "span"),  # span: written by _insert_index
    "number": ("param", "value", "system", "code"),
    "reference": ("param", "target_type", "target_id", "url"),
    "uri": ("param", "value"),
    "composite": ("param", "system1", "value1", "system2", "value2", "number2", "low2", "high2", "number3"),
}
INDEX_TABLES = [f"{table}_index" for table in INDEX_COLUMNS]


# Contained resources (``_contained`` searches): the indexer's rows ``("@" + table, type,
# local id, *values)`` are stored in ``table`` keyed ``(type, "Container/id#local")`` (an
# id never holds "/" or "#", so no ordinary search sees them), with a ``_container``
# reference row from each to its container and a ``_contained`` token row of the
# container (system: type, value: key) by which they are deleted with it.
CONTAINED = "_contained"
CONTAINER = "_container"

# The types whose index rows the per-request access sets read (storage/access/sets.py):
# citizen-control Consents, Patient links, GPs and identifiers, practitioners and
# organisations by identifier. A transaction writing one of them (or any contained
# resource) bumps the access generation before it commits.
ACCESS_TYPES = frozenset({"Consent", "Patient", "Practitioner", "PractitionerRole", "Organization"})
BUMP_GENERATION = "UPDATE access_generation SET n = n + 1 WHERE id = 1"


def with_spans(rows: list[Row]) -> list[Row]:
    """Date rows ``(res_type, res_id, param, low, high)`` with the span class of their
    resource's and parameter's envelope appended (storage/query.py ``span_class``)."""
    envelope: dict[tuple[str, str, str], tuple[int, int]] = {}
    for t, i, param, low, high in rows:
        key = (t, i, param)
        seen = envelope.get(key)
        envelope[key] = (low, high) if seen is None else (min(seen[0], low), max(seen[1], high))
    spans = {key: span_class(*env) for key, env in envelope.items()}
    return [(*row, spans[row[:3]]) for row in rows]


def unfold_contained(by_table: dict[str, list[Row]]) -> None:
    """Turn the ``@table`` lists of :meth:`SQLWriter.put_many` (rows ``(container type,
    container id, type, local id, *values)``) into rows of their tables, in place."""
    seen: dict[tuple[str, str, str, str], None] = {}
    for table in [t for t in by_table if t[0] == "@"]:
        dest = by_table.setdefault(table[1:], [])
        for t, i, kind, local, *values in by_table.pop(table):
            key = f"{t}/{i}#{local}"
            dest.append((kind, key, *values))
            seen[(t, i, kind, key)] = None
    for t, i, kind, key in seen:
        by_table.setdefault("token", []).append((t, i, CONTAINED, kind, key))
        by_table.setdefault("reference", []).append((kind, key, CONTAINER, t, i, None))


class Connection(Protocol):
    """What the shared SQL needs from a driver; errors surface as ``StorageError``."""

    dialect: Dialect  # what the search compiler does differently on this backend

    def query(self, sql: str, args: Sequence[Any] = (), *, cached_plan: bool = True) -> list[Row]:
        """``cached_plan=False``: plan this execution for its own arguments, never with a
        plan cached for the statement (PostgreSQL's generic plans ignore how selective a
        value is: a capped count of a common code took 115 instead of 3 ms)."""
        ...

    def executemany(self, sql: str, rows: Iterable[Row]) -> None: ...

    def run(self, sql: str, args: Sequence[Any] = ()) -> None:
        """A statement without result rows (DDL too)."""
        ...

    def in_list(self, values: Sequence[str]) -> tuple[str, Any]:
        """SQL after a column to test membership in ``values`` (one parameter, any length)."""
        ...

    def probe(self, sql: str, args: Sequence[Any] = ()) -> Callable[[], list[Row]]:
        """``sql``'s rows in this session's snapshot, when called; the driver may send it
        with the session's first query (PostgreSQL: in the pipeline of ``BEGIN``)."""
        ...


def _version(row: Row) -> ResourceVersion:
    seq, res_type, res_id, version, micros, deleted, body = row
    return ResourceVersion(res_type, res_id, version, from_micros(micros), bool(deleted), body, seq)


def _history_where(q: HistoryQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
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
    return where, args


def _token_condition(crit: TokenCriterion, args: list[Any]) -> str:
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
    return "(" + " AND ".join(cond) + ")"


def _where(conditions: list[str]) -> str:
    return (" WHERE " + " AND ".join(conditions)) if conditions else ""


def _chunks(keys: Sequence[Key]) -> Iterator[tuple[str, list[str]]]:
    """``keys`` as (type, ids) with at most ``_CHUNK`` ids each."""
    by_type: dict[str, list[str]] = {}
    for t, i in keys:
        by_type.setdefault(t, []).append(i)
    for t, ids in by_type.items():
        for start in range(0, len(ids), _CHUNK):
            yield t, ids[start : start + _CHUNK]


class SQLReader:
    """``Reader`` over a :class:`Connection` inside an open database transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _one(self, sql: str, args: Sequence[Any]) -> ResourceVersion | None:
        rows = self.conn.query(sql, args)
        return _version(rows[0]) if rows else None

    def read(self, type: str, id: str) -> ResourceVersion | None:
        return self._one(
            f"SELECT {VERSION_COLUMNS} FROM resource_current c JOIN resource_history h ON h.seq = c.seq"
            " WHERE c.res_type = ? AND c.res_id = ?",
            (type, id),
        )

    def vread(self, type: str, id: str, version: int) -> ResourceVersion | None:
        return self._one(
            f"SELECT {VERSION_COLUMNS} FROM resource_history h"
            " WHERE h.res_type = ? AND h.res_id = ? AND h.version = ?",
            (type, id, version),
        )

    def history(self, query: HistoryQuery) -> list[ResourceVersion]:
        where, args = _history_where(query)
        if query.before_seq is not None:
            where.append("h.seq < ?")
            args.append(query.before_seq)
        rows = self.conn.query(
            f"SELECT {VERSION_COLUMNS} FROM resource_history h{_where(where)} ORDER BY h.seq DESC LIMIT ?",
            [*args, query.count],
        )
        return [_version(r) for r in rows]

    def history_count(self, query: HistoryQuery) -> int:
        where, args = _history_where(query)
        return int(self.conn.query(f"SELECT count(*) FROM resource_history h{_where(where)}", args)[0][0])

    def find(
        self,
        type: str,
        *,
        ids: Sequence[str] | None = None,
        tokens: Sequence[Sequence[TokenCriterion]] = (),
        limit: int | None = None,
    ) -> list[str]:
        sql = ["SELECT c.res_id FROM resource_current c WHERE c.res_type = ? AND NOT c.deleted"]
        args: list[Any] = [type]
        if ids is not None:
            if not ids:
                return []
            member, param = self.conn.in_list(ids)
            sql.append(f"AND c.res_id {member}")
            args.append(param)
        for group in tokens:
            if not group:
                return []  # an empty OR matches nothing
            ors = [_token_condition(crit, args) for crit in group]
            sql.append(
                "AND EXISTS (SELECT 1 FROM token_index t WHERE t.res_type = c.res_type"
                f" AND t.res_id = c.res_id AND ({' OR '.join(ors)}))"
            )
        sql.append("ORDER BY c.res_id")
        if limit is not None:
            sql.append("LIMIT ?")
            args.append(limit)
        return [r[0] for r in self.conn.query(" ".join(sql), args)]

    def search(self, query: SearchQuery) -> SearchResult:
        """One page of current, non-deleted matches (see :mod:`helseflyt.storage.query`)."""
        from helseflyt.storage.sql_search import (
            DENSE_COUNT,
            DENSE_PAGE,
            compile_count,
            compile_search,
            counts_in_page,
            scannable,
        )

        dialect = self.conn.dialect
        scan = False
        if scannable(query, dialect):
            query, scan = self._dense(query, DENSE_PAGE)
        text, args = compile_search(query, VERSION_COLUMNS, self.conn.in_list, dialect, scan=scan)
        rows = self.conn.query(text, args)
        page = rows[: query.count]
        out = SearchResult([], len(rows) > query.count)
        counted = counts_in_page(query, dialect)  # rows end with the sort keys, then the total
        keyed = (len(query.sort) if query.contained == "false" else 0) + counted
        if keyed:
            out.versions = [_version(r[:_WIDTH]) for r in page]
            if query.sort:
                out.keys = [tuple(r[_WIDTH : _WIDTH + len(query.sort)]) for r in page]
        else:
            out.versions = [_version(r) for r in page]
        if counted and rows:
            out.total = int(rows[0][-1])
        elif query.total and query.cursor is None and not out.more:
            out.total = len(out.versions)  # the first page holds every match: no count query
        elif query.total:
            scan = scan and query.total_cap is not None
            scan = scan and self._driver_rows(query, DENSE_COUNT) >= DENSE_COUNT
            text, args = compile_count(query, self.conn.in_list, query.total_cap, scan=scan)
            n = int(self.conn.query(text, args, cached_plan=False)[0][0])
            out.total = n if query.total_cap is None or n <= query.total_cap else None
        return out

    def _driver_rows(self, query: SearchQuery, cap: int, at: int | None = None) -> int:
        from helseflyt.storage.sql_search import compile_driver_count

        text, args = compile_driver_count(query, cap, at)
        return int(self.conn.query(text, args)[0][0])

    def _dense(self, query: SearchQuery, cap: int) -> tuple[SearchQuery, bool]:
        """``query`` with the driving clause of the fewest index rows (counted up to
        ``cap``) among those of equal rank moved first, so that it drives; and whether
        to scan in id order: only if every clause has ``cap`` rows or more (a rare one
        would make the scan walk the whole type for a few matches). When the driver has
        ``cap`` rows or more but another countable clause fewer (a day, a rare range),
        that clause leads instead (``SearchQuery.lead``), whatever its rank."""
        from helseflyt.storage.sql_search import countable, rivals

        ties = rivals(query)
        counted = {i: self._driver_rows(query, cap, i) for i in ties}
        best = min(ties, key=lambda i: counted[i])  # the first on equal counts
        order = list(range(len(query.clauses)))
        if best != ties[0]:
            order.remove(best)
            order.insert(0, best)
            query = replace(query, clauses=tuple(query.clauses[i] for i in order))
        rows = {new: counted[old] for new, old in enumerate(order) if old in counted}  # counted once
        if counted[best] < cap:
            return query, False
        for i, clause in enumerate(query.clauses):
            if i not in rows and countable(clause):
                rows[i] = self._driver_rows(query, cap, i)
        rare = min(rows, key=lambda i: rows[i])
        if rows[rare] < cap:
            return replace(query, lead=rare), False
        return query, len(rows) == len(query.clauses)  # every clause counted, all dense


class SQLWriter(SQLReader):
    """``Transaction`` over a :class:`Connection`; the caller owns BEGIN/COMMIT.

    ``put_many`` reads the current versions of all its keys in one go, numbers the new
    versions (a key repeated in a batch gets consecutive versions), then writes history
    rows, the newest row per key into ``resource_current`` and that row's index rows.
    """

    def __init__(self, conn: Connection, indexer: Indexer | None, clock: Clock) -> None:
        super().__init__(conn)
        self.indexer = indexer
        self.clock = clock
        self.deferred = False  # the index tables' secondary indexes are dropped (bulk load)
        self.access_changed = False  # bump the access generation before commit (``finish``)

    def mark_access_changed(self) -> None:
        """This transaction changes what the access sets read (also: emergency grants)."""
        self.access_changed = True

    def finish(self) -> None:
        """Last statement before COMMIT (the stores call it): bump the access generation if
        this transaction changed access data. Last, so that on PostgreSQL its row lock is
        held only while committing and is never waited for while holding another."""
        if self.access_changed:
            self.conn.run(BUMP_GENERATION)

    # -- dialect hooks -------------------------------------------------------------

    def _next_seqs(self, n: int) -> list[int]:
        """``n`` increasing, unused ``seq`` numbers."""
        raise NotImplementedError

    def _lock_absent(self, type: str, id: str) -> None:
        """Serialise writers of a resource that has no row to lock yet (if needed)."""

    def _current_versions(self, keys: Sequence[Key]) -> dict[Key, int]:
        found: dict[Key, int] = {}
        for t, chunk in _chunks(keys):
            rows = self.conn.query(
                "SELECT res_id, version FROM resource_current WHERE res_type = ?"
                f" AND res_id IN ({','.join('?' * len(chunk))})",
                [t, *chunk],
            )
            found.update(((t, rid), v) for rid, v in rows)
        return found

    def _insert_history(self, rows: list[Row]) -> None:
        self.conn.executemany(INSERT_HISTORY, rows)

    def _insert_current(self, rows: list[Row]) -> None:
        """Current rows of resources that had none when the batch began."""
        self.conn.executemany(INSERT_CURRENT, rows)

    def _upsert_current(self, rows: list[Row]) -> None:
        self.conn.executemany(UPSERT_CURRENT, rows)

    def _delete_tokens(self, keys: list[Key]) -> None:
        self.conn.executemany(DELETE_TOKENS, keys)

    def _insert_tokens(self, rows: list[Row]) -> None:
        self.conn.executemany(INSERT_TOKEN, rows)

    def _contained_keys(self, keys: list[Key]) -> list[Key]:
        """The keys of the contained resources indexed with ``keys`` (see ``CONTAINED``)."""
        found: list[Key] = []
        for t, chunk in _chunks(keys):
            found += self.conn.query(
                "SELECT system, value FROM token_index WHERE res_type = ? AND res_id IN"
                f" ({','.join('?' * len(chunk))}) AND param = ?",
                [t, *chunk, CONTAINED],
            )
        return [(kind, key) for kind, key in found]

    def _index_definitions(self) -> list[Row]:
        """``(name, CREATE INDEX statement)`` of the non-unique indexes of the index tables."""
        raise NotImplementedError

    def defer_indexes(self) -> None:
        """Drop the secondary indexes of the index tables, recording in ``deferred_index``
        how to recreate them (one transaction: this one); see ``restore_indexes``."""
        definitions = self._index_definitions()
        self.conn.executemany("INSERT INTO deferred_index (name, definition) VALUES (?, ?)", definitions)
        for name, _ in definitions:
            self.conn.run(f"DROP INDEX {name}")
        self.deferred = True

    def restore_indexes(self, names: Sequence[str] | None = None) -> int:
        """Recreate the indexes ``defer_indexes`` dropped (a sorted build each), or only
        those of ``names``; how many."""
        rows = self.conn.query("SELECT name, definition FROM deferred_index ORDER BY name")
        rows = [row for row in rows if names is None or row[0] in names]
        for name, definition in rows:
            self.conn.run(definition)
            self.conn.run("DELETE FROM deferred_index WHERE name = ?", (name,))
        self.deferred = names is not None and bool(self.conn.query("SELECT 1 FROM deferred_index LIMIT 1"))
        return len(rows)

    def _delete_index(self, keys: list[Key]) -> None:
        """Remove the resources' rows (and their contained resources') from every index table."""
        if self.deferred:  # an update during a deferred load: no full scans per key
            self.restore_indexes()
        contained = self._contained_keys(keys)
        if contained or not ACCESS_TYPES.isdisjoint(t for t, _ in keys):
            self.access_changed = True
        keys = keys + contained
        self._delete_tokens(keys)
        for table in INDEX_COLUMNS:
            if table != "token":
                self._delete_rows(table, keys)

    def _delete_rows(self, table: str, keys: list[Key]) -> None:
        self.conn.executemany(f"DELETE FROM {table}_index WHERE res_type = ? AND res_id = ?", keys)

    def _insert_rows(self, table: str, rows: list[Row]) -> None:
        """Rows ``(res_type, res_id, *INDEX_COLUMNS[table])`` of a non-token index table."""
        columns = ", ".join(INDEX_COLUMNS[table])
        marks = ", ".join("?" * (len(INDEX_COLUMNS[table]) + 2))
        self.conn.executemany(
            f"INSERT INTO {table}_index (res_type, res_id, {columns}) VALUES ({marks})", rows
        )

    def _insert_index(self, by_table: dict[str, list[Row]]) -> None:
        """Rows ``(res_type, res_id, *values)`` per table (``token``, ``string``...)."""
        for table, these in by_table.items():
            if table == "date":
                these = with_spans(these)
            if table == "token":
                self._insert_tokens(these)
            else:
                self._insert_rows(table, these)

    # -- Transaction -----------------------------------------------------------------

    def current(self, type: str, id: str, *, for_update: bool = False) -> ResourceVersion | None:
        return self.read(type, id)

    def put(self, type: str, id: str, resource: dict[str, Any]) -> ResourceVersion:
        return self.put_many([(type, id, resource)])[0]

    def put_many(
        self, items: Sequence[tuple[str, str, dict[str, Any] | Serialized]]
    ) -> list[ResourceVersion]:
        if not items:
            return []
        micros = to_micros(self.clock())
        when, last_updated = instant(micros), from_micros(micros)
        when_bytes = when.encode()
        keys = list(dict.fromkeys((t, i) for t, i, _ in items))
        if not ACCESS_TYPES.isdisjoint(t for t, _ in keys):
            self.access_changed = True
        known = self._current_versions(keys)
        seqs = self._next_seqs(len(items))
        history: list[Row] = []
        newest: dict[Key, tuple[Row, dict[str, Any] | Serialized]] = {}
        out: list[ResourceVersion] = []
        versions = dict(known)
        for seq, (res_type, res_id, resource) in zip(seqs, items, strict=True):
            key = (res_type, res_id)
            version = versions[key] = versions.get(key, 0) + 1
            if type(resource) is Serialized:
                body = splice(resource, version, when_bytes)
            else:
                body = stamp(res_id, resource, version, micros, when=when)
            history.append((seq, res_type, res_id, version, micros, False, body))
            newest[key] = ((res_type, res_id, version, micros, False, seq), resource)
            out.append(ResourceVersion(res_type, res_id, version, last_updated, False, body, seq))
        self._insert_history(history)
        fresh = [row for key, (row, _) in newest.items() if key not in known]
        stale = [key for key in newest if key in known]
        if fresh:
            self._insert_current(fresh)
        if stale:
            self._upsert_current([newest[key][0] for key in stale])
            self._delete_index(stale)
        if self.indexer is not None:
            indexer = self.indexer
            by_table: dict[str, list[Row]] = {}
            for (t, i), (_, resource) in newest.items():
                rows = resource.index if type(resource) is Serialized else index_rows(indexer, t, resource)
                for row in rows:  # one pass, one tuple per row: the bulk path's hot loop
                    these = by_table.get(row[0])
                    if these is None:
                        these = by_table[row[0]] = []
                    these.append((t, i, *row[1:]))
            if any(t[0] == "@" for t in by_table):
                self.access_changed = True  # a contained resource may be of ACCESS_TYPES
                unfold_contained(by_table)
            if by_table:
                self._insert_index(by_table)
        return out

    def reindex(self, type: str, ids: Sequence[str]) -> int:
        """Rewrite the index rows of current, non-deleted resources from their stored
        bodies with this writer's indexer, without a new version (``$reindex``, after a
        SearchParameter was added). Each resource is locked as for a write. Returns
        how many were re-indexed (absent or deleted ones are skipped)."""
        if self.indexer is None:
            return 0
        from helseflyt.fhir import json as fjson

        keys: list[Key] = []
        by_table: dict[str, list[Row]] = {}
        for res_id in ids:
            cur = self.current(type, res_id, for_update=True)
            if cur is None or cur.deleted or cur.body is None:
                continue
            keys.append((type, res_id))
            for row in index_rows(self.indexer, type, fjson.loads(cur.body)):
                by_table.setdefault(row[0], []).append((type, res_id, *row[1:]))
        if type in ACCESS_TYPES or any(t[0] == "@" for t in by_table):
            self.access_changed = True
        unfold_contained(by_table)
        if keys:
            self._delete_index(keys)
        if by_table:
            self._insert_index(by_table)
        return len(keys)

    def delete(self, type: str, id: str) -> ResourceVersion | None:
        cur = self.current(type, id, for_update=True)
        if cur is None or cur.deleted:
            return None
        micros = to_micros(self.clock())
        (seq,) = self._next_seqs(1)
        version = cur.version + 1
        self._insert_history([(seq, type, id, version, micros, True, None)])
        self._upsert_current([(type, id, version, micros, True, seq)])
        self._delete_index([(type, id)])
        return ResourceVersion(type, id, version, from_micros(micros), True, None, seq)
