"""Custom SearchParameters from the store: installed IG packages and API writes.

SearchParameter resources stored in the database (``helseflyt ig install``, or a
``POST``/``PUT`` of a SearchParameter; ``retired`` ones are left out) are compiled into
the search registry exactly like the official ones (see
:func:`helseflyt.search.registry.set_custom`). From then on the store's indexer writes
their rows for new writes and queries accept them; resources stored before need
``$reindex`` / ``helseflyt reindex`` (:mod:`helseflyt.search.reindex`).

:class:`LiveSearchParameters` keeps the registry in step with a store the way
:class:`helseflyt.packages.registry.LiveRegistry` does for profiles: it compares the
newest history ``seq`` of SearchParameter (one indexed query) and reloads after a
change. The server calls :meth:`LiveSearchParameters.refresh` before every write and
at most once a second before a read, so a parameter written by another process
(``ig install``) applies within a second, and one written through this server applies
to the next request.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from helseflyt.packages.registry import read_all
from helseflyt.search import registry
from helseflyt.storage.base import HistoryQuery, Reader, Store

__all__ = ["LiveSearchParameters", "stored_parameters", "sync"]


def stored_parameters(reader: Reader) -> list[dict[str, Any]]:
    """The SearchParameter resources current in the store."""
    return read_all(reader, ("SearchParameter",))


def _stamp(reader: Reader) -> int:
    newest = reader.history(HistoryQuery(type="SearchParameter", count=1))
    return newest[0].seq if newest else 0


def sync(store: Store) -> bool:
    """Load the store's SearchParameters into the registry; True if they changed."""
    with store.reader() as reader:
        return registry.set_custom(stored_parameters(reader))


class LiveSearchParameters:
    """The registry's custom parameters, kept in step with one store."""

    def __init__(self, store: Store, *, read_interval: float = 1.0) -> None:
        self.store = store
        self.read_interval = read_interval
        self._stamp: int | None = None
        self._generation = -1  # the registry's generation this object last set
        self._checked = 0.0
        self._lock = threading.Lock()

    def refresh(self, *, write: bool = True) -> None:
        """Reload if a SearchParameter was written since the last check (``write=False``:
        check at most once per ``read_interval`` seconds)."""
        now = time.monotonic()
        fresh = self._generation == registry.generation()  # no other store changed it
        if not write and fresh and self._stamp is not None and now - self._checked < self.read_interval:
            return
        with self._lock:
            with self.store.reader() as reader:
                stamp = _stamp(reader)
                if stamp != self._stamp or self._generation != registry.generation():
                    registry.set_custom(stored_parameters(reader))
            self._stamp, self._checked, self._generation = stamp, now, registry.generation()
