"""Deferred index build for bulk loads, shared by the SQL backends (docs/transactions.md,
"Deferred indexes").

A load into an empty database drops the secondary indexes of the search-index tables,
inserts into bare tables and builds each index once at the end, sorted: cheaper than
one B-tree insert per row. Dropping and recording the indexes (``deferred_index``) is
one transaction, so a killed load leaves a database whose indexes the next open of the
store rebuilds (``restore_on_open``). Every write stays atomic; searches meanwhile are
correct, only slower (no index).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from helseflyt.storage.sql import SQLReader, SQLWriter


class DeferringStore(Protocol):
    deferred: bool  # this store dropped the indexes and has not rebuilt them yet

    def reader(self) -> AbstractContextManager[SQLReader]: ...

    def transaction(self) -> AbstractContextManager[SQLWriter]: ...

    def rebuild_deferred(self) -> None:
        """Rebuild the deferred indexes at the end of a load, as fast as the backend can
        (``restore_indexes`` in one transaction, or several at once)."""
        ...


def is_empty(store: DeferringStore) -> bool:
    """No resource stored (not even a deleted one)."""
    with store.reader() as r:
        return not r.conn.query("SELECT 1 FROM resource_current LIMIT 1")


@contextmanager
def deferring(store: DeferringStore, defer: bool | None) -> Iterator[Callable[[], None]]:
    """Defers the indexes while the block runs if ``defer`` (``None``: if the store is
    empty) and rebuilds them at its end, however it ends. Yields ``restore``: rebuild
    now (before a write that searches, e.g. a conditional create). An update of a stored
    resource rebuilds them first as well (``SQLWriter._delete_index``)."""

    def restore() -> None:
        if store.deferred:
            with store.transaction() as tx:
                tx.restore_indexes()

    if defer is None:
        defer = is_empty(store)
    if defer:
        with store.transaction() as tx:
            tx.defer_indexes()
    try:
        yield restore
    finally:
        if store.deferred:
            store.rebuild_deferred()
        restore()  # whatever is left


MIGRATION = 9  # the migration that creates deferred_index (009_deferred_index.sql)


def restore_on_open(tx: SQLWriter, migrated: set[int]) -> None:
    """At start-up, before new migrations (which may change those indexes): rebuild
    the indexes a killed load left dropped."""
    if MIGRATION in migrated and tx.conn.query("SELECT 1 FROM deferred_index LIMIT 1"):
        tx.restore_indexes()
