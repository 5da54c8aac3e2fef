"""``POST [base]/$reindex`` and ``POST [base]/[type]/$reindex``: re-index stored
resources after custom SearchParameters were installed or written (see
:mod:`helseflyt.search.reindex`; ``helseflyt reindex`` does the same from the command
line with a progress bar).

The operation runs to the end within the request (batches of 500 resources, each in
one transaction) and answers a Parameters resource: ``total`` and one ``type`` part per
resource type with its ``count``. With access control on, it needs a system client:
all of ``system/*`` for ``[base]/$reindex``, ``update`` on the type for ``[type]/$reindex``.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from helseflyt.errors import FhirError
from helseflyt.http.responses import render
from helseflyt.http.routes import FHIR_BASE, resource_type, response_format
from helseflyt.interactions.context import Result
from helseflyt.search.reindex import reindex

__all__ = ["REINDEX_ROUTES"]


class Forbidden(FhirError):
    status, code = 403, "forbidden"


def _require(request: Request, res_type: str | None) -> None:
    principal = getattr(request.state, "principal", None)
    if principal is None:  # open development mode
        return
    if principal.role != "system":
        raise Forbidden("$reindex is for system clients")
    ok = principal.allows(res_type, "update") if res_type else principal.allows_everything()
    if not ok:
        raise Forbidden(f"$reindex needs update access to {res_type or 'every type (system/*)'}")


async def run(request: Request) -> Response:
    fmt = response_format(request)
    res_type = resource_type(request) if "type" in request.path_params else None
    _require(request, res_type)
    store = request.app.state.store
    report = await run_in_threadpool(lambda: reindex(store, [res_type] if res_type else None))
    body: dict[str, Any] = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "total", "valueInteger": report.total},
            *(
                {
                    "name": "type",
                    "part": [{"name": "type", "valueCode": t}, {"name": "count", "valueInteger": n}],
                }
                for t, n in sorted(report.by_type.items())
            ),
        ],
    }
    return render(Result(200, body), fmt)


REINDEX_ROUTES: list[BaseRoute] = [
    Route(f"{FHIR_BASE}/$reindex", run, methods=["POST"]),
    Route(f"{FHIR_BASE}/{{type}}/$reindex", run, methods=["POST"]),
]
