"""Compiles a :class:`~helseflyt.storage.query.SearchQuery` to SQL (both backends).

The SQL is the common subset of SQLite and PostgreSQL (row values, ``IN (SELECT ...)``,
``LIKE ... ESCAPE``, ``NULLS LAST``); what differs is data in :class:`Dialect`.

* A clause over one resource type becomes ``c.res_id [NOT] IN (SELECT res_id FROM
  <table>_index WHERE res_type = ? AND param = ? AND (...))`` so that the database can
  start from the index (a small result costs the same in a large database); over
  several types it is a correlated ``EXISTS``. String prefixes are ranges (``>= p AND
  < p || U+10FFFF``), which use the index in both databases (PostgreSQL's text columns
  of the search tables are ``COLLATE "C"``).
* Over one type, one clause *drives* (:func:`_rank`: an id or a reference to one
  resource first, then chains into such criteria, string prefixes, token codes, _has,
  ranges; negations never) and is compiled as the ``IN`` above; every other clause is a
  correlated ``EXISTS`` probing its table's ``(res_type, res_id)`` index for each row the
  driver found (an ``IN`` list would be built in full: all observations of a LOINC code
  for a patient's observations of that code). Inside such a probe, a chain's or
  ``_has``'s inner search is probed the same way from the referenced row.
* Chains and reverse chains nest: the inner search is a set of ``(type, id)`` that the
  ``reference_index`` is probed with (``target_id IN (...)`` uses its lookup index;
  ``res_id IN (...)`` its resource index), so the database starts from the innermost,
  most selective criteria.
* With sort keys, the matches are numbered in a derived table that carries each
  match's key (one lookup in the ``<table>_index_resource`` index per match: the
  parameter test sits inside the aggregate so that no other index can be chosen),
  sorted and cut to the page there, and only the page's rows are joined to their
  bodies. Keyset paging compares ``(key..., type, id)`` with the cursor's values,
  expanded per key since the directions may differ; a backward page is selected in
  reverse order and returned in forward order.
* A practitioner's search of one type with few allowed patients may start from their
  compartments (``drives`` in ``storage/access/predicate.py``): the clauses then probe
  those rows (on PostgreSQL inside the id array, before any row is fetched).
* ``_contained=true|both`` searches a derived table of matching keys (see
  :func:`_matches`), paged by ``(type, id)``; ``false`` compiles exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from helseflyt.storage.query import (
    COLUMNS,
    OPS,
    AnyClause,
    Chain,
    Clause,
    Cursor,
    Reverse,
    SearchQuery,
    SortKey,
    Test,
)

__all__ = ["Dialect", "compile_count", "compile_search", "counts_in_page"]

_TOP = "\U0010ffff"


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    UNSUPPORTED: frozenset[str] = frozenset()  # ops this backend cannot run
    # The first page of a bounded date interval search counts its matches in the page
    # query (:func:`counts_in_page`). PostgreSQL: yes, a count query repeats the union's
    # plan and execution (full one-day pages at 1M: page + count 4.7-5.0 -> 2.3-2.9 ms).
    # SQLite: no, the window and its sort cost a page with room more (0.85 -> 0.95 ms)
    # than the count saves a full one (1.23 + 0.4 -> 1.55 ms): a wash on the one-day page.
    counts_intervals: bool = False
    # A driver with many index rows (:func:`compile_driver_count`) may be better probed
    # row by row in id order than read in full (:func:`compile_search` ``scan``). SQLite:
    # yes, it reads an ``IN (SELECT ...)`` whole before the first row (``status=final``
    # at 1M: 123 ms; scanned: 0.1 ms). PostgreSQL's planner makes that choice itself,
    # from its statistics.
    scans_dense: bool = False


SQLITE = Dialect("sqlite", scans_dense=True)
POSTGRES = Dialect("postgres", counts_intervals=True)

# Driver index rows from which a page (``DENSE_PAGE``) or a capped count
# (``DENSE_COUNT``) scans resources in id order, probing every clause, instead of reading
# the driver's rows in full. Probing costs about page size x (resources of the type /
# matches) rows; reading, the matches: they break even near sqrt(page size x resources),
# ~5,000 for a page of 50 and ~20,000-50,000 for a count of 1,001 among 450,000.
DENSE_PAGE = 5_000
DENSE_COUNT = 50_000


# a connection's ``in_list``: SQL after a column for membership in a list, and its one parameter
InList = Callable[[list[str]], tuple[str, Any]]


@dataclass(slots=True)
class _Aliases:
    n: int = 0
    args: list[Any] = field(default_factory=list)
    access: Any = None  # access control (storage/sql_access.py), ANDed by _match
    # access control may pick where the rows come from (docs/access.md, "Cost")
    drive: bool = True
    # the connection's ``in_list`` (one parameter for a list of any length), if given
    in_list: InList | None = None
    lead: Any = None  # the query's ``lead`` clause (identity), until the top level uses it

    def new(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _marks(values: list[Any] | tuple[Any, ...]) -> str:
    return ", ".join("?" * len(values))


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
        return f"{col} IN ({_marks(values)})"
    args.append(t.value)
    return f"{col} {t.op} ?"


def _alternatives(alias: str, clause: Clause, args: list[Any]) -> str:
    ors = []
    for alt in clause.alternatives:
        if not alt:
            return "1 = 1"
        ors.append("(" + " AND ".join(_test(alias, t, args) for t in alt) + ")")
    return "(" + " OR ".join(ors) + ")" if ors else "1 = 0"


def _param(alias: str, param: str | tuple[Any, ...], args: list[Any]) -> str:
    if isinstance(param, str):
        args.append(param)
        return f"{alias}.param = ?"
    if isinstance(param[0], tuple):  # (type, param) pairs
        args += [v for pair in param for v in pair]
        pairs = ", ".join("(?, ?)" for _ in param)
        return f"({alias}.res_type, {alias}.param) IN (VALUES {pairs})"
    args += list(param)
    return f"{alias}.param IN ({_marks(param)})"


def _param_probed(alias: str, param: str | tuple[str, ...], args: list[Any]) -> str:
    """The parameter test of a probe, as an expression no index can serve: without
    statistics SQLite would otherwise prefer the ``(res_type, param, value...)`` lookup
    index (more equal columns) and scan every row of the parameter for each probed row,
    instead of the few rows of that resource in its ``(res_type, res_id)`` index."""
    return _param(alias, param, args).replace(f"{alias}.param", f"{alias}.param || ''", 1)


def _types(alias: str, types: tuple[str, ...], args: list[Any]) -> str:
    args += list(types)
    if len(types) == 1:
        return f"{alias}.res_type = ?"
    return f"{alias}.res_type IN ({_marks(types)})"


# conditions on a driver's own index row (alias given), compiled inside its subquery; the
# row's (table, param) when it carries that index row's columns (see _clauses)
Own = tuple[str, Any] | None
Within = Callable[[str, Own], list[str]] | None


def _index_clause(clause: Clause, a: str, types: tuple[str, ...], al: _Aliases, within: Within = None) -> str:
    for alt in clause.alternatives:
        for t in alt:
            if t.column not in COLUMNS[clause.table]:
                raise ValueError(f"no column {t.column!r} in {clause.table}")
    args = al.args
    if clause.table == "resource":
        cond = _alternatives(a, clause, args)
        return f"NOT {cond}" if clause.negate else cond
    neg = "NOT " if clause.negate else ""
    x = al.new("x")
    if len(types) == 1:
        if _spanned(clause):  # one index range scan per span class (an OR would scan all)
            parts = []
            for alt in clause.alternatives:
                args.append(types[0])
                param = _param(x, clause.param, args)
                cond = _alternatives(x, Clause(clause.table, clause.param, (alt,)), args)
                where = f"{x}.res_type = ? AND {param} AND {cond}"
                keep = f"{x}.res_type, {x}.res_id, {x}.low, {x}.high"  # low, high: see _clauses' own
                parts.append(f"SELECT {keep} FROM date_index {x} WHERE {where}")
            u = al.new("u")  # the other clauses probe the union's rows, as in the plain form
            more = " WHERE " + " AND ".join(within(u, (clause.table, clause.param))) if within else ""
            return f"{a}.res_id {neg}IN (SELECT {u}.res_id FROM ({' UNION ALL '.join(parts)}) {u}{more})"
        args.append(types[0])
        param = _param(x, clause.param, args)
        cond = _alternatives(x, clause, args)
        more = "".join(f" AND {w}" for w in within(x, (clause.table, clause.param))) if within else ""
        return (
            f"{a}.res_id {neg}IN (SELECT {x}.res_id FROM {clause.table}_index {x}"
            f" WHERE {x}.res_type = ? AND {param} AND {cond}{more})"
        )
    if isinstance(clause.param, tuple) and isinstance(clause.param[0], tuple):  # start from the index
        param = _param(x, clause.param, args)
        cond = _alternatives(x, clause, args)
        return (
            f"({a}.res_type, {a}.res_id) {neg}IN (SELECT {x}.res_type, {x}.res_id"
            f" FROM {clause.table}_index {x} WHERE {param} AND {cond})"
        )
    return _probe(clause, a, al, x)


def _probe(clause: Clause, a: str, al: _Aliases, x: str | None = None) -> str:
    """An index clause as a correlated ``EXISTS`` on row ``a``'s index rows."""
    x = x or al.new("x")
    param = _param_probed(x, clause.param, al.args)
    cond = _alternatives(x, clause, al.args)
    return (
        f"{'NOT ' if clause.negate else ''}EXISTS (SELECT 1 FROM {clause.table}_index {x}"
        f" WHERE {x}.res_type = {a}.res_type AND {x}.res_id = {a}.res_id AND {param} AND {cond})"
    )


