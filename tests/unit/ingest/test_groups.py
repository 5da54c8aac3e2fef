"""Ready units are written in groups; a failing group is retried unit by unit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from helseflyt.ingest import load
from helseflyt.ingest.verify import current_totals
from helseflyt.search.identifier_index import index_identifiers
from helseflyt.storage import StorageError, Store, open_store


class FailingStore:
    """A real SQLite store whose writes fail for resources of one type (fault injection)."""

    def __init__(self, store: Any, bad_type: str) -> None:
        self.store, self.bad_type, self.transactions = store, bad_type, 0
        self.url, self.indexer = store.url, store.indexer

    def reader(self) -> Any:
        return self.store.reader()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        self.transactions += 1
        with self.store.transaction() as tx:
            put_many = tx.put_many

            def failing(items: Sequence[tuple[str, str, Any]]) -> Any:
                if any(t == self.bad_type for t, _, _ in items):
                    raise StorageError("injected failure")
                return put_many(items)

            tx.put_many = failing
            yield tx

    def close(self) -> None:
        self.store.close()


def test_a_failing_unit_fails_alone(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(6):
        kind = "Organization" if n == 3 else "Patient"
        lines = [orjson.dumps({"resourceType": kind, "id": f"{kind[0]}{n}-{i}"}) for i in range(10)]
        (folder / f"{n}.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    store = FailingStore(
        open_store(f"sqlite:///{tmp_path / 'g.db'}", indexer=index_identifiers), "Organization"
    )
    try:
        report = load(store, [folder], progress=False, workers=0)  # type: ignore[arg-type]
        assert report.resources == 50
        assert [e.source.rsplit("/", 1)[-1] for e in report.errors] == ["3.ndjson"]
        assert "injected failure" in report.errors[0].message
        assert current_totals(store) == {"Patient": 50}  # type: ignore[arg-type]
        assert store.transactions == 1 + 6  # the group, then each unit on its own
    finally:
        store.close()


def test_units_share_a_transaction(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(4):
        (folder / f"{n}.json").write_bytes(orjson.dumps({"resourceType": "Patient", "id": f"p{n}"}))
    inner: Store = open_store(f"sqlite:///{tmp_path / 'g.db'}", indexer=index_identifiers)
    store = FailingStore(inner, "none")
    try:
        report = load(store, [folder], progress=False, workers=0)  # type: ignore[arg-type]
        assert (report.resources, report.errors, store.transactions) == (4, [], 1)
    finally:
        store.close()
