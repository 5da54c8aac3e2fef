"""The store's indexer: a resource's search index rows, from the compiled registry.

``index(res_type, resource) -> list[IndexRow]`` (see
:data:`helseflyt.storage.base.IndexRow` for the row shapes) evaluates the FHIRPath
expression of each supported parameter of ``res_type`` once (parameters sharing an
expression share the evaluation) and turns the values into typed rows by FHIR type:

* token: Coding, CodeableConcept, Identifier, ContactPoint (system|value), boolean,
  code/string/id/uri primitives; plus ``<param>:text`` string rows (CodeableConcept.text,
  Coding.display, Identifier.type.text) and ``<param>:of-type`` token rows
  (system = identifier type system, value = ``typecode|value``);
* string: primitives, HumanName and Address parts, each normalised and as written;
* date: date/dateTime/instant precision ranges, Period, Timing.event;
* number/quantity: value (with Quantity system and code, or unit; a unit that differs
  from the code gets a row of its own without system, for ``value||unit``);
* reference: ``Type/id`` (version stripped), absolute or canonical URLs, and
  ``<param>:identifier`` token rows for ``Reference.identifier``;
* uri: the value.

Each distinct expression with its converters and composites is a *plan entry*
(:func:`_plan_for`). Once a process has indexed a few hundred resources of a type, one
function generated for the type (:mod:`helseflyt.search.walker`) does all its entries
in one pass; what it does not model, and every entry before then, runs on the entry's
own path (:func:`run_entry`: the fast path, else the FHIRPath engine). Both give the
same rows in the same order.

It is a module-level function so that bulk-load worker processes can pickle it.
Concurrency: the registry is immutable; the function keeps only caches (plans,
generated walkers, counts of resources per type), which threads may fill at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

from helseflyt.fhir.fhirpath import FHIRPathError, FPDateTime, Node, Quantity
from helseflyt.fhir.model import resource_types
from helseflyt.search import registry
from helseflyt.search.fastpath import Fast, Slow, compile_fast
from helseflyt.search.registry import SearchParam, for_type
from helseflyt.search.values import MAX_MICROS, MIN_MICROS, date_range, normalise
from helseflyt.storage.base import IndexRow

__all__ = ["convert", "index", "index_by_entry", "reference_parts", "run_entry"]

log = logging.getLogger("helseflyt.search")

Emit = Callable[[str, Any, str | None, list[IndexRow]], None]


def _type_of(node: Any) -> str:
    if node.__class__ is tuple:  # (value, type) from the fast path
        value, t = node
        if t:
            return t
    elif node.__class__ is Node:
        try:
            t = node.type
        except Exception:  # noqa: BLE001 - type lookup must never break a write
            t = None
        if t:
            return t
        value = node.value
    else:
        value = node
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, Decimal, float)):
        return "decimal"
    if isinstance(value, dict):
        if "coding" in value or "text" in value and len(value) == 1:
            return "CodeableConcept"
        if "reference" in value:
            return "Reference"
        if "start" in value or "end" in value:
            return "Period"
        if "value" in value and ("unit" in value or "code" in value):
            return "Quantity"
        if "code" in value:
            return "Coding"
        if "value" in value:
            return "Identifier"
    return ""


def _value(node: Any) -> Any:
    cls = node.__class__
    return node[0] if cls is tuple else node.value if cls is Node else node


# -- token ---------------------------------------------------------------------------


def _token(param: str, node: Any, only: str | None, out: list[IndexRow]) -> None:
    if node.__class__ is tuple and node[1]:  # (value, type) from the fast path
        v, t = node
    else:
        v, t = _value(node), _type_of(node)
    typed = TOKEN_TYPED.get(t)
    if typed is not None:
        typed(param, v, only, out)
    elif t == "Reference" and isinstance(v, dict):  # e.g. a token over a Reference: its identifier
        ident = v.get("identifier")
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            out.append(("token", param, ident.get("system"), ident["value"]))
    else:
        token_value(param, v, out)


def token_value(param: str, v: Any, out: list[IndexRow]) -> None:
    """A token's rows for a value that is none of the types of :data:`TOKEN_TYPED`
    (nor a Reference): boolean, code/string/id/uri, integer."""
    if isinstance(v, bool):
        out.append(("token", param, None, "true" if v else "false"))
    elif isinstance(v, str):
        out.append(("token", param, None, v))
    elif isinstance(v, (int, Decimal)):
        out.append(("token", param, None, str(v)))


def _token_concept(param: str, v: Any, only: str | None, out: list[IndexRow]) -> None:
    for c in v.get("coding") or ():
        _coding(param, c, out)
    if isinstance(v.get("text"), str):
        out.append(("string", param + ":text", normalise(v["text"]), v["text"]))


def _token_coding(param: str, v: Any, only: str | None, out: list[IndexRow]) -> None:
    _coding(param, v, out)


def _token_identifier(param: str, v: Any, only: str | None, out: list[IndexRow]) -> None:
    value = v.get("value")
    if isinstance(value, str):
        out.append(("token", param, v.get("system"), value))
        typ = v.get("type")
        if isinstance(typ, dict):
            for c in typ.get("coding") or ():
                if isinstance(c, dict) and isinstance(c.get("code"), str):
                    out.append(("token", param + ":of-type", c.get("system"), f"{c['code']}|{value}"))
            if isinstance(typ.get("text"), str):
                out.append(("string", param + ":text", normalise(typ["text"]), typ["text"]))


def _token_contact(param: str, v: Any, only: str | None, out: list[IndexRow]) -> None:
    if isinstance(v.get("value"), str):
        out.append(("token", param, v.get("system"), v["value"]))


def _coding(param: str, c: Any, out: list[IndexRow]) -> None:
    if not isinstance(c, dict):
        return
    code = c.get("code")
    if isinstance(code, str):
        out.append(("token", param, c.get("system"), code))
    display = c.get("display")
    if isinstance(display, str):
        out.append(("string", param + ":text", normalise(display), display))


# a token's rows by the value's FHIR type (the other types: token_value)
TOKEN_TYPED: dict[str | None, Emit] = {
    "CodeableConcept": _token_concept,
    "Coding": _token_coding,
    "Identifier": _token_identifier,
    "ContactPoint": _token_contact,
}


# -- string --------------------------------------------------------------------------

_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")


def _string(param: str, node: Any, only: str | None, out: list[IndexRow]) -> None:
    v = _value(node)
    if isinstance(v, str):
        out.append(("string", param, normalise(v), v))
    elif isinstance(v, dict):
        t = _type_of(node)
        parts = _ADDRESS_PARTS if t == "Address" else _NAME_PARTS if t == "HumanName" else tuple(v)
        for key in parts:
            item = v.get(key)
            for s in item if isinstance(item, list) else (item,):
                if isinstance(s, str):
                    out.append(("string", param, normalise(s), s))


# -- date ----------------------------------------------------------------------------


def _date(param: str, node: Any, only: str | None, out: list[IndexRow]) -> None:
    v = _value(node)
    if isinstance(v, str):
        r = date_range(v)
        if r is not None:
            out.append(("date", param, r[0], r[1]))
    elif isinstance(v, FPDateTime):
        r = date_range(str(v).lstrip("@"))
        if r is not None:
            out.append(("date", param, r[0], r[1]))
    elif isinstance(v, dict):
        t = _type_of(node)
        if t == "Timing":
            for e in v.get("event") or ():
                r = date_range(e) if isinstance(e, str) else None
                if r is not None:
                    out.append(("date", param, r[0], r[1]))
            bounds = (v.get("repeat") or {}).get("boundsPeriod")
            if isinstance(bounds, dict):
                period(param, bounds, out)
        elif "start" in v or "end" in v:
            period(param, v, out)


def period(param: str, v: dict[str, Any], out: list[IndexRow]) -> None:
    """The date row of a Period (an open end: the smallest or largest instant)."""
    start = date_range(v["start"]) if isinstance(v.get("start"), str) else None
    end = date_range(v["end"]) if isinstance(v.get("end"), str) else None
    if start is None and end is None:
        return
    out.append(("date", param, start[0] if start else MIN_MICROS, end[1] if end else MAX_MICROS))


# -- number and quantity ---------------------------------------------------------------


def _number(param: str, node: Any, only: str | None, out: list[IndexRow]) -> None:
    v = _value(node)
    if isinstance(v, bool):
        return
    if isinstance(v, (int, Decimal, float)):
        out.append(("number", param, float(v), None, None))
    elif isinstance(v, Quantity):
        out.append(("number", param, float(v.value), "http://unitsofmeasure.org", v.unit))
    elif isinstance(v, dict):
        number_dict(param, v, only, out)


def number_dict(param: str, v: dict[str, Any], only: str | None, out: list[IndexRow]) -> None:
    """The rows of a Quantity (or Money, or a Range of them) given as its JSON object."""
    value = v.get("value")
    if isinstance(value, (int, Decimal, float)) and not isinstance(value, bool):
        code = v.get("code") if isinstance(v.get("code"), str) else None
        system = v.get("system") if isinstance(v.get("system"), str) else None
        unit = v.get("unit") if isinstance(v.get("unit"), str) else None
        if code is None:
            code = unit or v.get("currency")
        out.append(("number", param, float(value), system, code))
        if unit is not None and unit != code:  # `value||unit` matches the unit too
            out.append(("number", param, float(value), None, unit))
    elif "low" in v or "high" in v:  # Range
        for side in ("low", "high"):
            if isinstance(v.get(side), dict):
                _number(param, v[side], only, out)


# -- reference -----------------------------------------------------------------------


@lru_cache(maxsize=65536)  # a Bundle names its patient and encounters many times
def reference_parts(ref: str) -> tuple[str | None, str | None, str | None]:
    """``(type, id, url)`` of a reference: relative ``Type/id[/_history/v]`` gives type
    and id; an absolute or canonical URL gives the URL without version."""
    if ref.startswith("#"):
        return None, None, None
    if "://" in ref or ref.startswith("urn:"):
        url = ref.split("|", 1)[0]
        if "/_history/" in url:
            url = url.split("/_history/", 1)[0]
        return None, None, url
    parts = ref.split("/")
    if len(parts) == 2 and parts[0] and parts[1]:
        return parts[0], parts[1], None
    if len(parts) == 4 and parts[2] == "_history":
        return parts[0], parts[1], None
    return None, None, ref.split("|", 1)[0]


def _reference(param: str, node: Any, only: str | None, out: list[IndexRow]) -> None:
    reference_value(param, _value(node), only, out)


def reference_value(param: str, v: Any, only: str | None, out: list[IndexRow]) -> None:
    """The rows of a reference parameter for a Reference object or a canonical/uri string."""
    if isinstance(v, str):  # canonical or uri
        t, i, url = reference_parts(v)
        if t is not None or url is not None:
            out.append(("reference", param, t, i, url))
        return
    if not isinstance(v, dict):
        return
    ref = v.get("reference")
    if isinstance(ref, str):
        t, i, url = reference_parts(ref)
        if only is not None:
            kind = t or (v.get("type") if isinstance(v.get("type"), str) else None)
            if kind is None and url is not None:
                segs = url.rstrip("/").split("/")
                kind = segs[-2] if len(segs) >= 2 else None
            if kind not in only.split(","):
                return
        if t is not None or url is not None:
            out.append(("reference", param, t, i, url))
    ident = v.get("identifier")
    if isinstance(ident, dict) and isinstance(ident.get("value"), str):
        out.append(("token", param + ":identifier", ident.get("system"), ident["value"]))


def _uri(param: str, node: Any, only: str | None, out: list[IndexRow]) -> None:
    v = _value(node)
    if isinstance(v, str):
        out.append(("uri", param, v))


CONVERT: dict[str, Emit] = {
    "token": _token,
    "string": _string,
    "date": _date,
    "number": _number,
    "quantity": _number,
    "reference": _reference,
    "uri": _uri,
}


KIND_OF: dict[Emit, str] = {f: k for k, f in reversed(CONVERT.items())}  # _number: "number"


def convert(kind: str, param: str, node: Any, out: list[IndexRow]) -> None:
    """Append the rows of one value of a ``kind`` parameter (composite components)."""
    CONVERT[kind](param, node, None, out)


Plan = tuple[tuple[Any, Fast | None, tuple[tuple[Emit, str, str | None], ...], Any], ...]


def _plan(res_type: str) -> Plan:
    """The plan of ``res_type`` for the registry's current generation."""
    return _plan_for(res_type, registry.generation())


