"""read: ``GET [base]/[type]/[id]`` (https://hl7.org/fhir/R4/http.html#read).

The stored bytes are returned verbatim, never re-parsed. A deleted resource answers
410, an unknown one 404. ``If-None-Match`` and ``If-Modified-Since`` answer 304 when
the client's copy is current (https://hl7.org/fhir/R4/http.html#cread). ``params`` may
hold ``_summary``/``_elements`` (a subset, parsed; other parameters are ignored).

Signature: ``read(ctx, type, id, *, if_none_match=None, if_modified_since=None, params=()) -> Result``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from helseflyt.errors import Gone, NotFound
from helseflyt.interactions.context import Context, Result
from helseflyt.interactions.preconditions import parse_etag
from helseflyt.interactions.subsetting import parse_subset, subset_result
from helseflyt.storage.base import Reader, ResourceVersion


def current_or_raise(reader: Reader, res_type: str, res_id: str) -> ResourceVersion:
    """The current version; 404 if never written, 410 if deleted."""
    found = reader.read(res_type, res_id)
    if found is None:
        raise NotFound(f"{res_type}/{res_id} is not known")
    if found.deleted:
        raise Gone(f"{res_type}/{res_id} was deleted (version {found.version})", headers={"ETag": found.etag})
    return found


def not_modified(
    version: ResourceVersion, if_none_match: str | None, if_modified_since: datetime | None
) -> bool:
    if if_none_match is not None:
        tags = [t.strip() for t in if_none_match.split(",")]
        if "*" in tags:
            return True
        for tag in tags:
            try:
                if parse_etag(tag) == version.version:
                    return True
            except Exception:  # noqa: BLE001 - an odd tag simply does not match
                continue
        return False
    if if_modified_since is not None:
        return version.last_updated.replace(microsecond=0) <= if_modified_since
    return False


def read(
    ctx: Context,
    res_type: str,
    res_id: str,
    *,
    if_none_match: str | None = None,
    if_modified_since: datetime | None = None,
    params: Sequence[tuple[str, str]] = (),
) -> Result:
    subset = parse_subset(params)
    with ctx.store.reader() as reader:
        found = current_or_raise(reader, res_type, res_id)
    if not_modified(found, if_none_match, if_modified_since):
        return Result(304, None, found)
    return Result(200, subset_result(found, subset), found)
