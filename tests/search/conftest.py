"""Search fixtures: the real app on every backend, with the full search indexer."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helseflyt.app import create_app
from helseflyt.http.testing import Client
from helseflyt.search.index import index
from helseflyt.settings import Settings
from helseflyt.storage import Store, open_store
from helseflyt.storage.testing import FixedClock, drop_schema, with_schema

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'search.db'}"
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"hf_search_{uuid.uuid4().hex[:16]}"
    yield with_schema(base, schema)
    drop_schema(base, schema)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url, indexer=index, clock=FixedClock())
    yield opened
    opened.close()


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[Client]:
    settings = Settings.load(data_dir=tmp_path / "unused")
    with Client(create_app(settings, store=store)) as c:
        yield c


@pytest.fixture
def put(client: Client) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def put(resource: dict[str, Any]) -> dict[str, Any]:
        r = client.put(f"{resource['resourceType']}/{resource['id']}", json=resource)
        assert r.status_code in (200, 201), r.text
        return dict(r.json())

    return put
