"""Re-index stored resources (``helseflyt reindex``, ``$reindex``).

After a custom SearchParameter is installed or written, new writes are indexed for it;
resources stored before are not until they are re-indexed. :func:`reindex` loads the
store's SearchParameters into the registry (:func:`helseflyt.search.custom.sync`), then
rewrites the index rows of every current resource (of one type, or all), in batches,
each batch in one transaction, without new versions (the store's ``reindex`` method).
A search sees a resource either with its old rows or with its new ones, never half.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from helseflyt.fhir.model import resource_types
from helseflyt.search.custom import sync
from helseflyt.storage.base import Store

__all__ = ["BATCH", "ReindexReport", "reindex"]

BATCH = 500


@dataclass
class ReindexReport:
    by_type: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_type.values())

    def summary(self) -> str:
        parts = ", ".join(f"{n} {t}" for t, n in sorted(self.by_type.items()) if n)
        return f"re-indexed {self.total} resources" + (f" ({parts})" if parts else "")


def plan(store: Store, types: Iterable[str] | None = None) -> dict[str, list[str]]:
    """The ids of the current resources to re-index, by type."""
    wanted = list(types) if types else sorted(resource_types())
    out: dict[str, list[str]] = {}
    with store.reader() as reader:
        for t in wanted:
            ids = reader.find(t)
            if ids:
                out[t] = sorted(ids)
    return out


def reindex(
    store: Store,
    types: Iterable[str] | None = None,
    *,
    batch: int = BATCH,
    progress: Callable[[str, int, int], None] | None = None,
) -> ReindexReport:
    """Re-index the current resources of ``types`` (all when None).

    ``progress(type, done, total)`` is called after each batch (``total`` over all types).
    """
    sync(store)
    todo = plan(store, types)
    total = sum(len(ids) for ids in todo.values())
    report = ReindexReport()
    done = 0
    for t, ids in todo.items():
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            with store.transaction() as tx:
                n = tx.reindex(t, chunk)  # type: ignore[attr-defined]
            report.by_type[t] = report.by_type.get(t, 0) + n
            done += len(chunk)
            if progress is not None:
                progress(t, done, total)
    return report
