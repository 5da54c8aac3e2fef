"""capabilities: ``GET [base]/metadata`` (https://hl7.org/fhir/R4/http.html#capabilities).

The CapabilityStatement is generated from what the server really does: every concrete
R4 resource type (from the official definitions) with the interactions implemented in
this package, JSON only, the patch formats that are available, the conditional
variants and every search parameter the search registry supports per type. Nothing is
hand-listed that the server does not do. It also states that the server runs in open
development mode, without access control.

Signature: ``capability_statement(base_url, *, now=None, security=None) -> dict``; with
``security`` (a ``rest.security`` from ``helseflyt.access``, when authentication is on)
its description replaces the open-development-mode notice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from helseflyt import __version__
from helseflyt.interactions.patch import fhirpath_patch_available
from helseflyt.interactions.types import resource_types
from helseflyt.search.registry import for_type

INSTANCE_INTERACTIONS = ("read", "vread", "update", "patch", "delete", "history-instance")
TYPE_INTERACTIONS = ("create", "history-type")
SYSTEM_INTERACTIONS = ("transaction", "batch", "history-system")

OPEN_MODE = (
    "Open development mode: no access control (no authentication, no authorisation; every "
    "request is still audited). It only listens on the loopback address. Do not store real "
    "patient data."
)


IDENTIFIER_DOC = (
    "Search national identity numbers (fødselsnummer, D-nummer) with POST [type]/_search and "
    "a form body, never in a URL: URLs end up in logs (HL7 Norway best practice)."
)


LIST_DOC = (
    "Resources referred to by List/[id].entry.item (_list=[id]; commas OR). Functional lists "
    "such as $current-allergies are not supported (400)."
)


# Search result parameters that apply to every type (docs/search.md).
RESULT_PARAMS = (
    ("_summary", "true (isSummary elements), text, data, count or false; also on read, vread and "
     "history. Subsets are tagged SUBSETTED. Not combinable with _elements (400)."),
    ("_elements", "Top-level elements to return (plus id and meta), tagged SUBSETTED."),
    ("_contained", "false (default), true (search resources contained in others) or both. Not "
     "combinable with _sort, _id, _lastUpdated or _list (400)."),
    ("_containedType", "container (default: return the containers) or contained (return the "
     "contained resources, fullUrl [base]/Type/id#local)."),
)  # fmt: skip


def search_params(res_type: str) -> list[dict[str, Any]]:
    """The supported parameters of a type, from the search registry (the same one the
    indexer and the query use; unsupported official ones are not listed)."""
    out = []
    for code, p in sorted(for_type(res_type).items()):
        entry: dict[str, Any] = {"name": code, "type": p.type}
        if p.url:
            entry["definition"] = p.url
        if code == "identifier":
            entry["documentation"] = IDENTIFIER_DOC
        out.append(entry)
    return out


def _transaction_available() -> bool:
    try:
        from helseflyt.interactions.transaction import process_bundle  # noqa: F401
    except ImportError:
        return False
    return True


def patch_formats() -> list[str]:
    formats = ["application/json-patch+json"]
    if fhirpath_patch_available():
        formats.append("application/fhir+json")
    return formats


def capability_statement(
    base_url: str, *, now: datetime | None = None, security: dict[str, Any] | None = None
) -> dict[str, Any]:
    mode = security["description"] if security else OPEN_MODE
    date = (now or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")
    resources = [
        {
            "type": res_type,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{res_type}",
            "interaction": [{"code": c} for c in (*INSTANCE_INTERACTIONS, *TYPE_INTERACTIONS, "search-type")],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalRead": "full-support",
            "conditionalUpdate": True,
            "conditionalDelete": "multiple",
            "searchParam": search_params(res_type),
            "operation": [
                {
                    "name": "validate",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
                }
            ],
        }
        for res_type in sorted(resource_types())
    ]
    _audit_trail(resources)
    system = [{"code": c} for c in SYSTEM_INTERACTIONS if c == "history-system" or _transaction_available()]
    system.append({"code": "search-system"})
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "Helseflyt",
        "kind": "instance",
        "software": {"name": "Helseflyt", "version": __version__},
        "implementation": {"description": f"Helseflyt FHIR R4 server. {mode}", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": patch_formats(),
        "rest": [
            {
                "mode": "server",
                "documentation": mode,
                "security": security or {"cors": False, "description": OPEN_MODE},
                "resource": resources,
                "interaction": system,
                "searchParam": [
                    {"name": "_list", "type": "special", "documentation": LIST_DOC},
                    *({"name": n, "type": "special", "documentation": d} for n, d in RESULT_PARAMS),
                ],
            }
        ],
    }


def _audit_trail(resources: list[dict[str, Any]]) -> None:
    """AuditEvent is read-only with its own search (docs/audit.md); the citizen's access
    log and the review list are operations."""
    for entry in resources:
        if entry["type"] == "Patient":
            entry["operation"].append(
                {
                    "name": "access-log",
                    "definition": "urn:helseflyt:operation:access-log",
                    "documentation": "GET Patient/[id]/$access-log[?since=]: who accessed this "
                    "person's data (linked records included), newest first, as Parameters.",
                }
            )
        if entry["type"] != "AuditEvent":
            continue
        for key in ("versioning", "readHistory", "updateCreate", "conditionalCreate", "conditionalUpdate"):
            entry.pop(key, None)
        entry["conditionalRead"] = entry["conditionalDelete"] = "not-supported"
        entry["interaction"] = [{"code": "read"}, {"code": "search-type"}]
        entry["documentation"] = (
            "Read-only: the server writes one hash-chained AuditEvent per request; create, "
            "update, patch and delete answer 405. Search: patient, date (ge/gt/le/lt), _count "
            "(at most 1000), newest first with next links. Who may read which records: docs/audit.md."
        )
        entry["searchParam"] = [
            {"name": "patient", "type": "reference", "documentation": "Patient ids, comma-separated."},
            {"name": "date", "type": "date", "documentation": "ge/gt/le/lt prefixes only."},
        ]
        entry["operation"] = [
            {
                "name": "review",
                "definition": "urn:helseflyt:operation:review",
                "documentation": "GET AuditEvent/$review[?org=&since=]: emergency and "
                "self-declared accesses to follow up, as Parameters.",
            }
        ]
