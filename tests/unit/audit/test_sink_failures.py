"""An audit failure behaves as docs/audit.md says: an event that cannot be built (here: a
search page the writer cannot read) is written as a minimal event, never dropped; a
batch the database refuses is retried until it is written."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from helseflyt.audit.events import Capture
from helseflyt.audit.sink import AuditSink
from helseflyt.audit.store import NewRecord


class FlakyStore:
    """Keeps appended records; refuses the first ``fail`` appends."""

    def __init__(self, fail: int = 0) -> None:
        self.records: list[NewRecord] = []
        self.fail = fail

    def append(self, records: Sequence[NewRecord]) -> list[Any]:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("database unavailable")
        self.records.extend(records)
        return []


def _capture(page: list[Any] | None) -> Capture:
    body = b'{"resourceType":"Bundle","type":"searchset","entry":[]}'
    return Capture(datetime.now(UTC), "GET", "/fhir/Observation", b"code=x", 200, [], [body], page=page)


def test_an_unreadable_page_is_written_as_a_minimal_event() -> None:
    store = FlakyStore()
    sink = AuditSink(store, linger=0)  # type: ignore[arg-type]
    sink.submit(_capture([object()]))  # neither a stored version nor a resource dict
    sink.submit(
        _capture([{"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"}}])
    )
    assert sink.flush(5)
    sink.close()
    assert sink.failed == 1 and len(store.records) == 2
    minimal, full = (orjson.loads(r.body) for r in store.records)
    assert "entity" in minimal and minimal["outcome"] == "0"
    assert [e["what"]["reference"] for e in full["entity"] if "what" in e] == ["Patient/p1", "Observation/o1"]
    assert store.records[1].patients == ("p1",)


def test_a_refused_batch_is_retried_until_written() -> None:
    store = FlakyStore(fail=2)
    sink = AuditSink(store, linger=0)  # type: ignore[arg-type]
    sink.submit(_capture(None))
    assert sink.flush(10)
    sink.close()
    assert len(store.records) == 1 and sink.lost == 0
