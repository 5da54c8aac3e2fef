"""Search fixtures: the real app on every backend, with the full search indexer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helseflyt.app import create_app
from helseflyt.http.testing import Client
from helseflyt.search.index import index
from helseflyt.settings import Settings
from helseflyt.storage import Store, open_store
from helseflyt.storage.testing import FixedClock


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


@pytest.fixture
def ids(client: Client) -> Callable[[str], list[str]]:
    """The sorted ids of a search's matches (``search.mode = match``); asserts a 200.
    Strict handling: a parameter the server does not know is a 400, never ignored."""

    def ids(url: str) -> list[str]:
        r = client.get(url, headers={"Prefer": "handling=strict"})
        assert r.status_code == 200, r.text
        return sorted(
            e["resource"]["id"] for e in r.json().get("entry", []) if e["search"]["mode"] == "match"
        )

    return ids
