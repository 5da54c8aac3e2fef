"""The background audit writer: requests hand over a capture and never wait on the database.

Concurrency invariants:

* Request handlers (the event loop) only ``submit`` to a bounded queue. When the queue
  is full, the handler waits for room in a worker thread (back-pressure): audit events
  are never dropped to keep a request fast.
* One daemon thread drains the queue: it builds the events (:func:`from_capture`),
  renders them, and appends them in batches: after the first event of a batch it
  lingers ``linger`` seconds (less when ``flush`` or ``close`` asks), then takes up to
  ``max_batch`` events, so that a busy server writes one short transaction per batch, not
  one per request, and a request's hand-off wakes no thread. While it builds a batch
  it yields the GIL after each millisecond of work (:data:`YIELD_AFTER`).
* A batch that fails to write is retried (with back-off) until it is written or the sink
  is closed; ``close`` drains everything still queued before it returns (shutdown flush).
* ``flush`` returns when every event submitted before the call has been written.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from helseflyt.audit.chain import canonical
from helseflyt.audit.events import AuditEvent, Capture, from_capture, to_fhir
from helseflyt.audit.store import AuditStore, NewRecord
from helseflyt.storage.common import to_micros

__all__ = ["AuditSink", "record_of"]

log = logging.getLogger("helseflyt.audit")
_STOP = object()
_FLUSH = object()  # wakes a lingering writer
# Building a batch yields the GIL after this much work: a running request waits for the
# writer about 1 ms at most (not the interpreter's 5 ms switch interval), while the
# writer, not yielding after every event, still keeps up with a busy server.
YIELD_AFTER = 0.001


def record_of(event: AuditEvent, observer: str = "Helseflyt") -> NewRecord:
    body = canonical(to_fhir(event, observer))
    return NewRecord(
        event.id, to_micros(event.recorded), event.agent.orgnr, event.review, body, event.patients
    )


class AuditSink:
    def __init__(
        self,
        store: AuditStore,
        *,
        observer: str = "Helseflyt",
        max_queue: int = 10_000,
        max_batch: int = 500,
        linger: float = 0.05,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self.store = store
        self.observer = observer
        self.max_batch = max_batch
        self.linger = linger
        self.new_id = new_id
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._done = threading.Condition()
        self._submitted = 0
        self._written = 0
        self.failed = 0  # events that could not be built (written as a minimal event instead)
        self.lost = 0  # events still unwritten when the sink closed with the database failing
        self._closing = False
        self._hurry = threading.Event()  # ends a linger early (flush, close)
        self._thread = threading.Thread(target=self._run, name="helseflyt-audit", daemon=True)
        self._thread.start()

    # -- producers -------------------------------------------------------------------

    def submit(self, item: Capture | AuditEvent) -> bool:
        """Queue without waiting; False if the queue is full (then call :meth:`put`)."""
        with self._done:
            self._submitted += 1
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            with self._done:
                self._submitted -= 1
            return False
        return True

    def put(self, item: Capture | AuditEvent) -> None:
        """Queue, waiting for room (call from a worker thread, not the event loop)."""
        with self._done:
            self._submitted += 1
        self._queue.put(item)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._done:
            target = self._submitted
            if self._written >= target:
                return True
        with contextlib.suppress(queue.Full):  # a full queue keeps the writer busy anyway
            self._queue.put_nowait(_FLUSH)
        self._hurry.set()
        with self._done:
            while self._written < target:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._done.wait(left)
        return True

    @property
    def written(self) -> int:
        return self._written

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop the writer thread."""
        if self._closing:
            return
        self._closing = True
        self._queue.put(_STOP)
        self._hurry.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("audit writer did not finish within %.0f s; unwritten events may be lost", timeout)

    # -- the writer thread -------------------------------------------------------------

    def _build(self, item: Capture | AuditEvent) -> NewRecord:
        try:
            event = item if isinstance(item, AuditEvent) else from_capture(item, new_id=self.new_id)
        except Exception:  # noqa: BLE001 - never lose an event to a parsing bug
            log.exception("could not build an audit event; recording a minimal one")
            self.failed += 1
            assert isinstance(item, Capture)
            event = from_capture(
                Capture(
                    item.recorded,
                    item.method,
                    item.path,
                    b"",
                    item.status,
                    [],
                    [],
                    principal=item.principal,
                    access=item.access,
                    client=item.client,
                    request_id=item.request_id,
                ),
                new_id=self.new_id,
            )
        return record_of(event, self.observer)

    def _collect(self) -> tuple[list[Any], bool]:
        """The next batch (waiting for its first item, then lingering); True at _STOP.

        While it lingers the writer sleeps on an event (set by ``flush``/``close``), not on
        the queue: a request's ``submit`` then wakes no thread, and one wake-up serves the
        whole batch."""
        items = [self._queue.get()]
        busy = self._queue.qsize() + 1 >= self.max_batch  # a full batch waits already
        if items[0] is not _STOP and items[0] is not _FLUSH and self.linger > 0 and not busy:
            self._hurry.wait(self.linger)
        self._hurry.clear()
        while len(items) < self.max_batch:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        stop = any(i is _STOP for i in items)
        if stop:  # drain the rest: the shutdown flush
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
        return [i for i in items if i is not _STOP and i is not _FLUSH], stop

    def _run(self) -> None:
        stop = False
        while not stop:
            items, stop = self._collect()
            for start in range(0, len(items), self.max_batch):
                records = []
                slice_end = time.perf_counter() + YIELD_AFTER
                for item in items[start : start + self.max_batch]:
                    records.append(self._build(item))
                    if time.perf_counter() > slice_end:  # let request threads take the GIL
                        time.sleep(0)
                        slice_end = time.perf_counter() + YIELD_AFTER
                self._write(records, final=stop)

    def _write(self, records: list[NewRecord], *, final: bool) -> None:
        delay = 0.05
        attempts = 0
        while True:
            try:
                self.store.append(records)
                break
            except Exception:  # noqa: BLE001 - the database may come back
                attempts += 1
                log.exception("writing %d audit events failed (attempt %d)", len(records), attempts)
                if (final or self._closing) and attempts >= 3:
                    self.lost += len(records)
                    log.error("%d audit events lost: the database refused them at shutdown", len(records))
                    break
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        with self._done:
            self._written += len(records)
            self._done.notify_all()
