"""End-to-end fixtures: the real ASGI app, in-process, on every storage backend.

``client`` talks to ``create_app`` in-process (:class:`helseflyt.http.testing.Client`).
``sqlite`` always runs; ``postgres`` runs in a schema of its own on the ``postgres_url``
server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from helseflyt.app import create_app
from helseflyt.http.testing import Client
from helseflyt.search.identifier_index import index_identifiers
from helseflyt.settings import Settings
from helseflyt.storage import Store, open_store
from helseflyt.storage.testing import FixedClock

START = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)

__all__ = ["FixedClock", "START"]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def store(store_url: str, clock: FixedClock) -> Iterator[Store]:
    opened = open_store(store_url, indexer=index_identifiers, clock=clock)
    yield opened
    opened.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=str(tmp_path / "unused"), max_body_bytes=256 * 1024)


@pytest.fixture
def make_client(settings: Settings, store: Store) -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(**overrides: Any) -> Client:
        app = create_app(overrides.pop("settings", settings), store=store, **overrides)
        client = Client(app)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    return make_client()
