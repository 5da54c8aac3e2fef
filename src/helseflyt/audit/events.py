"""Audit events: what happened, who did it, to what and whose data, with what outcome.

An :class:`AuditEvent` is a plain dataclass, made at the HTTP edge *after* the response
status is known (see ``helseflyt.http.audit``). The edge keeps only a cheap
:class:`Capture` on the request path; :func:`from_capture` (run by the background
writer, :mod:`helseflyt.audit.sink`) classifies the request and finds the resources and
patients it touched. :func:`to_fhir` renders the event as an R4 ``AuditEvent`` shaped
after HL7 Norway's AuditEvent profile and IHE BALP (codes below).

One event per HTTP request: a transaction or batch Bundle is one event (subtype
``transaction``/``batch``, action ``E``) listing every entry's resource as an entity.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import msgspec
import orjson

from helseflyt.norway.identifiers import FNR, HPR, ORGNR
from helseflyt.storage.common import instant, to_micros

__all__ = [
    "ACCESS_BASIS_SYSTEM",
    "EMERGENCY_BASES",
    "REVIEW_BASES",
    "Agent",
    "AuditEvent",
    "Capture",
    "Entity",
    "classify",
    "from_capture",
    "to_fhir",
]

FHIR_BASE = "/fhir"
EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
INTERACTION = "http://hl7.org/fhir/restful-interaction"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
ROLE_CLASS = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
# NHN's access bases (UNNTAK, SAMTYKKE, FORHOYET_SAMTYKKE, AKUTT, FORHOYET_AKUTT). NHN
# publishes them as HTTP header values, not as a FHIR CodeSystem with a canonical URL, and
# Helseflyt has no http canonical base of its own: so a Helseflyt-owned URN (docs/audit.md).
ACCESS_BASIS_SYSTEM = "urn:helseflyt:nhn-access-basis"
EMERGENCY_BASES = frozenset({"AKUTT", "FORHOYET_AKUTT"})
REVIEW_BASES = EMERGENCY_BASES | {"UNNTAK", "SAMTYKKE", "FORHOYET_SAMTYKKE"}  # self-declared
REVIEW_PURPOSES = frozenset({"BTG", "ETREAT"})

ACTIONS = {
    "read": "R",
    "vread": "R",
    "search-type": "R",
    "search-system": "R",
    "history-instance": "R",
    "history-type": "R",
    "history-system": "R",
    "capabilities": "R",
    "create": "C",
    "update": "U",
    "patch": "U",
    "delete": "D",
    "transaction": "E",
    "batch": "E",
    "operation": "E",
}
MAX_ENTITIES = 200  # per event; a search page or a Bundle rarely has more
MAX_BODY = 2 * 1024 * 1024  # bodies larger than this are not inspected for patients
_PATIENT_FIELDS = ("subject", "patient", "beneficiary")
_BUNDLES = ("transaction", "batch")


@dataclass(frozen=True, slots=True)
class Agent:
    """Who asked: the authenticated principal (None fields when unknown)."""

    role: str | None = None  # "practitioner" | "patient" | "system"; None = no authentication
    hpr: str | None = None
    fnr: str | None = None
    orgnr: str | None = None  # the legal entity (orgnr_parent)
    orgnr_child: str | None = None  # the part of it (department, point of care)
    client_id: str | None = None
    name: str | None = None
    address: str | None = None  # network address of the client


@dataclass(frozen=True, slots=True)
class Entity:
    type: str | None  # resource type
    id: str | None = None
    version: str | None = None
    role: str = "resource"  # "patient" | "resource" | "query"
    query: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: str
    recorded: datetime
    interaction: str | None  # restful-interaction code; None for a path that is no interaction
    action: str  # C R U D E
    outcome: str  # "0" success, "4" minor failure (4xx, denied), "8" serious failure (5xx)
    status: int  # HTTP status
    method: str
    path: str
    agent: Agent = field(default_factory=Agent)
    entities: tuple[Entity, ...] = ()
    patients: tuple[str, ...] = ()  # Patient ids whose data this touched
    operation: str | None = None  # e.g. "$everything"
    basis: str | None = None  # nhn-access-basis code declared for the request
    reason: str | None = None  # the stated reason (emergency access needs one)
    purpose: str | None = None  # purpose of use (v3-ActReason: TREAT, ETREAT, COC, BTG)
    request_id: str | None = None
    detail: str | None = None  # why it failed

    @property
    def review(self) -> bool:
        """Emergency or self-declared access: the privacy officer follows it up."""
        return self.basis in REVIEW_BASES or self.purpose in REVIEW_PURPOSES

    @property
    def emergency(self) -> bool:
        return self.basis in EMERGENCY_BASES or self.purpose in REVIEW_PURPOSES


@dataclass(slots=True)
class Capture:
    """What the HTTP edge keeps of one request: cheap to make (no parsing, no copying)."""

    recorded: datetime
    method: str
    path: str
    query: bytes
    status: int
    request_body: list[bytes]
    response_body: list[bytes]
    location: str | None = None
    etag: str | None = None
    principal: Any = None
    access: Any = None  # the authorisation decision: attributes/keys basis, reason, purpose
    client: tuple[str, int] | None = None
    request_id: str | None = None
    # A search's entries as the response holds them (Result.page): a stored version whose
    # bytes are embedded verbatim, or the resource dict. Given for a 200 whose body was
    # kept: the writer then reads the entities and patients from it, not by parsing the body.
    page: list[Any] | None = None


def classify(method: str, path: str) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """``(interaction, type, id, version, operation)`` of a request to the FHIR base."""
    parts = [p for p in path[len(FHIR_BASE) :].split("/") if p]
    n = len(parts)
    if n == 0:
        return ("transaction" if method == "POST" else None), None, None, None, None
    first = parts[0]
    if n == 1:
        if first == "metadata":
            return "capabilities", None, None, None, None
        if first == "_history":
            return "history-system", None, None, None, None
        if first.startswith("$"):
            return "operation", None, None, None, first
        if first == "_search":
            return "search-system", None, None, None, None
        return (
            {
                "GET": "search-type",
                "HEAD": "search-type",
                "POST": "create",
                "PUT": "update",
                "DELETE": "delete",
            }.get(method),
            first,
            None,
            None,
            None,
        )
    second = parts[1]
    if n == 2:
        if second == "_search":
            return "search-type", first, None, None, None
        if second == "_history":
            return "history-type", first, None, None, None
        if second.startswith("$"):
            return "operation", first, None, None, second
        interaction = {"GET": "read", "HEAD": "read", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
        return interaction.get(method), first, second, None, None
    if parts[2] == "_history":
        if n == 3:
            return "history-instance", first, second, None, None
        return "vread", first, second, parts[3], None
    if parts[2].startswith("$"):
        return "operation", first, second, None, parts[2]
    return None, first, second, None, None


def _outcome(status: int) -> str:
    if status < 400:
        return "0"
    return "4" if status < 500 else "8"


def _json(chunks: list[bytes]) -> Any:
    if not chunks:
        return None
    raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if not raw or len(raw) > MAX_BODY or raw[:1] not in (b"{", b" ", b"\n"):
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _patient_id(ref: Any, aliases: dict[str, str] | None = None) -> str | None:
    if not isinstance(ref, dict):
        return None
    text = ref.get("reference")
    if not isinstance(text, str):
        return None
    if aliases and text in aliases:
        text = aliases[text]
    parts = text.split("/")
    for i in range(len(parts) - 1):
        if parts[i] == "Patient" and parts[i + 1]:
            return parts[i + 1]
    return None


def patients_of(resource: Any, aliases: dict[str, str] | None = None) -> Iterator[str]:
    """The ids of the patients a resource is about (its own id for a Patient)."""
    if not isinstance(resource, dict):
        return
    if resource.get("resourceType") == "Patient" and isinstance(resource.get("id"), str):
        yield resource["id"]
        return
    for name in _PATIENT_FIELDS:
        value = resource.get(name)
        for ref in value if isinstance(value, list) else (value,):
            found = _patient_id(ref, aliases)
            if found:
                yield found


def _principal_agent(principal: Any, client: tuple[str, int] | None) -> Agent:
    address = client[0] if client else None
    if principal is None:
        return Agent(address=address)

    def get(name: str) -> str | None:
        value = principal.get(name) if isinstance(principal, dict) else getattr(principal, name, None)
        return str(value) if value not in (None, "") else None

    return Agent(
        role=get("role"),
        hpr=get("hpr"),
        fnr=get("pid") or get("fnr"),
        orgnr=get("orgnr_parent") or get("orgnr"),
        orgnr_child=get("orgnr_child"),
        client_id=get("client_id") or get("subject"),
        name=get("name"),
        address=address,
    )


def _decision(access: Any) -> tuple[str | None, str | None, str | None]:
    if access is None:
        return None, None, None

    def get(name: str) -> str | None:
        value = access.get(name) if isinstance(access, dict) else getattr(access, name, None)
        return str(value) if value not in (None, "") else None

    return get("basis"), get("reason"), get("purpose")


def _location(text: str | None) -> Entity | None:
    """``Type/id/_history/v`` (absolute or relative) as an entity."""
    if not text:
        return None
    parts = text.split("?")[0].rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        return Entity(parts[-4], parts[-3], parts[-1])
    if len(parts) >= 2:
        return Entity(parts[-2], parts[-1])
    return None


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _bundle_entities(bundle: Any) -> Iterator[tuple[Entity, Any]]:
    if not isinstance(bundle, dict):
        return
    for entry in bundle.get("entry") or ():
        if not isinstance(entry, dict):
            continue
        resource = entry.get("resource")
        if isinstance(resource, dict) and resource.get("resourceType") and resource.get("id"):
            meta = resource.get("meta") or {}
            yield Entity(resource["resourceType"], resource["id"], meta.get("versionId")), resource
        else:
            loc = _location((entry.get("response") or {}).get("location"))
            if loc is not None:
                yield loc, resource


# A stored body without any of these keys has no patient references (patients_of).
_PATIENT_KEYS = tuple(f'"{name}"'.encode() for name in _PATIENT_FIELDS)


class _Head(msgspec.Struct):
    """The top-level members :func:`patients_of` reads (``Patient`` bodies never get here)."""

    subject: Any = None
    patient: Any = None
    beneficiary: Any = None


_HEAD = msgspec.json.Decoder(_Head)


def stored_patients(body: bytes) -> Iterator[str]:
    """:func:`patients_of` a stored body that is not a Patient, decoding only the members
    it reads (msgspec skips the rest without building it: ~3 µs for a 2 KB Synthea
    Encounter or Observation against ~12 µs for ``orjson.loads`` of the whole body)."""
    try:
        head = _HEAD.decode(body)
    except msgspec.DecodeError:  # anything it does not take: as before, the whole body
        try:
            return patients_of(orjson.loads(body))
        except orjson.JSONDecodeError:  # not stored by this server: no patients known
            return iter(())
    return patients_of({"subject": head.subject, "patient": head.patient, "beneficiary": head.beneficiary})


def _page_entities(page: list[Any]) -> Iterator[tuple[Entity, Iterable[str]]]:
    """What :func:`_bundle_entities` and :func:`patients_of` find in a searchset, from
    the entries the search already holds: a stored version (type, id and ``versionId``
    are its row's: the store writes them into the body) is parsed only when it may
    reference a patient; a Patient is its own id."""
    for item in page:
        if isinstance(item, dict):
            for entity, resource in _bundle_entities({"entry": [{"resource": item}]}):
                yield entity, patients_of(resource)
            continue
        entity = Entity(item.type, item.id, str(item.version))
        if item.type == "Patient":
            yield entity, (item.id,)
        elif any(key in item.body for key in _PATIENT_KEYS):
            yield entity, stored_patients(item.body)
        else:
            yield entity, ()


def _found(response: Any) -> Iterator[tuple[Entity, Iterable[str]]]:
    for entity, resource in _bundle_entities(response):
        yield entity, patients_of(resource)


def _query_patients(res_type: str | None, query: list[tuple[str, str]]) -> Iterator[str]:
    for name, value in query:
        base = name.split(":")[0]
        if base in ("patient", "subject", "beneficiary") or (res_type == "Patient" and base == "_id"):
            for one in value.split(","):
                if one.startswith("Patient/") or "/" not in one:
                    found = one.rsplit("/", 1)[-1]
                    if found:
                        yield found


def from_capture(c: Capture, *, new_id: Any = None) -> AuditEvent:
    """Classify a captured request and find what it touched (runs off the request path)."""
    interaction, res_type, res_id, vid, operation = classify(c.method, c.path)
    entities: list[Entity] = []
    patients: list[str] = []
    request = _json(c.request_body) if c.request_body else None
    query = parse_qsl(c.query.decode("latin-1"), keep_blank_values=True) if c.query else []
    if interaction == "transaction" and isinstance(request, dict) and request.get("type") == "batch":
        interaction = "batch"
    paged = c.page is not None and c.status == 200 and bool(c.response_body) and interaction not in _BUNDLES
    page = c.page if paged and res_type != "Bundle" else None
    response = _json(c.response_body) if c.response_body and page is None else None
    found = _page_entities(page) if page is not None else _found(response)
    if interaction in ("transaction", "batch"):
        aliases: dict[str, str] = {}
        if isinstance(request, dict):
            req_entries = request.get("entry") or []
            res_entries = (response or {}).get("entry") or [] if isinstance(response, dict) else []
            for i, entry in enumerate(req_entries):
                if isinstance(entry, dict) and isinstance(entry.get("fullUrl"), str) and i < len(res_entries):
                    loc = _location(((res_entries[i] or {}).get("response") or {}).get("location"))
                    if loc is not None and loc.type and loc.id:
                        aliases[entry["fullUrl"]] = f"{loc.type}/{loc.id}"
            for entry in req_entries:
                if isinstance(entry, dict):
                    patients.extend(patients_of(entry.get("resource"), aliases))
        for entity, resource in _bundle_entities(response):
            entities.append(entity)
            patients.extend(patients_of(resource))
            if entity.type == "Patient" and entity.id:
                patients.append(entity.id)
    elif interaction in (
        "search-type",
        "search-system",
        "history-type",
        "history-system",
        "history-instance",
    ):
        if interaction.startswith("search"):
            entities.append(Entity(res_type, role="query", query=c.query.decode("latin-1")))
            patients.extend(_query_patients(res_type, query))
        if res_id:
            entities.append(Entity(res_type, res_id))
            if res_type == "Patient":
                patients.append(res_id)
        for entity, of in found:
            if entity.type != "OperationOutcome":
                entities.append(entity)
            patients.extend(of)
    else:
        version = vid
        if interaction == "create":
            loc = _location(c.location)
            if loc is not None:
                res_id, version = loc.id, loc.version
        if res_type and (res_id or interaction in ("create", "update", "delete", "operation")):
            if not version and c.etag and c.status < 300:
                version = c.etag.removeprefix("W/").strip('"') or None
            entities.append(Entity(res_type, res_id, version))
        if res_type == "Patient" and res_id:
            patients.append(res_id)
        if isinstance(response, dict) and response.get("resourceType") == res_type:
            patients.extend(patients_of(response))
        elif page is not None or isinstance(response, dict) and response.get("resourceType") == "Bundle":
            for _entity, of in found:  # e.g. $everything, a compartment search
                patients.extend(of)
        if isinstance(request, dict) and request.get("resourceType") == res_type:
            patients.extend(patients_of(request))
        if interaction in ("update", "delete") and res_id is None:  # conditional: criteria
            patients.extend(_query_patients(res_type, query))
            if query:
                entities.append(Entity(res_type, role="query", query=c.query.decode("latin-1")))
    detail = None
    if c.status >= 400 and isinstance(response, dict) and response.get("resourceType") == "OperationOutcome":
        texts = [i.get("diagnostics") for i in response.get("issue") or () if isinstance(i, dict)]
        detail = "; ".join(t for t in texts if isinstance(t, str))[:500] or None
    basis, reason, purpose = _decision(c.access)
    return AuditEvent(
        id=(new_id or _uuid)(),
        recorded=c.recorded,
        interaction=interaction,
        action=ACTIONS.get(interaction or "", "E"),
        outcome=_outcome(c.status),
        status=c.status,
        method=c.method,
        path=c.path,
        agent=_principal_agent(c.principal, c.client),
        entities=tuple(entities[:MAX_ENTITIES]),
        patients=_unique(patients),
        operation=operation,
        basis=basis,
        reason=reason,
        purpose=purpose,
        request_id=c.request_id,
        detail=detail,
    )


def _uuid() -> str:
    return str(uuid.uuid4())


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _agents(e: AuditEvent) -> list[dict[str, Any]]:
    a = e.agent
    who: dict[str, Any]
    if a.role == "practitioner" and a.hpr:
        who = {"identifier": {"system": HPR, "value": a.hpr}}
        kind = _coding(PARTICIPATION, "IRCP", "information recipient")
    elif a.role == "patient" and a.fnr:
        who = {"identifier": {"system": FNR, "value": a.fnr}}
        kind = _coding(PARTICIPATION, "IRCP", "information recipient")
    elif a.role is None:
        who = {"display": "anonymous (open development mode: no authentication)"}
        kind = _coding(DICOM, "110153", "Source Role ID")
    else:
        who = {"display": a.client_id or a.role}
        kind = _coding(DICOM, "110150", "Application")
    if a.name:
        who["display"] = a.name
    user: dict[str, Any] = {"type": {"coding": [kind]}, "who": who, "requestor": True}
    if a.role:
        user["role"] = [{"text": a.role}]
    if a.client_id and a.role != "system":
        user["altId"] = a.client_id
    if a.address:
        user["network"] = {"address": a.address, "type": "2"}
    if e.purpose:
        user["purposeOfUse"] = [{"coding": [_coding(ACT_REASON, e.purpose)]}]
    out = [user]
    for orgnr in (a.orgnr, a.orgnr_child):
        if orgnr:
            out.append(
                {
                    "type": {"coding": [_coding(ROLE_CLASS, "PROV", "healthcare provider")]},
                    "who": {"identifier": {"system": ORGNR, "value": orgnr}},
                    "requestor": False,
                }
            )
    return out


# The codings every entity repeats: shared by all events (to_fhir's output is serialised,
# never changed), not built again for each of a search page's entities.
_SYSTEM_OBJECT = _coding(ENTITY_TYPE, "2", "System Object")
_DOMAIN_RESOURCE = _coding(OBJECT_ROLE, "4", "Domain Resource")
_PERSON = _coding(ENTITY_TYPE, "1", "Person")
_PATIENT_ROLE = _coding(OBJECT_ROLE, "1", "Patient")


def _entity(entity: Entity) -> dict[str, Any]:
    if entity.role == "query":
        out: dict[str, Any] = {
            "type": _SYSTEM_OBJECT,
            "role": _coding(OBJECT_ROLE, "24", "Query"),
        }
        if entity.type:
            out["name"] = entity.type
        out["query"] = base64.b64encode((entity.query or "").encode()).decode()
        return out
    ref = f"{entity.type}/{entity.id}" if entity.id else entity.type
    if entity.id and entity.version:
        ref += f"/_history/{entity.version}"
    return {
        "what": {"reference": ref},
        "type": _SYSTEM_OBJECT,
        "role": _DOMAIN_RESOURCE,
    }


def to_fhir(e: AuditEvent, observer: str = "Helseflyt") -> dict[str, Any]:
    """The event as an R4 AuditEvent resource (plain JSON types only: hashable bytes)."""
    when = instant(to_micros(e.recorded))
    out: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": e.id,
        "meta": {"versionId": "1", "lastUpdated": when},
        "type": _coding(EVENT_TYPE, "rest", "Restful Operation"),
        "action": e.action,
        "recorded": when,
        "outcome": e.outcome,
    }
    subtype = []
    if e.interaction:
        subtype.append(_coding(INTERACTION, e.interaction, e.interaction))
    if e.operation:
        subtype.append({"code": e.operation, "display": e.operation})
    if subtype:
        out["subtype"] = subtype
    desc = f"HTTP {e.status} {e.method} {e.path}"
    if e.request_id:
        desc += f" (request {e.request_id})"
    out["outcomeDesc"] = desc + (f": {e.detail}" if e.detail else "")
    purposes = []
    if e.purpose:
        purposes.append({"coding": [_coding(ACT_REASON, e.purpose)]})
    if e.basis:
        basis: dict[str, Any] = {"coding": [_coding(ACCESS_BASIS_SYSTEM, e.basis)]}
        if e.reason:
            basis["text"] = e.reason
        purposes.append(basis)
    elif e.reason:
        purposes.append({"text": e.reason})
    if purposes:
        out["purposeOfEvent"] = purposes
    out["agent"] = _agents(e)
    source: dict[str, Any] = {
        "observer": {"display": observer},
        "type": [_coding(SOURCE_TYPE, "4", "Application Server")],
    }
    out["source"] = source
    entities = [
        {
            "what": {"reference": f"Patient/{p}"},
            "type": _PERSON,
            "role": _PATIENT_ROLE,
        }
        for p in e.patients
    ]
    entities.extend(
        _entity(x) for x in e.entities if not (x.type == "Patient" and x.id in e.patients and not x.version)
    )
    out["entity"] = entities
    return out
