"""Storage: the boundary (``base``) and the backends, chosen by URL scheme."""

from __future__ import annotations

from helseflyt.storage.base import (
    HistoryQuery,
    IndexEntry,
    Indexer,
    Reader,
    ResourceVersion,
    StorageError,
    Store,
    TokenCriterion,
    Transaction,
    VersionConflict,
)
from helseflyt.storage.common import Clock, utc_now

__all__ = [
    "HistoryQuery",
    "IndexEntry",
    "Indexer",
    "Reader",
    "ResourceVersion",
    "StorageError",
    "Store",
    "TokenCriterion",
    "Transaction",
    "VersionConflict",
    "open_store",
]


def open_store(url: str, *, indexer: Indexer | None = None, clock: Clock = utc_now) -> Store:
    """Open the backend named by the URL scheme (``sqlite:///`` or ``postgresql://``)."""
    if url.startswith("sqlite:///"):
        from helseflyt.storage.sqlite import SQLiteStore

        return SQLiteStore(url, indexer=indexer, clock=clock)
    if url.startswith(("postgresql://", "postgres://")):
        from helseflyt.storage.postgres import PostgresStore

        return PostgresStore(url, indexer=indexer, clock=clock)
    raise ValueError(
        f"unsupported database URL {url!r}: use sqlite:///path.db or postgresql://user@host:port/db"
    )
