"""Validation of FHIR R4 JSON resources against the official definitions.

``validate`` returns every problem found (structure, cardinality, primitive formats,
required bindings, references, contained resources) as :class:`helseflyt.errors.Issue`
with a FHIRPath location. FHIRPath invariants are not evaluated; see docs/validation.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from helseflyt.errors import Issue
from helseflyt.fhir.validation.context import Ctx
from helseflyt.fhir.validation.fast import accepts
from helseflyt.fhir.validation.resources import check_resource

if TYPE_CHECKING:
    from helseflyt.fhir.validation.profiles import Conformance

__all__ = ["validate"]


def validate(
    resource: Any,
    *,
    expected_type: str | None = None,
    conformance: Conformance | None = None,
    profiles: Iterable[str] = (),
) -> list[Issue]:
    """All problems of ``resource`` (parsed by ``helseflyt.fhir.json.loads``); [] if valid.

    With ``conformance`` (installed profiles), the resource is also checked against its
    ``meta.profile`` and the ``profiles`` URLs (see ``profiles.py``)."""
    # The generated acceptance test first (fast.py); the reporting checker only if it
    # fails, so the issues are the reporting checker's alone.
    valid = (
        type(resource) is dict
        and (expected_type is None or resource.get("resourceType") == expected_type)
        and accepts(resource)
    )
    if valid and conformance is None:
        return []
    ctx = Ctx()
    if type(resource) is not dict:
        ctx.add("structure", "a resource must be a JSON object", "Resource")
        return ctx.issues
    rt = resource.get("resourceType")
    path = rt if type(rt) is str and rt.isidentifier() else "Resource"
    if not valid:
        if expected_type is not None and rt != expected_type:
            ctx.add("invalid", f"expected a {expected_type} resource, got {rt!r}", path)
        try:
            check_resource(resource, path, ctx)
        except RecursionError:
            ctx.add("structure", "the resource is nested too deeply to be valid FHIR", path)
    if conformance is not None and type(rt) is str:
        from helseflyt.fhir.validation.profiles import check_profiles

        try:
            ctx.issues += check_profiles(resource, conformance, profiles)
        except RecursionError:
            ctx.add("structure", "the resource is nested too deeply to check its profiles", path)
    return ctx.issues
