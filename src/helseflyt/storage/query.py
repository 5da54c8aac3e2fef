"""The backend-neutral search query that ``Reader.search`` runs.

``helseflyt.search.plan`` turns FHIR search parameters into a :class:`SearchQuery`:
clauses over the index tables written by the store's indexer (see
:data:`helseflyt.storage.base.IndexRow`), made of small column tests. Each backend
compiles it to SQL (``storage/sql_search.py``); no FHIR semantics live in the compiler.

* A :class:`Clause` matches a resource when *some* index row of ``param`` in ``table``
  passes *one* of ``alternatives`` (each an AND of :class:`Test`); ``negate`` inverts
  that (``:not``, ``ne``, ``:missing=true``). An empty alternative passes any row, so
  ``Clause(table, param, ((),))`` is ``:missing=false``.
* ``table="resource"`` tests the resource's own columns (``res_id``,
  ``last_updated``) instead of an index table.
* Clauses are ANDed. Results are ordered by ``sort`` keys then ``(type, id)``; without
  sort keys ``after`` is a keyset cursor (the last ``(type, id)`` of the previous
  page), so a page walk returns every match once even while others write. With sort
  keys paging uses ``offset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helseflyt.storage.base import ResourceVersion

__all__ = ["OPS", "Clause", "SearchQuery", "SearchResult", "SortKey", "Test"]

# "prefix": starts with value; "contains": has value inside; "in": one of value (a tuple);
# "null" / "notnull": value ignored.
OPS = frozenset({"=", "<", "<=", ">", ">=", "prefix", "contains", "in", "null", "notnull"})

COLUMNS = {
    "resource": ("res_id", "last_updated"),
    "token": ("system", "value"),
    "string": ("norm", "exact"),
    "date": ("low", "high"),
    "number": ("value", "system", "code"),
    "reference": ("target_type", "target_id", "url"),
    "uri": ("value",),
}


@dataclass(frozen=True, slots=True)
class Test:
    column: str
    op: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class Clause:
    table: str
    param: str
    alternatives: tuple[tuple[Test, ...], ...]
    negate: bool = False


@dataclass(frozen=True, slots=True)
class SortKey:
    table: str
    param: str
    column: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class SearchQuery:
    types: tuple[str, ...]
    clauses: tuple[Clause, ...] = ()
    sort: tuple[SortKey, ...] = ()
    count: int = 50
    after: tuple[str, str] | None = None
    offset: int = 0
    total: bool = False  # also count all matches
    # Access control (storage/sql_access.py AccessFilter): ANDed to the matches and the
    # count by the compiler; None = no access control (open development mode).
    access: Any = None


@dataclass(slots=True)
class SearchResult:
    versions: list[ResourceVersion] = field(default_factory=list)
    more: bool = False  # another page follows
    total: int | None = None
