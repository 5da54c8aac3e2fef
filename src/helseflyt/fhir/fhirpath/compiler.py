"""Compile a FHIRPath AST into nested Python closures.

Every compiled node is ``fn(ctx, focus) -> list``: ``focus`` is the input collection
of the node, ``ctx`` the per-evaluation state ($this, $index, $total, variables).
Compilation happens once per expression text (see :func:`compile`); evaluation only
calls closures, which is what makes repeated evaluation fast.

Concurrency: an :class:`Expression` holds no per-evaluation state, so one compiled
expression may be evaluated from several threads at once; each call gets its own Ctx.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from . import ops
from .dates import now
from .nodes import FHIRPathError, Node, system_value, type_of
from .parser import parse
from .quantities import Quantity
from .typeinfo import info

__all__ = ["Ctx", "Expression", "compile"]

Fn = Callable[["Ctx", list[Any]], list[Any]]

_CONSTANTS = {
    "ucum": "http://unitsofmeasure.org",
    "sct": "http://snomed.info/sct",
    "loinc": "http://loinc.org",
}


class Ctx:
    """State of one evaluation."""

    __slots__ = ("context", "index", "now", "resource", "root", "strict", "this", "total", "variables")

    def __init__(self, root: list[Any], variables: dict[str, Any], strict: bool) -> None:
        self.root = root
        self.this = root
        self.context = root
        self.resource = root
        self.index: int | None = None
        self.total: Any = None
        self.variables = variables
        self.strict = strict
        self.now: Any = None


def _wrap(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return [_wrap_item(v) for v in value]
    return [_wrap_item(value)]


def _wrap_item(value: Any) -> Any:
    if isinstance(value, (Node, Quantity)) or value.__class__ in (bool, int, str, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return Node(value, None, None, None)
    return value


class Expression:
    """A compiled FHIRPath expression."""

    __slots__ = ("_direct", "_fn", "strict", "text")

    def __init__(self, text: str, fn: Fn, strict: bool, direct: Callable[[Any], Any] | None = None) -> None:
        self.text = text
        self._fn = fn
        self.strict = strict
        self._direct = direct  # a plain dict walk for simple paths, see direct.py

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def evaluate_nodes(self, resource: Any, *, variables: dict[str, Any] | None = None) -> list[Any]:
        """Results as items: :class:`Node` for elements of ``resource``, else System values."""
        if resource.__class__ is dict:
            root = [Node(resource, None, None, None, None, resource.get("resourceType"))]
        else:
            root = [resource] if isinstance(resource, Node) else _wrap(resource)
        ctx = Ctx(root, variables or {}, self.strict)
        return self._fn(ctx, root)

    def evaluate(self, resource: Any, *, variables: dict[str, Any] | None = None) -> list[Any]:
        """Results as plain values: JSON for elements (dicts, str, int, Decimal, bool),
        :class:`FPDateTime`/:class:`Quantity` for computed dates and quantities."""
        direct = self._direct
        if direct is not None and resource.__class__ is dict:
            out = direct(resource)
            if out is not None:
                return out
        out = []
        for item in self.evaluate_nodes(resource, variables=variables):
            if item.__class__ is Node:
                if item.value is not None:
                    out.append(item.value)
            else:
                out.append(item)
        return out


@lru_cache(maxsize=4096)
def compile(expression: str, *, strict: bool = False) -> Expression:  # noqa: A001 - public API name
    """Parse and compile ``expression`` once; later calls with the same text are free."""
    from .direct import compile_direct

    ast = parse(expression)
    return Expression(expression, compile_node(ast, strict), strict, compile_direct(ast, strict))


# -- compiling -------------------------------------------------------------------------


def compile_node(node: tuple[Any, ...], strict: bool) -> Fn:
    kind = node[0]
    if kind == "lit":
        result = [node[1]]
        return lambda ctx, focus: result
    if kind == "empty":
        return lambda ctx, focus: []
    if kind == "id":
        return _member(node[1], strict)
    if kind == "dot":
        if strict:
            _static_checks(node)
        left = compile_node(node[1], strict)
        right = compile_node(node[2], strict)
        if node[1][0] == "id" and node[1][1][:1].isupper():
            name = node[1][1]

            def typed(ctx: Ctx, focus: list[Any]) -> list[Any]:
                # fast path for the usual leading type name: the root resource itself
                if len(focus) == 1 and focus[0].__class__ is Node and focus[0]._type == name:
                    return right(ctx, focus)
                return right(ctx, left(ctx, focus))

            return typed
        return lambda ctx, focus: right(ctx, left(ctx, focus))
    if kind == "call":
        from .functions import compile_call

        return compile_call(node[1], [compile_node(a, strict) for a in node[2]], node[2], strict)
    if kind == "this":
        return lambda ctx, focus: ctx.this
    if kind == "index":
        return lambda ctx, focus: [] if ctx.index is None else [ctx.index]
    if kind == "total":
        return lambda ctx, focus: [] if ctx.total is None else ctx.total
    if kind == "var":
        return _variable(node[1])
    if kind == "idx":
        return _indexer(compile_node(node[1], strict), compile_node(node[2], strict))
    if kind == "neg":
        operand = compile_node(node[1], strict)

        def negate(ctx: Ctx, focus: list[Any]) -> list[Any]:
            v = ops.singleton(operand(ctx, focus))
            if v is None:
                return []
            if isinstance(v, Quantity):
                return [Quantity(-v.value, v.unit)]
            if isinstance(v, bool) or not isinstance(v, (int, Decimal)):
                raise FHIRPathError("unary minus needs a number or a quantity")
            return [-v]

        return negate
    if kind == "type":
        return _type_op(node[1], compile_node(node[2], strict), node[3])
    if kind == "bin":
        from .operators import compile_binary

        right = node[3]
        literal = right[1] if right[0] == "lit" else None
        return compile_binary(node[1], compile_node(node[2], strict), compile_node(right, strict), literal)
    raise FHIRPathError(f"cannot compile {kind}", "syntax")


_ORDERED = frozenset({"skip", "take", "first", "last", "tail", "single"})


def _static_checks(node: tuple[Any, ...]) -> None:
    """Strict mode: errors a type checker finds without data (spec 'strict' tests)."""
    left, right = node[1], node[2]
    last = left[2] if left[0] == "dot" else left
    if (
        last[0] == "call"
        and last[1] in ("children", "descendants")
        and right[0] == "call"
        and (right[1] in _ORDERED)
    ):
        raise FHIRPathError(f"{right[1]}() on the unordered result of {last[1]}()", "semantic")
    cast = None
    if left[0] == "type" and left[1] == "as":
        cast = left[3]
    elif left[0] == "dot" and left[2][0] == "call" and left[2][1] in ("as", "ofType") and left[2][2]:
        arg = left[2][2][0]
        cast = arg[1] if arg[0] == "id" else None
    if cast and right[0] == "id":
        name = cast.removeprefix("FHIR.")
        ti = info()
        if (
            ti.model is not None
            and ti.model.elements(name) is not None
            and not ti.has_element(name, right[1])
        ):
            raise FHIRPathError(f"{name} has no element '{right[1]}'", "semantic")


def _variable(name: str) -> Fn:
    if name in ("resource", "rootResource"):
        return lambda ctx, focus: ctx.resource
    if name == "context":
        return lambda ctx, focus: ctx.context
    if name in _CONSTANTS:
        value = [_CONSTANTS[name]]
        return lambda ctx, focus: value
    if name.startswith("vs-"):
        value = [f"http://hl7.org/fhir/ValueSet/{name[3:]}"]
        return lambda ctx, focus: value
    if name.startswith("ext-"):
        value = [f"http://hl7.org/fhir/StructureDefinition/{name[4:]}"]
        return lambda ctx, focus: value

    def lookup(ctx: Ctx, focus: list[Any]) -> list[Any]:
        if name not in ctx.variables:
            raise FHIRPathError(f"undefined variable %{name}", "semantic")
        return _wrap(ctx.variables[name])

    return lookup


def _indexer(left: Fn, index: Fn) -> Fn:
    def indexer(ctx: Ctx, focus: list[Any]) -> list[Any]:
        coll = left(ctx, focus)
        i = ops.singleton(index(ctx, ctx.this))
        if i is None:
            return []
        if not isinstance(i, int) or isinstance(i, bool):
            raise FHIRPathError("an index must be an Integer")
        return [coll[i]] if 0 <= i < len(coll) else []

    return indexer


_CHOICE_SUFFIX = re.compile(r"[A-Z]")


def _expand(item: Node, name: str, value: Any, out: list[Any], type_: str | None = None) -> None:
    """Append the children stored in ``item.value[name]`` (and its ``_name``) to ``out``."""
    parent = item.value
    if value is None:
        ext = parent.get("_" + name)
        if ext is None:
            return
        if isinstance(ext, list):
            for i, e in enumerate(ext):
                if e is not None:
                    out.append(Node(None, item, name, i, e, type_))
        else:
            out.append(Node(None, item, name, None, ext, type_))
        return
    cls = value.__class__
    if cls is list:
        if value and value[0].__class__ is dict:
            for i, v in enumerate(value):
                out.append(Node(v, item, name, i, None, type_))
        else:
            ext = parent.get("_" + name)
            for i, v in enumerate(value):
                e = ext[i] if ext is not None and i < len(ext) else None
                if v is not None or e is not None:
                    out.append(Node(v, item, name, i, e, type_))
    elif cls is dict:
        out.append(Node(value, item, name, None, None, type_))
    else:
        out.append(Node(value, item, name, None, parent.get("_" + name), type_))


def _choice(item: Node, name: str, out: list[Any]) -> bool:
    """Expand choice element ``name`` (``value`` finds ``valueQuantity``)."""
    d = item.value
    t = item.type
    try:
        choices = _CHOICES[(t, name)]
    except KeyError:
        choices = _CHOICES[(t, name)] = _choices(t, name)
    found = False
    if choices is None:  # no model: recognise name + Type keys
        n = len(name)
        for key in list(d):
            if key.startswith(name) and len(key) > n and key[n].isupper():
                suffix = key[n:]
                type_ = (
                    suffix
                    if suffix[:2].isupper() or suffix in _COMPLEX_SUFFIX
                    else suffix[0].lower() + suffix[1:]
                )
                _expand(item, key, d[key], out, type_)
                found = True
        return found
    for key, ukey, type_ in choices:
        value = d.get(key)
        if value is not None or ukey in d:
            _expand(item, key, value, out, type_)
            return True  # a choice element holds one type only
    return False


def _choices(type_name: str | None, name: str) -> tuple[tuple[str, str, str | None], ...] | None:
    ti = info()
    keys = ti.choice_keys(type_name, name)
    if keys is None:
        return None
    return tuple((k, "_" + k, ti.child_type(type_name, k)) for k in keys)


_CHOICES: dict[tuple[str | None, str], tuple[str, ...] | None] = {}
_COMPLEX_SUFFIX = frozenset(
    [
        "Quantity",
        "CodeableConcept",
        "Coding",
        "Period",
        "Range",
        "Ratio",
        "Reference",
        "Identifier",
        "Attachment",
        "SampledData",
        "Timing",
        "HumanName",
        "Address",
        "ContactPoint",
        "Age",
        "Duration",
        "Money",
        "Annotation",
    ]
)


def _member(name: str, strict: bool) -> Fn:
    type_name = name[:1].isupper()
    maybe_choice = not type_name and any(c.isupper() for c in name)
    uname = "_" + name
    ti = info()

    def member(ctx: Ctx, focus: list[Any]) -> list[Any]:
        out: list[Any] = []
        for item in focus:
            if item.__class__ is not Node:
                continue
            d = item.value
            if d.__class__ is not dict:
                continue
            value = d.get(name)
            if value is not None:
                if maybe_choice and _is_choice_key(item, name):
                    raise FHIRPathError(
                        f"'{name}' is the JSON name of a choice element: use "
                        f"'{_choice_base(item, name)}' (with ofType() or 'as')",
                        "semantic",
                    )
                cls = value.__class__
                if cls is dict:
                    out.append(Node(value, item, name, None))
                elif cls is list and value and value[0].__class__ is dict:
                    for i, v in enumerate(value):
                        out.append(Node(v, item, name, i))
                elif cls is not list:
                    out.append(Node(value, item, name, None, d.get(uname)))
                else:
                    _expand(item, name, value, out)
                continue
            if type_name and d.get("resourceType") == name:
                out.append(item)
                continue
            if uname in d:
                _expand(item, name, None, out)
                continue
            if type_name and "resourceType" in d:
                t = item.type
                if t == name or (t and ti.is_subtype(t, name)):
                    out.append(item)
                    continue
                if strict and (name in ti.resource_types or not ti.resource_types):
                    raise FHIRPathError(f"{name} does not match the context type {t}", "semantic")
            if _choice(item, name, out):
                continue
            if strict:
                t = item.type
                if t and name[:1].islower() and ti.has_element(t, name) is False:
                    raise FHIRPathError(f"{t} has no element '{name}'", "semantic")
        return out

    return member


_CHOICE_KEYS: dict[tuple[str | None, str], str | None] = {}


def _choice_base(item: Node, name: str) -> str | None:
    """``value`` when ``name`` is ``valueQuantity`` of a choice element of item's type."""
    t = item.type
    key = (t, name)
    try:
        return _CHOICE_KEYS[key]
    except KeyError:
        pass
    found = None
    ti = info()
    if t and ti.child_type(t, name) is not None:
        for i in range(1, len(name)):
            if name[i].isupper():
                keys = ti.choice_keys(t, name[:i])
                if keys and name in keys:
                    found = name[:i]
                    break
    _CHOICE_KEYS[key] = found
    return found


