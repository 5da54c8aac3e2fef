"""The guard: a store wrapper whose readers and transactions apply the request's
access filter, so an interaction cannot forget it; unknown reader methods fail closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from helseflyt.storage.access.predicate import predicate
from helseflyt.storage.access.queries import visible
from helseflyt.storage.base import HistoryQuery, ResourceVersion, TokenCriterion
from helseflyt.storage.query import SearchQuery, SearchResult
from helseflyt.storage.sql import VERSION_COLUMNS, _history_where, _token_condition, _version


class Denied(Exception):
    """Raised by the guard; ``helseflyt.access.policy`` turns it into 403 or 404."""

    def __init__(self, kind: str, res_type: str, res_id: str) -> None:
        super().__init__(kind)
        self.kind = kind  # "no-basis" | "locked" | "hidden"
        self.res_type = res_type
        self.res_id = res_id


class GuardedReader:
    """A :class:`~helseflyt.storage.base.Reader` that applies an :class:`AccessFilter`.

    ``hooks`` lets the policy act per call: ``on_single(reader, type, id)`` before a
    single-resource read (it may record an emergency grant), ``for_search(query)`` gives
    the filter of a search (patients in question from the query), ``explain(type, id)``
    raises the error for a resource the principal may not see.
    """

    def __init__(self, inner: Any, policy: Any) -> None:
        self._inner = inner
        self._policy = policy

    @property
    def conn(self) -> Any:
        return self._inner.conn

    def __getattr__(self, name: str) -> Any:  # fail closed: an unguarded read path is refused
        raise AttributeError(
            f"{type(self._inner).__name__}.{name} has no access control yet (storage/access/guard.py)"
        )

    def _check(self, res_type: str, res_id: str) -> bool:
        f = self._policy.single(self, res_type, res_id)
        return visible(self._inner.conn, f, res_type, res_id)

    def read(self, type: str, id: str) -> ResourceVersion | None:
        found = self._inner.read(type, id)
        if found is None:
            return None
        if found.deleted and self._policy.role != "system":
            return None  # a deleted resource's patients are unknown: not shown
        if not found.deleted and not self._check(type, id):
            self._policy.deny(self, type, id)
            return None
        return found

    def vread(self, type: str, id: str, version: int) -> ResourceVersion | None:
        found = self._inner.vread(type, id, version)
        if found is None:
            return None
        if self.read(type, id) is None:
            return None
        return found

    def history(self, query: HistoryQuery) -> list[ResourceVersion]:
        where, args = _history_where(query)
        where.append(predicate(self._policy.history(self, query), "h", _types(query.type), args))
        if query.before_seq is not None:
            where.append("h.seq < ?")
            args.append(query.before_seq)
        rows = self._inner.conn.query(
            f"SELECT {VERSION_COLUMNS} FROM resource_history h WHERE {' AND '.join(where)}"
            " ORDER BY h.seq DESC LIMIT ?",
            [*args, query.count],
        )
        return [_version(r) for r in rows]

    def history_count(self, query: HistoryQuery) -> int:
        where, args = _history_where(query)
        where.append(predicate(self._policy.history(self, query), "h", _types(query.type), args))
        sql = f"SELECT count(*) FROM resource_history h WHERE {' AND '.join(where)}"
        return int(self._inner.conn.query(sql, args)[0][0])

    def find(
        self,
        type: str,
        *,
        ids: Sequence[str] | None = None,
        tokens: Sequence[Sequence[TokenCriterion]] = (),
        limit: int | None = None,
    ) -> list[str]:
        args: list[Any] = [type]
        sql = ["SELECT c.res_id FROM resource_current c WHERE c.res_type = ? AND NOT c.deleted"]
        if ids is not None:
            if not ids:
                return []
            sql.append(f"AND c.res_id IN ({', '.join('?' * len(ids))})")
            args += list(ids)
        for group in tokens:
            if not group:
                return []
            ors = [_token_condition(crit, args) for crit in group]
            sql.append(
                "AND EXISTS (SELECT 1 FROM token_index t WHERE t.res_type = c.res_type"
                f" AND t.res_id = c.res_id AND ({' OR '.join(ors)}))"
            )
        sql.append("AND " + predicate(self._policy.plain(), "c", (type,), args))
        sql.append("ORDER BY c.res_id")
        if limit is not None:
            sql.append("LIMIT ?")
            args.append(limit)
        return [r[0] for r in self._inner.conn.query(" ".join(sql), args)]

    def search(self, query: SearchQuery) -> SearchResult:
        # kept access sets may go out before their generation is known (with the first
        # query); if they do not hold, search again with the sets read afresh
        result: SearchResult = self._inner.search(
            replace(query, access=self._policy.search(self, query, deferred=True))
        )
        if not self._policy.confirm():
            result = self._inner.search(replace(query, access=self._policy.search(self, query)))
        return result


class GuardedTransaction(GuardedReader):
    """Reads as :class:`GuardedReader`; writes pass through after the policy's checks."""

    def current(self, type: str, id: str, *, for_update: bool = False) -> ResourceVersion | None:
        found = self._inner.current(type, id, for_update=for_update)
        if found is None or found.deleted:
            return found if self._policy.role == "system" else None
        return found if self._check(type, id) else None

    def put(self, type: str, id: str, resource: dict[str, Any]) -> ResourceVersion:
        return self.put_many([(type, id, resource)])[0]

    def put_many(self, items: Sequence[tuple[str, str, Any]]) -> list[ResourceVersion]:
        for t, i, resource in items:
            self._policy.before_write(self._inner, t, i, resource)
        out: list[ResourceVersion] = self._inner.put_many(items)
        self._policy.wrote(self._inner)
        for t, i, _ in items:
            self._policy.after_write(self._inner, t, i)
        return out

    def delete(self, type: str, id: str) -> ResourceVersion | None:
        self._policy.before_write(self._inner, type, id, None)
        found: ResourceVersion | None = self._inner.delete(type, id)
        self._policy.wrote(self._inner)
        return found


class GuardedStore:
    """A store whose readers and transactions apply the request's access policy."""

    def __init__(self, inner: Any, policy: Any) -> None:
        self._inner = inner
        self._policy = policy
        self.url = inner.url

    @property
    def inner(self) -> Any:
        return self._inner

    @contextmanager
    def reader(self) -> Iterator[GuardedReader]:
        with self._inner.reader() as r:
            yield GuardedReader(r, self._policy)

    @contextmanager
    def transaction(self) -> Iterator[GuardedTransaction]:
        with self._inner.transaction() as tx:
            yield GuardedTransaction(tx, self._policy)

    def close(self) -> None:  # the app owns the store
        return None


def _types(res_type: str | None) -> tuple[str, ...] | None:
    return (res_type,) if res_type is not None else None


Hook = Callable[..., Any]
