"""The fast path of validation: a generated acceptance test per FHIR type.

``accepts(resource)`` is true only if the reporting checker (``compiler.py``) would
find no issue in ``resource``; ``validate`` runs that checker only when ``accepts`` is
false, so the issues (texts, codes, locations, order) come from one place and are the
same with or without this module. Nearly every write is valid, so nearly every write
costs only this test.

Each type compiles, on first use, from Python source generated from its element model
(``source(type_name)`` returns it) into ``ok_<Type>(o, refs, d) -> bool``:

* one pass over the object's keys, each tested against the type's keys in an
  ``if``/``elif`` chain (the type's own elements first, then the inherited ones, then
  the ``_name`` companions), with every check of the key inlined: cardinality, the
  primitive test (the values known valid first, then the regex), bindings, choices;
* no element paths at all: the first problem returns False;
* ``refs`` collects the ``#id`` references of the current resource as
  ``(id, is_reference)`` for ref-1 and dom-3 (see :func:`contained_ok`);
* ``d`` is the nesting depth: beyond :data:`MAX_DEPTH` objects the test gives up, so
  that the reporting checker judges deep nesting (including its RecursionError rule).

A type's children are called through global names of one shared namespace, bound to a
compiling trampoline until the child type is compiled (recursive types compile lazily).
Compiling takes a lock; a compiled test is read without one.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from helseflyt.fhir import model
from helseflyt.fhir.validation import references
from helseflyt.fhir.validation.identifiers import identifier_problem
from helseflyt.fhir.validation.invariants import period_problem
from helseflyt.fhir.validation.primitives import INT32_MAX, INT32_MIN, Primitive, primitive
from helseflyt.fhir.validation.terminology import Binding, element_binding

__all__ = ["MAX_DEPTH", "accepts", "source"]

Test = Callable[[Any, list, int], bool]

MAX_DEPTH = 64
_LOCAL_REF_TYPES = frozenset({"canonical", "uri", "url"})
# Inherited elements, rare in data: tested after the type's own ones.
_INHERITED = frozenset({"implicitRules", "language", "text", "contained", "extension", "modifierExtension"})
_INHERITED_ELEMENT = frozenset({"id", "extension", "modifierExtension"})
_INT_RANGES = {
    "integer": (INT32_MIN, INT32_MAX),
    "positiveInt": (1, INT32_MAX),
    "unsignedInt": (0, INT32_MAX),
}

_COMPILED: dict[str, Test] = {}
_SOURCES: dict[str, str] = {}
_RESOURCES: dict[str, Test] = {}
_CONST_NAMES: dict[object, str] = {}
_LOCK = threading.Lock()


def _new_lock() -> None:  # a forked child must not inherit a lock held by another thread
    global _LOCK
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_new_lock)


def accepts(resource: dict) -> bool:
    """True if the reporting checker would find no issue in ``resource`` (a dict)."""
    try:
        return resource_ok(resource, 0)
    except RecursionError:
        return False


def source(test: str) -> str:
    """The generated source of a type's test (compiled if not yet); ``test`` is a type
    name (``Coding``, ``Observation.component``) or ``Reference@<targets>``."""
    function(test)
    return _SOURCES[test]


def sources() -> dict[str, str]:
    """The source of every test compiled so far (the Reference variants' target sets
    are the globals ``A<n>`` of ``_NS``)."""
    return dict(_SOURCES)


def function(test: str) -> Test:
    """The compiled test of a type (or backbone element path, or Reference variant)."""
    found = _COMPILED.get(test)
    if found is not None:
        return found
    with _LOCK:  # the generator names constants by a counter: one thread at a time
        found = _COMPILED.get(test)
        if found is None:
            text = _generate(test)
            exec(compile(text, f"<validation of {test}>", "exec"), _NS)
            found = _COMPILED[test] = _NS[_name(test)]
            _SOURCES[test] = text
    return found


# --- helpers called by the generated code ----------------------------------------------


def resource_ok(value: Any, d: int) -> bool:
    """A resource that is not contained: its own frame of ``#id`` references."""
    if type(value) is not dict:
        return False
    rt = value.get("resourceType")
    check = _RESOURCES.get(rt) if type(rt) is str else None
    if check is None and (check := _resource_test(rt)) is None:
        return False
    refs: list = []
    if not check(value, refs, d):
        return False
    if refs or "contained" in value:
        return _local_ok(value, refs)
    return True


