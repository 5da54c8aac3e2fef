"""Index tables keep the indexes their searches need (migration 006: partial url index;
011: covering indexes)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from helseflyt.storage import Store

URL_SEARCH = "SELECT res_id FROM reference_index WHERE res_type = ? AND param = ? AND url = ?"


def test_url_reference_search_uses_the_partial_url_index(store: Store, backend: str) -> None:
    with store.reader() as r:
        conn = r.conn  # type: ignore[attr-defined]
        args = ("Patient", "general-practitioner", "http://other.example/fhir/Practitioner/ext")
        if backend == "sqlite":
            plan = " ".join(str(row[-1]) for row in conn.query(f"EXPLAIN QUERY PLAN {URL_SEARCH}", args))
        else:
            conn.raw.execute("SET LOCAL enable_seqscan = off")
            plan = " ".join(row[0] for row in conn.query(f"EXPLAIN {URL_SEARCH}", args))
    assert "reference_index_url" in plan, plan


def test_relative_references_are_not_in_the_url_index(store: Store, backend: str) -> None:
    with store.reader() as r:
        conn = r.conn  # type: ignore[attr-defined]
        if backend == "sqlite":
            sql = conn.query("SELECT sql FROM sqlite_master WHERE name = 'reference_index_url'")[0][0]
        else:
            sql = conn.query(
                "SELECT indexdef FROM pg_indexes"
                " WHERE schemaname = current_schema() AND indexname = 'reference_index_url'"
            )[0][0]
    assert "url IS NOT NULL" in sql, sql


# Migration 011: the indexes a search walks cover every column it reads there.
COVERING = {
    "token_index_lookup": "res_type, param, value, system, res_id",
    "token_index_resource": "res_type, res_id, param, value, system",
    "string_index_lookup": "res_type, param, norm, res_id",
    "reference_index_lookup": "res_type, param, target_id, target_type, res_id",
    "reference_index_resource": "res_type, res_id, param, target_type, target_id",
    "date_index_span": "res_type, param, span, low, high, res_id",
    "date_index_resource": "res_type, res_id, param, low, high",
}


def _definitions(store: Store, backend: str) -> dict[str, str]:
    with store.reader() as r:
        conn = r.conn  # type: ignore[attr-defined]
        if backend == "sqlite":
            rows = conn.query("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        else:
            rows = conn.query(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            )
    return {name: sql for name, sql in rows}


def test_search_indexes_are_covering(store: Store, backend: str) -> None:
    found = _definitions(store, backend)
    for name, columns in COVERING.items():
        assert found[name].endswith(f"({columns})"), found[name]


def test_a_token_driver_and_its_probe_read_only_the_index(store: Store, backend: str) -> None:
    driver = "SELECT res_id FROM token_index WHERE res_type = ? AND param = ? AND value = ? AND system = ?"
    probe = "SELECT 1 FROM token_index WHERE res_type = ? AND res_id = ? AND param || '' = ? AND value = ?"
    with store.reader() as r:
        conn = r.conn  # type: ignore[attr-defined]
        if backend != "sqlite":  # an index-only scan is considered only if the index covers
            for kind in ("seqscan", "bitmapscan"):
                conn.raw.execute(f"SET LOCAL enable_{kind} = off")
        for sql, args, index in (
            (driver, ("Observation", "code", "8302-2", "http://loinc.org"), "token_index_lookup"),
            (probe, ("Observation", "o1", "code", "8302-2"), "token_index_resource"),
        ):
            if backend == "sqlite":
                plan = " ".join(str(row[-1]) for row in conn.query(f"EXPLAIN QUERY PLAN {sql}", args))
                assert f"COVERING INDEX {index}" in plan, plan
            else:
                plan = " ".join(row[0] for row in conn.query(f"EXPLAIN {sql}", args))
                # on an empty table either index may be the cheaper: both cover
                assert "Index Only Scan using token_index_" in plan, plan


def test_upgrading_rebuilds_the_indexes_and_says_so(
    make_store: Callable[[], Store], backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    first = make_store()
    with first.transaction() as tx:
        tx.put("Observation", "o1", {"resourceType": "Observation", "status": "final", "code": {"text": "x"}})
        conn = tx.conn  # type: ignore[attr-defined]
        conn.run("DROP INDEX token_index_lookup")  # as a database of migration 010 had it
        conn.run("CREATE INDEX token_index_lookup ON token_index (res_type, param, value, system)")
        conn.run("DELETE FROM schema_migrations WHERE version = 11")
    first.close()
    with caplog.at_level(logging.WARNING, logger="helseflyt.storage"):
        again = make_store()
    assert "migration 011 rebuilds search indexes" in caplog.text
    assert _definitions(again, backend)["token_index_lookup"].endswith(f"({COVERING['token_index_lookup']})")
    with again.reader() as r:
        assert r.read("Observation", "o1") is not None