@cache
def _plan_for(res_type: str, gen: int) -> Plan:  # gen: the registry's generation
    """Per distinct expression: the compiled expression, its dict-walk fast path (or
    None, see :mod:`helseflyt.search.fastpath`), its (converter, code, filter)s and the
    composites over its items (a :class:`~helseflyt.search.composite.CompositeRows`)."""
    from helseflyt.search.composite import CompositeRows

    groups: dict[str, tuple[Any, list[tuple[Emit, str, str | None]]]] = {}
    composites: dict[str, list[SearchParam]] = {}
    params: dict[str, SearchParam] = for_type(res_type)
    for code, p in params.items():
        if code == "_id" or code == "_lastUpdated" or p.union_of:
            continue  # columns of resource_current; composites queried through others
        groups.setdefault(p.expression, (p.compiled, []))
        if p.type == "composite":
            composites.setdefault(p.expression, []).append(p)
            continue
        only = ",".join(p.only_targets) if p.only_targets else None
        groups[p.expression][1].append((CONVERT[p.type], code, only))
    if "identifier" not in params:  # conditional requests need identifier on every type
        from helseflyt.fhir import fhirpath

        groups.setdefault("identifier", (fhirpath.compile("identifier"), []))[1].append(
            (_token, "identifier", None)
        )
    return tuple(
        (
            compiled,
            compile_fast(res_type, expression),
            tuple(emits),
            CompositeRows(res_type, tuple(composites[expression])) if expression in composites else None,
        )
        for expression, (compiled, emits) in groups.items()
    )


