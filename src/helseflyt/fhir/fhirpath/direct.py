"""Direct evaluation of simple paths on the resource's dicts, for ``Expression.evaluate``.

Most expressions in practice are short paths from the resource type: ``Observation.subject``,
``Patient.name.given``, ``(Observation.effective as dateTime)``,
``Observation.value.ofType(Quantity).value > 5``. For them the general closures spend most
of their time on fixed per-call work: the root :class:`~.nodes.Node` and the context,
a Node per element, then unwrapping the result. :func:`compile_direct` resolves such a
path against the model once (member keys, choice keys, type tests) and returns a
function that walks the JSON dicts and lists and returns the plain values ``evaluate``
would return, without creating any Node.

The subset: a resource type name, then member names, ``ofType(T)``, ``as(T)``, ``as T``,
``where(name = 'literal')`` (or ``!=``) and ``first()``; unions of such paths when they
give elements; such a path compared (``= != < > <= >=``) with a literal. Each member
needs a static type for its parent (an element typed ``Resource``, such as
``Bundle.entry.resource``, may only end the path or be filtered by ``where``).
Whatever the walk does not model exactly (another root type, ``null`` in a list, a
primitive with only its ``_name`` companion where counting matters, more than one item
where ``as`` or a comparison needs one, a ``where`` value that may be a date) makes it
return None, and the caller runs the general closures, which give the engine's answer or
error. Strict-mode errors depend on the model only, so a path with an unknown element in
strict mode is not compiled here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ops
from .compiler import _choice_base, matches_type
from .nodes import Node, primitive_value
from .operators import _collection_equal
from .ops import _json_equal
from .typeinfo import PRIMITIVE_SYSTEM, info

__all__ = ["compile_direct"]

Run = Callable[[dict[str, Any]], "list[Any] | None"]
Walk = Callable[[list[Any]], "list[Any] | None"]

_DYNAMIC = (None, "", "Resource", "DomainResource")  # the type comes from the data
_TESTS: dict[str, Callable[[int], bool]] = {
    "<": lambda c: c < 0,
    ">": lambda c: c > 0,
    "<=": lambda c: c <= 0,
    ">=": lambda c: c >= 0,
}


class _NotDirect(Exception):  # noqa: N818 - a signal, not an error
    pass


def compile_direct(ast: tuple[Any, ...], strict: bool) -> Run | None:
    """A dict walk equal to ``evaluate`` for ``ast``, or None outside the subset."""
    if info().model is None:
        return None
    try:
        return _top(ast, strict)
    except _NotDirect:
        return None


def _top(ast: tuple[Any, ...], strict: bool) -> Run:
    if ast[0] == "bin" and ast[1] == "|":
        return _union(_top(ast[2], strict), _top(ast[3], strict))
    if ast[0] == "bin" and ast[3][0] == "lit" and (ast[1] in _TESTS or ast[1] in ("=", "!=")):
        root, walk, types = _path(ast[2], strict, counted=True)
        if len(types) != 1 or types[0] not in PRIMITIVE_SYSTEM:
            raise _NotDirect
        return _compare(root, walk, types[0], ast[1], ast[3][1])
    root, walk, _ = _path(ast, strict, counted=False)

    def run(resource: dict[str, Any]) -> list[Any] | None:
        if resource.get("resourceType") != root:
            return None
        return walk([resource])

    return run


def _union(left: Run, right: Run) -> Run:
    """``a | b`` of elements: the engine compares two elements by their JSON (ops._json_equal)."""

    def union(resource: dict[str, Any]) -> list[Any] | None:
        a = left(resource)
        b = None if a is None else right(resource)
        if b is None:
            return None
        out: list[Any] = []
        for v in a + b:
            if v.__class__ is not dict:
                return None  # a primitive: the engine compares System values
            if not any(_json_equal(v, o) for o in out):
                out.append(v)
        return out

    return union


def _compare(root: str, walk: Walk, type_: str, op: str, literal: Any) -> Run:
    test = _TESTS.get(op)
    negate = op == "!="

    def run(resource: dict[str, Any]) -> list[Any] | None:
        if resource.get("resourceType") != root:
            return None
        values = walk([resource])
        if not values:
            return values
        if len(values) > 1:
            return None
        a = primitive_value(values[0], type_)
        if a.__class__ is dict or a.__class__ is list:
            return None
        if test is None:
            r = _collection_equal([a], [literal])
            return [] if r is None else [r != negate]
        c = ops.compare(a, literal)
        return [] if c is None else [test(c)]

    return run


def _path(ast: tuple[Any, ...], strict: bool, counted: bool) -> tuple[str, Walk, tuple[str, ...]]:
    """(root type, walk, static types of the result) of a path, else _NotDirect.

    ``counted``: the caller counts the items (``as``, a comparison), so an element that is
    only a ``_name`` companion, which the engine counts as an item, must fall back.
    """
    kind = ast[0]
    if kind == "id" and ast[1][:1].isupper():
        if ast[1] not in info().resource_types:
            raise _NotDirect
        return ast[1], _identity, (ast[1],)
    if kind == "type" and ast[1] == "as":
        return _filter(ast[2], ast[3], True, strict, counted)
    if kind != "dot":
        raise _NotDirect
    right = ast[2]
    if right[0] == "call" and right[1] in ("ofType", "as") and len(right[2]) == 1:
        return _filter(ast[1], _type_arg(right[2][0]), right[1] == "as", strict, counted)
    if right[0] == "call" and right[1] == "first" and not right[2]:
        root, walk, types = _path(ast[1], strict, True)
        return root, _first_walk(walk), types
    if right[0] == "call" and right[1] == "where" and len(right[2]) == 1:
        return _where(ast[1], right[2][0], strict)
    if right[0] != "id" or right[1][:1].isupper():
        raise _NotDirect
    root, walk, parent = _parent(ast[1], strict)
    name = right[1]
    keys = _choice_keys(parent, name)
    if keys:
        types = tuple(dict.fromkeys(info().child_type(parent, k) or "" for k in keys))
        return root, _choice_walk(walk, name, keys, frozenset(keys), False), types
    child = info().child_type(parent, name)
    if child is None and strict:
        raise _NotDirect  # strict mode: the engine raises for an unknown element
    return root, _plain_walk(walk, name, counted), (child or "",)


def _parent(ast: tuple[Any, ...], strict: bool) -> tuple[str, Walk, str]:
    """A path whose items have one static type that does not depend on the data."""
    root, walk, types = _path(ast, strict, False)
    if len(types) != 1 or types[0] in _DYNAMIC:
        raise _NotDirect
    return root, walk, types[0]


def _choice_keys(parent: str, name: str) -> tuple[str, ...]:
    if any(c.isupper() for c in name) and _choice_base(_probe(parent), name) is not None:
        raise _NotDirect  # a choice element's JSON name: the engine raises
    return info().choice_keys(parent, name) or ()


def _probe(type_: str) -> Node:
    return Node(None, None, None, None, None, type_)


def _filter(
    operand: tuple[Any, ...], type_name: str, single: bool, strict: bool, counted: bool
) -> tuple[str, Walk, tuple[str, ...]]:
    """``ofType(T)`` (``single``: ``as T``, which needs at most one item)."""
    ti = info()
    if operand[0] == "dot" and operand[2][0] == "id" and operand[2][1][:1].islower():
        root, walk, parent = _parent(operand[1], strict)
        name = operand[2][1]
        keys = _choice_keys(parent, name)
        if keys:  # narrow the choice to the keys of type T
            accept = [
                k for k in keys if matches_type(_probe(ti.child_type(parent, k) or ""), type_name, True)
            ]
            types = tuple(dict.fromkeys(ti.child_type(parent, k) or "" for k in accept))
            return root, _choice_walk(walk, name, keys, frozenset(accept), single), types
    root, walk, types = _path(operand, strict, single or counted)
    if len(types) != 1 or types[0] in _DYNAMIC:
        raise _NotDirect
    keep = matches_type(_probe(types[0]), type_name, True)
    return root, _filter_walk(walk, keep, single), (types[0],) if keep else ()


def _where(
    operand: tuple[Any, ...], criterion: tuple[Any, ...], strict: bool
) -> tuple[str, Walk, tuple[str, ...]]:
    """``where(name = 'literal')`` (or ``!=``) on elements."""
    if not (
        criterion[0] == "bin"
        and criterion[1] in ("=", "!=")
        and criterion[2][0] == "id"
        and criterion[2][1][:1].islower()  # ``where(Patient = ...)`` is a type test
        and criterion[3][0] == "lit"
        and criterion[3][1].__class__ is str
    ):
        raise _NotDirect
    name = criterion[2][1]
    root, walk, types = _path(operand, strict, False)
    if len(types) != 1:
        raise _NotDirect
    dynamic = types[0] in _DYNAMIC
    if not dynamic and (
        _choice_keys(types[0], name) or (strict and info().child_type(types[0], name) is None)
    ):
        raise _NotDirect
    return root, _where_walk(walk, name, criterion[3][1], criterion[1] == "!=", dynamic), types


def _where_walk(walk: Walk, name: str, literal: str, negate: bool, dynamic: bool) -> Walk:
    # items typed by their resourceType: is ``name`` the JSON name of a choice there?
    choice_name: dict[Any, bool] = {}
    check = dynamic and not name.islower()

    def where(items: list[Any]) -> list[Any] | None:
        items = walk(items)  # type: ignore[assignment]
        if not items:
            return items
        out = []
        for d in items:
            if d.__class__ is not dict:
                continue  # a primitive has no members: the criterion is empty
            v = d.get(name)
            if check:
                t = d.get("resourceType")
                bad = choice_name.get(t)
                if bad is None:
                    bad = choice_name[t] = _choice_base(_probe(t or "Resource"), name) is not None
                if bad:
                    return None
            if v.__class__ is str and not v[:1].isdigit():  # digits: maybe a date
                if (v == literal) != negate:
                    out.append(d)
            elif v is not None or dynamic:
                return None
        return out

    return where


def _first_walk(walk: Walk) -> Walk:
    def first(items: list[Any]) -> list[Any] | None:
        items = walk(items)  # type: ignore[assignment]
        return items[:1] if items else items

    return first


def _type_arg(ast: tuple[Any, ...]) -> str:
    if ast[0] == "id":
        return str(ast[1])
    if ast[0] == "dot" and ast[1] == ("id", "FHIR") and ast[2][0] == "id":
        return "FHIR." + ast[2][1]
    raise _NotDirect


def _identity(items: list[Any]) -> list[Any]:
    return items


def _filter_walk(walk: Walk, keep: bool, single: bool) -> Walk:
    def filter_(items: list[Any]) -> list[Any] | None:
        items = walk(items)  # type: ignore[assignment]
        if not items:
            return items
        if single and len(items) > 1:
            return None
        return items if keep else []

    return filter_


def _plain_walk(walk: Walk, name: str, counted: bool) -> Walk:
    uname = "_" + name

    def plain(items: list[Any]) -> list[Any] | None:
        items = walk(items)  # type: ignore[assignment]
        if not items:
            return items
        out: list[Any] = []
        for d in items:
            if d.__class__ is not dict:
                continue
            v = d.get(name)
            if v is None:
                if counted and uname in d:
                    return None
            elif v.__class__ is list:
                if None in v:
                    return None
                out += v
            else:
                out.append(v)
        return out

    return plain


def _choice_walk(walk: Walk, name: str, keys: tuple[str, ...], accept: frozenset[str], single: bool) -> Walk:
    """``value`` finds ``valueQuantity``: the first key present, as the engine's ``_choice``;
    only the keys in ``accept`` are kept (``single``: more than one found falls back)."""
    uname = "_" + name
    pairs = tuple((k, "_" + k, k in accept) for k in keys)

    def choice(items: list[Any]) -> list[Any] | None:
        items = walk(items)  # type: ignore[assignment]
        if not items:
            return items
        out: list[Any] = []
        found = 0
        for d in items:
            if d.__class__ is not dict:
                continue
            if name in d or uname in d:
                return None
            for key, ukey, keep in pairs:
                v = d.get(key)
                if v is not None:
                    if v.__class__ is list:
                        return None
                    found += 1
                    if keep:
                        out.append(v)
                    break
                if ukey in d:
                    return None
        if single and found > 1:
            return None
        return out

    return choice
