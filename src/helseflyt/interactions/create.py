"""create: ``POST [base]/[type]`` (https://hl7.org/fhir/R4/http.html#create), and
conditional create with ``If-None-Exist`` (https://hl7.org/fhir/R4/http.html#ccreate).

The server assigns the id (``ctx.new_id()``); an id in the body is ignored, as the
spec says. Conditional create: no match → create (201); one match → 200 with the
existing resource, nothing written; several → 412.

Signatures::

    create_in(tx, ctx, type, resource, *, if_none_exist=None, checked=False) -> Result
    create(ctx, type, resource, *, if_none_exist=None) -> Result

``create_in`` works inside an open :class:`~helseflyt.storage.base.Transaction` (the
transaction Bundle calls it per entry). ``resource`` is the parsed body (any JSON
value; it is checked here). ``checked=True`` says the caller already ran
:func:`helseflyt.interactions.body.check_for_write` on it (to validate outside the
write lock). ``if_none_exist`` is the criteria query string (``identifier=s|v``).
"""

from __future__ import annotations

from typing import Any

from helseflyt.errors import PreconditionFailed
from helseflyt.interactions.body import check_for_write, require_resource
from helseflyt.interactions.context import Context, Result
from helseflyt.interactions.outcomes import information, location
from helseflyt.search.conditional import parse_criteria
from helseflyt.storage.base import Transaction


def prepare_create(ctx: Context, res_type: str, resource: Any) -> dict[str, Any]:
    """Check and validate a create body (no storage access); drops a client id."""
    resource = require_resource(resource, res_type)
    if "id" in resource:
        resource = {k: v for k, v in resource.items() if k != "id"}
    check_for_write(ctx, res_type, resource)
    return resource


def create_in(
    tx: Transaction,
    ctx: Context,
    res_type: str,
    resource: Any,
    *,
    if_none_exist: str | None = None,
    checked: bool = False,
) -> Result:
    if if_none_exist is not None:
        criteria = parse_criteria(if_none_exist, what="conditional create (If-None-Exist)")
        ids = criteria.find(tx, res_type, limit=2)
        if len(ids) > 1:
            raise PreconditionFailed(f"If-None-Exist {if_none_exist!r} matches more than one {res_type}")
        if ids:
            found = tx.current(res_type, ids[0])
            if found is not None and not found.deleted:
                return Result(
                    200,
                    found.body,
                    found,
                    {"Location": location(ctx.base_url, found)},
                    information(f"{res_type}/{found.id} matches If-None-Exist; nothing was created"),
                )
    if checked:
        resource = require_resource(resource, res_type)
        if "id" in resource:
            resource = {k: v for k, v in resource.items() if k != "id"}
    else:
        resource = prepare_create(ctx, res_type, resource)
    version = tx.put(res_type, ctx.new_id(), resource)
    return Result(
        201,
        version.body,
        version,
        {"Location": location(ctx.base_url, version)},
        information(f"created {res_type}/{version.id} version {version.version}"),
    )


def create(ctx: Context, res_type: str, resource: Any, *, if_none_exist: str | None = None) -> Result:
    """A single create in its own transaction; validation runs before the write lock."""
    prepared = prepare_create(ctx, res_type, resource)
    with ctx.store.transaction() as tx:
        return create_in(tx, ctx, res_type, prepared, if_none_exist=if_none_exist, checked=True)