def _chain(chain: Chain, a: str, types: tuple[str, ...], al: _Aliases, within: Within = None) -> str:
    r, t = al.new("r"), al.new("t")
    args = al.args
    head = f"{_types(r, types, args)} AND {_param(r, chain.param, args)}"
    inner = " AND ".join(_match(chain.target_types, chain.clauses, t, al))
    sub = f"SELECT {t}.res_id FROM resource_current {t} WHERE {inner}"
    kinds = chain.target_types
    kind = f"{r}.target_type = ?" if len(kinds) == 1 else f"{r}.target_type IN ({_marks(kinds)})"
    target = f"{r}.target_id IN ({sub}) AND {kind}"
    args += list(kinds)
    if len(chain.target_types) > 1:  # ids are unique per type only
        t2 = al.new("t")
        inner2 = " AND ".join(_match(chain.target_types, chain.clauses, t2, al))
        target += (
            f" AND ({r}.target_type, {r}.target_id) IN"
            f" (SELECT {t2}.res_type, {t2}.res_id FROM resource_current {t2} WHERE {inner2})"
        )
    if len(types) == 1:
        more = "".join(f" AND {w}" for w in within(r, None)) if within else ""
        return f"{a}.res_id IN (SELECT {r}.res_id FROM reference_index {r} WHERE {head} AND {target}{more})"
    return (
        f"({a}.res_type, {a}.res_id) IN (SELECT {r}.res_type, {r}.res_id FROM reference_index {r}"
        f" WHERE {head} AND {target})"
    )


