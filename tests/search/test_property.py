"""Property-based search test: generated resources and queries, the server's answer
compared with a brute-force evaluation (``brute.py``) over the stored resources.

Each example stores a few Patients, Observations and RiskAssessments
(``strategies.py``; written through the store with its indexer, no validation: search is
under test), runs a few queries through the REST API with a small ``_count`` (every
page walked) and checks that the ids returned, ``Bundle.total`` and, with ``_sort``,
the order are those the brute force finds. On a mismatch hypothesis shrinks to a
minimal example. Runs on every backend; CI
(``HELSEFLYT_TEST_REQUIRE_ALL=1``) derandomises so that its runs are reproducible.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from conftest import CACHE, require_all
from helseflyt.http.testing import Client
from helseflyt.storage import Store, sql_search

from .brute import World, evaluate, ordered
from .strategies import queries, resources, sorts

EXAMPLES = int(os.environ.get("HELSEFLYT_TEST_PROPERTY_EXAMPLES", "100"))

PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=require_all(),
    database=None if require_all() else DirectoryBasedExampleDatabase(str(CACHE / "hypothesis")),
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

Stored = dict[str, dict[str, dict[str, Any]]]


def _replace(store: Store, old: Stored, new: Stored) -> None:
    """Make ``new`` the store's only current resources (ids are reused across examples)."""
    with store.transaction() as tx:
        for res_type, by_id in old.items():
            for rid in by_id:
                if rid not in new.get(res_type, {}):
                    tx.delete(res_type, rid)
        for res_type, by_id in new.items():
            for rid, resource in by_id.items():
                tx.put(res_type, rid, dict(resource))


def _walk(client: Client, res_type: str, pairs: list[tuple[str, str]], count: int) -> tuple[list[str], int]:
    """Every match id over all pages, and the first page's total."""
    r = client.get(res_type, params=[*pairs, ("_count", str(count))])
    assert r.status_code == 200, r.text
    total = r.json().get("total")
    seen: list[str] = []
    while True:
        bundle = r.json()
        assert not [e for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"], bundle
        seen += [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not nxt:
            return seen, total
        r = client.get(nxt[0])
        assert r.status_code == 200, r.text


def test_search_matches_brute_force(client: Client, store: Store) -> None:
    _against_brute_force(client, store)


@pytest.mark.parametrize("dense", [1, 2])
def test_search_scanning_in_id_order_matches_brute_force(
    client: Client, store: Store, monkeypatch: pytest.MonkeyPatch, dense: int
) -> None:
    """Drivers count as dense from ``dense`` index rows: with 1 each page and count that
    may scan resources in id order (SQLite, ``sql_search.scannable``) does, probing
    every clause; with 3 some scan, some read their driver, some let a rarer clause lead
    (``SearchQuery.lead``)."""
    monkeypatch.setattr(sql_search, "DENSE_PAGE", dense)
    monkeypatch.setattr(sql_search, "DENSE_COUNT", dense)
    _against_brute_force(client, store)


def _against_brute_force(client: Client, store: Store) -> None:
    stored: Stored = {}

    @PROPERTY
    @given(data=st.data(), world=resources(), count=st.integers(1, 4))
    def check(data: st.DataObject, world: Stored, count: int) -> None:
        nonlocal stored
        _replace(store, stored, world)
        stored = world
        for res_type, pairs in data.draw(st.lists(queries(world), min_size=4, max_size=10), label="queries"):
            sort = data.draw(sorts(res_type), label="_sort")
            before = datetime.now(UTC)
            got, total = _walk(client, res_type, [*pairs, *([("_sort", sort)] if sort else [])], count)
            after = datetime.now(UTC)
            assert len(got) == len(set(got)), f"a page walk repeated an entry: {got}"
            early = evaluate(World(world, before), res_type, pairs)
            late = evaluate(World(world, after), res_type, pairs)  # `ap` depends on now
            assert early & late <= set(got) <= early | late, (
                f"{res_type}?{pairs}: server {sorted(got)}, brute force {sorted(early | late)}"
            )
            assert total == len(got)
            if sort and early == late:
                want = ordered(World(world, before), res_type, early, sort)
                assert got == want, f"{res_type}?{pairs}&_sort={sort}: server {got}, brute force {want}"

    check()
