"""One storage suite, every backend: each test gets a fresh, empty store.

``sqlite`` always runs; ``postgres`` runs against the ``postgres_url`` server in a
schema of its own, dropped after the test (so tests may run in parallel).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from helseflyt.search.identifier_index import index_identifiers
from helseflyt.storage import Store, open_store
from helseflyt.storage.testing import FixedClock

START = FixedClock().now


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def make_store(store_url: str, clock: FixedClock) -> Iterator[Callable[[], Store]]:
    """Opens (or re-opens) the test's store; every store opened is closed afterwards."""
    opened: list[Store] = []

    def make() -> Store:
        store = open_store(store_url, indexer=index_identifiers, clock=clock)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    return make_store()