def _reverse(rev: Reverse, a: str, types: tuple[str, ...], al: _Aliases) -> str:
    r, s = al.new("r"), al.new("s")
    args = al.args
    args.append(rev.source_type)
    head = f"{r}.res_type = ? AND {_param(r, rev.params, args)}"
    ids = _read_ids(rev)
    if ids is not None:  # resources just read: their reference rows exist, and only theirs
        if al.in_list is not None:  # one parameter: the same statement for any number of ids
            member, param = al.in_list(ids)
            args.append(param)
        else:
            member = f"IN ({_marks(ids)})"
            args += ids
        body = f"{head} AND {r}.res_id {member}"
    else:
        inner = " AND ".join(_match((rev.source_type,), rev.clauses, s, al))
        body = f"{head} AND {r}.res_id IN (SELECT {s}.res_id FROM resource_current {s} WHERE {inner})"
    if len(types) == 1:
        args.append(types[0])
        return (
            f"{a}.res_id IN (SELECT {r}.target_id FROM reference_index {r}"
            f" WHERE {body} AND {r}.target_type = ?)"
        )
    return (
        f"({a}.res_type, {a}.res_id) IN"
        f" (SELECT {r}.target_type, {r}.target_id FROM reference_index {r} WHERE {body})"
    )


def _read_ids(rev: Reverse) -> list[str] | None:
    """The ids of ``rev.read`` sources (its one clause: ``_id`` in a list), else None.
    Index rows are kept for current, non-deleted resources only, so reading the reference
    rows of those ids finds what the lookup of the sources in ``resource_current`` would."""
    if not rev.read or len(rev.clauses) != 1:
        return None
    clause = rev.clauses[0]
    if not isinstance(clause, Clause) or clause.table != "resource" or clause.negate:
        return None
    if len(clause.alternatives) != 1 or len(clause.alternatives[0]) != 1:
        return None
    test = clause.alternatives[0][0]
    return list(test.value) if (test.column, test.op) == ("res_id", "in") else None


