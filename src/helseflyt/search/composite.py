"""Composite search parameters (https://hl7.org/fhir/R4/search.html#composite).

A composite such as ``Observation?component-code-value-quantity=http://loinc.org|8480-6$gt100``
matches when *one* element instance (here one ``Observation.component``) has values of
all components that match their part of the search value. The index therefore keeps
one ``composite_index`` row per element instance and combination of its component
values (slots: see :data:`helseflyt.search.registry.COMPOSITE_SLOTS` and migration
``005_composite.sql``), and a query tests all parts on the same row.

* Indexing (:class:`CompositeRows`): the composite's expression gives the element
  instances; each component's expression (relative to the instance; ``%resource.``
  relative to the resource) gives its values, converted by the indexer's typed
  converters (token, quantity, date, string, reference).
* Querying (:func:`composite_clause`): the value is split on unescaped ``$``; each part
  has the semantics of its component's type (token forms, number/quantity and date
  prefixes, string prefix, reference forms), and the alternatives of the parts are
  combined on the same row. ``ne`` becomes "outside the range" on that row.
* A composite whose expression is a union of other composites' expressions with the
  same components (``combo-code-value-quantity``) has no rows of its own: it is
  queried through the others (:attr:`SearchParam.union_of`), which saves index writes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from itertools import product
from typing import Any

from helseflyt.errors import InvalidRequest
from helseflyt.fhir import fhirpath
from helseflyt.fhir.fhirpath import FHIRPathError, Node
from helseflyt.search.fastpath import Fast, Slow, _choices_of, compile_fast
from helseflyt.search.registry import SearchParam, _split_union
from helseflyt.storage.base import IndexRow
from helseflyt.storage.query import Clause, Test

__all__ = ["CompositeRows", "composite_clause"]

_RESOURCE = "%resource."

# index row of a component -> its values in slot order
_SLOT_COLUMNS: dict[tuple[int, str], dict[str, str]] = {
    (0, "token"): {"system": "system1", "value": "value1"},
    (0, "reference"): {"target_type": "system1", "target_id": "value1", "url": "value1"},
    (1, "token"): {"system": "system2", "value": "value2"},
    (1, "number"): {"value": "number2", "system": "system2", "code": "value2"},
    (1, "quantity"): {"value": "number2", "system": "system2", "code": "value2"},
    (1, "date"): {"low": "low2", "high": "high2"},
    (1, "string"): {"norm": "value2", "exact": "system2"},
    (2, "number"): {"value": "number3"},
}


@cache
def _fast(node_type: str, expression: str) -> Fast | None:
    return compile_fast(node_type, expression) if node_type else None


_CHOICE_AS = re.compile(r"^([a-z][A-Za-z0-9]*)\.as\(([A-Za-z]+)\)$")


@cache
def _needs(node_type: str, expression: str) -> frozenset[str] | None:
    """Keys of which an element must have one for ``expression`` to give anything
    (``value.as(Quantity)``: ``valueQuantity``), or None when not known. A cheap check
    before the evaluation: most Observations have one kind of value of four."""
    keys: set[str] = set()
    for part in _split_union(expression):
        m = _CHOICE_AS.match(part)
        if m is not None and _choices_of(node_type, m.group(1)):  # a choice element
            key = m.group(1) + m.group(2)[0].upper() + m.group(2)[1:]
            keys.update((key, "_" + key))
            continue
        fast = _fast(node_type, part)
        if fast is None or fast.trigger is None:
            return None
        keys |= fast.trigger
    return frozenset(keys)


def _items(expression: str, node: Any, resource: dict[str, Any], res_type: str, engine: bool) -> list[Any]:
    """The items of a component expression for one element instance (``engine``: no
    fast path, for the test that both give the same rows)."""
    if expression.startswith(_RESOURCE):
        expression, node = expression[len(_RESOURCE) :], Node(resource, None, None, None, None, res_type)
    value, node_type = (node.value, node.type) if node.__class__ is Node else (node, "")
    if value.__class__ is dict and not engine:
        needs = _needs(node_type, expression)
        if needs is not None and needs.isdisjoint(value):
            return []
    fast = _fast(node_type, expression) if value.__class__ is dict and not engine else None
    if fast is not None:
        try:
            return fast.items(value)  # (value, type) pairs, as the indexer's converters take
        except Slow:
            pass
    return fhirpath.compile(expression).evaluate_nodes(node)


class CompositeRows:
    """Rows of the composites of one resource type that share an expression."""

    __slots__ = ("_one", "_resolved", "params", "res_type", "shapes")

    def __init__(self, res_type: str, params: tuple[SearchParam, ...]) -> None:
        self.res_type = res_type
        self.params = params
        # per composite: its row head, padding and (slot, kind, expression, table, pack)s
        self.shapes = tuple(
            (
                ("composite", p.code),
                (None,) * (8 - sum(_WIDTH[: len(p.components)])),
                tuple(
                    (slot, kind, e, _TABLE.get(kind), _PACK.get((slot, kind)))
                    for slot, (kind, e) in enumerate(p.components)
                ),
            )
            for p in params
        )
        self._resolved: dict[str | None, tuple[Any, ...]] = {}  # see _resolve
        self._one: dict[str | None, Any] = {}  # node type -> walker.composite_function

    def _resolve(self, node_type: str | None) -> tuple[Any, ...]:
        """:attr:`shapes` for element instances of ``node_type``, each component with
        what :func:`_items` would look up for it: its key in the per-instance cache,
        whether it starts at the resource, its key precheck and its generated values
        function (:func:`helseflyt.search.walker.component_values`; None: none)."""
        from helseflyt.search.walker import component_values, composite_function

        resolved = []
        for head, pad, components in self.shapes:
            comps = []
            for slot, kind, expression, table, pack in components:
                rel = expression.startswith(_RESOURCE)
                own_type = self.res_type if rel else node_type
                own = expression[len(_RESOURCE) :] if rel else expression
                needs = _needs(own_type, own) if own_type else None
                values = component_values(own_type, own, kind, table, pack) if own_type else None
                comps.append(((slot, kind, expression), rel, needs, values))
            resolved.append((head, pad, tuple(comps)))
        found = self._resolved[node_type] = tuple(resolved)
        self._one[node_type] = composite_function(found, self._values)  # after _resolved: threads
        return found

    def __call__(
        self,
        resource: dict[str, Any],
        nodes: list[Any],
        out: list[IndexRow],
        *,
        engine: bool = False,
        generated: bool = True,
    ) -> None:
        """Append the composite rows of ``nodes`` (the element instances). ``engine``:
        components by the FHIRPath engine only; ``generated``: False to leave out the
        generated values functions (the tests compare both)."""
        for node in nodes:
            if node.__class__ is tuple:  # (value, type) from the indexer's fast path
                value, node_type = node[0], node[1] or None
            else:
                value, node_type = node.value, node.type
            if generated and not engine:
                one = self._one.get(node_type)
                if one is None:
                    self._resolve(node_type)
                    one = self._one[node_type]
                one(resource, node, value, out)
                continue
            shapes = self._resolved.get(node_type)
            if shapes is None:
                shapes = self._resolve(node_type)
            seen: dict[tuple[int, str, str], list[tuple[Any, ...]]] = {}
            for head, pad, components in shapes:
                parts = []
                for key, rel, needs, values_of in components:
                    values = seen.get(key)
                    if values is None:
                        own = resource if rel else value
                        if engine or own.__class__ is not dict or values_of is None or not generated:
                            values = self._values(key, node, resource, engine)
                        elif needs is not None and own.keys().isdisjoint(needs):
                            values = []
                        else:
                            try:
                                values = values_of(own)
                            except Exception:  # noqa: BLE001 - the component's own path decides
                                values = self._values(key, node, resource, engine)
                        seen[key] = values
                    if not values:
                        break
                    parts.append(values)
                else:
                    for combo in product(*parts):
                        out.append(head + sum(combo, ()) + pad)

    def _values(
        self, key: tuple[int, str, str], node: Any, resource: dict[str, Any], engine: bool
    ) -> list[tuple[Any, ...]]:
        """A component's values for one element instance by :func:`_items` (key precheck,
        fast path, engine) and the indexer's converter, packed for its slot."""
        from helseflyt.search.index import convert

        slot, kind, expression = key
        if node.__class__ is tuple:
            node = Node(node[0], None, None, None, None, node[1] or "")
        try:
            items = _items(expression, node, resource, self.res_type, engine)
        except (FHIRPathError, TypeError, ValueError, KeyError, AttributeError):
            return []
        if not items:
            return []
        rows: list[IndexRow] = []
        for item in items:
            convert(kind, "", item, rows)
        table, pack = _TABLE.get(kind), _PACK.get((slot, kind))
        return [pack(r) for r in rows if r[0] == table and r[1] == ""]


