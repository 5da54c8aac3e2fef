"""The FHIR REST routes (https://hl7.org/fhir/R4/http.html), mounted at ``/fhir``.

Handlers only frame: they negotiate the format, read the body bytes, and run the
synchronous interaction (parse, validate, store) in the thread pool in one call, so the
event loop never waits on the database or the validator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from helseflyt.errors import FhirError, InvalidRequest, NotFound, NotSupported
from helseflyt.http.media import Format, body_kind, negotiate
from helseflyt.http.offload import run_sync
from helseflyt.http.responses import error_response, outcome_response, parse_http_date, prefer_return, render
from helseflyt.interactions import conditional, create, delete, history, patch, read, search, update, vread
from helseflyt.interactions.body import parse_json
from helseflyt.interactions.capabilities import capability_statement
from helseflyt.interactions.context import Context, Result
from helseflyt.interactions.types import is_resource_type

FHIR_BASE = "/fhir"


def context(request: Request) -> Context:
    state = request.app.state
    base = state.settings.base_url or _request_base(request)
    principal = getattr(request.state, "principal", None)  # set by helseflyt.access.middleware
    store = state.store
    _refresh_search_parameters(request)
    if principal is not None:  # authorisation: this request's reads go through the access filter
        from helseflyt.access.policy import PolicySettings, request_store

        decided = request.scope.setdefault("state", {})  # the audit trail reads "access" from it
        policy = PolicySettings.from_settings(state.settings)
        store = request_store(store, principal, request.headers, decided, policy)
    return Context(
        store=store,
        base_url=base.rstrip("/"),
        validate=state.validate,
        new_id=state.new_id,
        principal=principal,
        page_sealer=getattr(state, "page_sealer", None),
        terminology=_terminology(state),
    )


_BASES: dict[tuple[Any, ...], str] = {}


def _request_base(request: Request) -> str:
    """``[request base URL]/fhir``, remembered per scheme, Host header, server and root
    path (building Starlette's ``request.base_url`` costs ~20 µs per request)."""
    scope = request.scope
    host = next((v for k, v in scope["headers"] if k == b"host"), None)
    key = (scope.get("scheme"), host, scope.get("server"), scope.get("app_root_path", scope.get("root_path")))
    base = _BASES.get(key)
    if base is None:
        if len(_BASES) > 256:  # many Host headers: keep the memory bounded
            _BASES.clear()
        base = _BASES[key] = f"{str(request.base_url).rstrip('/')}{FHIR_BASE}"
    return base


def _terminology(state: Any) -> Any:
    live = getattr(state, "registry", None)  # packages.registry.LiveRegistry
    return live.current if live is not None else None


def _refresh_search_parameters(request: Request) -> None:
    """Custom SearchParameters written since the last request apply from this one on
    (every write checks; reads at most once a second; see helseflyt.search.custom)."""
    from helseflyt.search.custom import LiveSearchParameters

    state = request.app.state
    live = getattr(state, "search_parameters", None)
    if live is None or live.store is not state.store:
        live = state.search_parameters = LiveSearchParameters(state.store)
    live.refresh(write=request.method not in ("GET", "HEAD"))


def response_format(request: Request) -> Format:
    q = request.query_params
    return negotiate(q.get("_format"), q.get("_pretty"), request.headers.get("accept"))


def resource_type(request: Request) -> str:
    name: str = request.path_params["type"]
    if not is_resource_type(name):
        raise NotFound(f"unknown resource type {name!r} (this is a FHIR R4 server)")
    return name


async def run(fn: Callable[[], Result], request: Request, fmt: Format) -> Response:
    result = await run_sync(fn)
    if result.page is not None:  # the audit trail reads the page from it (Capture.page)
        request.scope.setdefault("state", {})["audit_page"] = result.page
    return render(result, fmt, prefer=prefer_return(request.headers.get("prefer")))


def _criteria_query(request: Request) -> str:
    return request.url.query


# --- system level ---------------------------------------------------------------


async def metadata(request: Request) -> Response:
    fmt = response_format(request)
    ctx = context(request)
    access = getattr(request.app.state, "access", None)
    security = access.capability_security() if access is not None else None
    return render(Result(200, capability_statement(ctx.base_url, security=security)), fmt)


async def system_history(request: Request) -> Response:
    fmt = response_format(request)
    ctx = context(request)
    params = list(request.query_params.multi_items())
    self_url = str(request.url)
    return await run(lambda: history.history(ctx, params, self_url=self_url), request, fmt)


async def base_post(request: Request) -> Response:
    fmt = response_format(request)
    body_kind(request.headers.get("content-type"))
    raw = await request.body()
    ctx = context(request)
    prefer = request.headers.get("prefer")

    def process() -> Result:
        bundle = parse_json(raw)
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise InvalidRequest("POST to the base takes a Bundle of type transaction or batch")
        if bundle.get("type") not in ("transaction", "batch"):
            raise InvalidRequest(
                f"POST to the base takes a transaction or batch Bundle, not type {bundle.get('type')!r}"
            )
        try:
            from helseflyt.interactions.transaction import process_bundle
        except ImportError as exc:
            raise NotSupported("transaction and batch Bundles are not available yet") from exc
        return process_bundle(ctx, bundle, prefer=prefer)

    result = await run_sync(process)
    return render(result, fmt)  # Prefer was applied per entry by process_bundle


# --- type level -----------------------------------------------------------------


async def type_level(request: Request) -> Response:
    fmt = response_format(request)
    res_type = resource_type(request)
    ctx = context(request)
    method = request.method
    if method == "GET":
        pairs = list(request.query_params.multi_items())
        self_base = f"{ctx.base_url}/{res_type}"
        prefer = request.headers.get("prefer")
        return await run(
            lambda: search.search(ctx, [res_type], pairs, prefer=prefer, self_base=self_base), request, fmt
        )
    if method == "DELETE":
        query = _criteria_query(request)
        return await run(lambda: conditional.conditional_delete(ctx, res_type, query), request, fmt)
    body_kind(request.headers.get("content-type"))
    raw = await request.body()
    if method == "POST":
        if_none_exist = request.headers.get("if-none-exist")
        return await run(
            lambda: create.create(ctx, res_type, parse_json(raw), if_none_exist=if_none_exist), request, fmt
        )
    query = _criteria_query(request)  # PUT [type]?criteria
    if_match = request.headers.get("if-match")
    return await run(
        lambda: conditional.conditional_update(ctx, res_type, query, parse_json(raw), if_match=if_match),
        request,
        fmt,
    )


async def type_history(request: Request) -> Response:
    fmt = response_format(request)
    res_type = resource_type(request)
    ctx = context(request)
    params = list(request.query_params.multi_items())
    self_url = str(request.url)
    return await run(lambda: history.history(ctx, params, res_type=res_type, self_url=self_url), request, fmt)


# --- instance level -------------------------------------------------------------


async def instance(request: Request) -> Response:
    fmt = response_format(request)
    res_type = resource_type(request)
    res_id: str = request.path_params["id"]
    ctx = context(request)
    headers = request.headers
    method = request.method
    if method in ("GET", "HEAD"):
        if_none_match = headers.get("if-none-match")
        since = parse_http_date(headers.get("if-modified-since"))
        pairs = list(request.query_params.multi_items())
        return await run(
            lambda: read.read(
                ctx, res_type, res_id, if_none_match=if_none_match, if_modified_since=since, params=pairs
            ),
            request,
            fmt,
        )
    if_match = headers.get("if-match")
    if method == "DELETE":
        return await run(lambda: delete.delete(ctx, res_type, res_id, if_match=if_match), request, fmt)
    if method == "PUT":
        body_kind(headers.get("content-type"))
        raw = await request.body()
        return await run(
            lambda: update.update(ctx, res_type, res_id, parse_json(raw), if_match=if_match), request, fmt
        )
    kind = body_kind(headers.get("content-type"), patch=True)  # PATCH
    raw = await request.body()
    patch_kind = patch.JSON_PATCH if kind == "json-patch" else patch.FHIRPATH_PATCH
    return await run(
        lambda: patch.patch(ctx, res_type, res_id, parse_json(raw), kind=patch_kind, if_match=if_match),
        request,
        fmt,
    )


async def instance_history(request: Request) -> Response:
    fmt = response_format(request)
    res_type = resource_type(request)
    res_id: str = request.path_params["id"]
    ctx = context(request)
    params = list(request.query_params.multi_items())
    self_url = str(request.url)
    return await run(
        lambda: history.history(ctx, params, res_type=res_type, res_id=res_id, self_url=self_url),
        request,
        fmt,
    )


async def version_read(request: Request) -> Response:
    fmt = response_format(request)
    res_type = resource_type(request)
    ctx = context(request)
    res_id, vid = request.path_params["id"], request.path_params["vid"]
    pairs = list(request.query_params.multi_items())
    return await run(lambda: vread.vread(ctx, res_type, res_id, vid, pairs), request, fmt)


async def compartment_search(request: Request) -> Response:
    """``GET [Compartment]/[id]/[type]?...``: a search inside a compartment
    (https://hl7.org/fhir/R4/http.html#vsearch), e.g. ``Patient/123/Observation``;
    ``Patient/123/*`` searches every member type (or those named in ``_type``)."""
    fmt = response_format(request)
    kind = resource_type(request)
    res_id: str = request.path_params["id"]
    member: str = request.path_params["member"]
    ctx = context(request)
    pairs = list(request.query_params.multi_items())
    self_base = f"{ctx.base_url}/{kind}/{res_id}/{member}"
    prefer = request.headers.get("prefer")

    def process() -> Result:
        types = search.compartment_members(kind, pairs) if member == "*" else [member]
        found = search.search(
            ctx, types, pairs, prefer=prefer, self_base=self_base, compartment=(kind, res_id)
        )
        return _with_type(found, self_base, pairs) if member == "*" else found

    return await run(process, request, fmt)


async def type_search_post(request: Request) -> Response:
    """``POST [type]/_search``: parameters in a form body (so identifiers such as
    fødselsnummer never travel in a URL), and in the URL too if any."""
    fmt = response_format(request)
    res_type = resource_type(request)
    ctx = context(request)
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype not in ("application/x-www-form-urlencoded", ""):
        raise InvalidRequest(f"POST {res_type}/_search takes application/x-www-form-urlencoded, not {ctype}")
    raw = await request.body()
    pairs = list(request.query_params.multi_items()) + parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    self_base = f"{ctx.base_url}/{res_type}"
    prefer = request.headers.get("prefer")
    return await run(
        lambda: search.search(ctx, [res_type], pairs, prefer=prefer, self_base=self_base, seal=True),
        request,
        fmt,
    )


async def system_search(request: Request) -> Response:
    """``GET [base]?_type=...`` (all types without ``_type``)."""
    fmt = response_format(request)
    ctx = context(request)
    pairs = list(request.query_params.multi_items())
    prefer = request.headers.get("prefer")

    def process() -> Result:
        types = search.types_of(pairs)
        result = search.search(ctx, types, pairs, prefer=prefer, self_base=ctx.base_url)
        return _with_type(result, ctx.base_url, pairs)

    return await run(process, request, fmt)


def _with_type(result: Result, base: str, pairs: list[tuple[str, str]]) -> Result:
    """``_type`` is applied (the parser leaves it to the caller): show it in the links."""
    kept = [(k, v) for k, v in pairs if k == "_type"]
    if kept and isinstance(result.body, dict):
        for link in result.body["link"]:
            link["url"] = link["url"].replace(base + "?", f"{base}?{urlencode(kept)}&", 1)
    return result


# --- errors ---------------------------------------------------------------------


async def fhir_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FhirError)
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers: dict[str, Any] = dict(exc.headers or {})
    if exc.status_code == 404:
        return outcome_response(404, f"no FHIR endpoint at {request.url.path}", "not-found", headers)
    if exc.status_code == 405:
        allowed = headers.get("Allow", "")
        text = f"{request.method} is not supported on {request.url.path} (allowed: {allowed})"
        return outcome_response(405, text, "not-supported", headers)
    return outcome_response(exc.status_code, str(exc.detail), "processing", headers)


