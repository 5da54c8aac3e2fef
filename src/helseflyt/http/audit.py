"""The audit trail at the HTTP edge: the :class:`AuditTrail` middleware and the audit routes.

:class:`AuditTrail` sits just inside :class:`~helseflyt.http.middleware.RequestId` and
outside the error handler and authentication, so it sees the final status of every
request under ``/fhir`` (allowed or denied). On the request path it only keeps
references to the body chunks and hands a :class:`~helseflyt.audit.events.Capture` to
the background writer *after* the response has been sent; classifying, rendering,
hashing and inserting happen off the critical path (:mod:`helseflyt.audit.sink`).

The principal is ``scope["state"]["principal"]`` (set by authentication); the access
decision, when the authorisation layer sets one, is ``scope["state"]["access"]`` with
``basis``, ``reason`` and ``purpose``.

Routes: audit records are read-only through the API. ``GET AuditEvent/[id]``,
``GET AuditEvent?patient=&date=``, ``GET AuditEvent/$review?org=&since=`` and
``GET Patient/[id]/$access-log`` read the audit tables; every write to ``AuditEvent``
is 405 (transaction and batch entries are refused in ``interactions.transaction``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from helseflyt.access.links import linked
from helseflyt.audit.access_log import OPEN_MODE_NOTE, access_log, review_list
from helseflyt.audit.events import Capture
from helseflyt.audit.reading import Reader, cursor, page, parse_cursor, total
from helseflyt.audit.sink import AuditSink
from helseflyt.audit.store import AuditQuery, AuditRow
from helseflyt.errors import FhirError, InvalidRequest, MethodNotAllowed, NotFound
from helseflyt.fhir import json as fjson
from helseflyt.http.responses import json_bytes, render
from helseflyt.http.routes import FHIR_BASE, context, response_format
from helseflyt.interactions.context import Result
from helseflyt.storage.base import TokenCriterion
from helseflyt.storage.common import to_micros, utc_now
from helseflyt.storage.sql_access import own_records

__all__ = ["AUDIT_ROUTES", "AuditTrail"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Forbidden(FhirError):
    status, code = 403, "forbidden"


_KEEP_BODY = 2 * 1024 * 1024  # larger bodies are not kept for inspection
_PREFIX = FHIR_BASE + "/"


class AuditTrail:
    """Audit every request under ``/fhir`` once its response is complete."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == FHIR_BASE or path.startswith(_PREFIX)):
            await self.app(scope, receive, send)
            return
        sink: AuditSink | None = getattr(scope["app"].state, "audit", None)
        if sink is None:
            await self.app(scope, receive, send)
            return
        request_body: list[bytes] = []
        response_body: list[bytes] = []
        sizes = [0, 0]
        status = 0
        location = etag = None
        inner_receive = receive
        if scope["method"] not in ("GET", "HEAD"):

            async def keep_receive() -> Message:
                message = await receive()
                chunk = message.get("body", b"")
                if chunk and sizes[0] <= _KEEP_BODY:
                    sizes[0] += len(chunk)
                    request_body.append(chunk)
                return message

            inner_receive = keep_receive

        async def keep_send(message: Message) -> None:
            nonlocal status, location, etag
            if message["type"] == "http.response.start":
                status = message["status"]
                for key, value in message.get("headers", ()):
                    if key == b"location":
                        location = value.decode("latin-1")
                    elif key == b"etag":
                        etag = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                if chunk and sizes[1] <= _KEEP_BODY:
                    sizes[1] += len(chunk)
                    response_body.append(chunk)
            await send(message)

        try:
            await self.app(scope, inner_receive, keep_send)
        finally:
            state = scope.get("state") or {}
            capture = Capture(
                recorded=utc_now(),
                method=scope["method"],
                path=path,
                query=scope.get("query_string", b""),
                status=status or 500,
                request_body=request_body if sizes[0] <= _KEEP_BODY else [],
                response_body=response_body if sizes[1] <= _KEEP_BODY else [],
                location=location,
                etag=etag,
                principal=state.get("principal"),
                access=state.get("access"),
                client=scope.get("client"),
                request_id=state.get("request_id"),
                page=state.get("audit_page"),
            )
            if not sink.submit(capture):
                await run_in_threadpool(sink.put, capture)


# --- reading the trail ------------------------------------------------------------


def _sink(request: Request) -> AuditSink:
    sink: AuditSink | None = getattr(request.app.state, "audit", None)
    if sink is None:
        raise NotFound("the audit trail is not enabled on this server")
    return sink


def _principal(request: Request) -> Any:
    return getattr(request.state, "principal", None)


def _own_patients(store: Any, pid: str | None) -> frozenset[str]:
    """A patient's Patient records: identifier = their fødselsnummer/D-nummer, and linked ones."""
    if not pid:
        return frozenset()
    with store.reader() as r:
        return frozenset(own_records(r.conn, pid))


