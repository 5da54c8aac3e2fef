"""search: ``GET [type]?...``, ``POST [type]/_search``, ``GET [base]?_type=...``
(https://hl7.org/fhir/R4/http.html#search, https://hl7.org/fhir/R4/search.html).

Answers a ``searchset`` Bundle: ``entry.search.mode = match``, ``total`` (with
``_total=accurate|estimate`` always; by default when there are at most
:data:`TOTAL_CAP` matches, or the page query counted them anyway), a ``self`` link
with only the parameters applied and a ``next`` link while more matches follow, a
``previous`` link on pages after the first. Paging is keyset-based, also with
``_sort``: ``_cursor`` carries the sort keys and type/id of the last entry of the page
(or the first, backward), so a page walk returns every match exactly once even while
others write. Unknown or unsupported parameters are ignored with a warning
OperationOutcome entry (``search.mode = outcome``), or refused with 400 under
``Prefer: handling=strict``. ``_summary=count`` answers the total only;
``_summary=true|text|data`` and ``_elements`` return subsets marked ``SUBSETTED``
(:mod:`helseflyt.fhir.subset`). Stored bytes go into the Bundle verbatim
(``orjson.Fragment``) unless a subset needs them parsed.

Compartment search (``GET Patient/[id]/[type]?...``, ``Patient/[id]/*``,
https://hl7.org/fhir/R4/compartmentdefinition.html): ``compartment=("Patient", id)``
adds "one of the type's compartment parameters refers to Patient/id" to the criteria,
from the official CompartmentDefinition (with several types, each by its own).

Signature: ``search(ctx, res_types, pairs, *, prefer=None, self_base, compartment=None) -> Result``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any
from urllib.parse import urlencode

import orjson

from helseflyt.errors import InvalidRequest, NotFound
from helseflyt.fhir import json as fjson
from helseflyt.interactions.context import Context, Result
from helseflyt.interactions.subsetting import seen, subset_body
from helseflyt.interactions.types import is_resource_type
from helseflyt.search.parse import Include, ParsedSearch, encode_cursor, parse
from helseflyt.search.plan import (
    MAX_INCLUDE,
    build_query,
    compartment_clause,
    compartment_types,
    include_queries,
    sort_values,
)
from helseflyt.search.sealed import PAGE_PARAM, owner_of
from helseflyt.storage.base import Reader, ResourceVersion
from helseflyt.storage.common import to_micros
from helseflyt.storage.query import Cursor, SearchQuery, SearchResult

# Without ``_total`` a search counts at most this many matches (a bounded count): a
# broad search at scale does not pay for counting the database (docs/search.md).
TOTAL_CAP = 1000


def strict(prefer: str | None) -> bool:
    return bool(prefer) and "handling=strict" in (prefer or "").replace(" ", "")


def types_of(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """The resource types of a system search (``_type``); every type without it."""
    from helseflyt.interactions.types import resource_types

    named = [t.strip() for name, v in pairs if name == "_type" for t in v.split(",") if t.strip()]
    for t in named:
        if not is_resource_type(t):
            raise InvalidRequest(f"_type: {t!r} is not a FHIR R4 resource type")
    return list(dict.fromkeys(named)) or sorted(resource_types())


def compartment_members(kind: str, pairs: Sequence[tuple[str, str]]) -> list[str]:
    """The types ``[Compartment]/[id]/*`` searches: those named in ``_type``, else every
    member type of the compartment."""
    return types_of(pairs) if any(k == "_type" for k, _ in pairs) else compartment_types(kind)


def _entry(ctx: Context, v: ResourceVersion, parsed: ParsedSearch, mode: str = "match") -> dict[str, Any]:
    if "#" in v.id:  # a contained match (_containedType=contained): Container/id#local
        container, _, local = v.id.partition("#")
        found = contained_resource(v.body or b"{}", v.type, local)
        return {
            "fullUrl": f"{ctx.base_url}/{container}#{local}",
            "resource": subset_body(found, parsed.summary, parsed.elements),
            "search": {"mode": mode},
        }
    resource = subset_body(v.body or b"{}", parsed.summary, parsed.elements)
    return {"fullUrl": f"{ctx.base_url}/{v.type}/{v.id}", "resource": resource, "search": {"mode": mode}}


def contained_resource(body: bytes, res_type: str, local: str) -> dict[str, Any]:
    """The contained resource ``res_type`` with id ``local`` in a container's stored body."""
    for r in fjson.loads(body).get("contained") or ():
        if isinstance(r, dict) and r.get("resourceType") == res_type and r.get("id") == local:
            return r
    return {"resourceType": res_type, "id": local}  # unreachable: rows and body are one version


def search(
    ctx: Context,
    res_types: Sequence[str],
    pairs: Sequence[tuple[str, str]],
    *,
    prefer: str | None = None,
    self_base: str,
    compartment: tuple[str, str] | None = None,
    seal: bool = False,
) -> Result:
    """``seal``: links carry one sealed ``_page`` token instead of the parameters (POST
    searches); a ``_page`` parameter is unsealed here, and its links stay sealed."""
    pairs, seal = _unsealed(ctx, pairs, seal)
    for t in res_types:
        if not is_resource_type(t):
            raise NotFound(f"unknown resource type {t!r}")
    inside = () if compartment is None else (compartment_clause(compartment, res_types),)
    parsed = parse(pairs, res_types)
    if parsed.ignored and strict(prefer):
        raise InvalidRequest(
            "; ".join(f"{name}: {why}" for name, why in parsed.ignored) + " (Prefer: handling=strict)"
        )
    count_only = parsed.summary == "count"
    want_total = parsed.total != "none"
    query = build_query(
        parsed,
        res_types,
        base_url=ctx.base_url,
        total=want_total,
        total_cap=TOTAL_CAP if parsed.total is None else None,
        terminology=ctx.terminology,
    )
    if parsed.lists:
        from helseflyt.search.lists import list_clause

        with ctx.store.reader() as reader:
            inside += tuple(list_clause(reader, v, res_types, ctx.base_url) for v in parsed.lists)
    if inside:
        query = replace(query, clauses=(*inside, *query.clauses))
    if count_only:
        query = replace(query, sort=(), count=0, cursor=None, total=True, total_cap=None)
    with ctx.store.reader() as reader:
        found = reader.search(query)
        included = [] if count_only else _included(reader, parsed.includes, found.versions)
    sealer = None
    if seal and ctx.page_sealer is not None:
        sealer = partial(ctx.page_sealer.seal, owner=owner_of(ctx.principal))
    links = [{"relation": "self", "url": _url(self_base, parsed.applied, parsed.count, sealer=sealer)}]
    if found.versions and not count_only:
        links += _paging(self_base, parsed, query, found, sealer)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if found.total is not None:
        bundle["total"] = found.total
    bundle["link"] = links
    entries = [] if count_only else [_entry(ctx, v, parsed) for v in found.versions]
    entries += [_entry(ctx, v, parsed, "include") for v in included]
    if parsed.ignored:
        entries.append(
            {
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [
                        {
                            "severity": "warning",
                            "code": "not-supported",
                            "diagnostics": f"{name} ignored: {why}",
                        }
                        for name, why in parsed.ignored
                    ],
                },
                "search": {"mode": "outcome"},
            }
        )
    if entries:
        bundle["entry"] = entries
    pairs_seen = zip(entries, [*found.versions, *included], strict=False)  # the outcome entry: none
    return Result(200, bundle, page=[seen(e["resource"], v) for e, v in pairs_seen])


def _included(
    reader: Reader, includes: list[Include], matches: list[ResourceVersion]
) -> list[ResourceVersion]:
    """``_include`` / ``_revinclude`` of a page: first over the matches, then the
    ``:iterate`` ones over what was included, until nothing new comes (at most
    ``MAX_INCLUDE`` resources)."""
    seen = {(v.type, v.id) for v in matches}
    out: list[ResourceVersion] = []
    frontier = list(matches)
    first = True
    while frontier and len(out) < MAX_INCLUDE:
        fresh: list[ResourceVersion] = []
        for inc in includes:
            if not (first or inc.iterate):
                continue
            for query in include_queries(inc, frontier, MAX_INCLUDE - len(out) - len(fresh)):
                for v in reader.search(query).versions:
                    if (v.type, v.id) not in seen:
                        seen.add((v.type, v.id))
                        fresh.append(v)
        out += fresh
        frontier = fresh
        first = False
        if not any(inc.iterate for inc in includes):
            break
    return out[:MAX_INCLUDE]


def _cursor(query: SearchQuery, found: SearchResult, at: int, backward: bool) -> str:
    """The cursor of entry ``at``: its sort keys as the store read them (with the page),
    else as the indexer computes them from the body."""
    v = found.versions[at]
    keys: tuple[Any, ...] = ()
    if found.keys:
        keys = found.keys[at]
    elif query.sort:
        body = orjson.loads(v.body or b"{}")
        keys = sort_values(query.sort, v.type, v.id, to_micros(v.last_updated), body)
    return encode_cursor(Cursor(keys, v.type, v.id, backward))


Sealer = Callable[[list[tuple[str, str]]], str]


def _paging(
    base: str,
    parsed: ParsedSearch,
    query: SearchQuery,
    found: SearchResult,
    sealer: Sealer | None = None,
) -> list[dict[str, str]]:
    """``next`` and ``previous`` links: keyset cursors after the last / before the first entry."""
    versions = found.versions
    back = query.cursor is not None and query.cursor.backward
    links = []
    if query.cursor is not None and (not back or len(versions) >= query.count):
        prev = _cursor(query, found, 0, True)
        links.append(
            {
                "relation": "previous",
                "url": _url(base, parsed.applied, parsed.count, [("_cursor", prev)], sealer=sealer),
            }
        )
    if found.more or back:
        nxt = _cursor(query, found, len(versions) - 1, False)
        links.append(
            {
                "relation": "next",
                "url": _url(base, parsed.applied, parsed.count, [("_cursor", nxt)], sealer=sealer),
            }
        )
    return links


def _url(
    base: str,
    applied: list[tuple[str, str]],
    count: int,
    extra: Sequence[tuple[str, str]] = (),
    *,
    sealer: Sealer | None = None,
) -> str:
    pairs = [(k, v) for k, v in applied if k != "_count"] + [("_count", str(count)), *extra]
    if sealer is not None:
        return f"{base}?{urlencode([(PAGE_PARAM, sealer(pairs))])}"
    return f"{base}?{urlencode(pairs)}"


def _unsealed(
    ctx: Context, pairs: Sequence[tuple[str, str]], seal: bool
) -> tuple[Sequence[tuple[str, str]], bool]:
    tokens = [v for k, v in pairs if k == PAGE_PARAM]
    if not tokens:
        return pairs, seal
    if len(tokens) > 1 or len(pairs) > 1 + sum(1 for k, _ in pairs if k in ("_format", "_pretty")):
        raise InvalidRequest(f"{PAGE_PARAM} stands alone: it already holds the whole search")
    if ctx.page_sealer is None:
        raise InvalidRequest(f"{PAGE_PARAM} links are not available on this server")
    return ctx.page_sealer.unseal(tokens[0], owner_of(ctx.principal)), True