def _chain_probe(chain: Chain, a: str, al: _Aliases) -> str:
    """A chain tested for row ``a``: its reference rows, then each target's criteria."""
    r, t = al.new("r"), al.new("t")
    param = _param_probed(r, chain.param, al.args)
    head = f"{r}.res_type = {a}.res_type AND {r}.res_id = {a}.res_id AND {param}"
    kinds = chain.target_types
    al.args.extend(kinds)
    kind = f"{r}.target_type = ?" if len(kinds) == 1 else f"{r}.target_type IN ({_marks(kinds)})"
    inner = " AND ".join(_match(kinds, chain.clauses, t, al, probe=True))
    return (
        f"EXISTS (SELECT 1 FROM reference_index {r} WHERE {head} AND {kind} AND EXISTS (SELECT 1"
        f" FROM resource_current {t} WHERE {t}.res_type = {r}.target_type AND {t}.res_id = {r}.target_id"
        f" AND {inner}))"
    )


def _reverse_probe(rev: Reverse, a: str, al: _Aliases) -> str:
    """``_has`` tested for row ``a``: the references to it, then each source's criteria."""
    r, s = al.new("r"), al.new("s")
    al.args.append(rev.source_type)
    head = (
        f"{r}.target_id = {a}.res_id AND {r}.target_type = {a}.res_type AND {r}.res_type = ?"
        f" AND {_param(r, rev.params, al.args)}"
    )
    inner = " AND ".join(_match((rev.source_type,), rev.clauses, s, al, probe=True))
    return (
        f"EXISTS (SELECT 1 FROM reference_index {r} WHERE {head} AND EXISTS (SELECT 1"
        f" FROM resource_current {s} WHERE {s}.res_type = {r}.res_type AND {s}.res_id = {r}.res_id"
        f" AND {inner}))"
    )


def _rank(clause: AnyClause) -> int:
    """How few rows a clause is expected to match (lower: fewer), to pick the driver;
    no statistics: by the kind of test."""
    if clause.negate:
        return 90
    if isinstance(clause, Chain):
        return min((_rank(c) for c in clause.clauses), default=50) + 1
    if isinstance(clause, Reverse):
        return 45
    if not clause.alternatives:
        return 0  # matches nothing
    if _spanned(clause):
        return 35  # a narrow date interval (search/interval.py): after token codes
    return max(_alternative_rank(clause.table, alt) for alt in clause.alternatives)


_BROAD = 50
_TOKEN = 30  # a token's code: on PostgreSQL it probes the compartment rows too


def _spanned(clause: Clause) -> bool:
    """A bounded date interval driver (search/interval.py): each alternative one span class."""
    return clause.table == "date" and all(any(t.column == "span" for t in alt) for alt in clause.alternatives)


def _alternative_rank(table: str, alt: tuple[Test, ...]) -> int:
    equal = {t.column for t in alt if t.op in ("=", "in")}
    if table == "resource" and "res_id" in equal:
        return 0
    if table == "reference" and equal & {"target_id", "url"}:
        return 10
    if table == "string" and any(t.op in ("=", "prefix") and len(str(t.value)) >= 3 for t in alt):
        return 20
    if (table in ("token", "uri") and "value" in equal) or (table == "composite" and "value1" in equal):
        return 30
    if table == "string" and any(t.op in ("=", "prefix") for t in alt):
        return 40
    return 50


def _indexed(clause: AnyClause) -> bool:
    """Whether a probe of ``clause`` reads only the row's type and id (not ``resource``)."""
    return isinstance(clause, (Chain, Reverse)) or clause.table != "resource"


def _nests(driver: AnyClause) -> bool:
    """Whether the driver's subquery selects rows of the searched resource (its own
    ``res_type``/``res_id``), so that probes can run on them inside it."""
    if driver.negate or isinstance(driver, Reverse):
        return False
    return isinstance(driver, Chain) or driver.table != "resource"


