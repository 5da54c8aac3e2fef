"""The audit writer: batches while it lingers, cut short by flush and close (every backend)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from helseflyt.audit.events import Capture
from helseflyt.audit.sink import AuditSink
from helseflyt.audit.store import NewRecord, SQLAuditStore, StoredRecord
from helseflyt.audit.verify import verify
from helseflyt.storage import open_store


class CountingStore(SQLAuditStore):
    """The real SQL audit store, counting its append transactions."""

    appends = 0

    def append(self, records: Sequence[NewRecord]) -> list[StoredRecord]:
        self.appends += 1
        return super().append(records)


def read(i: int) -> Capture:
    body = b'{"resourceType":"Observation","id":"o%d","subject":{"reference":"Patient/p1"}}' % i
    return Capture(datetime.now(UTC), "GET", f"/fhir/Observation/o{i}", b"", 200, [], [body])


def test_a_burst_is_one_batch_and_flush_ends_the_linger(store_url: str) -> None:
    store = open_store(store_url)
    try:
        audit = CountingStore(store)
        sink = AuditSink(audit, linger=30.0)  # only flush can end this linger in time
        for i in range(40):
            assert sink.submit(read(i))
        started = time.monotonic()
        assert sink.flush(timeout=5.0)
        assert time.monotonic() - started < 5.0
        assert (sink.written, audit.appends) == (40, 1)
        sink.submit(read(40))
        sink.close()  # also cuts the linger short, and writes what is queued
        assert (sink.written, audit.count()) == (41, 41)
        assert verify(audit).intact
    finally:
        store.close()
