"""A practitioner's search of one type without a selective clause of its own starts from
the allowed patients' compartments (``predicate(..., drive=True)``; on PostgreSQL an id
array computed once): it decides exactly as the per-row predicate, on every backend."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from typing import Any

from helseflyt.search.parse import parse
from helseflyt.search.plan import build_query
from helseflyt.storage import Store
from helseflyt.storage.sql_access import AccessFilter, care_patients, drives, predicate, request_sets

from .test_access_sets import BASES, DOCTORS, LABEL, store  # noqa: F401  (store: the seeded fixture)

PSY = f"{LABEL['system']}|{LABEL['code']}"


def _rows(conn: Any, f: AccessFilter, t: str, drive: bool) -> set[str]:
    args: list[Any] = [t]
    cond = predicate(f, "c", (t,), args, drive=drive)
    sql = f"SELECT c.res_id FROM resource_current c WHERE c.res_type = ? AND NOT c.deleted AND {cond}"
    return {r[0] for r in conn.query(sql, args)}


def test_driving_search_decides_as_the_row_predicate(store: Store) -> None:  # noqa: F811
    now = int(time.time() * 1_000_000)
    postgres = store.url.startswith("postgresql")
    with store.reader() as r:
        conn = r.conn  # type: ignore[attr-defined]
        types = sorted({row[0] for row in conn.query("SELECT res_type FROM resource_current")})
        seen = 0
        since = now - 90 * 86_400_000_000
        for (hpr, orgs), extra in itertools.product(DOCTORS, BASES):
            actor = f"hpr:{hpr}" if hpr else None
            who = {"hpr": hpr, "orgnrs": orgs, "actor": actor, **extra}
            plain = AccessFilter("practitioner", now=now, care_since=since, postgres=postgres, **who)
            sets = request_sets(conn, plain, bases=True)[0]
            full = replace(sets, care_ids=tuple(care_patients(conn, plain, 1000) or ()))
            for t in types:
                expected = _rows(conn, plain, t, drive=False)
                assert _rows(conn, full, t, drive=True) == expected, (hpr, t, extra)
                seen += len(expected) if t == "Observation" else 0
        assert seen > 10  # practitioners do see observations, not just nothing


SEARCHES: list[list[tuple[str, str]]] = [
    [],
    [("_lastUpdated", "gt2000-01-01")],
    [("_lastUpdated", "lt2000-01-01")],  # a clause that rejects every row the compartments yield
    [("_lastUpdated", "gt2000-01-01"), ("_sort", "-_lastUpdated"), ("_count", "2")],
    # index clauses (PostgreSQL: tested on the compartment rows before rows are fetched)
    [("_security", PSY)],
    [("_security:not", PSY), ("_lastUpdated", "gt2000-01-01")],
    [("_tag", "urn:nowhere|x"), ("_sort", "_lastUpdated")],
]


def test_driving_search_pages_and_counts_as_the_row_predicate(store: Store) -> None:  # noqa: F811
    """Through ``Reader.search`` (page and total): where the compartments drive, the
    query's own clauses only probe their rows; the same matches as the per-row predicate."""
    now = int(time.time() * 1_000_000)
    postgres = store.url.startswith("postgresql")
    driven, unlabelled = 0, False
    with store.reader() as r:
        conn = r.conn  # type: ignore[attr-defined]
        types = sorted({row[0] for row in conn.query("SELECT res_type FROM resource_current")})
        for (hpr, orgs), extra in itertools.product(DOCTORS, BASES):
            who = {"hpr": hpr, "orgnrs": orgs, "actor": f"hpr:{hpr}" if hpr else None, **extra}
            plain = AccessFilter(
                "practitioner", now=now, care_since=now - 90 * 86_400_000_000, postgres=postgres, **who
            )
            full = replace(
                request_sets(conn, plain, bases=True)[0],
                care_ids=tuple(care_patients(conn, plain, 1000) or ()),
            )
            for t, pairs in itertools.product(types, SEARCHES):
                query = build_query(parse(pairs, [t]), [t], total=True)
                want, got = r.search(replace(query, access=plain)), r.search(replace(query, access=full))
                assert [v.id for v in got.versions] == [v.id for v in want.versions], (hpr, t, pairs, extra)
                assert got.total == want.total, (hpr, t, pairs, extra)
                driven += drives(full, (t,)) and bool(want.total)
                unlabelled |= pairs == SEARCHES[5] and bool(want.total)
    assert driven > 10  # the compartment-driven form did run, on rows that exist
    assert unlabelled  # an index clause (_security:not) let rows through
