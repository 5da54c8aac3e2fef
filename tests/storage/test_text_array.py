"""``TextArray``: id sets encoded once in PostgreSQL's binary ``text[]`` format (the
access filter's sets, sent with every statement) read back as the same strings."""

from __future__ import annotations

import psycopg
import pytest

from helseflyt.storage import open_store
from helseflyt.storage.common import TextArray
from helseflyt.storage.testing import drop_schema, with_schema


@pytest.mark.parametrize(
    "items",
    [
        [],
        ["x"],
        ["a", "b c", 'q"uo{te},', "æøå \\ back", "", "Patient/1#c"],
        [f"id-{i}" for i in range(2000)],
    ],
    ids=["empty", "one", "odd", "many"],
)
def test_text_array_round_trip(postgres_url: str, items: list[str]) -> None:
    schema = "hf_text_array"
    store = open_store(with_schema(postgres_url, schema))
    try:
        array = TextArray(items)
        with store.reader() as r:
            conn = r.conn  # type: ignore[attr-defined]
            assert conn.query("SELECT ?::text[]", [array])[0][0] == items
            if items:
                assert conn.query("SELECT ? = ANY(?::text[])", [items[-1], array])[0][0] is True
            assert conn.query("SELECT 'absent' = ANY(?::text[])", [array])[0][0] is False
        assert array.binary() is array.binary()  # encoded once
    finally:
        store.close()
        drop_schema(postgres_url, schema)


def test_equal_arrays_are_equal_keys() -> None:
    assert TextArray(["a", "b"]) == TextArray(("a", "b"))
    assert hash(TextArray(["a"])) == hash(TextArray(("a",)))
    assert TextArray(["a"]) != ["a"]


def test_plain_psycopg_without_the_dumper_refuses_it(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn, pytest.raises(psycopg.ProgrammingError):
        conn.execute("SELECT %b::text[]", [TextArray(["a"])])
