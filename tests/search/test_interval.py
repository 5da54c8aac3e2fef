"""Bounded date interval searches (search/interval.py): a narrow ge/lt pair, ap, gt/le
pairs find long, open-ended and multi-valued periods exactly as before, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from helseflyt.http.testing import Client
from helseflyt.search.interval import interval_drivers
from helseflyt.search.parse import ParsedSearch, parse
from helseflyt.search.plan import build_query
from helseflyt.storage.common import migrations, statements
from helseflyt.storage.query import LONG_SPAN, Clause, span_class
from helseflyt.storage.sql import with_spans
from helseflyt.storage.sql_search import POSTGRES, SQLITE, compile_search, counts_in_page

Put = Callable[[dict[str, Any]], dict[str, Any]]
Ids = Callable[[str], list[str]]
DAY = "date=ge2020-03-10&date=lt2020-03-11"


def _enc(rid: str, period: dict[str, str]) -> dict[str, Any]:
    encounter = {"resourceType": "Encounter", "id": rid, "status": "finished", "class": {"code": "AMB"}}
    return encounter | {"period": period}


@pytest.fixture
def data(put: Put) -> None:
    put(_enc("hour", {"start": "2020-03-10T10:00:00Z", "end": "2020-03-10T11:00:00Z"}))
    put(_enc("before", {"start": "2020-03-09T10:00:00Z", "end": "2020-03-09T11:00:00Z"}))
    put(_enc("after", {"start": "2020-03-11T00:00:00Z", "end": "2020-03-11T01:00:00Z"}))
    put(_enc("week", {"start": "2020-03-05", "end": "2020-03-12"}))  # class 1
    put(_enc("months", {"start": "2019-12-01", "end": "2020-03-11"}))  # class 2
    put(_enc("years", {"start": "2015-01-01", "end": "2030-01-01"}))  # long
    put(_enc("open", {"start": "2001-01-01"}))  # open-ended: long
    put(_enc("unstarted", {"end": "2020-03-11"}))  # no start: long
    put(_enc("old-open", {"end": "2001-01-01"}))  # long, does not overlap
    # Goal.target.dueDate repeats: rows 1990 and 2030 (neither in the day) still match
    # ge and lt, each by another row: the envelope is long.
    put({
        "resourceType": "Goal", "id": "two", "lifecycleStatus": "active",
        "description": {"text": "x"}, "subject": {"reference": "Patient/p"},
        "target": [{"dueDate": "1990-01-01"}, {"dueDate": "2030-01-01"}],
    })  # fmt: skip
    put({
        "resourceType": "Goal", "id": "near", "lifecycleStatus": "active",
        "description": {"text": "x"}, "subject": {"reference": "Patient/p"},
        "target": [{"dueDate": "2020-03-09"}, {"dueDate": "2020-03-12"}],
    })  # fmt: skip


def test_one_day_range_finds_short_long_and_open_periods(ids: Ids, data: None) -> None:
    assert ids(f"Encounter?{DAY}") == ["hour", "months", "open", "unstarted", "week", "years"]


def test_other_narrow_intervals(ids: Ids, data: None) -> None:
    assert ids("Encounter?date=gt2020-03-10&date=le2020-03-11") == [
        "after", "months", "open", "unstarted", "week", "years",
    ]  # fmt: skip
    assert ids("Encounter?date=ge2020-03-10&date=le2020-03-10") == [
        "hour", "months", "open", "unstarted", "week", "years",
    ]  # fmt: skip
    assert ids("Encounter?date=sa2020-03-10&date=eb2020-03-12") == ["after"]
    # "empty" interval: a period reaching over both ends still meets both criteria
    assert ids("Encounter?date=ge2020-03-11&date=lt2020-03-09") == ["open", "week", "years"]
    assert "old-open" in ids("Encounter?date=lt2001-01-02")  # one-sided: no driver, as before


def test_full_first_page_counts_its_matches_in_the_page_query(client: Client, data: None) -> None:
    """The driver's union holds every candidate: on PostgreSQL the page query counts them
    (``count(*) OVER ()``) instead of a second query repeating the filter; pages after the
    first and other searches still count apart. The totals are exact on every backend."""
    day = build_query(_parsed(DAY), ["Encounter"], total=True)
    assert counts_in_page(day, POSTGRES) and not counts_in_page(day, SQLITE)  # see Dialect
    assert not counts_in_page(build_query(_parsed(DAY), ["Encounter"], total=False), POSTGRES)
    one_sided = build_query(_parsed("date=ge2020-03-10"), ["Encounter"], total=True)
    assert not counts_in_page(one_sided, POSTGRES)
    walked: list[str] = []
    url = f"Encounter?{DAY}&_count=4"
    while url:
        page = client.get(url).json()
        assert page["total"] == 6
        walked += [e["resource"]["id"] for e in page.get("entry", [])]
        url = next((x["url"] for x in page["link"] if x["relation"] == "next"), "")
    assert sorted(walked) == ["hour", "months", "open", "unstarted", "week", "years"]
    for count, total in (("6", 6), ("5", 6), ("1", 6)):
        assert client.get(f"Encounter?{DAY}&_count={count}").json()["total"] == total


def test_multi_valued_parameter_keeps_per_row_semantics(ids: Ids, data: None) -> None:
    # each criterion may be met by a different row of the resource (search.html: ANDed)
    assert ids("Goal?target-date=ge2020-03-10&target-date=lt2020-03-11") == ["near", "two"]
    assert ids("Goal?target-date=ge2029-12-31&target-date=lt2030-01-02") == ["two"]


def _sql(store_url: str, backend: str, sql: str) -> list[tuple[Any, ...]]:
    """Run ``sql`` on the test database beside the store (to replay a migration step)."""
    if backend == "sqlite":
        import sqlite3

        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
            return list(conn.execute(sql))
    import psycopg

    from helseflyt.storage.postgres.store import parse_url

    conninfo, schema, _ = parse_url(store_url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        cur = conn.execute(sql.replace("%", "%%"))
        return list(cur) if cur.description else []


def test_migration_backfill_gives_the_writers_spans(data: None, store_url: str, backend: str) -> None:
    rows = "SELECT res_type, res_id, param, low, high, span FROM date_index ORDER BY 1, 2, 3, 4, 5"
    written = _sql(store_url, backend, rows)
    assert {r[-1] for r in written} == {0, 1, 2, LONG_SPAN}
    (migration,) = [sql for v, sql in migrations(f"helseflyt.storage.{backend}") if v == 7]
    (update,) = [s for s in statements(migration) if s.startswith("UPDATE")]
    _sql(store_url, backend, f"UPDATE date_index SET span = {LONG_SPAN}")  # as before migration 007
    _sql(store_url, backend, update)
    assert _sql(store_url, backend, rows) == written


def test_span_classes_of_envelopes() -> None:
    day = 86_400_000_000
    assert span_class(0, day - 1) == 0
    assert span_class(0, 20 * day) == 1
    assert span_class(0, 300 * day) == 2
    assert span_class(-(2**62), 2**62) == LONG_SPAN
    rows = [("Goal", "g", "target-date", 0, day - 1), ("Goal", "g", "target-date", 400 * day, 401 * day)]
    assert [r[-1] for r in with_spans(rows)] == [LONG_SPAN, LONG_SPAN]  # the envelope, not the row
    assert with_spans([("Encounter", "e", "date", 0, 5)]) == [("Encounter", "e", "date", 0, 5, 0)]


def _parsed(query: str) -> ParsedSearch:
    return parse([tuple(p.split("=", 1)) for p in query.split("&")], ["Encounter"])  # type: ignore[misc]


def test_narrow_pair_gets_a_driver_wide_or_one_sided_not() -> None:
    def drivers(query: str) -> tuple[Clause, ...]:
        parsed = _parsed(query)
        return interval_drivers(
            build_query(parsed, ["Encounter"]).clauses[: len(parsed.criteria["Encounter"])]
        )

    assert len(drivers(DAY)) == 1
    assert drivers("date=ge2020-01-01&date=lt2021-01-01") == ()  # a year: not narrow
    assert drivers("date=ge2020-01-01") == ()
    assert drivers("date=2020-03-10") == ()  # eq is an index range scan of its own
    sql, _ = compile_search(build_query(_parsed(DAY), ["Encounter"]), "h.body")
    assert sql.count("UNION ALL") == LONG_SPAN  # one range scan per span class
