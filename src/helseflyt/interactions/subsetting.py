"""``_summary`` and ``_elements`` on read, vread and history
(https://hl7.org/fhir/R4/search.html#summary): the request's subset, and a stored body
cut to it (:mod:`helseflyt.fhir.subset`). Without a subset the stored bytes pass
through untouched (``orjson.Fragment``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from helseflyt.errors import InvalidRequest
from helseflyt.fhir import json as fjson
from helseflyt.fhir import subset
from helseflyt.search.parse import check_subset, element_names, summary_mode
from helseflyt.storage.base import ResourceVersion

__all__ = ["Subset", "parse_subset", "seen", "subset_body", "subset_result"]

Subset = tuple[str | None, tuple[str, ...]]  # (_summary, _elements)


def parse_subset(pairs: Sequence[tuple[str, str]]) -> Subset:
    """``_summary`` / ``_elements`` of a read or history request (other pairs are the
    caller's); ``count`` has no meaning there (400), nor has a repeated parameter."""
    summary: str | None = None
    elements: tuple[str, ...] = ()
    for name in ("_summary", "_elements"):
        if sum(1 for k, _ in pairs if k == name) > 1:
            raise InvalidRequest(f"{name} may be given only once")
    for name, value in pairs:
        if name == "_summary":
            summary = summary_mode(value)
            if summary == "count":
                raise InvalidRequest("_summary=count applies to searches only")
        elif name == "_elements":
            elements = element_names(value)
    check_subset(summary, elements)
    return summary, elements


def subset_body(body: bytes | dict[str, Any], summary: str | None, elements: tuple[str, ...]) -> Any:
    """The resource to embed or return: the stored bytes (or a parsed resource), or the
    requested subset."""
    if summary in ("true", "text", "data"):
        return subset.summary(fjson.loads(body) if isinstance(body, bytes) else body, summary)
    if elements:
        return subset.elements(fjson.loads(body) if isinstance(body, bytes) else body, elements)
    return orjson.Fragment(body) if isinstance(body, bytes) else body


def subset_result(found: ResourceVersion, subset: Subset) -> dict[str, Any] | bytes | None:
    """A read's body: the stored bytes, or the subset as a dict."""
    if found.body is None or subset == (None, ()) or subset[0] == "false" and not subset[1]:
        return found.body
    resource = subset_body(found.body, *subset)
    return found.body if isinstance(resource, orjson.Fragment) else dict(resource)


def seen(resource: Any, v: ResourceVersion) -> ResourceVersion | dict[str, Any]:
    """A Bundle entry's resource for the audit trail (``Result.page``): the version itself
    when its stored bytes are embedded verbatim (``Fragment``), else the resource dict."""
    if isinstance(resource, orjson.Fragment):
        return v if v.body is not None else {}
    return resource  # type: ignore[no-any-return]
