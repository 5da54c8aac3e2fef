"""The audit writer: batches while it lingers, cut short by flush and close (every backend)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from helseflyt.audit.events import Capture
from helseflyt.audit.sink import AuditSink
from helseflyt.audit.store import AuditQuery, NewRecord, SQLAuditStore, StoredRecord
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


def test_each_record_is_found_by_each_of_its_patients(store_url: str) -> None:
    """A batch's patient rows (one statement on PostgreSQL) point to their own records."""
    store = open_store(store_url)
    try:
        audit = SQLAuditStore(store)
        pages = [tuple(f"p{i}-{k}" for k in range(i + 1)) + ("shared",) for i in range(4)]
        records = [
            NewRecord(f"e{i}", 1_000 + i, None, False, b'{"n":%d}' % i, patients)
            for i, patients in enumerate(pages)
        ]
        stored = audit.append(records[:1]) + audit.append(records[1:])
        for record, kept in zip(records, stored, strict=True):
            for patient in record.patients[:-1]:
                found = audit.find(AuditQuery(patients=(patient,)))
                assert [(row.seq, row.recorded, row.body) for row in found] == [
                    (kept.seq, record.recorded, record.body)
                ]
        shared = audit.find(AuditQuery(patients=("shared",)))
        assert [row.seq for row in shared] == [s.seq for s in reversed(stored)]
        assert audit.total(AuditQuery(patients=("p3-2", "p2-0"))) == 2
        assert audit.total(AuditQuery(patients=("shared",), since=1_002)) == 2
    finally:
        store.close()