def _clauses(
    types: tuple[str, ...],
    clauses: tuple[AnyClause, ...],
    a: str,
    al: _Aliases,
    *,
    probe: bool = False,
    own: Own = None,
) -> list[str]:
    """Over one type the lowest-ranked clause drives and the others probe; with ``probe``
    (row ``a`` is already known) every clause probes. ``own``: row ``a`` is an index row
    of that (table, param), whose own columns a clause of the same parameter tests first."""
    where: list[str] = []
    driver = forced = None
    if not probe and len(types) == 1 and clauses:
        forced = next((i for i, c in enumerate(clauses) if c is al.lead), None)
        al.lead = None if forced is not None else al.lead
        driver = forced if forced is not None else min(range(len(clauses)), key=lambda i: _rank(clauses[i]))
    # Only broad clauses (ranges): each as an IN list, intersected; probing every row of
    # the first one measured slower. A forced lead is known to have few rows: it drives.
    broad = driver is not None and forced is None and _rank(clauses[driver]) >= _BROAD
    if driver is not None and not broad and _nests(clauses[driver]):
        # The other index clauses probe the driver's own index rows inside its subquery
        # (same type and id as the row): only the rows passing them are looked up in
        # resource_current (a patient's observations of one code: 1 of ~20, not all).
        inside = [c for i, c in enumerate(clauses) if i != driver and _indexed(c)]
        outside = [c for i, c in enumerate(clauses) if i != driver and not _indexed(c)]
        d = clauses[driver]

        def within(x: str, own: Own) -> list[str]:
            return _clauses(types, tuple(inside), x, al, probe=True, own=own)

        if isinstance(d, Chain):
            first = _chain(d, a, types, al, within)
        else:
            assert isinstance(d, Clause)
            first = _index_clause(d, a, types, al, within)
        return [first, *_clauses(types, tuple(outside), a, al, probe=True)]
    for i, clause in enumerate(clauses):
        if probe or (i != driver and len(types) == 1 and not broad):
            if isinstance(clause, Chain):
                where.append(_chain_probe(clause, a, al))
            elif isinstance(clause, Reverse):
                where.append(_reverse_probe(clause, a, al))
            elif clause.table == "resource":
                where.append(_index_clause(clause, a, types, al))
            elif own == (clause.table, clause.param) and not clause.negate:
                # the driver's row passes it in most cases (one date per resource): its
                # other rows are probed only when it does not (the OR short-circuits)
                mine = _alternatives(a, clause, al.args)
                where.append(f"({mine} OR {_probe(clause, a, al)})")
            else:
                where.append(_probe(clause, a, al))
        elif isinstance(clause, Chain):
            where.append(_chain(clause, a, types, al))
        elif isinstance(clause, Reverse):
            where.append(_reverse(clause, a, types, al))
        else:
            where.append(_index_clause(clause, a, types, al))
    return where


def _access(
    a: str, types: tuple[str, ...] | None, al: _Aliases, *, drive: bool = False, probes: Any = None
) -> list[str]:
    if al.access is None:
        return []
    from helseflyt.storage.sql_access import predicate  # access control hook: one predicate

    return [predicate(al.access, a, types, al.args, drive=drive, probes=probes)]


def _drives(access: Any, types: tuple[str, ...]) -> bool:
    from helseflyt.storage.sql_access import drives

    return drives(access, types)


def _may_drive(types: tuple[str, ...], clauses: tuple[AnyClause, ...], access: Any) -> bool:
    least = _TOKEN if access is not None and access.postgres else _BROAD
    return len(types) == 1 and all(_rank(c) >= least for c in clauses)


def _match(
    types: tuple[str, ...], clauses: tuple[AnyClause, ...], a: str, al: _Aliases, *, probe: bool = False
) -> list[str]:
    """Conditions on ``resource_current`` row ``a``: one of ``types``, current, all clauses."""
    where = [_types(a, types, al.args), f"NOT {a}.deleted"]
    # no selective clause of its own (none or ranges; on PostgreSQL token codes too): access
    # control may pick where the rows come from
    drive = al.drive and not probe and _may_drive(types, clauses, al.access)
    # the compartment rows drive: the clauses probe them, not offer IN lists of their own
    lead = drive and al.access is not None and _drives(al.access, types)
    if lead and al.access.postgres:
        # tested on the compartment rows before rows are fetched (those reading only the
        # row's type and id; the others on the row)
        inside = tuple(c for c in clauses if _indexed(c))
        outside = tuple(c for c in clauses if not _indexed(c))

        def probes(x: str) -> tuple[str, list[Any]]:
            sub = _Aliases(n=al.n + 1000)
            text = " AND ".join(_clauses(types, inside, x, sub, probe=True)) or "1 = 1"
            return text, sub.args

        own = _clauses(types, outside, a, al, probe=True)
        return where + own + _access(a, types, al, drive=drive, probes=probes if inside else None)
    return where + _clauses(types, clauses, a, al, probe=probe or lead) + _access(a, types, al, drive=drive)


