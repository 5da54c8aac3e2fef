"""A bounded cache of the SQL built from an :class:`AccessFilter`.

The text and arguments of an access predicate (or of the per-request sets statement)
are a pure function of the filter's fields, and of its two times (``now``,
``care_since``) only as argument values. So a statement is built once with stand-ins for
the times and reused by every request with the same filter (the same practitioner with
the same cached care set and the same citizen controls): the times are put in per call.
A change of any set (a new Consent, a new care relationship) changes the key, so nothing
stale is ever served; only the cost of building the text is saved (measured in
docs/access.md, "Round 7").
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import fields, replace
from operator import attrgetter
from typing import Any

from helseflyt.storage.access.filter import AccessFilter

Built = tuple[str, list[Any]]


class _Moment:
    """Stands for one of the request's times in a cached statement's arguments."""

    __slots__ = ("field",)

    def __init__(self, field: str) -> None:
        self.field = field

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<{self.field}>"


_TIMES = ("now", "care_since")
_STAND_INS = {name: _Moment(name) for name in _TIMES}
# every field of a filter but its times
key_of: Callable[[AccessFilter], tuple[Any, ...]] = attrgetter(
    *(f.name for f in fields(AccessFilter) if f.name not in _TIMES)
)


class Statements:
    """``get(f, extra, build)``: ``build(g)`` once per (filter but times, ``extra``), where
    ``g`` is ``f`` with stand-ins for its times; the arguments come back with ``f``'s
    times in place. Least recently used entries go first beyond ``size``."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, Built] = OrderedDict()
        self._lock = threading.Lock()
        _CLEARS.append(self.clear)

    def get(self, f: AccessFilter, extra: Hashable, build: Callable[[AccessFilter], Built]) -> Built:
        key = (key_of(f), extra)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
        if hit is None:
            hit = build(replace(f, **_STAND_INS))
            with self._lock:
                self._entries[key] = hit
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        sql, args = hit
        return sql, [getattr(f, a.field) if a.__class__ is _Moment else a for a in args]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_CLEARS: list[Callable[[], None]] = []


def on_clear(clear: Callable[[], None]) -> None:
    """Have :func:`clear_all` clear another cache kept per filter too."""
    _CLEARS.append(clear)


def clear_all() -> None:
    """Forget every statement and set kept per filter (benchmarks: the cost of building)."""
    for clear in _CLEARS:
        clear()
