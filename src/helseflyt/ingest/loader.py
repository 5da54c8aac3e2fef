"""``load(store, paths)``: the bulk loader behind ``helseflyt load PATH...``.

Pipeline (three stages, so that parsing, validation and writing overlap):

1. a reader thread streams :class:`~helseflyt.ingest.sources.Document` s from the
   paths (gzip inflation releases the GIL);
2. ``workers`` processes (default: one per CPU) run
   :func:`helseflyt.ingest.prepare.prepare` on them: parse, plan, rewrite references,
   validate. Results come back *in input order*, so a later file may update a resource
   of an earlier one;
3. this process writes the units (a transaction Bundle or NDJSON chunk each): a
   transaction Bundle is atomic exactly as over REST, and a failing unit does not stop
   the load. Consecutive ready units are written together, about
   ``GROUP_RESOURCES`` resources per storage transaction (see :class:`_Group`); if
   such a group fails, its units are retried one transaction each. If the store has a ``bulk()``
   context manager (a backend's bulk-load mode: deferred indexes, fewer checkpoints),
   the load runs inside it.

Nothing invalid is stored: every resource passes the validator before it is written.
``workers=0`` prepares in this process (simplest to debug).
"""

from __future__ import annotations

import fcntl
import gc
import multiprocessing
import os
import pickle
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext, suppress
from functools import partial
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any

from helseflyt.errors import FhirError
from helseflyt.fhir import json as fjson
from helseflyt.ingest.prepare import (
    BASE_URL,
    UNKNOWN,
    Item,
    Prepared,
    Validate,
    default_validate,
    new_id,
    prepare,
)
from helseflyt.ingest.report import LoadError, LoadReport
from helseflyt.ingest.sources import Document, Skipped, iter_documents, kind_of
from helseflyt.interactions.context import Context
from helseflyt.interactions.transaction import run_plan
from helseflyt.storage.base import StorageError, Store

__all__ = ["load"]

_END = object()


def load(
    store: Store,
    paths: Sequence[Path | str],
    *,
    progress: bool = True,
    validate: Validate = default_validate,
    workers: int | None = None,
    defer_indexes: bool | None = None,
) -> LoadReport:
    """Load Bundles, NDJSON files, folders and ``.tar.gz`` archives into ``store``.

    ``validate`` must be a module-level function when ``workers`` > 0 (it is sent to
    the worker processes). ``defer_indexes``: build the search indexes once at the end
    (``None``: if the store holds no resource; see ``helseflyt.storage.bulk``).
    """
    report = LoadReport()
    paths = [Path(p) for p in paths]
    total_bytes = _size(paths)
    if workers is None:
        workers = os.cpu_count() or 1
    indexer = _indexer(store, workers)
    started = time.perf_counter()
    was_gc, switch = gc.isenabled(), sys.getswitchinterval()
    gc.disable()
    bulk = getattr(store, "bulk", None)  # optional: a backend's bulk-load mode
    mode = bulk(defer_indexes=defer_indexes) if bulk is not None else nullcontext(lambda: None)
    if workers > 0:
        sys.setswitchinterval(_SWITCH_SECONDS)
    try:
        with mode as restore_indexes, _progress(progress, total_bytes) as advance:
            group = _Group(store, validate, report, advance)
            for unit, size in _prepared(paths, validate, indexer, workers, report):
                if unit.payload is not None or unit.items is not None:
                    group.add(unit, size)
                else:
                    group.flush()  # a Bundle run as a plan may read what came before
                    restore_indexes()  # and search (conditional operations): indexes first
                    _write(store, unit, validate, report)
                    advance(size, report.resources)
            group.flush()
    finally:
        sys.setswitchinterval(switch)
        if was_gc:
            gc.enable()
    report.seconds = time.perf_counter() - started
    return report


def _indexer(store: Store, workers: int) -> Any:
    """The store's indexer, for the workers to serialise and index resources with; or
    ``UNKNOWN`` (they send JSON) if the store has none we know or it cannot be sent."""
    indexer = getattr(store, "indexer", UNKNOWN)
    if workers > 0 and indexer is not None and indexer is not UNKNOWN:
        try:
            pickle.dumps(indexer)
        except Exception:  # noqa: BLE001 - a lambda or closure: not picklable
            return UNKNOWN
    return indexer