def _resource_test(rt: Any) -> Test | None:
    if type(rt) is not str:
        return None
    check = _RESOURCES.get(rt)
    if check is None:
        if rt not in model.resource_types():
            return None
        check = _RESOURCES[rt] = function(rt)
    return check


def contained_ok(v: Any, refs: list, d: int) -> bool:
    """``DomainResource.contained``: each item a resource with an id, dom-2, dom-4, dom-5.

    Its ``#id`` references go to the container's ``refs``; an item that refers to its
    container (``#``) is marked there as ``(index, None)`` for dom-3."""
    if type(v) is not list or not v:
        return False
    for i, x in enumerate(v):
        if type(x) is not dict:
            return False
        check = _resource_test(x.get("resourceType"))
        if check is None:
            return False
        n = len(refs)
        if not check(x, refs, d) or "contained" in x or "id" not in x:
            return False
        meta = x.get("meta")
        if type(meta) is dict and ("versionId" in meta or "lastUpdated" in meta or "security" in meta):
            return False
        if any(target == "" for target, _ in refs[n:]):
            refs.append((i, None))
    return True


def _local_ok(resource: dict, refs: list) -> bool:
    """ref-1 and dom-3, as ``resources._resolve_local`` reports them."""
    ids = references.contained_ids(resource)
    referenced: set[str] = set()
    to_container: set[int] = set()
    for target, is_reference in refs:
        if is_reference is None:
            to_container.add(target)
        elif target in ids:
            referenced.add(target)
        elif is_reference and target != "":
            return False
    return all(cid in referenced or i in to_container for cid, i in ids.items())


def null_ok(companion: Any, i: int) -> bool:
    """A null item of a primitive array is allowed if ``_name[i]`` is not null."""
    return type(companion) is list and len(companion) > i and companion[i] is not None


def companion_ok(obj: dict, key: str, v: Any, check: Test, most: int | None, refs: list, d: int) -> bool:
    """A ``_name`` array (of a primitive array ``name``)."""
    if type(v) is not list or not v or (most is not None and len(v) > most):
        return False
    values = obj.get(key[1:])
    if values is not None and (type(values) is not list or len(values) != len(v)):
        return False
    for i, x in enumerate(v):
        if x is None:
            if type(values) is not list or len(values) <= i or values[i] is None:
                return False
        elif not check(x, refs, d):
            return False
    return True


def concept_ok(obj: dict, bound: Binding) -> bool:
    codings = obj.get("coding")
    if type(codings) is list:
        for c in codings:
            if type(c) is dict and bound.coding_ok(c):
                return True
    return False


class _Trampoline:
    """Stands for a child type's test until it is compiled (then replaced)."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __call__(self, o: Any, refs: list, d: int) -> bool:
        return function(self.type_name)(o, refs, d)


_NS: dict[str, Any] = {
    "MAX_DEPTH": MAX_DEPTH,
    "Decimal": Decimal,
    "isfinite": math.isfinite,
    "resource_ok": resource_ok,
    "contained_ok": contained_ok,
    "null_ok": null_ok,
    "companion_ok": companion_ok,
    "REFERENCES": references._MEMO,
    "classify": references.classify,
    "concept_ok": concept_ok,
    "period_problem": period_problem,
    "identifier_problem": identifier_problem,
}


# --- the generator ------------------------------------------------------------------


def _name(type_name: str) -> str:
    return "ok_" + type_name.replace(".", "__").replace("@", "__to_")


def _child(type_name: str) -> str:
    """The global name of a child type's test, bound to a trampoline if not compiled."""
    name = _name(type_name)
    if name not in _NS:
        _NS[name] = _Trampoline(type_name)
    return name