def _matches(query: SearchQuery, al: _Aliases) -> str:
    """``SELECT res_type, res_id, ctype, cid`` of what a ``_contained`` search returns:
    contained matches (keys ``Container/id#local``) or their containers, and with
    ``both`` the stored resources that match too; ``ctype``/``cid`` name the stored
    resource whose body holds the match. A contained resource is found through its
    ``_container`` reference row (alias ``k`` has ``res_type``/``res_id`` like a resource
    row, so the clauses test its own rows); its rows exist only while its container is
    current, so the container is joined only for access control (which tests it)."""
    from helseflyt.storage.sql import CONTAINER

    args = al.args
    parts = []
    if query.contained == "both":
        parts.append(
            "SELECT c.res_type, c.res_id, c.res_type AS ctype, c.res_id AS cid FROM resource_current c"
            f" WHERE {' AND '.join(_match(query.types, query.clauses, 'c', al))}"
        )
    k = al.new("k")
    where = [_types(k, query.types, args), f"{k}.param = ?"]
    args.append(CONTAINER)
    where += _clauses(query.types, query.clauses, k, al)
    source = f"reference_index {k}"
    if al.access is not None:
        c = al.new("c")
        source += (
            f" JOIN resource_current {c} ON {c}.res_type = {k}.target_type AND {c}.res_id = {k}.target_id"
        )
        where += _access(c, None, al)
    container = f"{k}.target_type AS ctype, {k}.target_id AS cid"
    if query.contained_type == "container":
        keep = f"DISTINCT {k}.target_type AS res_type, {k}.target_id AS res_id, {container}"
    else:
        keep = f"{k}.res_type, {k}.res_id, {container}"
    parts.append(f"SELECT {keep} FROM {source} WHERE {' AND '.join(where)}")
    return " UNION ".join(parts)


def _compile_contained(query: SearchQuery, columns: str) -> tuple[str, list[Any]]:
    al = _Aliases(access=query.access)
    rows = _matches(query, al)
    args = al.args
    cursor = query.cursor
    back = cursor is not None and cursor.backward
    where = ""
    if cursor is not None:
        where = f" WHERE (m.res_type, m.res_id) {'<' if back else '>'} (?, ?)"
        args += [cursor.type, cursor.id]
    order = "m.res_type DESC, m.res_id DESC" if back else "m.res_type, m.res_id"
    page = f"SELECT m.* FROM ({rows}) m{where} ORDER BY {order} LIMIT ?"
    args.append(query.count if back else query.count + 1)
    cols = columns.replace("h.res_type", "p.res_type").replace("h.res_id", "p.res_id")  # contained keys
    # the page is cut before the joins: only its bodies are read
    sql = (
        f"SELECT {cols} FROM ({page}) p JOIN resource_current c ON c.res_type = p.ctype AND c.res_id = p.cid"
        " JOIN resource_history h ON h.seq = c.seq"
    )
    return f"{sql} ORDER BY p.res_type, p.res_id", args


def _sort_expr(key: SortKey, args: list[Any]) -> str:
    if key.table == "resource":
        return f"c.{key.column}"
    if key.column not in COLUMNS[key.table]:
        raise ValueError(f"no column {key.column!r} in {key.table}")
    agg = "max" if key.descending else "min"
    args.append(key.param)
    return (
        f"(SELECT {agg}(CASE WHEN s.param = ? THEN s.{key.column} END) FROM {key.table}_index s"
        " WHERE s.res_type = c.res_type AND s.res_id = c.res_id)"
    )


def _order(alias: str, sort: tuple[SortKey, ...], backward: bool) -> str:
    parts = []
    for i, key in enumerate(sort):
        desc = key.descending != backward
        parts.append(f"{alias}.k{i} {'DESC' if desc else 'ASC'} NULLS {'FIRST' if backward else 'LAST'}")
    tie = " DESC" if backward else ""
    parts += [f"{alias}.res_type{tie}", f"{alias}.res_id{tie}"]
    return ", ".join(parts)


