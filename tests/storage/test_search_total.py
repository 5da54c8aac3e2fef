"""``total``: from the page when the first page holds every match, else counted."""

from __future__ import annotations

import pytest

from helseflyt.storage import Store
from helseflyt.storage.query import Clause, Cursor, SearchQuery
from helseflyt.storage.query import Test as T


@pytest.fixture
def filled(store: Store) -> Store:
    with store.transaction() as tx:
        for i in range(5):
            tx.put(
                "Patient",
                f"p{i}",
                {"resourceType": "Patient", "identifier": [{"system": "urn:a", "value": "1"}]},
            )
        tx.put("Patient", "q", {"resourceType": "Patient", "identifier": [{"system": "urn:a", "value": "2"}]})
        tx.delete("Patient", "p4")
    return store


def search(store: Store, count: int, cursor: Cursor | None = None) -> tuple[list[str], int | None]:
    ones = Clause("token", "identifier", ((T("value", "=", "1"),),))
    query = SearchQuery(("Patient",), (ones,), count=count, cursor=cursor, total=True)
    with store.reader() as r:
        found = r.search(query)
    return [v.id for v in found.versions], found.total


@pytest.mark.parametrize("count", [0, 1, 3, 4, 5, 50])
def test_total_whatever_the_page(filled: Store, count: int) -> None:
    ids, total = search(filled, count)
    assert ids == ["p0", "p1", "p2", "p3"][:count]
    assert total == 4


def test_total_after_a_cursor_counts_every_match(filled: Store) -> None:
    ids, total = search(filled, 50, Cursor((), "Patient", "p1"))
    assert ids == ["p2", "p3"]
    assert total == 4
    ids, total = search(filled, 50, Cursor((), "Patient", "p2", backward=True))
    assert ids == ["p0", "p1"]
    assert total == 4


def capped(store: Store, cap: int, cursor: Cursor | None = None) -> int | None:
    ones = Clause("token", "identifier", ((T("value", "=", "1"),),))
    query = SearchQuery(("Patient",), (ones,), count=2, cursor=cursor, total=True, total_cap=cap)
    with store.reader() as r:
        return r.search(query).total


@pytest.mark.parametrize(("cap", "total"), [(1, None), (3, None), (4, 4), (5, 4), (1000, 4)])
def test_a_capped_count_gives_the_total_up_to_the_cap(filled: Store, cap: int, total: int | None) -> None:
    assert capped(filled, cap) == total
    assert capped(filled, cap, Cursor((), "Patient", "p0")) == total  # every page alike