# (type, registry generation, top-level keys in order) -> which plan entries to run.
_PICKED: dict[tuple[str, int, tuple[str, ...]], tuple[bool, ...]] = {}
_PICKED_MAX = 4096


def _pick(key: tuple[str, int, tuple[str, ...]]) -> tuple[bool, ...]:
    """Per entry of the plan, whether it can give rows for a resource with these
    top-level keys: its fast path's trigger meets them, or it has none. Resources of
    one type mostly share their keys, so this is cached per key tuple (bounded)."""
    res_type, gen, keys = key
    present = set(keys)
    picked = tuple(
        entry[1] is None or entry[1].trigger is None or not entry[1].trigger.isdisjoint(present)
        for entry in _plan_for(res_type, gen)
    )
    if len(_PICKED) >= _PICKED_MAX:
        _PICKED.clear()
    _PICKED[key] = picked
    return picked


@cache
def _walker_for(res_type: str, gen: int) -> Any:
    """The generated walker of ``res_type``'s plan (see :mod:`helseflyt.search.walker`)."""
    from helseflyt.search.walker import walker

    return walker(res_type, _plan_for(res_type, gen))


@cache
def _entries_for(res_type: str, gen: int) -> Any:
    """A walker that runs each picked entry on its own path (:func:`run_entry`)."""
    plan = _plan_for(res_type, gen)

    def walk(resource: dict[str, Any], out: list[IndexRow], run: tuple[bool, ...]) -> None:
        for entry, picked in zip(plan, run, strict=True):
            if picked:
                run_entry(res_type, entry, resource, out)

    return walk


