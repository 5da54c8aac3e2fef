"""patch: ``PATCH [base]/[type]/[id]`` (https://hl7.org/fhir/R4/http.html#patch).

Two formats (https://hl7.org/fhir/R4/fhirpatch.html):

* JSON Patch, ``Content-Type: application/json-patch+json`` (RFC 6902, applied with the
  ``jsonpatch`` library);
* FHIRPath Patch, ``Content-Type: application/fhir+json`` with a ``Parameters`` body,
  applied by :func:`helseflyt.fhir.patch.fhirpath_patch.apply`.

The patched resource must keep its ``resourceType`` and ``id`` and is validated like an
update; a malformed patch answers 400, a patch that does not apply (failed ``test``,
missing path) 422. ``If-Match`` → 412 when stale. The read, the check and the write
happen in one transaction holding the resource's write lock.

Signatures::

    patch_in(tx, ctx, type, id, patch, *, kind, if_match=None) -> Result
    patch(ctx, type, id, patch, *, kind, if_match=None) -> Result

``kind`` is ``JSON_PATCH`` or ``FHIRPATH_PATCH``; ``patch`` is the parsed body.
"""

from __future__ import annotations

from typing import Any, Literal

import jsonpatch
import jsonpointer

from helseflyt.errors import BusinessRuleViolation, InvalidRequest, NotSupported
from helseflyt.fhir import json as fjson
from helseflyt.interactions.body import check_for_write, require_id
from helseflyt.interactions.context import Context, Result
from helseflyt.interactions.outcomes import information, location
from helseflyt.interactions.preconditions import check_if_match
from helseflyt.interactions.read import current_or_raise
from helseflyt.storage.base import Transaction

PatchKind = Literal["json-patch", "fhirpath-patch"]
JSON_PATCH: PatchKind = "json-patch"
FHIRPATH_PATCH: PatchKind = "fhirpath-patch"


def fhirpath_patch_available() -> bool:
    try:
        from helseflyt.fhir.patch.fhirpath_patch import apply  # noqa: F401
    except ImportError:
        return False
    return True


def _apply_json_patch(resource: dict[str, Any], patch: Any) -> Any:
    if not isinstance(patch, list) or not all(isinstance(op, dict) for op in patch):
        raise InvalidRequest("a JSON Patch body must be an array of operation objects (RFC 6902)")
    try:
        ops = jsonpatch.JsonPatch(patch)
    except (jsonpatch.InvalidJsonPatch, jsonpointer.JsonPointerException, TypeError) as exc:
        raise InvalidRequest(f"invalid JSON Patch: {exc}") from exc
    try:
        return ops.apply(resource, in_place=True)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise BusinessRuleViolation(f"JSON Patch test failed: {exc}") from exc
    except jsonpatch.InvalidJsonPatch as exc:
        raise InvalidRequest(f"invalid JSON Patch: {exc}") from exc
    except (
        jsonpatch.JsonPatchException,
        jsonpointer.JsonPointerException,
        KeyError,
        IndexError,
        TypeError,
    ) as exc:
        raise BusinessRuleViolation(f"JSON Patch does not apply: {exc}") from exc


def _apply_fhirpath_patch(resource: dict[str, Any], patch: Any) -> Any:
    if not isinstance(patch, dict) or patch.get("resourceType") != "Parameters":
        raise InvalidRequest("a FHIRPath Patch body must be a Parameters resource")
    try:
        from helseflyt.fhir.patch.fhirpath_patch import apply
    except ImportError as exc:
        raise NotSupported("FHIRPath Patch is not available yet on this server") from exc
    return apply(resource, patch)


def patch_in(
    tx: Transaction,
    ctx: Context,
    res_type: str,
    res_id: str,
    patch: Any,
    *,
    kind: PatchKind,
    if_match: str | None = None,
) -> Result:
    require_id(res_id)
    current = tx.current(res_type, res_id, for_update=True)
    check_if_match(current, if_match, f"{res_type}/{res_id}")
    current = current_or_raise(tx, res_type, res_id) if current is None or current.deleted else current
    assert current.body is not None
    resource = fjson.loads(current.body)
    if kind == JSON_PATCH:
        patched = _apply_json_patch(resource, patch)
    elif kind == FHIRPATH_PATCH:
        patched = _apply_fhirpath_patch(resource, patch)
    else:
        raise InvalidRequest(f"unknown patch format {kind!r}")
    if not isinstance(patched, dict):
        raise BusinessRuleViolation("the patch replaced the resource by something that is not a resource")
    if patched.get("resourceType") != res_type:
        raise BusinessRuleViolation("a patch may not change the resourceType")
    if patched.get("id") != res_id:
        raise BusinessRuleViolation("a patch may not change or remove the id")
    check_for_write(ctx, res_type, patched)
    version = tx.put(res_type, res_id, patched)
    return Result(
        200,
        version.body,
        version,
        {"Location": location(ctx.base_url, version)},
        information(f"patched {res_type}/{res_id} to version {version.version}"),
    )


def patch(
    ctx: Context, res_type: str, res_id: str, body: Any, *, kind: PatchKind, if_match: str | None = None
) -> Result:
    with ctx.store.transaction() as tx:
        return patch_in(tx, ctx, res_type, res_id, body, kind=kind, if_match=if_match)