def _audit_reader(request: Request, interaction: str) -> Reader:
    """Which audit records the request's principal may read (``helseflyt.audit.reading``);
    403 without a scope covering ``AuditEvent`` for ``interaction``."""
    principal = _principal(request)
    if principal is None:
        return Reader()
    if not principal.allows("AuditEvent", interaction):
        scope = "patient/AuditEvent.rs" if principal.role == "patient" else "user/AuditEvent.rs"
        raise Forbidden(
            f"reading audit records needs a scope covering AuditEvent {interaction} (e.g. {scope})"
            + ("; your own access log is at Patient/[id]/$access-log" if principal.role == "patient" else "")
        )
    if principal.role == "system":
        return Reader()
    if principal.role == "patient":
        return Reader(own=_own_patients(request.app.state.store, principal.pid))
    if not getattr(principal, "orgnr_parent", None):
        raise Forbidden("audit records are read per organisation: the token names no organisation")
    return Reader(org=principal.orgnr_parent)


def _micros(value: str | None, what: str) -> int | None:
    if not value:
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{what}: not a date or dateTime: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_micros(moment)


def _date_range(values: list[str]) -> tuple[int | None, int | None]:
    since = until = None
    for value in values:
        prefix, text = (
            (value[:2], value[2:]) if value[:2] in ("ge", "gt", "le", "lt", "eq") else ("eq", value)
        )
        moment = _micros(text, "date")
        if prefix in ("ge", "gt"):
            since = moment
        elif prefix in ("le", "lt"):
            until = moment
        else:
            raise InvalidRequest("AuditEvent date takes ge/gt/le/lt prefixes (e.g. date=ge2024-01-01)")
    return since, until


def _count(request: Request, default: int = 100) -> int:
    raw = request.query_params.get("_count")
    try:
        return max(1, min(int(raw), 1000)) if raw else default
    except ValueError:
        raise InvalidRequest(f"_count must be an integer, not {raw!r}") from None


def _names(request: Request) -> Callable[[str, str], str | None]:
    store = request.app.state.store
    cache: dict[tuple[str, str], str | None] = {}

    def lookup(system: str, value: str) -> str | None:
        key = (system, value)
        if key not in cache:
            cache[key] = _name_of(store, system, value)
        return cache[key]

    return lookup


def _name_of(store: Any, system: str, value: str) -> str | None:
    res_type = "Organization" if system.endswith(".101") else "Practitioner"
    with store.reader() as r:
        ids = r.find(res_type, tokens=[[TokenCriterion("identifier", system, value)]], limit=1)
        found = r.read(res_type, ids[0]) if ids else None
    if found is None or found.body is None:
        return None
    resource = fjson.loads(found.body)
    if res_type == "Organization":
        name = resource.get("name")
        return name if isinstance(name, str) else None
    for human in resource.get("name") or []:
        if human.get("text"):
            return str(human["text"])
        given = " ".join(human.get("given") or [])
        text = f"{given} {human.get('family') or ''}".strip()
        if text:
            return text
    return None


def _searchset(request: Request, bodies: list[bytes], open_mode: bool, n: int) -> dict[str, Any]:
    base = context(request).base_url
    entries: list[dict[str, Any]] = []
    for body in bodies:
        resource = fjson.loads(body)
        entries.append(
            {
                "fullUrl": f"{base}/AuditEvent/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
        )
    if open_mode:
        note = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "warning", "code": "security", "diagnostics": OPEN_MODE_NOTE}],
        }
        entries.append({"resource": note, "search": {"mode": "outcome"}})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": n,
        "link": [{"relation": "self", "url": str(request.url)}],
        "entry": entries,
    }


async def read_event(request: Request) -> Response:
    fmt = response_format(request)
    sink = _sink(request)
    res_id = request.path_params["id"]
    reader = await run_in_threadpool(_audit_reader, request, "read")
    await run_in_threadpool(sink.flush, 2.0)
    body = await run_in_threadpool(sink.store.get, res_id)
    if body is None or not reader.may_read(body):  # another's record: as if it did not exist
        raise NotFound(f"AuditEvent/{res_id} not found")
    return Response(json_bytes(body, fmt), media_type="application/fhir+json; charset=utf-8")


_SEARCH_PARAMS = frozenset({"patient", "date", "_count", "_cursor", "_format", "_pretty"})