# Generating and compiling a type's walker costs ~3-4 ms, ~15 us per resource indexed
# saved: a process generates it at the GENERATE_AFTER-th resource of the type (a load's
# rare types and a server's seldom written ones keep the per-entry path, same rows).
GENERATE_AFTER = 200
_WALKERS: dict[tuple[str, int], Any] = {}
_SEEN: dict[tuple[str, int], int] = {}


def _walker(res_type: str, gen: int) -> Any:
    key = (res_type, gen)
    seen = _SEEN[key] = _SEEN.get(key, 0) + 1
    if seen < GENERATE_AFTER:
        return _entries_for(res_type, gen)
    found = _WALKERS[key] = _walker_for(res_type, gen)
    return found


def index(res_type: str, resource: dict[str, Any]) -> list[IndexRow]:
    """The search index rows of ``resource`` (current version of type ``res_type``),
    each distinct row once (a repeated row would only cost writes: every query tests
    for existence or takes a min/max), then those of its contained resources."""
    out: list[IndexRow] = []
    gen = registry.generation()
    key = (res_type, gen, tuple(resource))
    run = _PICKED.get(key)
    if run is None:
        run = _pick(key)
    walk = _WALKERS.get((res_type, gen))
    if walk is None:
        walk = _walker(res_type, gen)
    walk(resource, out, run)
    contained = resource.get("contained")
    if contained and isinstance(contained, list):
        out += _contained(contained)
    return list(dict.fromkeys(out))


