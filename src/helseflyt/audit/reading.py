"""Who may read which audit records, and paging through them (no HTTP here).

:class:`Reader` is decided once per request from the principal (docs/audit.md):

* no principal (open development mode) and **system** tokens: every record;
* **practitioner**: the records of their own organisation (``orgnr_parent``), i.e. what
  their organisation did: the privacy officer's view;
* **patient**: records about their own Patient records only (the ones whose identifier is
  the token's fødselsnummer/D-nummer, and the records linked to them): a record that also
  names another patient is never shown to them, whole or counted.

:func:`page` reads one page newest first with a keyset cursor ``(recorded, seq)``, so a
``next`` link stays stable while new records are appended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import orjson

from helseflyt.audit.store import AuditQuery, AuditRow, AuditStore
from helseflyt.norway.identifiers import ORGNR

__all__ = ["Reader", "cursor", "page", "parse_cursor", "record_patients"]

_BATCH = 200  # rows read per round when records must be checked one by one


def record_patients(body: bytes) -> set[str]:
    """The Patient ids an audit record is about (its ``audit-entity-type#1`` entities)."""
    event = orjson.loads(body)
    found = set()
    for entity in event.get("entity") or ():
        ref = (entity.get("what") or {}).get("reference")
        person = (entity.get("type") or {}).get("code") == "1"
        if person and isinstance(ref, str) and ref.startswith("Patient/"):
            found.add(ref.split("/")[1])
    return found


def record_org(body: bytes) -> str | None:
    """The record's organisation (the first non-requestor ORGNR agent: ``orgnr_parent``)."""
    for agent in orjson.loads(body).get("agent") or ():
        ident = (agent.get("who") or {}).get("identifier") or {}
        if not agent.get("requestor") and ident.get("system") == ORGNR:
            return str(ident.get("value"))
    return None


@dataclass(frozen=True, slots=True)
class Reader:
    """The audit records one principal may read: ``org`` (practitioner) or ``own`` (patient)."""

    org: str | None = None
    own: frozenset[str] | None = None

    def narrow(self, query: AuditQuery) -> AuditQuery:
        if self.org is not None:
            query = replace(query, org=self.org)
        if self.own is not None:
            mine = tuple(sorted(self.own))
            if query.patients is not None:
                mine = tuple(p for p in query.patients if p in self.own)
            query = replace(query, patients=mine)
        return query

    def may_read(self, body: bytes) -> bool:
        if self.org is not None and record_org(body) != self.org:
            return False
        if self.own is not None:
            patients = record_patients(body)
            return bool(patients) and patients <= self.own
        return True

    @property
    def checks_each(self) -> bool:
        return self.own is not None  # the SQL narrows by org; own-only needs each record read


def page(store: AuditStore, reader: Reader, query: AuditQuery, count: int) -> tuple[list[AuditRow], bool]:
    """Up to ``count`` readable rows from ``query.before`` on, and whether more follow."""
    query = reader.narrow(query)
    if not reader.checks_each:
        rows = store.find(query, count + 1)
        return rows[:count], len(rows) > count
    kept: list[AuditRow] = []
    while True:
        rows = store.find(query, _BATCH)
        for row in rows:
            if reader.may_read(row.body):
                if len(kept) == count:
                    return kept, True
                kept.append(row)
        if len(rows) < _BATCH:
            return kept, False
        query = replace(query, before=(rows[-1].recorded, rows[-1].seq))


def total(store: AuditStore, reader: Reader, query: AuditQuery) -> int:
    query = replace(reader.narrow(query), before=None)
    if not reader.checks_each:
        return store.total(query)
    n = 0
    while True:
        rows = store.find(query, _BATCH)
        n += sum(1 for row in rows if reader.may_read(row.body))
        if len(rows) < _BATCH:
            return n
        query = replace(query, before=(rows[-1].recorded, rows[-1].seq))


def cursor(row: AuditRow) -> str:
    return f"{row.recorded}.{row.seq}"


def parse_cursor(text: str, fail: Callable[[str], Exception]) -> tuple[int, int]:
    recorded, _, seq = text.partition(".")
    if not (recorded.isdigit() and seq.isdigit()):
        raise fail(f"_cursor {text!r} is not a cursor from a next link")
    return int(recorded), int(seq)
