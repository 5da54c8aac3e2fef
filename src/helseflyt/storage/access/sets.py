"""The per-request access sets, reused while the data they come from is unchanged.

Every request of a token reads, in its own snapshot, the patients with citizen controls
in force (and a practitioner's GP list, emergency grants and declared patient; a patient
token's own records): :func:`~helseflyt.storage.access.queries.read_sets` and
:func:`~helseflyt.storage.access.queries.own_records`. Those depend only on the index
rows of :data:`~helseflyt.storage.sql.ACCESS_TYPES`, on ``access_grant``, and on time.

The **access generation** (table ``access_generation``, migration 010) is bumped by
every transaction that writes any of them (``SQLWriter.finish``, just before COMMIT, in
the same transaction), whichever process writes. So sets read in a snapshot at
generation *g* are exactly the sets of every other snapshot at *g*: a request reads the
generation (one single-row lookup; on PostgreSQL in the pipeline of ``BEGIN`` and its
first query, so no round trip of its own) and reuses the sets of that generation until
the first instant they may change with time alone (a Consent period's edge, a grant's
expiry; at most :data:`MAX_AGE_US`). The key also holds the database's ``epoch`` (new
per database) and the store's URL, so a database recreated under the same name never
meets an older one's sets.

A search may start before the generation is known (``deferred``): its first query
carries the probe, and the guard checks it (:meth:`Pending.holds`) before the result
is used; on a mismatch the sets are read afresh and the search is run again, in the
same snapshot. A transaction that has itself written access data reads the sets live.

Concurrency: one lock around a bounded LRU dict; entries are immutable.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from helseflyt.storage.access.statements import on_clear

GENERATION = "SELECT epoch, n FROM access_generation WHERE id = 1"
MAX_AGE_US = 60_000_000  # reuse sets at most a minute, whatever the data say


@dataclass(frozen=True, slots=True)
class Entry:
    generation: tuple[Any, ...]  # (epoch, n)
    until: int  # epoch µs: reused only before this instant
    value: Any


class SetsCache:
    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self._lock = threading.Lock()
        on_clear(self.clear)

    def get(self, key: Hashable) -> Entry | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
            return hit

    def put(self, key: Hashable, entry: Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def drop(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


SETS = SetsCache()


@dataclass(slots=True)
class Pending:
    """Sets used before the generation of the snapshot was read (see module docstring)."""

    probe: Callable[[], list[Any]]
    key: Hashable
    generation: tuple[Any, ...]

    def holds(self) -> bool:
        """Does the snapshot have the generation the sets were read at? If not, they are
        forgotten (the caller reads them afresh)."""
        if _generation(self.probe) == self.generation:
            return True
        SETS.drop(self.key)
        return False


def _generation(probe: Callable[[], list[Any]]) -> tuple[Any, ...]:
    rows = probe()
    return tuple(rows[0]) if rows else ()


def cached(
    conn: Any,
    key: Hashable,
    now: int,
    compute: Callable[[], tuple[Any, int | None]],
    *,
    deferred: bool = False,
) -> tuple[Any, Pending | None]:
    """``compute()`` → ``(value, until)`` for this snapshot, or the value kept for its
    generation. With ``deferred`` (and a kept value) the generation is read with the
    session's first query: the caller must check the returned :class:`Pending`."""
    probe = conn.probe(GENERATION)
    hit = SETS.get(key)
    if hit is not None and hit.until > now:
        if deferred:
            return hit.value, Pending(probe, key, hit.generation)
        if _generation(probe) == hit.generation:
            return hit.value, None
    value, until = compute()
    generation = _generation(probe)  # same snapshot as compute()'s reads
    limit = now + MAX_AGE_US
    SETS.put(key, Entry(generation, limit if until is None else min(until, limit), value))
    return value, None
