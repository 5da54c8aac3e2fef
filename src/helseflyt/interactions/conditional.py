"""Conditional update and conditional delete by search criteria.

* Conditional update, ``PUT [base]/[type]?criteria``
  (https://hl7.org/fhir/R4/http.html#cond-update): no match and no body id → create
  (201, server id); no match and a body id → update-as-create with that id; one match
  → update it (the body's id, if any, must be the match's, else 400); several → 412.
* Conditional delete, ``DELETE [base]/[type]?criteria``
  (https://hl7.org/fhir/R4/http.html#3.1.0.7.1): this server supports **multiple**
  deletes: every match is deleted in one transaction (204). More than
  ``MAX_CONDITIONAL_DELETE`` matches → 412, nothing deleted. No match → 204.

Criteria are parsed by :mod:`helseflyt.search.conditional` (``identifier`` and ``_id``
for now; any other parameter → 400).

Signatures::

    conditional_update_in(tx, ctx, type, criteria, resource, *, if_match=None, checked=False) -> Result
    conditional_delete_in(tx, ctx, type, criteria) -> Result
    conditional_update(ctx, type, criteria, resource, *, if_match=None) -> Result
    conditional_delete(ctx, type, criteria) -> Result

``criteria`` is the query string (``identifier=http://x|1``) or a parsed
:class:`~helseflyt.search.conditional.Criteria`. ``checked=True`` says the caller
already validated ``resource`` with :func:`helseflyt.interactions.body.check_for_write`.
"""

from __future__ import annotations

from typing import Any

from helseflyt.errors import InvalidRequest, PreconditionFailed
from helseflyt.interactions.body import check_for_write, require_id, require_resource
from helseflyt.interactions.context import Context, Result
from helseflyt.interactions.create import create_in
from helseflyt.interactions.outcomes import information
from helseflyt.interactions.update import update_in
from helseflyt.search.conditional import Criteria, parse_criteria
from helseflyt.storage.base import Transaction

MAX_CONDITIONAL_DELETE = 1000


def _criteria(criteria: str | Criteria, what: str) -> Criteria:
    return criteria if isinstance(criteria, Criteria) else parse_criteria(criteria, what=what)


def conditional_update_in(
    tx: Transaction,
    ctx: Context,
    res_type: str,
    criteria: str | Criteria,
    resource: Any,
    *,
    if_match: str | None = None,
    checked: bool = False,
) -> Result:
    crit = _criteria(criteria, "conditional update")
    resource = require_resource(resource, res_type)
    if not checked:
        check_for_write(ctx, res_type, resource)
    ids = crit.find(tx, res_type, limit=2)
    if len(ids) > 1:
        raise PreconditionFailed(f"the conditional update criteria match more than one {res_type}")
    body_id = resource.get("id")
    if not ids:
        if body_id is None:
            return create_in(tx, ctx, res_type, resource, checked=True)
        return update_in(tx, ctx, res_type, require_id(body_id), resource, if_match=if_match, checked=True)
    match = ids[0]
    if body_id is not None and body_id != match:
        raise InvalidRequest(
            f"the body's id {body_id!r} differs from the resource the criteria match ({res_type}/{match})"
        )
    if body_id is None:
        resource = {**resource, "id": match}
    return update_in(tx, ctx, res_type, match, resource, if_match=if_match, checked=True)


def conditional_delete_in(tx: Transaction, ctx: Context, res_type: str, criteria: str | Criteria) -> Result:
    crit = _criteria(criteria, "conditional delete")
    ids = crit.find(tx, res_type, limit=MAX_CONDITIONAL_DELETE + 1)
    if len(ids) > MAX_CONDITIONAL_DELETE:
        raise PreconditionFailed(
            f"the conditional delete criteria match more than {MAX_CONDITIONAL_DELETE} {res_type} resources;"
            " nothing was deleted"
        )
    last = None
    for res_id in ids:
        last = tx.delete(res_type, res_id) or last
    text = f"deleted {len(ids)} {res_type} resource(s)" + (f": {', '.join(ids[:20])}" if ids else "")
    return Result(204, None, last if len(ids) == 1 else None, {}, information(text))


def conditional_update(
    ctx: Context, res_type: str, criteria: str | Criteria, resource: Any, *, if_match: str | None = None
) -> Result:
    crit = _criteria(criteria, "conditional update")
    resource = require_resource(resource, res_type)
    check_for_write(ctx, res_type, resource)
    with ctx.store.transaction() as tx:
        return conditional_update_in(tx, ctx, res_type, crit, resource, if_match=if_match, checked=True)


def conditional_delete(ctx: Context, res_type: str, criteria: str | Criteria) -> Result:
    crit = _criteria(criteria, "conditional delete")
    with ctx.store.transaction() as tx:
        return conditional_delete_in(tx, ctx, res_type, crit)
