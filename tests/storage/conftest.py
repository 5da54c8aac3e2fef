"""One storage suite, every backend: each test gets a fresh, empty store.

``sqlite`` always runs; ``postgres`` runs against the ``postgres_url`` server in a
schema of its own, dropped after the test (so tests may run in parallel).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helseflyt.search.identifier_index import index_identifiers
from helseflyt.storage import Store, open_store
from helseflyt.storage.testing import FixedClock, drop_schema, with_schema

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]

START = FixedClock().now


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'store.db'}"
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"hf_test_{uuid.uuid4().hex[:16]}"
    yield with_schema(base, schema)
    drop_schema(base, schema)


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
