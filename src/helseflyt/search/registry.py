"""The search parameter registry, compiled from the official R4 SearchParameters.

Every SearchParameter of :func:`helseflyt.fhir.model.search_parameters` is compiled
by its ``type`` and ``expression`` (FHIRPath) for each resource type it applies to,
Resource-level ones (``_id``, ``_lastUpdated``, ``_tag``, ``_profile``, ``_security``,
``_source``) included. Parameters that cannot be supported yet are logged once and
listed in :func:`unsupported` with the reason, and left out of the CapabilityStatement,
so a query can refuse (or warn about) them instead of silently ignoring them.

Known upstream expression bugs are patched in one place, :func:`patch_expression`.

The registry is built lazily, once per process, per resource type (compiling all 1,400
expressions up front would cost start-up time); it is immutable afterwards, so threads
and bulk-load worker processes share it freely.

Custom SearchParameters (installed with ``helseflyt ig install`` or written through the
API; see :mod:`helseflyt.search.custom`) are added with :func:`set_custom`: they are
compiled by the same code path as the official ones (unsupported ones are logged and
listed in :func:`unsupported`). An official parameter wins over a custom one with the
same code on the same type. ``set_custom`` starts a new *generation*: the per-type
registries (and the indexer's plans and generated walkers) are rebuilt lazily for it; a
registry already handed out stays valid and unchanged.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

from helseflyt.fhir import fhirpath
from helseflyt.fhir.fhirpath import Expression
from helseflyt.fhir.model import resource_types, search_parameters

__all__ = [
    "COMPOSITE_SLOTS",
    "SUPPORTED_TYPES",
    "SearchParam",
    "composite_components",
    "custom",
    "for_type",
    "generation",
    "param",
    "patch_expression",
    "set_custom",
    "unsupported",
]

log = logging.getLogger("helseflyt.search")

SUPPORTED_TYPES = frozenset(
    {"number", "date", "string", "token", "reference", "quantity", "uri", "composite"}
)
_ABSTRACT_BASES = ("Resource", "DomainResource")


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One search parameter as it applies to one resource type."""

    code: str  # the name in the query, e.g. "birthdate"
    type: str  # number date string token reference quantity uri
    base: str  # the resource type
    url: str
    expression: str  # the part of the official expression for ``base``, patched
    compiled: Expression
    targets: tuple[str, ...] = ()  # reference: allowed target types
    only_targets: tuple[str, ...] = ()  # reference: keep only references to these (patched resolve())
    # composite: (type, expression relative to each item of ``expression``) per component
    components: tuple[tuple[str, str], ...] = ()
    # composite whose rows are those of other composites (combo-code-value-quantity is
    # code-value-quantity | component-code-value-quantity): queried through them, no rows
    union_of: tuple[str, ...] = ()


def patch_expression(code: str, base: str, expression: str) -> tuple[str, tuple[str, ...]]:
    """Fix known upstream bugs and engine-independent quirks of R4 expressions.

    Returns the expression to compile and, for reference parameters, the target types
    a ``.where(resolve() is T)`` filter kept (this server's ``resolve()`` only sees
    contained resources, so the filter becomes a check of the reference's type at
    index time).

    * ``X.where(resolve() is T)`` (28 parameters, e.g. ``Observation-patient``): becomes
      ``X`` plus a target-type filter ``T``.
    * ``Resource.id`` and ``id`` (``_id`` is defined twice upstream): ``id``.
    * ``hasExtension('url')`` (not a FHIRPath R4 function; QuestionnaireResponse-item-subject):
      ``extension('url').exists()``.
    * ``(X as T)`` and ``X.as(T)`` (69 parameters): ``X.ofType(T)``. FHIRPath's ``as``
      fails on more than one item, so where ``X`` repeats (``Observation.component.value``
      in component-value-quantity/-concept and combo-value-*, ``useContext.value`` in every
      context/context-quantity, ``Group.characteristic.value``, ``Medication.ingredient.item``,
      ``Substance.ingredient.substance``, ``Composition.relatesTo.target``,
      ``Goal.target.due``: 46 parameters) a resource with two such elements got no rows at
      all. Other servers read ``as`` there as ``ofType``; on one item the two are the same.
    """
    only: list[str] = []

    def strip_resolve(m: re.Match[str]) -> str:
        only.append(m.group(1))
        return ""

    patched = re.sub(r"\.where\(resolve\(\) is (\w+)\)", strip_resolve, expression)
    patched = re.sub(r"hasExtension\(('[^']*')\)", r"extension(\1).exists()", patched)
    patched = re.sub(r"\(([A-Za-z][\w.]*) as (\w+)\)", r"\1.ofType(\2)", patched)
    patched = re.sub(r"\.as\((\w+)\)", r".ofType(\1)", patched)
    return patched, tuple(dict.fromkeys(only))


def _split_union(expression: str) -> list[str]:
    """Top-level ``|`` alternatives of an expression (quotes and brackets respected)."""
    parts, depth, quote, cur = [], 0, "", []
    for ch in expression:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


_HEAD = re.compile(r"^\(*\s*([A-Za-z_][A-Za-z0-9_]*)")


