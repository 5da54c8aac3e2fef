"""Checks after a load: how many resources of each type, and dangling references."""

from __future__ import annotations

from collections import Counter

from helseflyt.fhir import json as fjson
from helseflyt.fhir.references import iter_references
from helseflyt.storage.base import HistoryQuery, Store


def current_totals(store: Store, batch: int = 5000) -> Counter[str]:
    """Current, non-deleted resources per type."""
    out: Counter[str] = Counter()
    for v in _current(store, batch):
        out[v[0]] += 1
    return out


def unresolved_references(store: Store, batch: int = 5000) -> list[tuple[str, str]]:
    """``(Type/id, reference)`` for every relative reference whose target is not stored.

    Contained (``#id``), absolute (``http...``) and logical-only references are skipped.
    """
    current = list(_current(store, batch))
    known = {f"{t}/{i}" for t, i, _ in current}
    missing = []
    for t, i, body in current:
        for ref in iter_references(fjson.loads(body)):
            if ref.startswith("#") or "://" in ref:
                continue
            target = "/".join(ref.split("/")[:2])
            if target not in known:
                missing.append((f"{t}/{i}", ref))
    return missing


def _current(store: Store, batch: int) -> list[tuple[str, str, bytes]]:
    out: list[tuple[str, str, bytes]] = []
    seen: set[tuple[str, str]] = set()
    before = None
    with store.reader() as r:
        while True:
            page = r.history(HistoryQuery(count=batch, before_seq=before))
            if not page:
                break
            for v in page:
                key = (v.type, v.id)
                if key not in seen:
                    seen.add(key)
                    if not v.deleted and v.body is not None:
                        out.append((v.type, v.id, v.body))
            before = page[-1].seq
    return out
