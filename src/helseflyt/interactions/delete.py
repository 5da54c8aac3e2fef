"""delete: ``DELETE [base]/[type]/[id]`` (https://hl7.org/fhir/R4/http.html#delete).

Deletion is versioned: a deletion marker becomes the newest version, so a later read
answers 410 and history shows the DELETE. Deleting an absent or already deleted
resource succeeds too (204), as the spec allows. ``If-Match`` (optional) → 412 when
stale.

Signatures::

    delete_in(tx, ctx, type, id, *, if_match=None) -> Result
    delete(ctx, type, id, *, if_match=None) -> Result
"""

from __future__ import annotations

from helseflyt.interactions.body import require_id
from helseflyt.interactions.context import Context, Result
from helseflyt.interactions.outcomes import information
from helseflyt.interactions.preconditions import check_if_match
from helseflyt.storage.base import Transaction


def delete_in(
    tx: Transaction, ctx: Context, res_type: str, res_id: str, *, if_match: str | None = None
) -> Result:
    require_id(res_id)
    current = tx.current(res_type, res_id, for_update=True)
    check_if_match(current, if_match, f"{res_type}/{res_id}")
    marker = tx.delete(res_type, res_id)
    if marker is None:
        return Result(
            204, None, None, {}, information(f"{res_type}/{res_id} did not exist or was already deleted")
        )
    return Result(
        204, None, marker, {}, information(f"deleted {res_type}/{res_id} (version {marker.version})")
    )


def delete(ctx: Context, res_type: str, res_id: str, *, if_match: str | None = None) -> Result:
    with ctx.store.transaction() as tx:
        return delete_in(tx, ctx, res_type, res_id, if_match=if_match)
