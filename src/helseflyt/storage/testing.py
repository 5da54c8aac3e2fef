"""Helpers for tests that open real stores (no mocks): a fixed clock, PostgreSQL schemas.

Used by the storage suite and by any suite that runs against every backend.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["FixedClock", "drop_schema", "with_schema"]


class FixedClock:
    """A clock that only moves when told to (inject it as ``open_store(..., clock=)``)."""

    def __init__(self, now: datetime = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def with_schema(url: str, schema: str) -> str:
    """``url`` with the ``schema=`` option of the PostgreSQL backend added."""
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def drop_schema(url: str, schema: str) -> None:
    """Drop a PostgreSQL schema and everything in it (test clean-up)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