def _const(prefix: str, value: Any) -> str:
    """A global name for ``value`` in the generated code (one per object; one per
    value for sets, so that equal Reference targets share one variant)."""
    key = value if type(value) is frozenset else id(value)
    name = _CONST_NAMES.get(key)
    if name is None:
        name = f"{prefix}{len(_CONST_NAMES)}"
        _NS[name] = value
        _CONST_NAMES[key] = name
    return name


def _primitive_test(prim: Primitive, x: str) -> str:
    """A Python expression, true iff ``x`` is a valid ``prim`` (as ``prim.ok``); the
    caller parenthesises it where needed (it may contain ``or``)."""
    if prim.kind == "bool":
        return f"type({x}) is bool"
    if prim.kind == "int":
        lo, hi = _INT_RANGES[prim.name]
        return f"type({x}) is int and {lo} <= {x} <= {hi}"
    if prim.kind == "decimal":
        return (
            f"type({x}) is Decimal and {x}.is_finite() or type({x}) is int"
            f" or type({x}) is float and isfinite({x})"
        )
    match = _const(f"M_{prim.name}_", prim.match)
    if not prim.seen and type(prim.seen) is frozenset:  # never filled: xhtml, base64Binary
        return f'type({x}) is str and {x} != "" and {match}({x}) is not None'
    seen = _const(f"S_{prim.name}_", prim.seen)
    return f'type({x}) is str and ({x} in {seen} or {x} != "" and {match}({x}) is not None)'


def _binding_test(bound: Binding, x: str) -> str:
    if bound.codes is not None:
        return f"{x} in {_const('C', bound.codes)}"
    return f"{_const('B', bound)}.code_ok({x})"


def _field_lines(e: model.Element, t: str, key: str) -> list[str]:
    """The checks of one key of element ``e`` (type ``t``) on its value ``v``."""
    if e.max == 0:
        return ["return False"]
    many = e.max is None or e.max > 1
    bound = element_binding(e.path, e.binding) if e.binding else None
    shape = _array_shape(e) if many else []
    if t in model.primitive_types():
        test = _primitive_test(primitive(t), "x" if many else "v")
        if bound is not None:
            test = f"({test}) and {_binding_test(bound, 'x' if many else 'v')}"
        local = t in _LOCAL_REF_TYPES
        if not many:
            out = [f"if not ({test}):", "    return False"]
            if local:
                out += ['if v[0] == "#":', "    refs.append((v[1:], False))"]
            return out
        out = shape + ["for i, x in enumerate(v):", f"    if {test}:"]
        out += (
            ['        if x[0] == "#":', "            refs.append((x[1:], False))"]
            if local
            else ["        pass"]
        )
        out += [f"    elif x is not None or not null_ok(o.get({'_' + key!r}), i):", "        return False"]
        return out
    if t == "Resource":
        if e.name == "contained":
            return ["if not contained_ok(v, refs, d + 1):", "    return False"]
        if not many:
            return ["if not resource_ok(v, d + 1):", "    return False"]
        return shape + ["for x in v:", "    if not resource_ok(x, d + 1):", "        return False"]
    if t == "Reference" and bound is None:  # a variant of Reference checks the targets
        targets = e.target_profiles
        allowed = frozenset(targets) if targets and "Resource" not in targets else None
        t = f"Reference@{_const('A', allowed) if allowed else 'any'}"
    check = _child(t)
    post = _post_test(e, t, bound, "x" if many else "v")
    if not many:
        return [f"if not {check}(v, refs, d + 1){post}:", "    return False"]
    return shape + ["for x in v:", f"    if not {check}(x, refs, d + 1){post}:", "        return False"]


def _array_shape(e: model.Element) -> list[str]:
    most = f" or len(v) > {e.max}" if e.max is not None else ""
    return [f"if type(v) is not list or not v{most}:", "    return False"]


def _post_test(e: model.Element, t: str, bound: Binding | None, x: str) -> str:
    """`` or not <rule>`` for an element's rule on its (valid) object ``x``."""
    if bound is not None:
        if t == "CodeableConcept":
            return f" or not concept_ok({x}, {_const('B', bound)})"
        return f' or "code" in {x} and not {_const("B", bound)}.coding_ok({x})'
    return ""