EXCEPTION_HANDLERS = {FhirError: fhir_error, HTTPException: http_error}

ROUTES: list[BaseRoute] = [
    Route(f"{FHIR_BASE}/metadata", metadata, methods=["GET"]),
    Route(f"{FHIR_BASE}/_history", system_history, methods=["GET"]),
    Route(FHIR_BASE, base_post, methods=["POST"]),
    Route(f"{FHIR_BASE}/", base_post, methods=["POST"]),
    Route(FHIR_BASE, system_search, methods=["GET"]),
    Route(f"{FHIR_BASE}/", system_search, methods=["GET"]),
    Route(f"{FHIR_BASE}/{{type}}/_search", type_search_post, methods=["POST"]),
    Route(f"{FHIR_BASE}/{{type}}/_history", type_history, methods=["GET"]),
    Route(f"{FHIR_BASE}/{{type}}/{{id}}/_history/{{vid}}", version_read, methods=["GET"]),
    Route(f"{FHIR_BASE}/{{type}}/{{id}}/_history", instance_history, methods=["GET"]),
    Route(f"{FHIR_BASE}/{{type}}/{{id}}/{{member}}", compartment_search, methods=["GET"]),
    Route(f"{FHIR_BASE}/{{type}}/{{id}}", instance, methods=["GET", "PUT", "DELETE", "PATCH"]),
    Route(f"{FHIR_BASE}/{{type}}", type_level, methods=["GET", "POST", "PUT", "DELETE"]),
]
