"""Routes of the operations on conformance and terminology: ``[type]/$validate``
(https://hl7.org/fhir/R4/resource-operation-validate.html, with ``profile``),
``CodeSystem/$lookup``, ``CodeSystem/$validate-code`` and ``ValueSet/$validate-code``.

They must come before the generic ``[type]/[id]`` routes (``OPERATION_ROUTES + ROUTES``).
The registry of installed packages is ``app.state.registry`` (a ``LiveRegistry``),
created on first use if the app did not set one.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from helseflyt.errors import InvalidRequest, Issue
from helseflyt.http.media import body_kind
from helseflyt.http.responses import render
from helseflyt.http.routes import FHIR_BASE, context, resource_type, response_format
from helseflyt.interactions import terminology
from helseflyt.interactions import validate as validation
from helseflyt.interactions.body import parse_json
from helseflyt.interactions.context import Result
from helseflyt.packages.registry import LiveRegistry

__all__ = ["OPERATION_ROUTES"]


def registry(request: Request) -> LiveRegistry:
    state = request.app.state
    live = getattr(state, "registry", None)
    if live is None or live.store is not state.store:
        live = state.registry = LiveRegistry(state.store)
    return live


async def _params(request: Request) -> terminology.Params:
    if request.method == "GET":
        return list(request.query_params.multi_items())
    body_kind(request.headers.get("content-type"))
    raw = await request.body()
    return [*request.query_params.multi_items(), *terminology.parameters_from_body(parse_json(raw))]


async def lookup(request: Request) -> Response:
    fmt = response_format(request)
    params = await _params(request)
    live = registry(request)
    body = await run_in_threadpool(lambda: terminology.lookup(live.current(), params))
    return render(Result(200, body), fmt)


async def validate_code(request: Request) -> Response:
    fmt = response_format(request)
    level = "ValueSet" if request.url.path.startswith(f"{FHIR_BASE}/ValueSet") else "CodeSystem"
    params = await _params(request)
    live = registry(request)
    body = await run_in_threadpool(lambda: terminology.validate_code(live.current(), params, level=level))
    return render(Result(200, body), fmt)


async def validate(request: Request) -> Response:
    """``[type]/$validate`` and ``[type]/[id]/$validate`` (GET validates the stored
    version), with ``profile`` from the query or the Parameters body."""
    fmt = response_format(request)
    res_type = resource_type(request)
    res_id = request.path_params.get("id")
    profiles = [v for k, v in request.query_params.multi_items() if k == "profile"]
    ctx = context(request)
    live = registry(request)
    aware = getattr(ctx.validate, "profile_aware", False)

    def check(resource: dict[str, Any], urls: list[str]) -> list[Issue]:
        from helseflyt.fhir.validation.profiles import check_profiles
        from helseflyt.packages.validator import claims_profile

        if aware and claims_profile(resource):  # meta.profile was checked by ctx.validate
            resource = {k: v for k, v in resource.items() if k != "meta"}
        return check_profiles(resource, live.current(), urls)

    if request.method == "GET":
        if res_id is None:
            raise InvalidRequest(
                "GET [type]/$validate needs a resource: POST it, or use [type]/[id]/$validate."
            )
        result = await run_in_threadpool(
            lambda: validation.validate_stored(ctx, res_type, res_id, profiles=profiles, check_profiles=check)
        )
        return render(result, fmt)
    body_kind(request.headers.get("content-type"))
    raw = await request.body()
    result = await run_in_threadpool(
        lambda: validation.validate(
            ctx, res_type, parse_json(raw), res_id=res_id, profiles=profiles, check_profiles=check
        )
    )
    return render(result, fmt)


OPERATION_ROUTES: list[BaseRoute] = [
    Route(f"{FHIR_BASE}/CodeSystem/$lookup", lookup, methods=["GET", "POST"]),
    Route(f"{FHIR_BASE}/CodeSystem/$validate-code", validate_code, methods=["GET", "POST"]),
    Route(f"{FHIR_BASE}/ValueSet/$validate-code", validate_code, methods=["GET", "POST"]),
    Route(f"{FHIR_BASE}/{{type}}/$validate", validate, methods=["GET", "POST"]),
    Route(f"{FHIR_BASE}/{{type}}/{{id}}/$validate", validate, methods=["GET", "POST"]),
]