async def search_events(request: Request) -> Response:
    """``AuditEvent?patient=&date=&_count=``, newest first, with ``next`` links (keyset)."""
    fmt = response_format(request)
    sink = _sink(request)
    principal = _principal(request)
    q = request.query_params
    unknown = sorted(set(q.keys()) - _SEARCH_PARAMS)
    if unknown:
        raise InvalidRequest(f"AuditEvent search supports patient, date and _count; not {', '.join(unknown)}")
    reader = await run_in_threadpool(_audit_reader, request, "search")
    patients = None
    if q.get("patient"):
        patients = tuple(p.strip().removeprefix("Patient/") for p in q["patient"].split(","))
        if reader.own is not None and not set(patients) <= reader.own:
            raise Forbidden("a patient reads only the audit records of their own record")
    since, until = _date_range(q.getlist("date"))
    before = parse_cursor(q["_cursor"], InvalidRequest) if q.get("_cursor") else None
    query = AuditQuery(patients=patients, since=since, until=until, before=before)
    count = _count(request)
    await run_in_threadpool(sink.flush, 2.0)

    def build() -> tuple[list[AuditRow], bool, int]:
        rows, more = page(sink.store, reader, query, count)
        return rows, more, total(sink.store, reader, query)

    rows, more, n = await run_in_threadpool(build)
    bundle = _searchset(request, [r.body for r in rows], principal is None, n)
    if more:
        kept = [(k, v) for k, v in q.multi_items() if k != "_cursor"]
        url = f"{context(request).base_url}/AuditEvent?{urlencode([*kept, ('_cursor', cursor(rows[-1]))])}"
        bundle["link"].append({"relation": "next", "url": url})
    return render(Result(200, bundle), fmt)


async def review(request: Request) -> Response:
    """``AuditEvent/$review?org=ORGNR&since=...``: emergency and self-declared accesses."""
    fmt = response_format(request)
    sink = _sink(request)
    principal = _principal(request)
    if principal is not None and principal.role == "patient":
        raise Forbidden("the review list is for privacy officers; yours is at Patient/[id]/$access-log")
    reader = await run_in_threadpool(_audit_reader, request, "read")
    org = request.query_params.get("org")
    if reader.org is not None:
        if org and org != reader.org:
            raise Forbidden(f"the review list of organisation {org} is not yours ({reader.org})")
        org = reader.org
    since = _micros(request.query_params.get("since"), "since")
    limit = _count(request, 500)
    await run_in_threadpool(sink.flush, 2.0)
    names = _names(request)

    def build() -> dict[str, Any]:
        rows = sink.store.find(AuditQuery(review=True, org=org, since=since), limit)
        return review_list([r.body for r in rows], names, open_mode=principal is None)

    return render(Result(200, await run_in_threadpool(build)), fmt)


async def patient_access_log(request: Request) -> Response:
    """``Patient/[id]/$access-log``: who accessed this person's data (all their linked
    records), newest first. A patient reads their own without an AuditEvent scope."""
    fmt = response_format(request)
    sink = _sink(request)
    principal = _principal(request)
    patient_id = request.path_params["id"]
    store = request.app.state.store

    def person() -> tuple[Reader, frozenset[str]]:
        if principal is not None and principal.role == "patient":
            own = _own_patients(store, principal.pid)
            if patient_id not in own:
                raise Forbidden("a patient reads only their own access log")
            return Reader(), own
        reader = _audit_reader(request, "read")
        # others need to see the Patient (a practitioner: a basis for access), as for a read
        with context(request).store.reader() as r:
            if r.read("Patient", patient_id) is None:
                raise NotFound(f"Patient/{patient_id} not found")
            return reader, frozenset(linked(r.conn, [patient_id]))

    reader, patients = await run_in_threadpool(person)
    since = _micros(request.query_params.get("since"), "since")
    limit = _count(request, 500)
    await run_in_threadpool(sink.flush, 2.0)
    names = _names(request)

    def build() -> dict[str, Any]:
        query = reader.narrow(AuditQuery(patients=tuple(sorted(patients)), since=since))
        rows = sink.store.find(query, limit)
        return access_log([r.body for r in rows], names, open_mode=principal is None)

    return render(Result(200, await run_in_threadpool(build)), fmt)


async def read_only(request: Request) -> Response:
    raise MethodNotAllowed(
        f"{request.method} on AuditEvent is not allowed: audit records are written by the server "
        "and can be neither created, changed nor deleted through the API",
        headers={"Allow": "GET"},
    )


AUDIT_ROUTES: list[BaseRoute] = [
    Route(f"{FHIR_BASE}/AuditEvent/$review", review, methods=["GET"]),
    Route(f"{FHIR_BASE}/Patient/{{id}}/$access-log", patient_access_log, methods=["GET"]),
    Route(f"{FHIR_BASE}/AuditEvent", search_events, methods=["GET"]),
    Route(f"{FHIR_BASE}/AuditEvent", read_only, methods=["POST", "PUT", "DELETE", "PATCH"]),
    Route(f"{FHIR_BASE}/AuditEvent/{{id}}", read_event, methods=["GET"]),
    Route(f"{FHIR_BASE}/AuditEvent/{{id}}", read_only, methods=["POST", "PUT", "DELETE", "PATCH"]),
]
