"""Deferred index build of a bulk load (helseflyt.storage.bulk): the indexes come back
exactly, after the load, before an update, and on the next open after a killed load."""

from __future__ import annotations

import signal
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from helseflyt.storage import Store, TokenCriterion

from .child import die_inside

CHILD = textwrap.dedent(
    """
    import sys, time
    from helseflyt.search.identifier_index import index_identifiers
    from helseflyt.storage import open_store

    store = open_store(sys.argv[1], indexer=index_identifiers)
    with store.bulk(defer_indexes=True):
        with store.transaction() as tx:
            tx.put_many([("Patient", f"p{n}", {"resourceType": "Patient",
                          "identifier": [{"system": "urn:x", "value": str(n)}]}) for n in range(50)])
        with store.transaction() as tx:
            tx.put("Patient", "half", {"resourceType": "Patient"})
            print("inside", flush=True)
            time.sleep(120)
    """
)


def patient(n: int) -> tuple[str, str, dict[str, Any]]:
    identifier = [{"system": "urn:x", "value": str(n)}]
    return "Patient", f"p{n}", {"resourceType": "Patient", "identifier": identifier}


def definitions(store: Store) -> list[tuple[Any, ...]]:
    with store.transaction() as tx:
        return sorted(tx._index_definitions())  # type: ignore[attr-defined]


def deferred_rows(store: Store) -> int:
    with store.reader() as r:
        return int(r.conn.query("SELECT count(*) FROM deferred_index")[0][0])  # type: ignore[attr-defined]


def ids_with(store: Store, value: str) -> list[str]:
    with store.reader() as r:
        return r.find("Patient", tokens=[[TokenCriterion("identifier", "urn:x", value)]])


def test_indexes_are_dropped_during_the_load_and_rebuilt_after(store: Store) -> None:
    before = definitions(store)
    assert len(before) >= 15  # every index table's lookup and resource indexes
    with store.bulk() as restore:  # type: ignore[attr-defined]
        assert definitions(store) == [] and deferred_rows(store) == len(before)
        with store.transaction() as tx:
            tx.put_many([patient(n) for n in range(20)])
        assert ids_with(store, "7") == ["p7"]  # correct without indexes, only slower
    assert definitions(store) == before and deferred_rows(store) == 0
    assert ids_with(store, "7") == ["p7"]
    restore()  # nothing left to do


def test_a_store_holding_resources_keeps_its_indexes(store: Store) -> None:
    before = definitions(store)
    with store.transaction() as tx:
        tx.put(*patient(1))
    with store.bulk():  # type: ignore[attr-defined]
        assert definitions(store) == before
    with store.bulk(defer_indexes=True):  # type: ignore[attr-defined]
        assert definitions(store) == []
    assert definitions(store) == before


def test_an_update_rebuilds_the_indexes_first(store: Store) -> None:
    before = definitions(store)
    with store.bulk() as restore:  # type: ignore[attr-defined]
        with store.transaction() as tx:
            tx.put_many([patient(n) for n in range(5)])
        with pytest.raises(RuntimeError), store.transaction() as tx:  # rolled back: still deferred
            tx.put("Patient", "p1", {"resourceType": "Patient"})
            assert sorted(tx._index_definitions()) == before  # type: ignore[attr-defined]
            raise RuntimeError("boom")
        assert definitions(store) == []
        with store.transaction() as tx:
            tx.put_many([("Patient", "p1", {"resourceType": "Patient"}), patient(9)])
        assert definitions(store) == before and deferred_rows(store) == 0
        assert ids_with(store, "1") == [] and ids_with(store, "9") == ["p9"]
        restore()
    assert definitions(store) == before


@pytest.mark.parametrize("how", ["unfinished", "sigkill"])
def test_the_next_open_rebuilds_after_a_killed_load(
    make_store: Callable[[], Store], store_url: str, how: str
) -> None:
    store = make_store()
    before = definitions(store)
    if how == "unfinished":  # dropped and never rebuilt, as if the process had died
        with store.transaction() as tx:
            tx.defer_indexes()  # type: ignore[attr-defined]
            tx.put_many([patient(n) for n in range(50)])
    else:
        assert die_inside(CHILD, store_url) == -signal.SIGKILL
    assert definitions(store) == [] and deferred_rows(store) == len(before)
    reopened = make_store()
    assert definitions(reopened) == before and deferred_rows(reopened) == 0
    assert ids_with(reopened, "42") == ["p42"]
    with reopened.reader() as r:
        assert r.read("Patient", "half") is None  # the unfinished transaction left nothing