def _for_base(expression: str, base: str, bases: list[str]) -> str | None:
    """The alternatives of a multi-type expression that apply to ``base``."""
    parts = _split_union(expression)
    if len(bases) == 1:
        return expression
    keep = []
    for part in parts:
        m = _HEAD.match(part)
        head = m.group(1) if m else ""
        if head == base or head in _ABSTRACT_BASES:
            keep.append(part)
    return " | ".join(keep) if keep else None


_lock = threading.Lock()
_unsupported: dict[tuple[str, str], str] = {}


def _note(base: str, code: str, reason: str) -> None:
    with _lock:
        if (base, code) not in _unsupported:
            _unsupported[(base, code)] = reason
            if reason.startswith("custom "):
                log.warning("search parameter %s:%s unsupported: %s", base, code, reason)
            else:
                log.debug("search parameter %s:%s unsupported: %s", base, code, reason)


@cache
def _definitions() -> dict[str, list[dict[str, Any]]]:
    """Official SearchParameters by base type (first definition of a code wins)."""
    by_base: dict[str, dict[str, dict[str, Any]]] = {}
    for sp in search_parameters():
        for base in sp.get("base") or ():
            by_base.setdefault(base, {}).setdefault(sp["code"], sp)
    return {b: list(d.values()) for b, d in by_base.items()}


def _compile(sp: dict[str, Any], base: str, *, custom: bool = False) -> SearchParam | None:
    code, kind = sp["code"], sp["type"]
    prefix = f"custom {sp.get('url', '')}: " if custom else ""  # custom ones are listed with their URL

    def note(b: str, c: str, reason: str) -> None:
        _note(b, c, prefix + reason)

    components: tuple[tuple[str, str], ...] = ()
    if kind == "composite":
        found = composite_components(sp)
        if isinstance(found, str):
            note(base, code, f"type composite: {found}")
            return None
        components = found
    elif kind not in SUPPORTED_TYPES:
        note(base, code, f"type {kind} is not supported yet")
        return None
    expression = sp.get("expression")
    if not expression:
        note(base, code, "no FHIRPath expression")
        return None
    if code == "_id":
        expression = "id"
    mine = _for_base(expression, base, list(sp.get("base") or [base]))
    if mine is None:
        note(base, code, f"expression has no part for {base}: {expression}")
        return None
    mine, only = patch_expression(code, base, mine)
    if base in _ABSTRACT_BASES or mine.startswith(_ABSTRACT_BASES):
        mine = re.sub(r"^(Resource|DomainResource)\.", "", mine)
    try:
        compiled = fhirpath.compile(mine)
    except fhirpath.FHIRPathError as exc:
        note(base, code, f"expression does not compile: {exc}")
        return None
    return SearchParam(
        code, kind, base, sp.get("url", ""), mine, compiled, tuple(sp.get("target") or ()), only, components
    )


# Component types per position in ``composite_index`` (slot 1: system1/value1; slot 2:
# system2/value2/number2/low2/high2; slot 3: number3), see search/composite.py.
COMPOSITE_SLOTS = (
    frozenset({"token", "reference"}),
    frozenset({"token", "quantity", "number", "date", "string"}),
    frozenset({"number"}),
)


def composite_components(sp: dict[str, Any]) -> tuple[tuple[str, str], ...] | str:
    """``(type, expression)`` of each component of a composite SearchParameter, or why it
    cannot be supported. Component definitions are looked up among the official and the
    custom SearchParameters by canonical URL."""
    comps = sp.get("component")
    if not isinstance(comps, list) or not comps:
        return "no components"
    if len(comps) > len(COMPOSITE_SLOTS):
        return f"{len(comps)} components (at most {len(COMPOSITE_SLOTS)})"
    out = []
    for i, comp in enumerate(comps):
        if not isinstance(comp, dict) or not isinstance(comp.get("expression"), str):
            return f"component {i + 1} has no expression"
        definition = _by_url().get(str(comp.get("definition", "")).split("|", 1)[0])
        if definition is None:
            definition = next(
                (d for ds in _custom.values() for d in ds if d.get("url") == comp.get("definition")), None
            )
        kind = definition.get("type") if definition else None
        if kind not in COMPOSITE_SLOTS[i]:
            return f"component {i + 1} ({comp.get('definition')}) of type {kind} is not supported there"
        try:
            fhirpath.compile(comp["expression"].removeprefix("%resource."))
        except fhirpath.FHIRPathError as exc:
            return f"component {i + 1} expression does not compile: {exc}"
        out.append((str(kind), _COMPONENT_PATCHES.get((sp.get("url"), i), comp["expression"])))
    return tuple(out)