def index_by_entry(res_type: str, resource: dict[str, Any]) -> list[IndexRow]:
    """:func:`index` with each plan entry on its own path (:func:`run_entry`) and
    composites without generated code, as before the generated walker: the reference
    its tests compare with, row for row."""
    out: list[IndexRow] = []
    gen = registry.generation()
    for entry, run in zip(_plan_for(res_type, gen), _pick((res_type, gen, tuple(resource))), strict=True):
        if run:
            run_entry(res_type, entry, resource, out, generated=False)
    contained = resource.get("contained")
    if contained and isinstance(contained, list):
        out += _contained(contained, index_by_entry)
    return list(dict.fromkeys(out))


def run_entry(
    res_type: str, entry: Any, resource: dict[str, Any], out: list[IndexRow], *, generated: bool = True
) -> None:
    """Append the rows of one plan entry: its fast path, or the engine where there is
    none or the fast path gives up (:class:`~helseflyt.search.fastpath.Slow`).
    ``generated``: whether composites may use their generated component functions."""
    compiled, fast, emits, composite = entry
    try:
        if fast is not None:
            try:
                nodes = fast.items(resource)  # (value, type) pairs: see _value, _type_of
            except Slow:
                nodes = compiled.evaluate_nodes(resource)
        else:
            nodes = compiled.evaluate_nodes(resource)
    except (FHIRPathError, TypeError, ValueError, KeyError, AttributeError) as exc:
        log.debug("index %s: %s failed: %s", res_type, compiled.text, exc)
        return
    if not nodes:
        return
    for emit, code, only in emits:
        for node in nodes:
            emit(code, node, only, out)
    if composite is not None:
        composite(resource, nodes, out, generated=generated)


def _contained(resources: list[Any], indexer: Callable[[str, Any], list[IndexRow]] = index) -> list[IndexRow]:
    """Rows of contained resources for ``_contained`` searches: ``("@" + table,
    type, local id, *row)``; the store keys them ``Container/id#local`` (see
    :data:`helseflyt.storage.base.IndexRow`). A contained resource gets at least its
    ``_id`` token row, so that every one of them is known to the store."""
    out: list[IndexRow] = []
    for r in resources:
        if not isinstance(r, dict) or "contained" in r:
            continue  # contained resources cannot contain (dom-2)
        kind, local = r.get("resourceType"), r.get("id")
        if not isinstance(kind, str) or not isinstance(local, str) or kind not in resource_types():
            continue
        out.append(("@token", kind, local, "_id", None, local))
        out += [("@" + row[0], kind, local, *row[1:]) for row in indexer(kind, r)]
    return out