def _size(paths: list[Path]) -> int:
    """Input bytes for the progress bar; 0 (unknown) when archives are read."""
    total = 0
    for p in paths:
        if p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        elif p.is_file():
            total += p.stat().st_size
        if kind_of(p.name) == "archive" or (
            p.is_dir() and any(kind_of(f.name) == "archive" for f in p.rglob("*"))
        ):
            return 0
    return total


def _read_ahead(paths: list[Path], depth: int) -> Iterator[Document | Skipped]:
    """Documents from a background thread, at most ``depth`` ahead."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)

    def run() -> None:
        try:
            for item in iter_documents(paths):
                q.put(item)
        except BaseException as exc:  # noqa: BLE001 - handed over to the caller
            q.put(exc)
        q.put(_END)

    thread = threading.Thread(target=run, name="helseflyt-load-reader", daemon=True)
    thread.start()
    while True:
        item = q.get()
        if item is _END:
            break
        if isinstance(item, BaseException):
            raise item
        yield item
    thread.join()


def _prepared(
    paths: list[Path], validate: Validate, indexer: Any, workers: int, report: LoadReport
) -> Iterator[tuple[Prepared, int]]:
    if workers <= 0:
        for doc in _read_ahead(paths, depth=4):
            if isinstance(doc, Skipped):
                report.skipped.append(doc.source)
                continue
            report.documents += 1
            yield prepare(doc, validate, indexer), len(doc.data)
        return
    in_flight: deque[tuple[AsyncResult[Prepared], int]] = deque()
    # fork, before any thread of ours runs: workers start instantly (no re-import) and
    # callers need no ``if __name__ == "__main__"`` guard.
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        _widen_pipes(pool)
        work = partial(prepare, validate=validate, indexer=indexer)
        for doc in _read_ahead(paths, depth=_ahead(workers)):
            if isinstance(doc, Skipped):
                report.skipped.append(doc.source)
                continue
            report.documents += 1
            in_flight.append((pool.apply_async(work, (doc,)), len(doc.data)))
            while len(in_flight) > _ahead(workers) or (in_flight and in_flight[0][0].ready()):
                res, size = in_flight.popleft()
                yield res.get(), size
        while in_flight:
            res, size = in_flight.popleft()
            yield res.get(), size


def _widen_pipes(pool: Any) -> None:
    """Give the pool's pipes 1 MB buffers instead of 64 KB (Linux). A document or a
    unit (~550 KB pickled for a Synthea Bundle) is relayed by a thread of this process,
    which needs the GIL for every chunk it moves while the writer holds it: with 64 KB a
    worker waited for ten or so hand-overs per unit, now one; see docs/transactions.md."""
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    for q in (getattr(pool, "_inqueue", None), getattr(pool, "_outqueue", None)):
        reader = getattr(q, "_reader", None)
        if setsize is not None and reader is not None:
            with suppress(OSError):  # above the system's limit (fs.pipe-max-size): as is
                fcntl.fcntl(reader.fileno(), setsize, _PIPE_BYTES)


_PIPE_BYTES = 1 << 20  # the default fs.pipe-max-size of an unprivileged process


# The GIL switch interval during a load with workers (default 5 ms): the pool's threads
# in this process that hand documents and units over get the GIL from the writer sooner,
# so the workers wait less for them (docs/transactions.md, "Wall clock").
_SWITCH_SECONDS = 0.001


# Documents handed to the pool ahead of the one being written: 3 per worker plus about
# a group's worth (~2,000 resources: 8 Synthea Bundles), so the workers keep busy while
# this process writes a group; memory still grows with the workers only as before.
def _ahead(workers: int) -> int:
    return 3 * workers + 8


class _Group:
    """Consecutive ready units written by one ``put_many`` in one transaction: a commit
    writes every page it dirtied, and the index pages that each unit touches are then
    written once per group instead of once per unit. If the group fails, each of its
    units is written on its own (in order), so a unit is still all or nothing and a
    failing unit stops only itself."""

    def __init__(
        self, store: Store, validate: Validate, report: LoadReport, advance: Callable[[int, int], None]
    ) -> None:
        self.store, self.validate, self.report, self.advance = store, validate, report, advance
        self.units: list[tuple[Prepared, int]] = []
        self.resources = 0

    def add(self, unit: Prepared, size: int) -> None:
        self.units.append((unit, size))
        self.resources += unit.count
        if self.resources >= GROUP_RESOURCES:
            self.flush()

    def flush(self) -> None:
        units, self.units, self.resources = self.units, [], 0
        if len(units) == 1:
            self._one(*units[0])
        elif units:
            items = [item for unit, _ in units for item in _items(unit)]
            try:
                with self.store.transaction() as tx:
                    tx.put_many(items)
            except StorageError:
                for unit, size in units:
                    self._one(unit, size)
                return
            for unit, size in units:
                self.report.errors += unit.errors
                _count(self.report, _items(unit))
                self.advance(size, self.report.resources)

    def _one(self, unit: Prepared, size: int) -> None:
        _write(self.store, unit, self.validate, self.report)
        self.advance(size, self.report.resources)


GROUP_RESOURCES = 2000  # resources per group transaction (about 8 MB of Synthea)


def _items(unit: Prepared) -> list[Item]:
    if unit.payload is None:
        return unit.items or []
    unit.items, unit.payload = [(t, i, r) for t, i, r in fjson.loads(unit.payload)], None
    return unit.items


def _count(report: LoadReport, items: list[Item]) -> None:
    report.resources += len(items)
    report.by_type.update([t for t, _, _ in items])


def _write(store: Store, unit: Prepared, validate: Validate, report: LoadReport) -> None:
    report.errors += unit.errors
    if unit.payload is not None or unit.items is not None:
        items = _items(unit)
        try:
            with store.transaction() as tx:
                tx.put_many(items)
        except StorageError as exc:
            report.errors.append(LoadError(unit.source, f"not stored: {exc}"))
            return
        _count(report, items)
    elif unit.plan is not None:
        _run_plan(store, unit, validate, report)


def _run_plan(store: Store, unit: Prepared, validate: Validate, report: LoadReport) -> None:
    plan = unit.plan
    assert plan is not None
    ctx = Context(store, BASE_URL, validate, new_id)
    if plan.kind == "batch":
        from helseflyt.interactions.batch import run_batch

        indexes = sorted([e.index for e in plan.entries] + list(plan.invalid))
        methods = {e.index: (e.method, e.type) for e in plan.entries}
        for index, resp in zip(indexes, run_batch(ctx, plan), strict=True):
            status = resp["response"]["status"]
            if int(status.split()[0]) >= 400:
                diag = "; ".join(i.get("diagnostics", "") for i in resp["response"]["outcome"]["issue"])
                report.errors.append(LoadError(unit.source, f"{status}: {diag}", entry=index))
            elif methods.get(index, ("GET",))[0] in ("POST", "PUT", "PATCH", "DELETE"):
                report.resources += 1
                report.by_type[methods[index][1]] += 1
        return
    try:
        with store.transaction() as tx:
            run_plan(tx, ctx, plan, validate)
    except FhirError as exc:
        entry = next(
            (
                int(x[len("Bundle.entry[") : x.index("]")])
                for i in exc.issues
                for x in i.expression
                if x.startswith("Bundle.entry[")
            ),
            None,
        )
        report.errors.append(LoadError(unit.source, str(exc), entry=entry))
        return
    except StorageError as exc:
        report.errors.append(LoadError(unit.source, f"not stored: {exc}"))
        return
    for e in plan.entries:
        if e.method in ("POST", "PUT", "PATCH", "DELETE") and e.existing is None:
            report.resources += 1
            report.by_type[e.type] += 1


class _progress:
    """A rich progress bar over input bytes (or nothing)."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.total = total
        self.bar: Any = None

    def __enter__(self) -> Callable[[int, int], None]:
        if not self.enabled:
            return lambda size, stored: None
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]loading"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[stored]:,} resources"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self.bar.start()
        task = self.bar.add_task("load", total=self.total or None, stored=0)

        def advance(size: int, stored: int) -> None:
            self.bar.update(task, advance=size, stored=stored)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
