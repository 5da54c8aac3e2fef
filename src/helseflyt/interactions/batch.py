"""batch: each entry on its own (https://hl7.org/fhir/R4/http.html#transaction).

Every entry of a ``batch`` Bundle runs in its own storage transaction, in Bundle order,
with the same checks as a transaction entry (:mod:`helseflyt.interactions.transaction`).
A failing entry answers its status and OperationOutcome in ``response``; the others go
on. Entries are independent: a reference to another entry's ``urn:uuid:`` fullUrl is
refused for that entry (use a transaction to link new resources). Conditional
references are not resolved in a batch (the spec defines them for transactions only).
"""

from __future__ import annotations

from typing import Any

from helseflyt.errors import FhirError, InvalidRequest
from helseflyt.interactions.context import Context
from helseflyt.interactions.transaction import (
    Plan,
    at_entry,
    error_entry,
    prepare_entry,
    resolve,
    response_entry,
    run_plan,
)


def run_batch(ctx: Context, plan: Plan, mode: str = "minimal") -> list[dict[str, Any]]:
    """One response entry per request entry, in Bundle order."""
    out: dict[int, dict[str, Any]] = {
        i: error_entry(InvalidRequest(issues[0].diagnostics, issues=issues))
        for i, issues in plan.invalid.items()
    }
    for e in plan.entries:
        single = Plan("batch", [e], plan.mapping, needs_store=False)
        try:
            try:
                if e.resource is not None and e.if_none_exist is None and e.id is not None:
                    prepare_entry(plan, e, ctx.validate, None)  # validate outside the write lock
                    single.prepared = True
                else:
                    single.needs_store = True
            except FhirError as exc:
                raise at_entry(e, exc) from exc
            with ctx.store.transaction() as tx:
                if single.needs_store:
                    resolve(single, tx, ctx.new_id)
                    if e.resource is not None and e.existing is None:
                        try:
                            prepare_entry(plan, e, ctx.validate, None)
                        except FhirError as exc:
                            raise at_entry(e, exc) from exc
                    single.prepared = True
                    single.needs_store = False
                result = run_plan(tx, ctx, single, ctx.validate)[e.index]
            out[e.index] = response_entry(ctx, e, result, mode)
        except FhirError as exc:
            out[e.index] = error_entry(exc)
    return [out[i] for i in sorted(out)]
