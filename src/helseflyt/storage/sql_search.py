"""Compiles a :class:`~helseflyt.storage.query.SearchQuery` to SQL (both backends).

The SQL is the common subset of SQLite and PostgreSQL (row values, ``IN (SELECT ...)``,
``LIKE ... ESCAPE``); what differs is data in :class:`Dialect`. A clause over one
resource type becomes ``c.res_id [NOT] IN (SELECT res_id FROM <table>_index WHERE
res_type = ? AND param = ? AND (...))`` so that the database can start from the
index (a small result costs the same in a large database); over several types it is
a correlated ``EXISTS``. String prefixes are ranges (``>= p AND < p || U+10FFFF``),
which use the index in both databases (PostgreSQL's text columns of the search
tables are ``COLLATE "C"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from helseflyt.storage.query import COLUMNS, OPS, Clause, SearchQuery, SortKey, Test

__all__ = ["Dialect", "compile_count", "compile_search"]

_TOP = "\U0010ffff"


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    UNSUPPORTED: frozenset[str] = frozenset()  # ops this backend cannot run


SQLITE = Dialect("sqlite")
POSTGRES = Dialect("postgres")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _test(alias: str, t: Test, args: list[Any]) -> str:
    if t.op not in OPS:
        raise ValueError(f"unknown search op {t.op!r}")
    col = f"{alias}.{t.column}"
    if t.op == "null":
        return f"{col} IS NULL"
    if t.op == "notnull":
        return f"{col} IS NOT NULL"
    if t.op == "prefix":
        args += [t.value, t.value + _TOP]
        return f"({col} >= ? AND {col} < ?)"
    if t.op == "contains":
        args.append(f"%{_like_escape(t.value)}%")
        return f"{col} LIKE ? ESCAPE '\\'"
    if t.op == "in":
        values = list(t.value)
        if not values:
            return "1 = 0"
        args += values
        return f"{col} IN ({', '.join('?' * len(values))})"
    args.append(t.value)
    return f"{col} {t.op} ?"


def _alternatives(alias: str, clause: Clause, args: list[Any]) -> str:
    ors = []
    for alt in clause.alternatives:
        if not alt:
            return "1 = 1"
        ors.append("(" + " AND ".join(_test(alias, t, args) for t in alt) + ")")
    return "(" + " OR ".join(ors) + ")" if ors else "1 = 0"


def _clause(clause: Clause, single: str | None, args: list[Any]) -> str:
    for alt in clause.alternatives:
        for t in alt:
            if t.column not in COLUMNS[clause.table]:
                raise ValueError(f"no column {t.column!r} in {clause.table}")
    if clause.table == "resource":
        cond = _alternatives("c", clause, args)
        return f"NOT {cond}" if clause.negate else cond
    neg = "NOT " if clause.negate else ""
    if single is not None:
        args += [single, clause.param]
        cond = _alternatives("x", clause, args)
        return (
            f"c.res_id {neg}IN (SELECT x.res_id FROM {clause.table}_index x"
            f" WHERE x.res_type = ? AND x.param = ? AND {cond})"
        )
    args.append(clause.param)
    cond = _alternatives("x", clause, args)
    return (
        f"{neg}EXISTS (SELECT 1 FROM {clause.table}_index x WHERE x.res_type = c.res_type"
        f" AND x.res_id = c.res_id AND x.param = ? AND {cond})"
    )


def _where(query: SearchQuery, args: list[Any]) -> list[str]:
    types = query.types
    if len(types) == 1:
        where = ["c.res_type = ?", "NOT c.deleted"]
        args.append(types[0])
        single: str | None = types[0]
    else:
        where = [f"c.res_type IN ({', '.join('?' * len(types))})", "NOT c.deleted"]
        args += list(types)
        single = None
    for clause in query.clauses:
        where.append(_clause(clause, single, args))
    if query.access is not None:  # access control hook: one predicate (storage/sql_access.py)
        from helseflyt.storage.sql_access import predicate

        where.append(predicate(query.access, "c", types, args))
    return where


def _sort_expr(key: SortKey, args: list[Any]) -> str:
    if key.table == "resource":
        return f"c.{key.column}"
    if key.column not in COLUMNS[key.table]:
        raise ValueError(f"no column {key.column!r} in {key.table}")
    agg = "max" if key.descending else "min"
    args.append(key.param)
    return (
        f"(SELECT {agg}(s.{key.column}) FROM {key.table}_index s WHERE s.res_type = c.res_type"
        " AND s.res_id = c.res_id AND s.param = ?)"
    )


def compile_search(query: SearchQuery, columns: str) -> tuple[str, list[Any]]:
    """``SELECT columns`` of one page (``count + 1`` rows, to tell if more follow)."""
    args: list[Any] = []
    where = _where(query, args)
    if query.after is not None and not query.sort:
        where.append("(c.res_type, c.res_id) > (?, ?)")
        args += list(query.after)
    order: list[str] = []
    order_args: list[Any] = []
    for key in query.sort:
        expr = _sort_expr(key, order_args)
        if key.table != "resource":
            order.append(f"{expr} IS NULL")
            order_args.append(key.param)
            expr = _sort_expr(key, [])  # same text again; its argument is appended above
        order.append(f"{expr} DESC" if key.descending else expr)
    order += ["c.res_type", "c.res_id"]
    sql = (
        f"SELECT {columns} FROM resource_current c JOIN resource_history h ON h.seq = c.seq"
        f" WHERE {' AND '.join(where)} ORDER BY {', '.join(order)} LIMIT ?"
    )
    args += order_args
    args.append(query.count + 1)
    if query.offset and query.sort:
        sql += " OFFSET ?"
        args.append(query.offset)
    return sql, args


def compile_count(query: SearchQuery) -> tuple[str, list[Any]]:
    args: list[Any] = []
    where = _where(query, args)
    return f"SELECT count(*) FROM resource_current c WHERE {' AND '.join(where)}", args