def _is_choice_key(item: Node, name: str) -> bool:
    return _choice_base(item, name) is not None


def _type_op(op: str, operand: Fn, type_name: str) -> Fn:
    check_type_name(type_name)
    if op == "is":

        def is_(ctx: Ctx, focus: list[Any]) -> list[Any]:
            coll = operand(ctx, focus)
            if not coll:
                return []
            if len(coll) > 1:
                raise FHIRPathError("'is' needs a single item")
            return [matches_type(coll[0], type_name)]

        return is_

    def as_(ctx: Ctx, focus: list[Any]) -> list[Any]:
        coll = operand(ctx, focus)
        if len(coll) > 1:
            raise FHIRPathError("'as' needs a single item")
        return [x for x in coll if matches_type(x, type_name, exact=True)]

    return as_


_SYSTEM_TYPES = {"Boolean", "Integer", "Decimal", "String", "Date", "DateTime", "Time", "Any"}


def check_type_name(type_name: str) -> None:
    """Raise for a type specifier that names no FHIR or System type."""
    namespace, _, name = type_name.rpartition(".")
    if namespace == "System":
        ok = True  # System.X that does not exist simply matches nothing
    elif namespace == "FHIR":
        ok = info().is_known_type(name)
    else:
        ok = name in _SYSTEM_TYPES or name == "Quantity" or info().is_known_type(type_name)
    if not ok:
        raise FHIRPathError(f"unknown type {type_name}", "semantic")


