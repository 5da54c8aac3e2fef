"""Generated code for the indexer: one function per resource type writes the rows of all
its parameters.

:func:`helseflyt.search.index.index` used to run each plan entry (a distinct expression,
its converters and composites) on its own: the fast path's closures walked the resource
once per expression (~17 walks per resource), and each value went through the generic
converters, which find its FHIR type again for every row. :func:`walker` instead
generates, per resource type and registry generation, the Python source of one function
that does every entry in plan order, with

* the steps of each expression inlined (member, choice element, ``ofType``, ``as``,
  ``where(x='y')``, ``extension('u')``: the subset of :mod:`helseflyt.search.fastpath`),
  each element's FHIR type fixed when the code is generated;
* shared prefixes computed once (``component``, ``value`` for the ``value.ofType(T)``
  parameters and their composites);
* a converter picked per (parameter type, FHIR type): strings, dates, Codings,
  CodeableConcepts, Quantities and References without the generic dispatch.

Composites (:class:`~helseflyt.search.composite.CompositeRows`) get the same per element
type: :func:`component_values` (a component's steps, converter and slot packing) and
:func:`composite_function` (the rows of one element instance).

Exactness: the rows are those of the per-entry path, in the same order. The generated
steps mirror the fast path's (which mirrors the engine's); wherever the fast path
would raise :class:`~helseflyt.search.fastpath.Slow` or meet a case the generator does
not type statically (or ``as`` meets more than one item), the generated code gives up
on that entry *before* writing any of its rows and runs the entry's own path
(:func:`helseflyt.search.index.run_entry`), so the result is the same by
construction. Entries the generator does not cover (no fast path; a choice element
followed by more than ``ofType``; an abstract or unknown element type) always run
their own path. ``tests/unit/search/test_walker.py`` checks rows and order against
that path on Synthea and every official example.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from helseflyt.fhir.fhirpath import Node
from helseflyt.fhir.fhirpath.compiler import _is_choice_key, matches_type
from helseflyt.search import index as ix
from helseflyt.search.fastpath import _ABSTRACT, _child_type, _choices_of
from helseflyt.search.values import date_range, normalise
from helseflyt.storage.base import IndexRow

__all__ = ["Walker", "component_values", "composite_function", "walker"]

# walk(resource, out, run): run[i] tells whether plan entry i can give rows
Walker = Callable[[dict[str, Any], list[IndexRow], tuple[bool, ...]], None]


class _Give(Exception):  # noqa: N818 - a signal, not an error
    """The generated steps met a case they do not model: run the entry's own path."""


_GIVE: Any = object()  # a shared prefix whose steps gave up
_DATES = frozenset({"date", "dateTime", "instant"})
_QUANTITIES = frozenset({"Quantity", "Age", "Count", "Distance", "Duration", "Money", "SimpleQuantity"})

Op = tuple[Any, ...]


def _matches(fhir_type: str, type_name: str) -> bool:
    return matches_type(Node(None, None, None, None, None, fhir_type), type_name, exact=True)


def _ops(res_type: str, steps: tuple[Any, ...]) -> tuple[tuple[Op, ...], str | None] | None:
    """The steps as generator ops, and the FHIR type of the items (None: each item is a
    ``(value, type)`` pair); None when a step cannot be typed statically."""
    t: str | None = res_type
    ops: list[Op] = []
    for step in steps:
        name = getattr(step, "member_name", None)
        if name is not None:
            if t is None or _is_choice_key(Node(None, None, None, None, None, t), name):
                return None  # a choice element's JSON name (valueQuantity): an error in the engine
            ct, choices = _child_type(t, name), _choices_of(t, name)
            if choices is None:
                return None
            if ct is not None:
                if ct in _ABSTRACT or choices:
                    return None
                ops.append(("member", name))
                t = ct
            elif choices and all(c[2] for c in choices):
                ops.append(("choice", name, choices))
                t = None
            else:
                return None
        elif getattr(step, "as_type", None) is not None:
            choice = ops[-1] if ops else None
            if step.as_function != "ofType":
                ops.append(("single",))  # `as` fails on more than one item
            if t is not None:
                ops.append(("keep", _matches(t, step.as_type)))
                continue
            assert choice is not None and choice[0] == "choice"
            choices = choice[2]
            kept = tuple(dict.fromkeys(c[2] for c in choices if _matches(c[2], step.as_type)))
            if len(kept) > 1:
                return None
            if kept:
                ops.append(("oftype", kept[0]))
                t = kept[0]
            else:  # no choice is of that type (`value.as(DateTime)`: System.DateTime): no items
                ops.append(("keep", False))
                t = step.as_type
        elif hasattr(step, "where_eq") and t is not None:
            ops.append(("where", *step.where_eq))
        elif getattr(step, "extension_url", None) is not None and t is not None:
            ops.append(("extension", step.extension_url))
            t = "Extension"
        else:
            return None
    return tuple(ops), t


