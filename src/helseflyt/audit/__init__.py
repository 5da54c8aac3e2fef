"""The tamper-evident audit trail (docs/audit.md).

Every request to the FHIR API becomes an :class:`AuditEvent` (``events``), handed by the
HTTP edge to a background :class:`AuditSink` (``sink``) that appends it, hash-chained
(``chain``), to the audit tables through an :class:`AuditStore` (``store``).
``verify`` recomputes the chain; ``access_log`` builds the citizen's access log and the
privacy officer's review list.
"""

from __future__ import annotations

from helseflyt.audit.events import Agent, AuditEvent, Capture, Entity, from_capture, to_fhir
from helseflyt.audit.sink import AuditSink
from helseflyt.audit.store import AuditStore, SQLAuditStore
from helseflyt.audit.verify import Verdict, verify

__all__ = [
    "Agent",
    "AuditEvent",
    "AuditSink",
    "AuditStore",
    "Capture",
    "Entity",
    "SQLAuditStore",
    "Verdict",
    "from_capture",
    "to_fhir",
    "verify",
]