_MATCHES: dict[tuple[str, str, bool], bool] = {}


def matches_type(item: Any, type_name: str, exact: bool = False) -> bool:
    """Cached :func:`_matches_type` for typed nodes."""
    if item.__class__ is Node:
        t = item.type
        if t is not None:
            key = (t, type_name, exact)
            r = _MATCHES.get(key)
            if r is None:
                r = _MATCHES[key] = _matches_type(item, type_name, exact)
            return r
    return _matches_type(item, type_name, exact)


def _matches_type(item: Any, type_name: str, exact: bool = False) -> bool:
    """Whether ``item`` is of type ``type_name`` (``FHIR.X``, ``System.X`` or ``X``).

    ``exact`` (for as/ofType) does not let a FHIR primitive match its base type: a
    ``code`` is a ``string`` for ``is`` but not for ``as`` (as the official suite has it).
    """
    namespace, _, name = type_name.rpartition(".")
    if namespace not in ("", "FHIR", "System"):
        name = type_name  # a backbone type path like Observation.component
        namespace = ""
    ns, actual = type_of(item)
    if ns == "FHIR":
        if namespace == "System":
            return False
        if namespace == "" and name in _SYSTEM_TYPES and actual != name:
            return False
        if actual == name:
            return True
        if exact and actual in info().primitive_types:
            return False
        return info().is_subtype(actual, name)
    if namespace == "FHIR":
        return False
    if actual == name:
        return True
    return name == "Any"


def system_values(coll: list[Any]) -> list[Any]:
    return [system_value(x) for x in coll]


def current_time(ctx: Ctx, kind: str) -> Any:
    if ctx.now is None:
        ctx.now = now()
    value = ctx.now
    return value if kind == "dateTime" else value.to_kind(kind) if kind == "date" else now("time")
