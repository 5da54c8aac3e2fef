"""Opening stores: migrations, URLs, meta stamping, exact decimals, driver errors."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from helseflyt.fhir import json as fjson
from helseflyt.storage import StorageError, Store, open_store
from helseflyt.storage.common import migrations
from helseflyt.storage.testing import FixedClock, drop_schema, with_schema


def newest_migration(backend: str) -> int:
    return migrations(f"helseflyt.storage.{backend}")[-1][0]


def test_migrations_are_idempotent_on_reopen(make_store: Callable[[], Store], backend: str) -> None:
    first = make_store()
    assert first.schema_version() == newest_migration(backend)  # type: ignore[attr-defined]
    with first.transaction() as tx:
        tx.put("Patient", "p1", {"resourceType": "Patient"})
    first.close()
    again = make_store()
    assert again.schema_version() == newest_migration(backend)  # type: ignore[attr-defined]
    with again.reader() as r:
        found = r.read("Patient", "p1")
    assert found is not None and found.version == 1


def test_stores_opened_together_migrate_once(make_store: Callable[[], Store], backend: str) -> None:
    opened: list[Store] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_one() -> None:
        try:
            barrier.wait()
            opened.append(make_store())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {s.schema_version() for s in opened} == {newest_migration(backend)}  # type: ignore[attr-defined]


def test_meta_is_stamped(store: Store, clock: FixedClock) -> None:
    resource = {
        "resourceType": "Patient",
        "id": "client-id",
        "meta": {"versionId": "99", "lastUpdated": "1999-01-01T00:00:00Z", "profile": ["urn:p"]},
        "active": True,
    }
    with store.transaction() as tx:
        written = tx.put("Patient", "p1", resource)
    assert written.body is not None
    body = fjson.loads(written.body)
    assert body == {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"versionId": "1", "lastUpdated": "2024-01-02T03:04:05.678Z", "profile": ["urn:p"]},
        "active": True,
    }
    assert written.last_updated.isoformat() == "2024-01-02T03:04:05.678000+00:00"
    assert resource["meta"]["versionId"] == "99"  # the caller's dict is not changed
    with store.reader() as r:
        assert r.read("Patient", "p1") == written


def test_body_is_returned_verbatim_with_exact_decimals(store: Store) -> None:
    raw = b'{"resourceType":"Observation","status":"final","valueQuantity":{"value":1.50,"unit":"mg"}}'
    resource = fjson.loads(raw)
    with store.transaction() as tx:
        written = tx.put("Observation", "o1", resource)
    with store.reader() as r:
        found = r.read("Observation", "o1")
    assert found is not None and found.body == written.body
    assert b'"value":1.50' in found.body
    assert fjson.loads(found.body)["valueQuantity"]["value"] == Decimal("1.50")


def test_unsupported_url_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"sqlite:///.*postgresql://"):
        open_store("mysql://localhost/db")


def test_bad_schema_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="schema"):
        open_store("postgresql://nobody@localhost/db?schema=bad-name;drop")


def test_unopenable_sqlite_file_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StorageError):
        open_store(f"sqlite:///{tmp_path / 'dir.db'}")


@pytest.mark.postgres
def test_postgres_driver_errors_become_storage_errors(postgres_url: str) -> None:
    schema = f"hf_test_{uuid.uuid4().hex[:16]}"
    store = open_store(with_schema(postgres_url, schema))
    try:
        with pytest.raises(StorageError) as info, store.transaction() as tx:
            tx.put("Patient", "nul\x00byte", {"resourceType": "Patient"})
        assert info.value.__cause__ is not None
        with store.transaction() as tx:  # the connection was rolled back and reused
            assert tx.put("Patient", "ok", {"resourceType": "Patient"}).version == 1
    finally:
        store.close()
        drop_schema(postgres_url, schema)
