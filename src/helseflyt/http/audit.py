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

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from helseflyt.audit.access_log import OPEN_MODE_NOTE, access_log, review_list
from helseflyt.audit.events import Capture
from helseflyt.audit.sink import AuditSink
from helseflyt.errors import FhirError, InvalidRequest, MethodNotAllowed, NotFound
from helseflyt.fhir import json as fjson
from helseflyt.http.responses import json_bytes, render
from helseflyt.http.routes import FHIR_BASE, context, response_format
from helseflyt.interactions.context import Result
from helseflyt.norway.identifiers import FNR
from helseflyt.storage.base import TokenCriterion
from helseflyt.storage.common import to_micros, utc_now

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


def _require_audit_reader(principal: Any) -> None:
    """Audit records are for privacy officers and integrations with AuditEvent scopes;
    a patient reads their own log through ``Patient/[id]/$access-log``."""
    if principal is None:
        return
    if principal.role == "patient":
        raise Forbidden("patients read their own access log at Patient/[id]/$access-log")
    if not (principal.allows("AuditEvent", "read") or principal.allows("AuditEvent", "search")):
        raise Forbidden("reading audit records needs a scope on AuditEvent (e.g. user/AuditEvent.rs)")


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


def _searchset(request: Request, bodies: list[bytes], open_mode: bool) -> dict[str, Any]:
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
        "total": len(bodies),
        "link": [{"relation": "self", "url": str(request.url)}],
        "entry": entries,
    }


async def read_event(request: Request) -> Response:
    fmt = response_format(request)
    sink = _sink(request)
    _require_audit_reader(_principal(request))
    res_id = request.path_params["id"]
    await run_in_threadpool(sink.flush, 2.0)
    body = await run_in_threadpool(sink.store.get, res_id)
    if body is None:
        raise NotFound(f"AuditEvent/{res_id} not found")
    return Response(json_bytes(body, fmt), media_type="application/fhir+json; charset=utf-8")


async def search_events(request: Request) -> Response:
    fmt = response_format(request)
    sink = _sink(request)
    principal = _principal(request)
    _require_audit_reader(principal)
    q = request.query_params
    known = {"patient", "date", "_count", "_format", "_pretty"}
    unknown = sorted(set(q.keys()) - known)
    if unknown:
        raise InvalidRequest(f"AuditEvent search supports patient, date and _count; not {', '.join(unknown)}")
    patient = q.get("patient")
    if patient:
        patient = patient.removeprefix("Patient/")
    since, until = _date_range(q.getlist("date"))
    limit = _count(request)
    await run_in_threadpool(sink.flush, 2.0)
    bodies = await run_in_threadpool(
        lambda: sink.store.find(patient=patient, since=since, until=until, limit=limit)
    )
    return render(Result(200, _searchset(request, bodies, principal is None)), fmt)


async def review(request: Request) -> Response:
    """``AuditEvent/$review?org=ORGNR&since=...``: emergency and self-declared accesses."""
    fmt = response_format(request)
    sink = _sink(request)
    principal = _principal(request)
    _require_audit_reader(principal)
    org = request.query_params.get("org")
    own = getattr(principal, "orgnr_parent", None) if principal is not None else None
    if principal is not None and principal.role != "system":
        if not own:
            raise Forbidden(
                "the review list is for an organisation's privacy officer: the token names no organisation"
            )
        if org and org != own:
            raise Forbidden(f"the review list of organisation {org} is not yours ({own})")
        org = own
    since = _micros(request.query_params.get("since"), "since")
    limit = _count(request, 500)
    await run_in_threadpool(sink.flush, 2.0)
    names = _names(request)

    def build() -> dict[str, Any]:
        bodies = sink.store.find(review=True, org=org, since=since, limit=limit)
        return review_list(bodies, names, open_mode=principal is None)

    return render(Result(200, await run_in_threadpool(build)), fmt)


def _fnr_of(resource: dict[str, Any]) -> str | None:
    for ident in resource.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") == FNR:
            return str(ident.get("value"))
    return None


async def patient_access_log(request: Request) -> Response:
    """``Patient/[id]/$access-log``: who accessed this person's data, newest first."""
    fmt = response_format(request)
    sink = _sink(request)
    principal = _principal(request)
    patient_id = request.path_params["id"]
    store = request.app.state.store

    def patient() -> dict[str, Any] | None:
        with store.reader() as r:
            found = r.read("Patient", patient_id)
        return fjson.loads(found.body) if found is not None and found.body is not None else None

    resource = await run_in_threadpool(patient)
    if principal is not None:
        if principal.role == "patient":
            fnr = _fnr_of(resource) if resource else None
            if resource is None or not fnr or fnr != principal.pid:
                raise Forbidden("a patient reads only their own access log")
        else:
            _require_audit_reader(principal)
    if resource is None:
        raise NotFound(f"Patient/{patient_id} not found")
    since = _micros(request.query_params.get("since"), "since")
    limit = _count(request, 500)
    await run_in_threadpool(sink.flush, 2.0)
    names = _names(request)

    def build() -> dict[str, Any]:
        bodies = sink.store.find(patient=patient_id, since=since, limit=limit)
        return access_log(bodies, names, open_mode=principal is None)

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