def _keyset(alias: str, sort: tuple[SortKey, ...], cursor: Cursor, args: list[Any]) -> str:
    """Rows after the cursor (before it, if ``backward``) in the order of ``sort``."""
    back = cursor.backward
    cond = f"({alias}.res_type, {alias}.res_id) {'<' if back else '>'} (?, ?)"
    tail_args: list[Any] = [cursor.type, cursor.id]
    for i in reversed(range(len(sort))):
        col, value, desc = f"{alias}.k{i}", cursor.keys[i], sort[i].descending
        here: list[Any] = []
        if value is None:  # nulls come last
            beyond = f"{col} IS NOT NULL" if back else "1 = 0"
            equal = f"{col} IS NULL"
        else:
            op = "<" if desc != back else ">"
            beyond = f"{col} {op} ?" if back else f"({col} {op} ? OR {col} IS NULL)"
            equal = f"{col} = ?"
            here = [value]
        cond = f"({beyond} OR ({equal} AND {cond}))"
        tail_args = [*here, *([value] if value is not None else []), *tail_args]
    args += tail_args
    return cond


def counts_in_page(query: SearchQuery, dialect: Dialect = SQLITE) -> bool:
    """Whether the page's rows carry the total (``count(*) OVER ()``): with ``_sort`` the
    page query reads and sorts every match anyway, and so does the first page of a
    PostgreSQL search the allowed patients' compartments drive (its id array holds every
    match) or, where ``dialect`` counts them so, a bounded date interval drives (its union
    of span-class ranges holds every candidate), so no separate count query is needed."""
    if not query.total or query.contained != "false":
        return False
    if query.sort:
        return True
    return query.cursor is None and (_in_array(query) or dialect.counts_intervals and _interval_driven(query))


def _interval_driven(query: SearchQuery) -> bool:
    """Whether a bounded date interval drives the search (see :func:`_clauses`), without
    access control (which may pick another driver)."""
    if query.access is not None or len(query.types) != 1 or not query.clauses:
        return False
    driver = min(query.clauses, key=_rank)
    return isinstance(driver, Clause) and not driver.negate and _spanned(driver)


def _in_array(query: SearchQuery) -> bool:
    """Whether the page reads its rows from the compartments' id array (PostgreSQL)."""
    a, types = query.access, query.types
    return a is not None and a.postgres and _may_drive(types, query.clauses, a) and _drives(a, types)


def scannable(query: SearchQuery, dialect: Dialect) -> bool:
    """Whether the page may scan in id order (``scan``): one type, no sort, stored
    resources, and a driver whose rows are counted by :func:`compile_driver_count` (an
    index clause that is no id, no reference to one resource, no long string prefix and
    no bounded date interval: those drivers are selective by construction)."""
    if not dialect.scans_dense or query.sort or query.contained != "false" or len(query.types) != 1:
        return False
    return bool(rivals(query))


def _lead(query: SearchQuery) -> AnyClause | None:
    return None if query.lead is None else query.clauses[query.lead]


def countable(clause: AnyClause) -> bool:
    """Whether :func:`compile_driver_count` can count the clause's index rows."""
    return (
        isinstance(clause, Clause)
        and not clause.negate
        and clause.table != "resource"
        and not _spanned(clause)
        and _rank(clause) >= _TOKEN
    )


def rivals(query: SearchQuery) -> list[int]:
    """The positions of the clauses that would drive (the lowest rank; the first of
    them does), if that driver's rows can be counted (:func:`compile_driver_count`);
    else none. Which of equal rank has the fewest rows only counting tells (e.g.
    ``status=final&code=...``): the caller may move that one first."""
    if not query.clauses:
        return []
    best = min(_rank(c) for c in query.clauses)
    ties = [i for i, c in enumerate(query.clauses) if _rank(c) == best]
    if not countable(query.clauses[ties[0]]):
        return []
    return [i for i in ties if countable(query.clauses[i])]


def compile_driver_count(query: SearchQuery, cap: int, at: int | None = None) -> tuple[str, list[Any]]:
    """How many index rows the driver of a :func:`scannable` query (or its clause ``at``,
    a :func:`countable` one) has, up to ``cap`` (an index range scan: cheap when it has
    few)."""
    d = query.clauses[rivals(query)[0] if at is None else at]
    assert isinstance(d, Clause)
    args: list[Any] = [query.types[0]]
    param = _param("x", d.param, args)
    cond = _alternatives("x", d, args)
    args.append(cap)
    return (
        f"SELECT count(*) FROM (SELECT 1 FROM {d.table}_index x WHERE x.res_type = ? AND {param}"
        f" AND {cond} LIMIT ?) n"
    ), args


