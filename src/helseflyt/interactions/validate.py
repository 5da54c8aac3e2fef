"""$validate: ``POST [base]/[type]/$validate``, ``POST|GET [base]/[type]/[id]/$validate``
(https://hl7.org/fhir/R4/resource-operation-validate.html).

Runs exactly the checks a write runs (``body.require_resource`` and ``ctx.validate``)
without storing anything. The body is the resource itself or a ``Parameters`` with a
``resource`` parameter (and optional ``mode``: create, update, delete). As the
specification says, the answer is ``200 OK`` with an OperationOutcome whether or not
the resource is valid; problems in the *request* (malformed JSON, a Parameters without
a resource, an unknown mode) answer 400. With no issues the outcome carries one
``information`` issue saying so.

``profile`` (query or Parameters) names profiles to check besides ``meta.profile``;
the caller passes ``check_profiles(resource, urls) -> issues`` (installed IG profiles).

Signature: ``validate(ctx, type, body, *, res_id=None, profiles=(), check_profiles=None) -> Result``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from helseflyt.errors import FhirError, InvalidRequest, Issue, operation_outcome
from helseflyt.interactions.body import require_resource
from helseflyt.interactions.context import Context, Result
from helseflyt.interactions.outcomes import information
from helseflyt.interactions.read import current_or_raise

MODES = ("create", "update", "delete")


ProfileCheck = Callable[[dict[str, Any], list[str]], list[Issue]]


def _unwrap(body: Any, res_type: str, profiles: list[str]) -> tuple[Any, str | None]:
    """(resource, mode) from a bare resource or a Parameters; adds its ``profile``s."""
    if not (isinstance(body, dict) and body.get("resourceType") == "Parameters") or res_type == "Parameters":
        return body, None
    resource, mode = None, None
    for param in body.get("parameter") or ():
        if not isinstance(param, dict):
            continue
        if param.get("name") == "resource":
            resource = param.get("resource")
        elif param.get("name") == "mode":
            mode = param.get("valueCode") or param.get("valueString")
        elif param.get("name") == "profile" and isinstance(
            param.get("valueUri") or param.get("valueCanonical"), str
        ):
            profiles.append(param.get("valueUri") or param.get("valueCanonical"))
    if mode is not None and mode not in MODES:
        raise InvalidRequest(f"$validate mode must be one of {', '.join(MODES)}, not {mode!r}")
    if resource is None and mode != "delete":
        raise InvalidRequest("$validate with a Parameters body needs a 'resource' parameter")
    return resource, mode


def validate(
    ctx: Context,
    res_type: str,
    body: Any,
    *,
    res_id: str | None = None,
    profiles: Sequence[str] = (),
    check_profiles: ProfileCheck | None = None,
) -> Result:
    wanted = list(profiles)
    resource, mode = _unwrap(body, res_type, wanted)
    issues: list[Issue] = []
    if mode == "delete":
        if res_id is None:
            raise InvalidRequest("$validate with mode=delete needs a resource id in the URL")
        with ctx.store.reader() as reader:
            current_or_raise(reader, res_type, res_id)
        return Result(200, information(f"{res_type}/{res_id} may be deleted"))
    try:
        checked = require_resource(resource, res_type)
    except FhirError as exc:
        issues = exc.issues
    else:
        if res_id is not None and checked.get("id") not in (None, res_id):
            issues.append(
                Issue(
                    f"id {checked.get('id')!r} does not match the URL's id {res_id!r}",
                    "invalid",
                    expression=("id",),
                )
            )
        if mode == "update" and res_id is not None:
            with ctx.store.reader() as reader:
                current_or_raise(reader, res_type, res_id)
        issues += ctx.validate(checked, res_type)
        if wanted:
            if check_profiles is None:
                raise InvalidRequest(
                    "no profiles are installed: install an IG package first (helseflyt ig install)"
                )
            issues += check_profiles(checked, wanted)
    if not issues:
        return Result(200, information("no issues: the resource is valid"))
    return Result(200, operation_outcome(issues))


def validate_stored(
    ctx: Context,
    res_type: str,
    res_id: str,
    *,
    profiles: Sequence[str] = (),
    check_profiles: ProfileCheck | None = None,
) -> Result:
    """``GET [type]/[id]/$validate``: validate the stored current version."""
    from helseflyt.fhir import json as fjson

    with ctx.store.reader() as reader:
        found = current_or_raise(reader, res_type, res_id)
    resource = fjson.loads(found.body or b"{}")
    return validate(ctx, res_type, resource, res_id=res_id, profiles=profiles, check_profiles=check_profiles)
