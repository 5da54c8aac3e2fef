"""``helseflyt audit verify``: recompute the hash chain and name the first broken record.

Detects a changed body or hash (the record's hash no longer equals
``SHA-256(previous hash || body)``), a deleted record (a gap in ``seq``), reordered
records (their links no longer match) and an ``id`` column that differs from the body.
It cannot see records cut off the *end* of the chain: compare the head it prints with
one noted earlier (docs/audit.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from helseflyt.audit.chain import GENESIS, link
from helseflyt.audit.store import AuditStore, StoredRecord, iterate

__all__ = ["Verdict", "verify"]


@dataclass(frozen=True, slots=True)
class Verdict:
    intact: bool
    count: int  # records checked (up to and including the broken one)
    head_seq: int = 0
    head_hash: str = GENESIS
    broken_seq: int | None = None
    broken_id: str | None = None
    problem: str | None = None

    def message(self) -> str:
        if self.intact:
            return f"intact ({self.count} records; head seq {self.head_seq}, hash {self.head_hash})"
        return f"BROKEN at seq {self.broken_seq} (id {self.broken_id}): {self.problem}"


def _problem(record: StoredRecord, expected: int, prev: str) -> str | None:
    if record.seq < expected:
        return f"seq {record.seq} is out of order (expected {expected})"
    if record.seq > expected:
        gone = f"{expected}" if record.seq == expected + 1 else f"{expected}..{record.seq - 1}"
        return f"records missing before it: expected seq {expected}, found {record.seq} (seq {gone} deleted)"
    computed = link(prev, record.body)
    if computed != record.hash:
        return (
            f"hash mismatch: stored {record.hash[:16]}..., recomputed SHA-256(previous hash || body) "
            f"= {computed[:16]}... (the body or hash was changed, or records were reordered)"
        )
    try:
        body_id = orjson.loads(record.body).get("id")
    except (orjson.JSONDecodeError, AttributeError):
        body_id = None
    if body_id != record.id:
        return f"id column {record.id!r} differs from the body's id {body_id!r}"
    return None


def verify(store: AuditStore) -> Verdict:
    prev, expected, count = GENESIS, 1, 0
    for record in iterate(store):
        count += 1
        problem = _problem(record, expected, prev)
        if problem is not None:
            return Verdict(False, count, expected - 1, prev, record.seq, record.id, problem)
        prev, expected = record.hash, expected + 1
    return Verdict(True, count, expected - 1, prev)
