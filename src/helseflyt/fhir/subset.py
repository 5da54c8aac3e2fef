"""Subsets of a resource for ``_summary`` and ``_elements``
(https://hl7.org/fhir/R4/search.html#summary, https://hl7.org/fhir/R4/search.html#elements).

* ``true``: the elements marked ``isSummary`` in the R4 StructureDefinitions, plus the
  mandatory ones (``min > 0``), applied again inside complex types and backbone elements
  (an Extension, a Narrative or a nested resource is kept whole), and always
  ``resourceType``, ``id`` and ``meta``.
* ``text``: ``text``, ``id``, ``meta`` and the top-level mandatory elements.
* ``data``: everything but ``text``.
* ``_elements``: the listed top-level elements, plus ``id`` and ``meta``.

Every subset carries the ``SUBSETTED`` tag in ``meta.tag``. The kept JSON keys of each
type are computed once per type (``_plan``) from the generated definitions, so
subsetting costs one pass over the resource.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from helseflyt.fhir import model

__all__ = ["SUBSETTED", "SUMMARY_MODES", "elements", "summary"]

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
SUMMARY_MODES = ("true", "text", "data", "count", "false")
_ALWAYS = ("resourceType", "id", "meta")
_WHOLE = frozenset({"Extension", "Narrative"})  # kept as they are inside a summary

Plan = dict[str, str | None]  # JSON key -> type to subset its value with (None: keep whole)


def _keys(name: str, el: model.Element) -> list[tuple[str, str]]:
    if not el.choice:
        return [(name, el.types[0] if el.types else "")]
    return [(name + t[:1].upper() + t[1:], t) for t in el.types]


@cache
def _plan(type_name: str, mandatory_only: bool = False) -> Plan:
    """The JSON keys an object of ``type_name`` keeps in a summary (``mandatory_only``:
    just the mandatory ones, for ``_summary=text``)."""
    marked = frozenset() if mandatory_only else model.summary_elements(type_name)
    plan: Plan = {}
    for name, el in (model.elements(type_name) or {}).items():
        if el.min == 0 and name not in marked:
            continue
        for key, t in _keys(name, el):
            kind = model.type_kind(t)
            plan[key] = t if kind in ("complex-type", "backbone") and t not in _WHOLE else None
            if kind == "primitive-type":
                plan["_" + key] = None  # the primitive's id and extensions
    return plan


def _subset(value: Any, type_name: str) -> Any:
    if isinstance(value, list):
        items = [_subset(v, type_name) for v in value]
        return [v for v in items if v is not None] or None
    if not isinstance(value, dict):
        return value
    plan = _plan(type_name)
    out = {}
    for key, v in value.items():
        if key in plan:
            child = plan[key]
            kept = v if child is None else _subset(v, child)
            if kept is not None:
                out[key] = kept
    return out or None  # an element left empty is dropped


def _tagged(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    tags = list(meta.get("tag") or [])
    if SUBSETTED not in tags:
        tags.append(SUBSETTED)
    meta["tag"] = tags
    resource["meta"] = meta
    return resource


def summary(resource: dict[str, Any], mode: str) -> dict[str, Any]:
    """``resource`` as ``_summary=mode`` (``true``, ``text`` or ``data``) returns it."""
    res_type = resource.get("resourceType")
    if not isinstance(res_type, str) or model.type_kind(res_type) != "resource":
        raise ValueError(f"not a resource: {res_type!r}")
    if mode == "true":
        out = _subset(resource, res_type) or {}
    elif mode == "text":
        keep = _plan(res_type, True)
        out = {k: v for k, v in resource.items() if k in keep or k == "text"}
    elif mode == "data":
        out = {k: v for k, v in resource.items() if k != "text"}
    else:
        raise ValueError(f"_summary={mode} is not a subset")
    for key in _ALWAYS:
        if key in resource:
            out[key] = resource[key]
    return _tagged({k: out[k] for k in resource if k in out})  # the resource's key order


def elements(resource: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """``resource`` with only the top-level elements ``names`` (``_elements``)."""
    keep = {*_ALWAYS, *names}
    return _tagged({k: v for k, v in resource.items() if k in keep})