def _companion_lines(e: model.Element, t: str) -> list[str]:
    check = _child(t)  # the primitive's own element model: id, extension
    if e.max is None or e.max > 1:
        return [f"if not companion_ok(o, k, v, {check}, {e.max}, refs, d + 1):", "    return False"]
    return [f"if not {check}(v, refs, d + 1):", "    return False"]


def _reference_lines(allowed: str) -> list[str]:
    """``Reference.reference`` (a valid string ``v``): its format and target type."""
    out = [
        "c = REFERENCES.get(v) or classify(v)  # (kind, type or local id, error)",
        "if c[2] is not None:",
        "    return False",
        'if c[0] == "local":',
        '    refs.append((c[1] or "", True))',
    ]
    if allowed != "any":
        out += [f"elif c[1] is not None and c[1] not in {allowed}:", "    return False"]
    return out


def _generate(test: str) -> str:
    """The source of the test ``test``: a type name, or ``Reference@<targets>`` (a
    Reference whose ``reference`` must name one of the types in the set ``targets``)."""
    type_name, _, targets = test.partition("@")
    elems = model.elements(type_name)
    if elems is None:  # pragma: no cover - every type code in R4 has a definition
        raise KeyError(f"unknown FHIR type {type_name!r}")
    primitives = model.primitive_types()
    resource = model.type_kind(type_name) == "resource"
    branches: list[tuple[str, list[str]]] = [("resourceType", ["pass"])] if resource else []
    late: list[tuple[str, list[str]]] = []  # inherited elements: after the own ones
    companions: list[tuple[str, list[str]]] = []
    required: list[list[str]] = []
    choices = 0
    if resource:  # nearly every resource has these two: first
        order = [elems[n] for n in ("id", "meta") if n in elems]
        order += [e for e in elems.values() if e.name not in ("id", "meta")]
        inherited = _INHERITED
    else:
        order = list(elems.values())
        inherited = _INHERITED_ELEMENT
    for e in order:
        keys: list[str] = []
        group = f"c{choices}"
        choices += e.choice
        for j, t in enumerate(e.types if e.choice else e.types[:1], 1):
            key = e.name + t[0].upper() + t[1:] if e.choice else e.name
            # at most one type per choice element (the key and its companion are one)
            pick = (
                [f"if {group} and {group} != {j}:", "    return False", f"{group} = {j}"] if e.choice else []
            )
            body = pick + _field_lines(e, t, key)
            if targets and key == "reference":
                body += _reference_lines(targets)
            (late if e.name in inherited else branches).append((key, body))
            keys.append(key)
            if t in primitives:
                companions.append(("_" + key, pick + _companion_lines(e, t)))
                keys.append("_" + key)
        if e.min > 0:
            required.append(keys)
    lines = [
        f"def {_name(test)}(o, refs, d):",
        f'    """{test}: True if the reporting checker would find no issue."""',
        "    if type(o) is not dict or not o or d > MAX_DEPTH:",
        "        return False",
    ]
    lines += [f"    c{g} = 0" for g in range(choices)]
    lines.append("    for k, v in o.items():")
    for n, (key, body) in enumerate(branches + late + companions):
        lines.append(f"        {'if' if n == 0 else 'elif'} k == {key!r}:")
        lines += ["            " + b for b in body]
    lines += ["        else:", "            return False"]
    for keys in required:
        lines += ["    if " + " and ".join(f"{k!r} not in o" for k in keys) + ":", "        return False"]
    if type_name == "Extension":  # ext-1: a value[x] or nested extensions, not both
        lines += ['    if (c0 != 0) == ("extension" in o):', "        return False"]
    elif type_name == "Period":
        lines += ["    if period_problem(o) is not None:", "        return False"]
    elif type_name == "Identifier":
        lines += ["    if identifier_problem(o) is not None:", "        return False"]
    lines.append("    return True")
    return "\n".join(lines) + "\n"
