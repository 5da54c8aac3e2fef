"""update: ``PUT [base]/[type]/[id]`` (https://hl7.org/fhir/R4/http.html#update).

The body's ``id`` must be present and equal the URL's id (else 400). Update-as-create
is allowed: a client-chosen id (1-64 of ``[A-Za-z0-9-.]``) that does not exist, or
whose resource was deleted, is created (201); otherwise the new version answers 200.
``If-Match`` is checked against ``tx.current(..., for_update=True)`` inside the write
transaction, so a stale version answers 412 and no update is lost.

Signatures::

    update_in(tx, ctx, type, id, resource, *, if_match=None, checked=False) -> Result
    update(ctx, type, id, resource, *, if_match=None) -> Result

``checked=True`` says the caller already ran :func:`prepare_update` on ``resource``.
"""

from __future__ import annotations

from typing import Any

from helseflyt.errors import InvalidRequest, InvalidResource, Issue
from helseflyt.interactions.body import check_for_write, require_id, require_resource
from helseflyt.interactions.context import Context, Result
from helseflyt.interactions.outcomes import information, location
from helseflyt.interactions.preconditions import check_if_match
from helseflyt.storage.base import Transaction


def require_body_id(resource: dict[str, Any], res_id: str) -> None:
    body_id = resource.get("id")
    if body_id is None:
        raise InvalidResource(
            f"an update needs the resource's id in the body (expected {res_id!r})",
            issues=[
                Issue(f"id is missing: it must equal the URL's id {res_id!r}", "required", expression=("id",))
            ],
        )
    if body_id != res_id:
        raise InvalidRequest(
            f"the body's id {body_id!r} does not match the URL's id {res_id!r}",
            issues=[
                Issue(f"the body's id {body_id!r} does not match the URL's id {res_id!r}", expression=("id",))
            ],
        )


def prepare_update(ctx: Context, res_type: str, res_id: str, resource: Any) -> dict[str, Any]:
    """Check ids and validate an update body (no storage access)."""
    require_id(res_id)
    resource = require_resource(resource, res_type)
    require_body_id(resource, res_id)
    check_for_write(ctx, res_type, resource)
    return resource


def update_in(
    tx: Transaction,
    ctx: Context,
    res_type: str,
    res_id: str,
    resource: Any,
    *,
    if_match: str | None = None,
    checked: bool = False,
) -> Result:
    if not checked:
        resource = prepare_update(ctx, res_type, res_id, resource)
    current = tx.current(res_type, res_id, for_update=True)
    check_if_match(current, if_match, f"{res_type}/{res_id}")
    version = tx.put(res_type, res_id, resource)
    created = current is None or current.deleted
    verb = "created" if created else "updated"
    return Result(
        201 if created else 200,
        version.body,
        version,
        {"Location": location(ctx.base_url, version)},
        information(f"{verb} {res_type}/{res_id} version {version.version}"),
    )


def update(ctx: Context, res_type: str, res_id: str, resource: Any, *, if_match: str | None = None) -> Result:
    prepared = prepare_update(ctx, res_type, res_id, resource)
    with ctx.store.transaction() as tx:
        return update_in(tx, ctx, res_type, res_id, prepared, if_match=if_match, checked=True)