# Upstream bugs in component expressions: DocumentReference-relationship gives the
# reference component ``code`` and the token component ``target`` (swapped);
# Observation-code-value-date's date component is ``value.as(DateTime) | value.as(Period)``:
# ``DateTime`` is no FHIR type, so FHIRPath reads System.DateTime, which a FHIR ``dateTime``
# is not (the official suite: ``Patient.active.is(Boolean)`` is false), and no
# ``valueDateTime`` would ever match. Its own definition, Observation-value-date, says
# ``(Observation.value as dateTime) | (Observation.value as Period)``: that is what it means.
_COMPONENT_PATCHES = {
    ("http://hl7.org/fhir/SearchParameter/DocumentReference-relationship", 0): "target",
    ("http://hl7.org/fhir/SearchParameter/DocumentReference-relationship", 1): "code",
    ("http://hl7.org/fhir/SearchParameter/Observation-code-value-date", 1): (
        "value.as(dateTime) | value.as(Period)"
    ),
}


@cache
def _by_url() -> dict[str, dict[str, Any]]:
    return {sp["url"]: sp for sp in search_parameters() if "url" in sp}


def _unions(params: dict[str, SearchParam]) -> dict[str, SearchParam]:
    """Mark composites whose expression is a union of other composites' expressions with
    the same components (``union_of``): they are queried through those, with no rows."""
    from dataclasses import replace

    by_shape = {(p.expression, p.components): code for code, p in params.items() if p.components}
    for code, p in list(params.items()):
        if not p.components:
            continue
        parts = _split_union(p.expression)
        if len(parts) < 2:
            continue
        others = [by_shape.get((part, p.components)) for part in parts]
        if all(others) and code not in others:
            params[code] = replace(p, union_of=tuple(o for o in others if o))
    return params


_generation = 0
_custom: dict[str, list[dict[str, Any]]] = {}  # custom SearchParameters by base type
_custom_key: tuple[tuple[str, str, str, str], ...] = ()
_custom_of: dict[int, dict[str, list[dict[str, Any]]]] = {0: {}}  # by generation (few: rare changes)


def _custom_signature(definitions: list[dict[str, Any]]) -> tuple[tuple[str, str, str, str], ...]:
    return tuple(
        sorted(
            (
                str(sp.get("url", "")),
                str(sp.get("code", "")),
                str(sp.get("type", "")),
                f"{sp.get('expression', '')}|{','.join(map(str, sp.get('base') or ()))}"
                f"|{','.join(map(str, sp.get('target') or ()))}",
            )
            for sp in definitions
        )
    )


def set_custom(definitions: list[dict[str, Any]]) -> bool:
    """Replace the custom SearchParameters (resources as JSON dicts); True if they changed.

    Only parameters with a ``code``, ``type`` and ``base`` are taken; retired ones are
    left out. A change starts a new generation (see the module docstring)."""
    global _generation, _custom, _custom_key
    usable = [
        sp
        for sp in definitions
        if type(sp) is dict
        and type(sp.get("code")) is str
        and type(sp.get("type")) is str
        and sp.get("base")
        and sp.get("status") != "retired"
    ]
    key = _custom_signature(usable)
    with _lock:
        if key == _custom_key:
            return False
        by_base: dict[str, list[dict[str, Any]]] = {}
        for sp in usable:
            for base in sp["base"]:
                if type(base) is str:
                    by_base.setdefault(base, []).append(sp)
        for k in [k for k, reason in _unsupported.items() if reason.startswith("custom ")]:
            del _unsupported[k]
        _custom, _custom_key = by_base, key
        _custom_of[_generation + 1] = by_base
        _generation += 1
    return True


def custom() -> dict[str, list[dict[str, Any]]]:
    """The custom SearchParameters by base type."""
    return _custom


def generation() -> int:
    """Increases whenever the custom SearchParameters change."""
    return _generation


def for_type(res_type: str) -> dict[str, SearchParam]:
    """Supported search parameters of a resource type by code (Resource-level included)."""
    return _for_type(res_type, _generation)


@cache
def _for_type(res_type: str, gen: int) -> dict[str, SearchParam]:
    out: dict[str, SearchParam] = {}
    custom_defs = _custom_of[gen]
    for base in ("Resource", "DomainResource", res_type):
        if base == "DomainResource" and res_type in ("Bundle", "Binary", "Parameters"):
            continue
        official = _definitions().get(base, ())
        extra = []
        for sp in custom_defs.get(base, ()):
            if sp["code"] in out or any(o["code"] == sp["code"] for o in official):
                reason = f"custom {sp.get('url', '')}: the code is taken by an official parameter"
                _note(res_type, sp["code"], reason)
                continue
            extra.append(sp)
        for sp in (*official, *extra):
            is_custom = any(sp is e for e in extra)
            compiled = _compile(sp, res_type if base == res_type else base, custom=is_custom)
            if compiled is not None:
                out[sp["code"]] = SearchParam(
                    compiled.code,
                    compiled.type,
                    res_type,
                    compiled.url,
                    compiled.expression,
                    compiled.compiled,
                    compiled.targets,
                    compiled.only_targets,
                    compiled.components,
                )
    return _unions(out)


def param(res_type: str, code: str) -> SearchParam | None:
    return for_type(res_type).get(code)


def unsupported() -> dict[tuple[str, str], str]:
    """``(base, code) -> reason`` of every official parameter left out (all types)."""
    for res_type in resource_types():
        for_type(res_type)
    with _lock:
        return dict(_unsupported)