class _Source:
    """The generated function's source and the objects it names."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"Give": _Give, "GIVE": _GIVE}
        self._ids: dict[int, str] = {}

    def add(self, indent: int, *lines: str) -> None:
        self.lines += ["    " * indent + line for line in lines]

    def name(self, obj: Any, prefix: str = "K") -> str:
        """A global name for ``obj`` (the same object, not a copy: rows keep the plan's strings)."""
        key = id(obj)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = f"{prefix}{len(self._ids)}"
            self.names[found] = obj
        return found


def _step_code(src: _Source, op: Op, inp: str | None, out: str, ind: int) -> None:
    """Code setting ``out`` to the items of ``op`` over the list ``inp`` (None: the resource)."""
    kind = op[0]
    if kind == "single":  # `as` on more than one item: an error, the entry's own path decides
        src.add(ind, f"{out} = {inp or '(r,)'}", f"if len({out}) > 1: raise Give")
        return
    if kind == "keep":
        src.add(ind, f"{out} = {inp or '(r,)'} if {op[1]} else ()")
        return
    if kind == "oftype":
        src.add(ind, f"{out} = [v for v, t in {inp} if t == {op[1]!r}]")
        return
    if kind == "member" and inp is None:  # on the resource: no list to build
        n = op[1]
        src.add(
            ind,
            f"w = r.get({n!r})",
            "if w is None:",
            f"    if {'_' + n!r} in r: raise Give",
            f"    {out} = ()",
            "elif w.__class__ is list:",
            "    if None in w: raise Give",
            f"    {out} = w",
            "else:",
            f"    {out} = (w,)",
        )
        return
    src.add(ind, f"{out} = []")
    if inp is None:
        src.add(ind, "d = r")
    else:
        src.add(ind, f"for d in {inp}:")
        ind += 1
    if kind == "member":
        n = op[1]
        src.add(
            ind,
            "if d.__class__ is dict:",
            f"    w = d.get({n!r})",
            "    if w is None:",
            f"        if {'_' + n!r} in d: raise Give",
            "    elif w.__class__ is list:",
            "        if None in w: raise Give",
            f"        {out} += w",
            "    else:",
            f"        {out}.append(w)",
        )
    elif kind == "choice":
        n, choices = op[1], src.name(op[2], "C")
        src.add(
            ind,
            "if d.__class__ is dict:",
            f"    if d.get({n!r}) is not None or {'_' + n!r} in d: raise Give",
            f"    for k, uk, ct in {choices}:",
            "        w = d.get(k)",
            "        if w is not None:",
            "            if w.__class__ is list:",
            "                if None in w: raise Give",
            f"                {out} += [(x, ct) for x in w]",
            "            else:",
            f"                {out}.append((w, ct))",
            "            break",
            "        if uk in d: raise Give",
        )
    elif kind == "where":
        n, literal = op[1], op[2]
        src.add(
            ind,
            "if d.__class__ is not dict: raise Give",
            f"w = d.get({n!r})",
            "if w is None:",
            f"    if {'_' + n!r} in d: raise Give",
            "elif w.__class__ is not str: raise Give",
            f"elif w == {literal!r}: {out}.append(d)",
        )
    elif kind == "extension":
        src.add(
            ind,
            "if d.__class__ is not dict: raise Give",
            "x = d.get('extension')",
            "if x is not None:",
            "    if x.__class__ is not list: raise Give",
            "    for e in x:",
            f"        if e.__class__ is dict and e.get('url') == {op[1]!r}: {out}.append(e)",
        )
    else:  # pragma: no cover - _ops makes only the kinds above
        raise AssertionError(kind)


def _emit_code(src: _Source, kind: str, code: str, only: Any, items: str, t: str | None, ind: int) -> None:
    """Code appending the rows of a ``kind`` parameter ``code`` for each of ``items``."""
    c, o = src.name(code), src.name(only)
    generic = src.name(ix.CONVERT[kind], "F")
    if t is None:  # (value, type) pairs, as the fast path gives them
        src.add(ind, f"for v in {items}: {generic}({c}, v, {o}, out)")
        return
    typed = f"{generic}({c}, (v, {t!r}), {o}, out)"
    if kind == "token":
        direct = ix.TOKEN_TYPED.get(t)
        if direct is not None:
            src.add(ind, f"for v in {items}: {src.name(direct, 'F')}({c}, v, {o}, out)")
        elif t == "Reference":
            src.add(ind, f"for v in {items}: {typed}")
        else:
            src.add(ind, f"for v in {items}: {src.name(ix.token_value, 'F')}({c}, v, out)")
    elif kind == "reference":
        src.add(ind, f"for v in {items}: {src.name(ix.reference_value, 'F')}({c}, v, {o}, out)")
    elif kind == "string":
        src.add(
            ind,
            f"for v in {items}:",
            f"    if v.__class__ is str: out.append(('string', {c}, normalise(v), v))",
            f"    else: {typed}",
        )
    elif kind == "uri":
        src.add(
            ind,
            f"for v in {items}:",
            f"    if v.__class__ is str: out.append(('uri', {c}, v))",
            f"    else: {typed}",
        )
    elif kind == "date" and t in _DATES:
        src.add(
            ind,
            f"for v in {items}:",
            "    if v.__class__ is str:",
            "        x = date_range(v)",
            f"        if x is not None: out.append(('date', {c}, x[0], x[1]))",
            f"    else: {typed}",
        )
    elif kind == "date" and t == "Period":
        src.add(
            ind,
            f"for v in {items}:",
            "    if v.__class__ is dict:",
            f"        if 'start' in v or 'end' in v: period({c}, v, out)",
            f"    else: {typed}",
        )
    elif kind in ("number", "quantity") and t in _QUANTITIES:
        src.add(
            ind,
            f"for v in {items}:",
            f"    if v.__class__ is dict: number_dict({c}, v, {o}, out)",
            f"    else: {typed}",
        )
    else:
        src.add(ind, f"for v in {items}: {typed}")


def _generate(res_type: str, plan: ix.Plan) -> Walker:
    src = _Source()
    src.names.update(
        normalise=normalise, date_range=date_range, period=ix.period, number_dict=ix.number_dict, E=plan
    )
    src.names["run_entry"] = ix.run_entry
    typed: list[list[tuple[tuple[Op, ...], str | None]] | None] = []
    users: dict[tuple[Op, ...], list[int]] = {}  # prefix -> the entry of each alternative with it
    for i, (_, fast, _, _) in enumerate(plan):
        alts = [_ops(res_type, steps) for steps in fast.alternatives] if fast is not None else [None]
        if any(a is None for a in alts):
            typed.append(None)
            continue
        typed.append(alts)  # type: ignore[arg-type]
        for ops, _ in alts:  # type: ignore[misc]
            for k in range(1, len(ops) + 1):
                users.setdefault(ops[:k], []).append(i)
    # prefixes of more than one alternative, computed once before the entries when one
    # of their entries runs (GIVE: the steps gave up; every such entry runs its own path)
    shared: dict[tuple[Op, ...], str] = {}
    src.add(0, "def walk(r, out, run):")
    for prefix in sorted((p for p, u in users.items() if len(u) > 1), key=len):
        var = shared[prefix] = f"P{len(shared)}"
        parent = shared.get(prefix[:-1])
        src.add(1, f"if {' or '.join(f'run[{i}]' for i in dict.fromkeys(users[prefix]))}:", "    try:")
        if parent is not None:
            src.add(3, f"if {parent} is GIVE: raise Give")
        _step_code(src, prefix[-1], parent, var, 3)
        src.add(2, "except Exception:", f"    {var} = GIVE")
    for i, (entry, alts) in enumerate(zip(plan, typed, strict=True)):
        _, _, emits, composite = entry
        src.add(1, f"if run[{i}]:")
        if alts is None:
            src.add(2, f"run_entry({res_type!r}, E[{i}], r, out)")
            continue
        src.add(2, "try:")
        start = len(src.lines)
        names = []
        for j, (ops, _) in enumerate(alts):
            prev: str | None = None
            for k in range(1, len(ops) + 1):
                var = shared.get(ops[:k])
                if var is None:
                    var = f"a{j}_{k}"
                    _step_code(src, ops[k - 1], prev, var, 3)
                elif ops[: k + 1] not in shared or k == len(ops):  # the longest shared prefix
                    src.add(3, f"if {var} is GIVE: raise Give")
                prev = var
            names.append(prev or "(r,)")
        if len(src.lines) == start:
            src.add(3, "pass")
        src.add(2, "except Exception:", f"    run_entry({res_type!r}, E[{i}], r, out)", "else:")
        src.add(3, f"if {' or '.join(names)}:")
        for emit, code, only in emits:
            kind = ix.KIND_OF[emit]
            for (_, t), items in zip(alts, names, strict=True):
                _emit_code(src, kind, code, only, items, t, 4)
        if composite is not None:
            parts = [
                items if t is None else f"[(v, {t!r}) for v in {items}]"
                for (_, t), items in zip(alts, names, strict=True)
            ]
            src.add(4, f"{src.name(composite, 'X')}(r, {' + '.join(parts)}, out)")
    if not plan:
        src.add(1, "pass")
    namespace = dict(src.names)
    exec(compile("\n".join(src.lines), f"<index walker {res_type}>", "exec"), namespace)  # noqa: S102
    walk: Walker = namespace["walk"]
    walk.source = "\n".join(src.lines)  # type: ignore[attr-defined]
    return walk


def walker(res_type: str, plan: ix.Plan) -> Walker:
    """The generated function of ``res_type``'s plan (cached by the caller, per generation)."""
    return _generate(res_type, plan)


def component_values(
    node_type: str, expression: str, kind: str, table: str | None, pack: Callable[[IndexRow], Any]
) -> Callable[[dict[str, Any]], list[Any]] | None:
    """A generated function giving a composite component's packed values for one element
    instance (a JSON object of ``node_type``): the steps of ``expression``, the ``kind``
    converter and the component's slot packing. It raises where the steps give up; the
    caller then takes the component's own path. None when the steps cannot be generated."""
    from helseflyt.search.fastpath import compile_fast

    fast = compile_fast(node_type, expression)
    alts = [_ops(node_type, steps) for steps in fast.alternatives] if fast is not None else [None]
    if any(a is None for a in alts):
        return None
    src = _Source()
    src.names.update(normalise=normalise, date_range=date_range, period=ix.period, number_dict=ix.number_dict)
    src.names["pack"] = pack
    src.add(0, "def values(r):")
    names = []
    for j, (ops, _) in enumerate(alts):  # type: ignore[misc]
        prev: str | None = None
        for k, op in enumerate(ops, 1):
            _step_code(src, op, prev, f"a{j}_{k}", 1)
            prev = f"a{j}_{k}"
        names.append(prev or "(r,)")
    src.add(1, "out = []")
    for (_, t), items in zip(alts, names, strict=True):  # type: ignore[misc]
        _emit_code(src, kind, "", None, items, t, 1)
    src.add(1, f"return [pack(x) for x in out if x[0] == {table!r} and x[1] == '']")
    namespace = dict(src.names)
    exec(compile("\n".join(src.lines), f"<composite component {node_type} {expression}>", "exec"), namespace)  # noqa: S102
    return namespace["values"]  # type: ignore[no-any-return]


def composite_function(
    shapes: tuple[Any, ...], fallback: Callable[..., list[Any]]
) -> Callable[[dict[str, Any], Any, Any, list[IndexRow]], None]:
    """The rows of one element instance for the composites of a
    :class:`~helseflyt.search.composite.CompositeRows` (``shapes``: its resolved
    shapes for the instance's type) as generated code: ``one(resource, node, value,
    out)``. Each component's values are computed once, in the order and with the
    laziness of the generic loop (a composite stops at its first component without
    values), by its generated function or ``fallback(key, node, resource, False)``."""
    src = _Source()
    src.names["fallback"] = fallback
    slots: dict[Any, int] = {}
    for _, _, components in shapes:
        for key, *_ in components:
            slots.setdefault(key, len(slots))
    src.add(0, "def one(r, node, n, out):")
    if slots:
        src.add(1, " = ".join(f"s{i}" for i in slots.values()) + " = GIVE")
    for head, pad, components in shapes:
        ind = 1
        for key, rel, needs, values_of in components:
            s, own, k = f"s{slots[key]}", "r" if rel else "n", src.name(key)
            src.add(ind, f"if {s} is GIVE:")
            if values_of is None:
                src.add(ind + 1, f"{s} = fallback({k}, node, r, False)")
            else:
                src.add(ind + 1, f"if {own}.__class__ is not dict: {s} = fallback({k}, node, r, False)")
                if needs is not None:
                    src.add(ind + 1, f"elif {own}.keys().isdisjoint({src.name(needs)}): {s} = []")
                src.add(
                    ind + 1,
                    "else:",
                    "    try:",
                    f"        {s} = {src.name(values_of, 'F')}({own})",
                    "    except Exception:",
                    f"        {s} = fallback({k}, node, r, False)",
                )
            src.add(ind, f"if {s}:")
            ind += 1
        for j, (key, *_) in enumerate(components):
            src.add(ind, f"for x{j} in s{slots[key]}:")
            ind += 1
        parts = " + ".join(["()" if not components else f"x{j}" for j in range(max(len(components), 1))])
        src.add(ind, f"out.append({src.name(head)} + {parts} + {src.name(pad)})")
    if not shapes:
        src.add(1, "pass")
    namespace = dict(src.names)
    exec(compile("\n".join(src.lines), "<composite rows>", "exec"), namespace)  # noqa: S102
    return namespace["one"]  # type: ignore[no-any-return]
