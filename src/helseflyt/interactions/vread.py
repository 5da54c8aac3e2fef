"""vread: ``GET [base]/[type]/[id]/_history/[vid]`` (https://hl7.org/fhir/R4/http.html#vread).

A version that is a deletion marker answers 410; an unknown version 404. Stored bytes
are returned verbatim, or cut to ``_summary``/``_elements`` in ``params``.

Signature: ``vread(ctx, type, id, vid: str, params=()) -> Result``.
"""

from __future__ import annotations

from collections.abc import Sequence

from helseflyt.errors import Gone, NotFound
from helseflyt.interactions.context import Context, Result
from helseflyt.interactions.subsetting import parse_subset, subset_result


def vread(
    ctx: Context, res_type: str, res_id: str, vid: str, params: Sequence[tuple[str, str]] = ()
) -> Result:
    subset = parse_subset(params)
    if not vid.isdigit() or len(vid) > 18:
        raise NotFound(f"{res_type}/{res_id} has no version {vid!r}")
    with ctx.store.reader() as reader:
        found = reader.vread(res_type, res_id, int(vid))
    if found is None:
        raise NotFound(f"{res_type}/{res_id} has no version {vid}")
    if found.deleted:
        raise Gone(f"version {vid} of {res_type}/{res_id} is a deletion", headers={"ETag": found.etag})
    return Result(200, subset_result(found, subset), found)