def compile_search(
    query: SearchQuery,
    columns: str,
    in_list: InList | None = None,
    dialect: Dialect = SQLITE,
    *,
    scan: bool = False,
) -> tuple[str, list[Any]]:
    """``SELECT columns`` of one page: ``count + 1`` rows (to tell if more follow), or
    with a backward cursor the ``count`` rows before it (in forward order). With
    ``query.sort`` (and not ``_contained``) each row ends with its sort key values, then
    the number of matches if :func:`counts_in_page`. ``in_list`` and ``dialect``: the
    connection's (:class:`helseflyt.storage.sql.Connection`); ``in_list`` for the id
    lists of an ``_include``. ``scan``: the rows come from ``resource_current`` in id
    order and every clause probes them (a :func:`scannable` query with a dense driver)."""
    if query.contained != "false":
        return _compile_contained(query, columns)
    al = _Aliases(access=query.access, in_list=in_list, lead=_lead(query))
    where = _match(query.types, query.clauses, "c", al, probe=scan)
    args = al.args
    cursor = query.cursor
    if not query.sort:
        back = cursor is not None and cursor.backward
        if cursor is not None:
            where.append(f"(c.res_type, c.res_id) {'<' if back else '>'} (?, ?)")
            args += [cursor.type, cursor.id]
        order = "c.res_type DESC, c.res_id DESC" if back else "c.res_type, c.res_id"
        limit = query.count if back else query.count + 1
        if counts_in_page(query, dialect):  # every match is read before the cut: count them
            args.append(limit)
            return (
                f"SELECT {columns}, p.n FROM (SELECT c.seq, c.res_type, c.res_id, count(*) OVER () AS n"
                f" FROM resource_current c WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?) p"
                " JOIN resource_history h ON h.seq = p.seq ORDER BY p.res_type, p.res_id"
            ), args
        sql = (
            f"SELECT {columns} FROM resource_current c JOIN resource_history h ON h.seq = c.seq"
            f" WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
        )
        args.append(limit)
        if back:
            sql = f"SELECT * FROM ({sql}) p ORDER BY p.res_type, p.res_id"
        return sql, args
    key_args: list[Any] = []
    keys = ", ".join(f"{_sort_expr(k, key_args)} AS k{i}" for i, k in enumerate(query.sort))
    if counts_in_page(query, dialect):  # every match is read to be sorted: count them on the way
        keys += ", count(*) OVER () AS n"
    inner = f"SELECT c.seq, c.res_type, c.res_id, {keys} FROM resource_current c WHERE {' AND '.join(where)}"
    back = cursor is not None and cursor.backward
    page_args = [*key_args, *args]
    page_where = ""
    if cursor is not None:
        page_where = " WHERE " + _keyset("m", query.sort, cursor, page_args)
    limit = query.count if back else query.count + 1
    page = f"SELECT m.* FROM ({inner}) m{page_where} ORDER BY {_order('m', query.sort, back)} LIMIT ?"
    page_args.append(limit)
    sort_keys = "".join(f", p.k{i}" for i in range(len(query.sort)))  # for the paging cursors
    if counts_in_page(query, dialect):
        sort_keys += ", p.n"
    sql = (
        f"SELECT {columns}{sort_keys} FROM ({page}) p JOIN resource_history h ON h.seq = p.seq"
        f" ORDER BY {_order('p', query.sort, False)}"
    )
    return sql, page_args


def compile_count(
    query: SearchQuery, in_list: InList | None = None, cap: int | None = None, *, scan: bool = False
) -> tuple[str, list[Any]]:
    """``count(*)`` of the matches; with ``cap``, of at most ``cap + 1`` of them;
    ``scan`` as for :func:`compile_search`."""
    al = _Aliases(access=query.access, in_list=in_list, lead=_lead(query))
    if query.contained != "false":
        source = f"SELECT 1 FROM ({_matches(query, al)}) m"
    else:
        where = " AND ".join(_match(query.types, query.clauses, "c", al, probe=scan))
        source = f"SELECT 1 FROM resource_current c WHERE {where}"
    if cap is None:
        return f"SELECT count(*) FROM ({source}) n", al.args
    return f"SELECT count(*) FROM ({source} LIMIT ?) n", [*al.args, cap + 1]
