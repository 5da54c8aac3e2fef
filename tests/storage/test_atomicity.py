"""A transaction is all or nothing: on exceptions and when the process dies mid-way."""

from __future__ import annotations

import signal
import textwrap

import pytest

from helseflyt.storage import HistoryQuery, Store, TokenCriterion

from .child import die_inside

CHILD = textwrap.dedent(
    """
    import os, sys, time
    from helseflyt.search.identifier_index import index_identifiers
    from helseflyt.storage import open_store

    store = open_store(sys.argv[1], indexer=index_identifiers)
    with store.transaction() as tx:
        tx.put("Patient", "existing", {"resourceType": "Patient", "active": False})
        tx.put_many([("Patient", f"new{n}", {"resourceType": "Patient",
                      "identifier": [{"system": "urn:x", "value": str(n)}]}) for n in range(300)])
        tx.delete("Patient", "doomed")
        print("inside", flush=True)
        if sys.argv[2] == "exit":
            os._exit(3)
        time.sleep(120)
    """
)


def seed(store: Store) -> None:
    with store.transaction() as tx:
        tx.put("Patient", "existing", {"resourceType": "Patient", "active": True})
        tx.put("Patient", "doomed", {"resourceType": "Patient"})


def assert_untouched(store: Store) -> None:
    with store.reader() as r:
        existing = r.read("Patient", "existing")
        doomed = r.read("Patient", "doomed")
        assert existing is not None and existing.version == 1 and b'"active":true' in (existing.body or b"")
        assert doomed is not None and not doomed.deleted
        assert r.read("Patient", "new0") is None
        assert r.history_count(HistoryQuery()) == 2
        assert r.find("Patient", tokens=[[TokenCriterion("identifier", "urn:x", None)]]) == []
    # Nothing is left locked either: the same resources can be written now.
    with store.transaction() as tx:
        cur = tx.current("Patient", "existing", for_update=True)
        assert cur is not None
        assert tx.put("Patient", "existing", {"resourceType": "Patient"}).version == 2
        assert tx.put("Patient", "new0", {"resourceType": "Patient"}).version == 1


def test_exception_rolls_everything_back(store: Store) -> None:
    seed(store)
    with pytest.raises(RuntimeError, match="boom"), store.transaction() as tx:
        tx.put("Patient", "existing", {"resourceType": "Patient", "active": False})
        tx.put_many(
            [
                (
                    "Patient",
                    f"new{n}",
                    {"resourceType": "Patient", "identifier": [{"system": "urn:x", "value": "1"}]},
                )
                for n in range(300)
            ]
        )
        tx.delete("Patient", "doomed")
        raise RuntimeError("boom")
    assert_untouched(store)


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_killed_process_leaves_nothing(store: Store, store_url: str, how: str) -> None:
    seed(store)
    returncode = die_inside(CHILD, store_url, how, kill=how == "sigkill")
    assert returncode == (3 if how == "exit" else -signal.SIGKILL)
    assert_untouched(store)