_TABLE = {"token": "token", "reference": "reference", "quantity": "number", "number": "number"}
_TABLE.update(date="date", string="string")
_WIDTH = (2, 5, 1)  # columns per slot, in _ORDER
# a component's index row -> its slot's columns in _ORDER (mirrors _SLOT_COLUMNS)
_PACK: dict[tuple[int, str], Callable[[IndexRow], tuple[Any, ...]]] = {
    (0, "token"): lambda r: (r[2], r[3]),
    (0, "reference"): lambda r: (r[2], r[3] if r[3] is not None else r[4]),
    (1, "token"): lambda r: (r[2], r[3], None, None, None),
    (1, "number"): lambda r: (r[3], r[4], r[2], None, None),
    (1, "quantity"): lambda r: (r[3], r[4], r[2], None, None),
    (1, "date"): lambda r: (None, None, None, r[2], r[3]),
    (1, "string"): lambda r: (r[3], r[2], None, None, None),
    (2, "number"): lambda r: (r[2],),
}


# -- query -------------------------------------------------------------------------------

_RANGE_NEGATION = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def _outside(tests: tuple[Test, ...]) -> tuple[tuple[Test, ...], ...]:
    """Alternatives for "not within" a range conjunction; other tests must still hold."""
    ranged = [t for t in tests if t.column in ("value", "low", "high") and t.op in _RANGE_NEGATION]
    rest = tuple(t for t in tests if t not in ranged)
    return tuple((Test(t.column, _RANGE_NEGATION[t.op], t.value), *rest) for t in ranged)


