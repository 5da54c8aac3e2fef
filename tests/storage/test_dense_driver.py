"""A driver's index rows are counted (bounded) to choose between equal-rank drivers and,
on SQLite, between reading the driver and scanning in id order (``sql_search.scannable``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from helseflyt.search.index import index
from helseflyt.storage import Store, open_store, sql_search
from helseflyt.storage.query import Clause, SearchQuery
from helseflyt.storage.query import Test as T

STATUS = Clause("token", "status", ((T("value", "=", "final"),),))
CODE = Clause("token", "code", ((T("value", "=", "rare"),),))


@pytest.fixture
def observations(store_url: str) -> Iterator[Store]:
    store = open_store(store_url, indexer=index)  # every search parameter indexed
    with store.transaction() as tx:
        for i in range(8):
            coding = [{"code": "rare" if i in (2, 5) else "common"}]
            body = {"resourceType": "Observation", "status": "final", "code": {"coding": coding}}
            if i in (3, 6):
                body["valueQuantity"] = {"value": 100 + i}
            tx.put("Observation", f"o{i}", body)
    yield store
    store.close()


def test_the_equal_rank_driver_with_fewest_rows_drives(observations: Store) -> None:
    query = SearchQuery(("Observation",), (STATUS, CODE), count=10)
    assert sql_search.rivals(query) == [0, 1]
    with observations.reader() as r:
        chosen, scan = r._dense(query, 3)  # type: ignore[attr-defined]
        assert chosen.clauses == (CODE, STATUS) and not scan  # 2 rows of the code: no scan
        chosen, scan = r._dense(query, 2)  # type: ignore[attr-defined]
        assert chosen.clauses == (STATUS, CODE) and scan  # both reach the cap: as written


def test_a_rare_clause_of_another_rank_leads_instead_of_a_scan(observations: Store) -> None:
    rare_text = Clause("string", "code:text", ((T("norm", "prefix", "zz"),),))  # no rows
    query = SearchQuery(("Observation",), (STATUS, rare_text), count=10)
    with observations.reader() as r:
        assert r._dense(query, 2) == (replace(query, lead=1), False)  # type: ignore[attr-defined]
        assert r._dense(SearchQuery(("Observation",), (STATUS,)), 2)[1]  # type: ignore[attr-defined]
        assert r.search(replace(query, lead=1)).versions == []
        assert sql_search.compile_search(replace(query, lead=1), "c.res_id")[0].index("string_index") < (
            sql_search.compile_search(replace(query, lead=1), "c.res_id")[0].index("token_index")
        )  # the string clause drives; the status probes inside it


@pytest.mark.parametrize("dense", [1, 3, 100])
def test_pages_and_counts_agree_whichever_plan(
    observations: Store, monkeypatch: pytest.MonkeyPatch, dense: int
) -> None:
    monkeypatch.setattr(sql_search, "DENSE_PAGE", dense)
    monkeypatch.setattr(sql_search, "DENSE_COUNT", dense)
    for clauses, want in (((STATUS,), [f"o{i}" for i in range(8)]), ((STATUS, CODE), ["o2", "o5"])):
        query = SearchQuery(("Observation",), clauses, count=1, total=True, total_cap=5)
        with observations.reader() as r:
            found = r.search(query)
        assert [v.id for v in found.versions] == want[:1]
        assert found.total == (len(want) if len(want) <= 5 else None)


def test_a_rare_range_leads_a_dense_token(observations: Store) -> None:
    high = Clause("number", "value-quantity", ((T("value", ">", 50),),))  # rank of a range
    query = SearchQuery(("Observation",), (STATUS, high), count=10, total=True)
    with observations.reader() as r:
        led, scan = r._dense(query, 3)  # type: ignore[attr-defined]
        assert led == replace(query, lead=1) and not scan
        assert [v.id for v in r.search(led).versions] == ["o3", "o6"]
        assert [v.id for v in r.search(query).versions] == ["o3", "o6"]  # by rank: the same
