"""history: instance ``[type]/[id]/_history``, type ``[type]/_history`` and system
``_history`` (https://hl7.org/fhir/R4/http.html#history).

Parameters: ``_count`` (page size, 0-1000, default 50), ``_since`` (versions updated
at or after an instant), ``_at`` (the version current at a point in time; a partial
date means its last instant), ``_summary``/``_elements`` (subsets, as in search) and
``_cursor`` (this server's paging cursor, set in the ``next`` link: only versions
older than that write sequence number). Versions come newest first. Stored resource
bytes are embedded in the Bundle verbatim (``orjson.Fragment``) unless a subset is
asked for.

Signature: ``history(ctx, params, *, type=None, id=None, self_url) -> Result`` where
``params`` are the decoded query pairs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from helseflyt.errors import InvalidRequest, NotFound
from helseflyt.interactions.context import Context, Result
from helseflyt.interactions.subsetting import Subset, parse_subset, seen, subset_body
from helseflyt.storage.base import HistoryQuery, ResourceVersion

DEFAULT_COUNT = 50
MAX_COUNT = 1000
_PARAMS = frozenset({"_count", "_since", "_at", "_cursor", "_summary", "_elements", "_format", "_pretty"})
_PARTIAL = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def parse_instant(value: str, name: str, *, end: bool = False) -> datetime:
    """A FHIR dateTime/instant as an aware datetime; partial dates give the start of the
    period (or, with ``end``, its last instant). Without a zone, UTC is assumed."""
    m = _PARTIAL.fullmatch(value)
    try:
        if m:
            year, month, day = int(m[1]), int(m[2] or 1), int(m[3] or 1)
            start = datetime(year, month, day, tzinfo=UTC)
            if not end:
                return start
            if m[3]:
                nxt = start + timedelta(days=1)
            elif m[2]:
                nxt = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
            else:
                nxt = datetime(year + 1, 1, 1, tzinfo=UTC)
            return nxt - timedelta(milliseconds=1)
        if "T" not in value:
            raise ValueError(value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError) as exc:
        raise InvalidRequest(f"{name}={value!r} is not a valid FHIR dateTime/instant") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _single(params: Sequence[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in params:
        if name not in _PARAMS:
            raise InvalidRequest(
                f"history parameter {name!r} is not supported (use _count, _since, _at, _summary, _elements)"
            )
        if name in out:
            raise InvalidRequest(f"history parameter {name!r} is given more than once")
        out[name] = value
    return out


def _int(value: str, name: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise InvalidRequest(f"{name}={value!r} must be a whole number from {low} to {high}")
    return int(value)


def _entry(base_url: str, v: ResourceVersion, subset: Subset) -> dict[str, Any]:
    last = v.last_updated.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    entry: dict[str, Any] = {"fullUrl": f"{base_url}/{v.type}/{v.id}"}
    if v.deleted:
        request = {"method": "DELETE", "url": f"{v.type}/{v.id}"}
        response = {"status": "204 No Content"}
    elif v.version == 1:
        entry["resource"] = subset_body(v.body or b"{}", *subset)
        request = {"method": "POST", "url": v.type}
        response = {"status": "201 Created"}
    else:
        entry["resource"] = subset_body(v.body or b"{}", *subset)
        request = {"method": "PUT", "url": f"{v.type}/{v.id}"}
        response = {"status": "200 OK"}
    response.update(etag=v.etag, lastModified=last)
    entry["request"] = request
    entry["response"] = response
    return entry


def history(
    ctx: Context,
    params: Sequence[tuple[str, str]],
    *,
    res_type: str | None = None,
    res_id: str | None = None,
    self_url: str,
) -> Result:
    opts = _single(params)
    subset = parse_subset(params)
    count = _int(opts["_count"], "_count", 0, MAX_COUNT) if "_count" in opts else DEFAULT_COUNT
    since = parse_instant(opts["_since"], "_since") if "_since" in opts else None
    at = parse_instant(opts["_at"], "_at", end=True) if "_at" in opts else None
    cursor = _int(opts["_cursor"], "_cursor", 1, 2**62) if "_cursor" in opts else None
    query = HistoryQuery(type=res_type, id=res_id, since=since, at=at, count=count + 1, before_seq=cursor)
    with ctx.store.reader() as reader:
        if res_id is not None and res_type is not None and reader.read(res_type, res_id) is None:
            raise NotFound(f"{res_type}/{res_id} is not known")
        versions = reader.history(query)
        total = reader.history_count(query)
    more = len(versions) > count
    versions = versions[:count]
    links = [{"relation": "self", "url": self_url}]
    if more and versions:
        keep = [(k, v) for k, v in params if k not in ("_cursor",)]
        if "_count" not in opts:
            keep.append(("_count", str(count)))
        keep.append(("_cursor", str(versions[-1].seq)))
        links.append({"relation": "next", "url": f"{_path(self_url)}?{urlencode(keep)}"})
    bundle = {
        "resourceType": "Bundle",
        "type": "history",
        "total": total,
        "link": links,
    }
    entries = [_entry(ctx.base_url, v, subset) for v in versions]
    if entries:
        bundle["entry"] = entries
    page = [seen(e["resource"], v) for e, v in zip(entries, versions, strict=True) if "resource" in e]
    return Result(200, bundle, page=page)  # a deleted version's entry names no resource: none


def _path(url: str) -> str:
    return url.split("?", 1)[0]
