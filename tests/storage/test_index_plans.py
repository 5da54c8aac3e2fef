"""Index tables keep the indexes their searches need (migration 006: partial url index)."""

from __future__ import annotations

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
