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

from dataclasses import replace
from functools import cache
from itertools import product
from typing import Any

from helseflyt.errors import InvalidRequest
from helseflyt.fhir import fhirpath
from helseflyt.fhir.fhirpath import FHIRPathError, Node
from helseflyt.search.fastpath import Fast, Slow, compile_fast
from helseflyt.search.registry import SearchParam
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
_ORDER = ("system1", "value1", "system2", "value2", "number2", "low2", "high2", "number3")
_ROW_COLUMNS = {
    "token": ("system", "value"),
    "number": ("value", "system", "code"),
    "date": ("low", "high"),
    "string": ("norm", "exact"),
    "reference": ("target_type", "target_id", "url"),
}


@cache
def _fast(node_type: str, expression: str) -> Fast | None:
    return compile_fast(node_type, expression) if node_type else None


def _items(expression: str, node: Any, resource: dict[str, Any], res_type: str, engine: bool) -> list[Any]:
    """The items of a component expression for one element instance (``engine``: no
    fast path, for the test that both give the same rows)."""
    if expression.startswith(_RESOURCE):
        expression, node = expression[len(_RESOURCE) :], Node(resource, None, None, None, None, res_type)
    value, node_type = (node.value, node.type) if node.__class__ is Node else (node, "")
    fast = _fast(node_type, expression) if value.__class__ is dict and not engine else None
    if fast is not None:
        try:
            return fast.evaluate(value)
        except Slow:
            pass
    return fhirpath.compile(expression).evaluate_nodes(node)


class CompositeRows:
    """Rows of the composites of one resource type that share an expression."""

    __slots__ = ("params", "res_type")

    def __init__(self, res_type: str, params: tuple[SearchParam, ...]) -> None:
        self.res_type = res_type
        self.params = params

    def __call__(
        self, resource: dict[str, Any], nodes: list[Any], out: list[IndexRow], *, engine: bool = False
    ) -> None:
        from helseflyt.search.index import convert

        for node in nodes:
            seen: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for p in self.params:
                parts = []
                for slot, (kind, expression) in enumerate(p.components):
                    values = seen.get((kind, expression))
                    if values is None:
                        values = seen[(kind, expression)] = []
                        try:
                            items = _items(expression, node, resource, self.res_type, engine)
                        except (FHIRPathError, TypeError, ValueError, KeyError, AttributeError):
                            items = []
                        rows: list[IndexRow] = []
                        for item in items:
                            convert(kind, "", item, rows)
                        table = "number" if kind == "quantity" else kind
                        for row in rows:
                            if row[0] == table and row[1] == "":
                                values.append(dict(zip(_ROW_COLUMNS[table], row[2:], strict=True)))
                    if not values:
                        break
                    parts.append([_slotted(slot, kind, v) for v in values])
                else:
                    for combo in product(*parts):
                        merged: dict[str, Any] = {}
                        for piece in combo:
                            merged.update(piece)
                        out.append(("composite", p.code, *(merged.get(c) for c in _ORDER)))


def _slotted(slot: int, kind: str, values: dict[str, Any]) -> dict[str, Any]:
    columns = _SLOT_COLUMNS[(slot, kind)]
    out: dict[str, Any] = {}
    for column, value in values.items():
        if value is not None and column in columns:
            out[columns[column]] = value
    return out


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
