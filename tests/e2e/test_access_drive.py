"""A practitioner's search of one type without a selective clause of its own starts from
the allowed patients' compartments (``predicate(..., drive=True)``; on PostgreSQL an id
array computed once): it decides exactly as the per-row predicate, on every backend."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from typing import Any

from helseflyt.storage import Store
from helseflyt.storage.sql_access import AccessFilter, care_patients, predicate, request_sets

from .test_access_sets import BASES, DOCTORS, store  # noqa: F401  (store: the seeded fixture)


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
