"""Validation of FHIR R4 JSON resources against the official definitions.

``validate`` returns every problem found (structure, cardinality, primitive formats,
required bindings, references, contained resources) as :class:`helseflyt.errors.Issue`
with a FHIRPath location. FHIRPath invariants are not evaluated; see docs/validation.md.
"""

from __future__ import annotations

from typing import Any

from helseflyt.errors import Issue
from helseflyt.fhir.validation.context import Ctx
from helseflyt.fhir.validation.resources import check_resource

__all__ = ["validate"]


def validate(resource: Any, *, expected_type: str | None = None) -> list[Issue]:
    """All problems of ``resource`` (parsed by ``helseflyt.fhir.json.loads``); [] if valid."""
    ctx = Ctx()
    if type(resource) is not dict:
        ctx.add("structure", "a resource must be a JSON object", "Resource")
        return ctx.issues
    rt = resource.get("resourceType")
    path = rt if type(rt) is str and rt.isidentifier() else "Resource"
    if expected_type is not None and rt != expected_type:
        ctx.add("invalid", f"expected a {expected_type} resource, got {rt!r}", path)
    try:
        check_resource(resource, path, ctx)
    except RecursionError:
        ctx.add("structure", "the resource is nested too deeply to be valid FHIR", path)
    return ctx.issues