def _part(c: Any, kind: str, raw: str, base_url: str) -> tuple[tuple[Test, ...], ...]:
    """Alternatives (in index-table columns) of one part of a composite value."""
    from helseflyt.search import plan

    sub = replace(c, param=replace(c.param, type=kind), modifier=None)
    if kind == "token":
        return (plan._token_tests(sub, raw),)
    if kind == "reference":
        return (plan._reference_tests(sub, raw, base_url),)
    if kind == "string":
        from helseflyt.search.conditional import unescape
        from helseflyt.search.values import normalise

        return ((Test("norm", "prefix", normalise(unescape(raw))),),)
    if kind == "date":
        prefix, alts = plan._date_tests(sub, raw, "low", "high")
        return _outside(alts[0]) if prefix == "ne" else alts
    prefix, tests = plan._number_tests(sub, raw)
    return _outside(tests) if prefix == "ne" else (tests,)


def composite_clause(c: Any, base_url: str = "") -> Clause:
    """The clause of a composite criterion (values ORed; parts ANDed on one row)."""
    from helseflyt.search.conditional import split_escaped

    p: SearchParam = c.param
    alternatives: list[tuple[Test, ...]] = []
    for raw in c.values:
        parts = split_escaped(raw, "$")
        if len(parts) != len(p.components):
            raise InvalidRequest(
                f"search parameter {c.text!r}: {raw!r} must have {len(p.components)} parts separated by '$'"
            )
        per_part = []
        for slot, ((kind, _), part) in enumerate(zip(p.components, parts, strict=True)):
            if part == "":
                raise InvalidRequest(f"search parameter {c.text!r}: {raw!r} has an empty part")
            columns = _SLOT_COLUMNS[(slot, kind)]
            per_part.append(
                [
                    tuple(Test(columns[t.column], t.op, t.value) for t in alt)
                    for alt in _part(c, kind, part, base_url)
                ]
            )
        for combo in product(*per_part):
            alternatives.append(tuple(t for alt in combo for t in alt))
    return Clause("composite", p.union_of or p.code, tuple(alternatives))
