"""The storage boundary: a small Protocol every backend implements.

Concurrency invariants (every backend must keep them):

* A :class:`Transaction` is atomic: all of its writes become visible together or not at
  all, also when the process dies mid-way (the database transaction guarantees it).
* Writes to one resource are serialised: between ``current(..., for_update=True)`` and
  the end of the transaction no other transaction can write a new version of it, so an
  ``If-Match`` check followed by ``put`` never loses an update.
* ``put`` assigns the next ``versionId`` and ``lastUpdated``, writes the history row,
  replaces the current row and the resource's index rows, in the same transaction.
* ``seq`` is a store-wide, increasing write number; history is returned newest first.

No HTTP and no driver type crosses this boundary; drivers' errors become
:class:`StorageError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from helseflyt.storage.query import SearchQuery, SearchResult

__all__ = [
    "HistoryQuery",
    "INDEX_TABLES",
    "IndexEntry",
    "IndexRow",
    "Indexer",
    "Reader",
    "ResourceVersion",
    "Serialized",
    "StorageError",
    "Store",
    "TokenCriterion",
    "Transaction",
    "VersionConflict",
]


class StorageError(Exception):
    """The backend failed (driver error, lost connection, full disk...)."""


class VersionConflict(StorageError):
    """Another transaction wrote the same resource concurrently; retry or report 409."""


@dataclass(frozen=True, slots=True)
class ResourceVersion:
    type: str
    id: str
    version: int
    last_updated: datetime  # timezone-aware, UTC
    deleted: bool
    body: bytes | None  # JSON including meta.versionId/lastUpdated; None when deleted
    seq: int

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """A token index row (search parameter ``param`` matches ``system|value``)."""

    param: str
    system: str | None
    value: str


# An index row: ``(table, param, *values)``; the store writes it to ``<table>_index``.
#   ("token", param, system | None, value)
#   ("string", param, normalised, exact)                  normalised: case- and accent-folded
#   ("date", param, low, high)                            epoch µs, both inclusive
#   ("number", param, value, system | None, code | None)  numbers and quantities (float value)
#   ("reference", param, type | None, id | None, url | None)
#   ("uri", param, value)
#   ("composite", param, system1, value1, system2, value2, number2, low2, high2, number3)
# (An :class:`IndexEntry` is a token row.) A row of a contained resource is
#   ("@" + table, type, local id, *values)                 e.g. ("@token", "Medication", "m1", "code", ...)
# and is stored like a row of a resource ``type`` with id ``Container/id#local`` (which no
# ordinary search can match), deleted with its container (storage/sql.py CONTAINED).
IndexRow = tuple[Any, ...]

# Computes a resource's index rows; called by ``put`` inside the write transaction.
Indexer = Callable[[str, dict[str, Any]], Iterable[IndexEntry | IndexRow]]

INDEX_TABLES = ("token", "string", "date", "number", "reference", "uri", "composite")


class Serialized(NamedTuple):
    """A resource serialised ahead of ``put_many`` (a bulk-load worker process does it)
    by :func:`helseflyt.storage.common.serialize`: the stored body around the
    ``meta.versionId``/``meta.lastUpdated`` the store splices in, and the rows of the
    store's indexer. ``put_many`` takes it in place of the resource dict and stores
    exactly the bytes and rows it would have made of that dict. (A NamedTuple, not a
    dataclass: it crosses process boundaries, and tuples pickle several times faster.)"""

    head: bytes  # {"resourceType":..,"id":..,"meta":{ and the other meta members
    tail: bytes  # } and the members after meta, closing brace included
    index: tuple[IndexRow, ...]  # the indexer's rows (IndexRow form)


@dataclass(frozen=True, slots=True)
class TokenCriterion:
    """``param=[system|]value``: system None = any system, "" = no system."""

    param: str
    system: str | None
    value: str | None  # None = any value in that system (``system|``)


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    type: str | None = None
    id: str | None = None
    since: datetime | None = None  # only versions with lastUpdated >= since
    at: datetime | None = None  # only the version current at this instant, per resource
    count: int = 50
    before_seq: int | None = None  # paging cursor: only versions with seq < before_seq


class Reader(Protocol):
    def read(self, type: str, id: str) -> ResourceVersion | None:
        """The newest version (possibly a deletion marker), or None if never written."""

    def vread(self, type: str, id: str, version: int) -> ResourceVersion | None: ...

    def history(self, query: HistoryQuery) -> list[ResourceVersion]:
        """Versions newest first (by seq), at most ``query.count``."""

    def history_count(self, query: HistoryQuery) -> int:
        """How many versions ``history`` would return without count/cursor."""

    def find(
        self,
        type: str,
        *,
        ids: Sequence[str] | None = None,
        tokens: Sequence[Sequence[TokenCriterion]] = (),
        limit: int | None = None,
    ) -> list[str]:
        """Ids of current, non-deleted resources of ``type`` matching every group in
        ``tokens`` (a group matches if any of its criteria does) and, if given, ``ids``."""

    def search(self, query: SearchQuery) -> SearchResult:
        """One page of current, non-deleted resources matching a search (and the total
        if ``query.total``); see :mod:`helseflyt.storage.query`."""


class Transaction(Reader, Protocol):
    def current(self, type: str, id: str, *, for_update: bool = False) -> ResourceVersion | None:
        """Like ``read``; with ``for_update`` the resource is locked until commit."""

    def put(self, type: str, id: str, resource: dict[str, Any]) -> ResourceVersion:
        """Store ``resource`` as the next version of type/id; sets its ``meta``."""

    def put_many(
        self, items: Sequence[tuple[str, str, dict[str, Any] | Serialized]]
    ) -> list[ResourceVersion]:
        """``put`` for many resources at once (bulk load); a resource may come
        :class:`Serialized` already."""

    def delete(self, type: str, id: str) -> ResourceVersion | None:
        """Write a deletion marker; None if the resource is absent or already deleted."""


class Store(Protocol):
    url: str

    def reader(self) -> AbstractContextManager[Reader]:
        """A read-only, consistent view."""

    def transaction(self) -> AbstractContextManager[Transaction]:
        """An atomic unit of work: commit on normal exit, roll back on exception."""

    def close(self) -> None: ...
