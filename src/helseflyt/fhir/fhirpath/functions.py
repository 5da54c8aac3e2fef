"""FHIRPath functions: existence, filtering, subsetting, combining, tree, utility.

String, math and conversion functions live in :mod:`.strings` and :mod:`.conversions`;
FHIR-specific ones (extension, resolve, conformsTo...) in :mod:`.fhirfuncs`. All of them
register here with :func:`function`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ops
from .compiler import Ctx, Fn, check_type_name, current_time, matches_type
from .nodes import FHIRPathError, Node, system_value, type_of
from .operators import contains_item, distinct, union

__all__ = ["FUNCTIONS", "compile_call", "function"]

Impl = Callable[..., list[Any]]
# name -> (implementation, min args, max args, lambda arg positions, type arg)
FUNCTIONS: dict[str, tuple[Impl, int, int, frozenset[int], bool]] = {}


def function(
    name: str, nargs: int | tuple[int, int] = 0, lambdas: tuple[int, ...] = (), *, type_arg: bool = False
) -> Callable[[Impl], Impl]:
    low, high = (nargs, nargs) if isinstance(nargs, int) else nargs

    def register(impl: Impl) -> Impl:
        FUNCTIONS[name] = (impl, low, high, frozenset(lambdas), type_arg)
        return impl

    return register


def _type_name(ast: tuple[Any, ...]) -> str:
    if ast[0] == "id":
        return ast[1]
    if ast[0] == "dot" and ast[2][0] == "id":
        return f"{_type_name(ast[1])}.{ast[2][1]}"
    if ast[0] == "lit" and isinstance(ast[1], str):
        return ast[1]
    raise FHIRPathError("expected a type name", "semantic")


def compile_call(name: str, args: list[Fn], asts: tuple[Any, ...], strict: bool) -> Fn:
    _load_modules()
    entry = FUNCTIONS.get(name)
    if entry is None:
        raise FHIRPathError(f"unknown function {name}()", "semantic")
    impl, low, high, lambdas, type_arg = entry
    if not low <= len(args) <= high:
        raise FHIRPathError(f"{name}() takes {low}..{high} arguments, got {len(args)}", "semantic")
    if type_arg:
        type_name = _type_name(asts[0])
        check_type_name(type_name)
        return lambda ctx, focus: impl(ctx, focus, type_name)
    if not args:
        return lambda ctx, focus: impl(ctx, focus)
    if name == "sort":  # sort(-key) sorts descending
        from .compiler import compile_node

        args = []
        for ast in asts:
            desc = ast[0] == "neg"
            fn = compile_node(ast[1] if desc else ast, strict)
            args.append(_SortKey(fn, desc))
    if lambdas:
        return lambda ctx, focus: impl(ctx, focus, *args)
    if len(args) == 1:
        a0 = args[0]
        return lambda ctx, focus: impl(ctx, focus, a0(ctx, ctx.this))
    return lambda ctx, focus: impl(ctx, focus, *[a(ctx, ctx.this) for a in args])


class _SortKey:
    __slots__ = ("descending", "fn")

    def __init__(self, fn: Fn, descending: bool) -> None:
        self.fn, self.descending = fn, descending

    def __call__(self, ctx: Ctx, focus: list[Any]) -> list[Any]:
        return self.fn(ctx, focus)


_LOADED = False


def _load_modules() -> None:
    global _LOADED
    if not _LOADED:
        from . import conversions, fhirfuncs, strings  # noqa: F401 - they register functions

        _LOADED = True


def each(ctx: Ctx, focus: list[Any], body: Fn) -> Any:
    """Iterate ``focus`` binding $this and $index; yields (item, result)."""
    saved_this, saved_index = ctx.this, ctx.index
    try:
        for i, item in enumerate(focus):
            this = [item]
            ctx.this, ctx.index = this, i
            yield item, body(ctx, this)
    finally:
        ctx.this, ctx.index = saved_this, saved_index


def _true(coll: list[Any]) -> bool:
    return ops.to_boolean(coll) is True


# -- existence ---------------------------------------------------------------------------


@function("empty")
def _empty(ctx: Ctx, focus: list[Any]) -> list[Any]:
    return [not focus]


@function("exists", (0, 1), (0,))
def _exists(ctx: Ctx, focus: list[Any], criteria: Fn | None = None) -> list[Any]:
    if criteria is None:
        return [bool(focus)]
    return [any(_true(r) for _, r in each(ctx, focus, criteria))]


@function("all", 1, (0,))
def _all(ctx: Ctx, focus: list[Any], criteria: Fn) -> list[Any]:
    return [all(_true(r) for _, r in each(ctx, focus, criteria))]


def _booleans(focus: list[Any]) -> list[Any]:
    values = [system_value(x) for x in focus]
    if any(v is not True and v is not False for v in values):
        raise FHIRPathError("expected a collection of Booleans")
    return values


@function("allTrue")
def _all_true(ctx: Ctx, focus: list[Any]) -> list[Any]:
    return [all(v is True for v in _booleans(focus))]


@function("anyTrue")
def _any_true(ctx: Ctx, focus: list[Any]) -> list[Any]:
    return [any(v is True for v in _booleans(focus))]


@function("allFalse")
def _all_false(ctx: Ctx, focus: list[Any]) -> list[Any]:
    return [all(v is False for v in _booleans(focus))]


@function("anyFalse")
def _any_false(ctx: Ctx, focus: list[Any]) -> list[Any]:
    return [any(v is False for v in _booleans(focus))]


@function("subsetOf", 1)
def _subset_of(ctx: Ctx, focus: list[Any], other: list[Any]) -> list[Any]:
    return [all(contains_item(other, x) for x in focus)]


@function("supersetOf", 1)
def _superset_of(ctx: Ctx, focus: list[Any], other: list[Any]) -> list[Any]:
    return [all(contains_item(focus, x) for x in other)]


@function("count")
def _count(ctx: Ctx, focus: list[Any]) -> list[Any]:
    return [len(focus)]


@function("distinct")
def _distinct(ctx: Ctx, focus: list[Any]) -> list[Any]:
    return distinct(focus)


@function("isDistinct")
def _is_distinct(ctx: Ctx, focus: list[Any]) -> list[Any]:
    return [len(distinct(focus)) == len(focus)]


# -- filtering and projection -------------------------------------------------------------


@function("where", 1, (0,))
def _where(ctx: Ctx, focus: list[Any], criteria: Fn) -> list[Any]:
    out = []
    saved_this, saved_index = ctx.this, ctx.index
    try:
        for i, item in enumerate(focus):
            this = [item]
            ctx.this, ctx.index = this, i
            r = criteria(ctx, this)
            if r:
                if len(r) > 1:
                    raise FHIRPathError("where() criteria must give a single Boolean")
                v = r[0]
                if v is True or (v.__class__ is Node and v.value is True):
                    out.append(item)
    finally:
        ctx.this, ctx.index = saved_this, saved_index
    return out


@function("select", 1, (0,))
def _select(ctx: Ctx, focus: list[Any], projection: Fn) -> list[Any]:
    out: list[Any] = []
    for _, r in each(ctx, focus, projection):
        out.extend(r)
    return out


@function("repeat", 1, (0,))
def _repeat(ctx: Ctx, focus: list[Any], projection: Fn) -> list[Any]:
    out: list[Any] = []
    pending = focus
    while pending:
        found: list[Any] = []
        for _, r in each(ctx, pending, projection):
            for x in r:
                if not _contains_same(out, x):
                    out.append(x)
                    found.append(x)
        pending = found
    return out


@function("repeatAll", 1, (0,))
def _repeat_all(ctx: Ctx, focus: list[Any], projection: Fn) -> list[Any]:
    out: list[Any] = []
    pending = focus
    depth = 0
    while pending:
        depth += 1
        if depth > 1000:
            raise FHIRPathError("repeatAll() does not terminate")
        found: list[Any] = []
        for _, r in each(ctx, pending, projection):
            found.extend(r)
        out.extend(found)
        pending = found
    return out


def _contains_same(coll: list[Any], x: Any) -> bool:
    if x.__class__ is Node:
        return any(
            y.__class__ is Node
            and y.value is x.value
            and y.key == x.key
            and y.index == x.index
            and y.parent is x.parent
            for y in coll
        ) or (isinstance(x.value, dict) and any(y.__class__ is Node and y.value is x.value for y in coll))
    return contains_item(coll, x)


@function("ofType", 1, type_arg=True)
def _of_type(ctx: Ctx, focus: list[Any], type_name: str) -> list[Any]:
    return [x for x in focus if matches_type(x, type_name, exact=True)]


@function("is", 1, type_arg=True)
def _is(ctx: Ctx, focus: list[Any], type_name: str) -> list[Any]:
    if not focus:
        return []
    if len(focus) > 1:
        raise FHIRPathError("is() needs a single item")
    return [matches_type(focus[0], type_name)]


@function("as", 1, type_arg=True)
def _as(ctx: Ctx, focus: list[Any], type_name: str) -> list[Any]:
    if len(focus) > 1:
        raise FHIRPathError("as() needs a single item")
    return [x for x in focus if matches_type(x, type_name, exact=True)]


class _TypeInfo:
    pass


@function("type")
def _type(ctx: Ctx, focus: list[Any]) -> list[Any]:
    out = []
    for x in focus:
        namespace, name = type_of(x)
        if x.__class__ is Node and "." in name:
            namespace, name = "FHIR", "BackboneElement"
        out.append(Node({"namespace": namespace, "name": name}, None, None, None, None, "TypeInfo"))
    return out


# -- subsetting ----------------------------------------------------------------------------


@function("single")
def _single(ctx: Ctx, focus: list[Any]) -> list[Any]:
    if len(focus) > 1:
        raise FHIRPathError("single() on a collection of more than one item")
    return focus


@function("first")
def _first(ctx: Ctx, focus: list[Any]) -> list[Any]:
    return focus[:1]


@function("last")
def _last(ctx: Ctx, focus: list[Any]) -> list[Any]:
    return focus[-1:]


@function("tail")
def _tail(ctx: Ctx, focus: list[Any]) -> list[Any]:
    return focus[1:]


def _int_arg(coll: list[Any], fname: str) -> int | None:
    v = ops.singleton(coll)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise FHIRPathError(f"{fname}() needs an Integer argument")
    return v


@function("skip", 1)
def _skip(ctx: Ctx, focus: list[Any], num: list[Any]) -> list[Any]:
    n = _int_arg(num, "skip")
    return focus if n is None or n <= 0 else focus[n:]


@function("take", 1)
def _take(ctx: Ctx, focus: list[Any], num: list[Any]) -> list[Any]:
    n = _int_arg(num, "take")
    return [] if n is None or n <= 0 else focus[:n]


@function("intersect", 1)
def _intersect(ctx: Ctx, focus: list[Any], other: list[Any]) -> list[Any]:
    return distinct([x for x in focus if contains_item(other, x)])


@function("exclude", 1)
def _exclude(ctx: Ctx, focus: list[Any], other: list[Any]) -> list[Any]:
    return [x for x in focus if not contains_item(other, x)]


@function("union", 1)
def _union(ctx: Ctx, focus: list[Any], other: list[Any]) -> list[Any]:
    return union(focus, other)


@function("combine", 1)
def _combine(ctx: Ctx, focus: list[Any], other: list[Any]) -> list[Any]:
    return focus + other


# -- utility ---------------------------------------------------------------------------------


@function("iif", (2, 3), (0, 1, 2))
def _iif(ctx: Ctx, focus: list[Any], criterion: Fn, then: Fn, otherwise: Fn | None = None) -> list[Any]:
    if len(focus) > 1:
        raise FHIRPathError("iif() on a collection of more than one item")
    saved = ctx.this
    if focus:
        ctx.this = focus
    try:
        cond = criterion(ctx, ctx.this)
        if len(cond) > 1:
            raise FHIRPathError("iif() criterion must be a single Boolean")
        if cond and not isinstance(system_value(cond[0]), bool):
            raise FHIRPathError("iif() criterion must be a Boolean", "semantic")
        if _true(cond):
            return then(ctx, ctx.this)
        return otherwise(ctx, ctx.this) if otherwise is not None else []
    finally:
        ctx.this = saved


@function("not")
def _not(ctx: Ctx, focus: list[Any]) -> list[Any]:
    v = ops.to_boolean(focus)
    return [] if v is None else [not v]


@function("trace", (1, 2), (1,))
def _trace(ctx: Ctx, focus: list[Any], name: Fn, projection: Fn | None = None) -> list[Any]:
    return focus


@function("now")
def _now(ctx: Ctx, focus: list[Any]) -> list[Any]:
    return [current_time(ctx, "dateTime")]


@function("today")
def _today(ctx: Ctx, focus: list[Any]) -> list[Any]:
    return [current_time(ctx, "date")]


@function("timeOfDay")
def _time_of_day(ctx: Ctx, focus: list[Any]) -> list[Any]:
    return [current_time(ctx, "time")]


@function("aggregate", (1, 2), (0, 1))
def _aggregate(ctx: Ctx, focus: list[Any], aggregator: Fn, init: Fn | None = None) -> list[Any]:
    saved = ctx.total
    try:
        ctx.total = init(ctx, ctx.this) if init is not None else []
        for _, r in each(ctx, focus, aggregator):
            ctx.total = r
        return ctx.total
    finally:
        ctx.total = saved


@function("sort", (0, 8), tuple(range(8)))
def _sort(ctx: Ctx, focus: list[Any], *keys: Fn) -> list[Any]:
    import functools

    if not keys:
        values = [(x, [ops.singleton([x])]) for x in focus]
        descending = [False]
    else:
        descending = []
        for k in keys:
            descending.append(getattr(k, "descending", False))
        values = []
        for i, item in enumerate(focus):
            saved_this, saved_index = ctx.this, ctx.index
            ctx.this, ctx.index = [item], i
            try:
                values.append((item, [ops.singleton(k(ctx, [item])) for k in keys]))
            finally:
                ctx.this, ctx.index = saved_this, saved_index

    def cmp(a: tuple[Any, list[Any]], b: tuple[Any, list[Any]]) -> int:
        for va, vb, desc in zip(a[1], b[1], descending, strict=False):
            if va is None and vb is None:
                continue
            if va is None:
                return -1 if desc else 1
            if vb is None:
                return 1 if desc else -1
            c = ops.compare(va, vb) or 0
            if c:
                return -c if desc else c
        return 0

    return [x for x, _ in sorted(values, key=functools.cmp_to_key(cmp))]


# -- tree navigation ------------------------------------------------------------------------


def children_of(item: Any) -> list[Any]:
    from .compiler import _expand

    if item.__class__ is not Node or item.value.__class__ is not dict:
        return []
    out: list[Any] = []
    d = item.value
    for key, value in d.items():
        if key == "resourceType":
            continue
        if key[0] == "_":
            if key[1:] not in d:
                _expand(item, key[1:], None, out)
            continue
        _expand(item, key, value, out)
    return out


@function("children")
def _children(ctx: Ctx, focus: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in focus:
        out.extend(children_of(item))
    return out


@function("descendants")
def _descendants(ctx: Ctx, focus: list[Any]) -> list[Any]:
    out: list[Any] = []
    pending = focus
    while pending:
        found: list[Any] = []
        for item in pending:
            found.extend(children_of(item))
        out.extend(found)
        pending = found
    return out
