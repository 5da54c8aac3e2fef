"""Turn parsed criteria into a backend-neutral :class:`~helseflyt.storage.query.SearchQuery`.

The FHIR semantics (https://hl7.org/fhir/R4/search.html) live here, as column tests
over the index rows of :mod:`helseflyt.search.index`:

* number/quantity: the search value's precision gives a range ``[lo, hi)``; ``eq`` is
  ``lo <= v < hi``, ``ne`` its negation, ``gt lt ge le`` compare the exact value,
  ``sa``/``eb`` like ``gt``/``lt``, ``ap`` within ±10 %; ``value|system|code``.
* date: both sides are ranges (target ``[low, high]``, search ``[lo, hi]``): ``eq``
  the search range contains the target, ``ne`` not that, ``gt`` high > hi,
  ``lt`` low < lo, ``ge``/``le`` = ``gt``/``lt`` or ``eq``, ``sa`` low > hi, ``eb``
  high < lo, ``ap`` overlaps the search range widened by 10 % of its distance to now.
* string: case/accent-insensitive prefix; ``:exact``; ``:contains``.
* token: ``code``, ``system|code``, ``|code``, ``system|``; ``:not``, ``:text`` (prefix
  on CodeableConcept.text / Coding.display / Identifier.type.text), ``:of-type``;
  ``:in``/``:not-in``/``:below``/``:above`` (:mod:`helseflyt.search.terminology`).
* reference: ``Type/id``, ``id``, absolute URL (this server's base means a local
  reference), ``:[type]``, ``:identifier``.
* uri: exact, ``:below`` (URL prefix at a ``/``), ``:above``.
* any type: ``:missing``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from helseflyt.errors import InvalidRequest
from helseflyt.fhir.model import compartment
from helseflyt.search.conditional import split_escaped, unescape
from helseflyt.search.index import index, reference_parts
from helseflyt.search.interval import interval_drivers
from helseflyt.search.parse import Criterion, Include, ParsedSearch
from helseflyt.search.registry import for_type
from helseflyt.search.terminology import Terminology, subsumption_tests, value_set_tests
from helseflyt.search.values import date_range, decimal_range, normalise
from helseflyt.storage.query import COLUMNS, AnyClause, Chain, Clause, Reverse, SearchQuery, SortKey, Test

__all__ = ["MAX_INCLUDE", "build_query", "clause", "compartment_clause", "include_queries", "sort_values"]

COMPARTMENTS = ("Patient", "Encounter", "RelatedPerson", "Practitioner", "Device")
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_SORT_COLUMN = {
    "token": "value",
    "string": "norm",
    "date": "low",
    "number": "value",
    "quantity": "value",
    "reference": "target_id",
    "uri": "value",
}


def _prefix(value: str) -> tuple[str, str]:
    if len(value) > 2 and value[:2] in _PREFIXES and not value[2].isalpha():
        return value[:2], value[2:]
    return "eq", value


def _bad(c: Criterion, value: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"search parameter {c.text!r}: {value!r} is not {what}")


def _date_tests(c: Criterion, raw: str, low: str, high: str) -> tuple[str, tuple[tuple[Test, ...], ...]]:
    prefix, text = _prefix(raw)
    r = date_range(text)
    if r is None:
        raise _bad(c, raw, "a FHIR date, dateTime or instant")
    lo, hi = r
    # low <= hi follows from low <= high <= hi; stated, it bounds the index range scan
    # on (param, low), so a narrow eq range reads only its own rows at any database size.
    eq = (Test(low, ">=", lo), Test(low, "<=", hi), Test(high, "<=", hi))
    if prefix in ("eq", "ne"):
        return prefix, (eq,)
    if prefix == "gt":
        return prefix, ((Test(high, ">", hi),),)
    if prefix == "lt":
        return prefix, ((Test(low, "<", lo),),)
    if prefix == "ge":
        return prefix, ((Test(high, ">", hi),), eq)
    if prefix == "le":
        return prefix, ((Test(low, "<", lo),), eq)
    if prefix == "sa":
        return prefix, ((Test(low, ">", hi),),)
    if prefix == "eb":
        return prefix, ((Test(high, "<", lo),),)
    now = int(time.time() * 1_000_000)
    gap = max(abs(now - lo) // 10, 86_400_000_000)
    return prefix, ((Test(low, "<=", hi + gap), Test(high, ">=", lo - gap)),)


def _number_tests(c: Criterion, raw: str) -> tuple[str, tuple[Test, ...]]:
    pieces = split_escaped(raw, "|") if c.param.type == "quantity" else [raw]
    if len(pieces) not in (1, 3):
        raise _bad(c, raw, "a quantity (number|system|code)")
    prefix, text = _prefix(pieces[0])
    found = decimal_range(text)
    if found is None:
        raise _bad(c, raw, "a number")
    exact = found[0]
    value, lo, hi = (float(x) for x in found)
    extra: list[Test] = []
    if len(pieces) == 3:
        system, code = unescape(pieces[1]), unescape(pieces[2])
        if system:
            extra.append(Test("system", "=", system))
        if code:
            extra.append(Test("code", "=", code))
    tests: tuple[Test, ...]
    if prefix in ("eq", "ne"):
        tests = (Test("value", ">=", lo), Test("value", "<", hi))
    elif prefix in ("gt", "sa"):
        tests = (Test("value", ">", value),)
    elif prefix in ("lt", "eb"):
        tests = (Test("value", "<", value),)
    elif prefix == "ge":
        tests = (Test("value", ">=", value),)
    elif prefix == "le":
        tests = (Test("value", "<=", value),)
    else:  # ap: ±10 %, exact in decimal before rounding like the stored doubles
        span = abs(exact).scaleb(-1)
        tests = (Test("value", ">=", float(exact - span)), Test("value", "<=", float(exact + span)))
    return prefix, (*tests, *extra)


def _token_tests(c: Criterion, raw: str) -> tuple[Test, ...]:
    pieces = split_escaped(raw, "|")
    if c.modifier == "of-type":
        if len(pieces) != 3:
            raise _bad(c, raw, "system|code|value (for :of-type)")
        system, code, value = (unescape(p) for p in pieces)
        tests = [Test("value", "=", f"{code}|{value}")]
        if system:
            tests.append(Test("system", "=", system))
        return tuple(tests)
    if len(pieces) == 1:
        return (Test("value", "=", unescape(pieces[0])),)
    if len(pieces) != 2:
        raise _bad(c, raw, "a token ([system|]code)")
    system, code = unescape(pieces[0]), unescape(pieces[1])
    if not system and not code:
        raise _bad(c, raw, "a token: give a system, a code or both")
    tests = [Test("value", "=", code)] if code else []
    tests.append(Test("system", "null") if not system else Test("system", "=", system))
    return tuple(tests)


def _reference_tests(c: Criterion, raw: str, base_url: str) -> tuple[Test, ...]:
    value = unescape(raw)
    if base_url and value.startswith(base_url + "/"):
        value = value[len(base_url) + 1 :]
    t, i, url = reference_parts(value)
    if t is None and url is not None and "/" not in value and "://" not in value and ":" not in value:
        t, i, url = None, value, None  # a bare id
    if c.modifier and c.modifier not in ("missing", "identifier"):
        if t is not None and t != c.modifier:
            raise _bad(c, raw, f"a reference to a {c.modifier}")
        t = c.modifier
    if i is not None:
        tests = [Test("target_id", "=", i)]
        if t is not None:
            tests.append(Test("target_type", "=", t))
        return tuple(tests)
    if url is not None:
        return (Test("url", "=", url),)
    raise _bad(c, raw, "a reference (Type/id, id or URL)")


def _uri_tests(c: Criterion, raw: str) -> tuple[tuple[Test, ...], ...]:
    value = unescape(raw)
    if c.modifier == "below":
        return ((Test("value", "=", value),), (Test("value", "prefix", value.rstrip("/") + "/"),))
    if c.modifier == "above":
        parts = value.split("/")
        prefixes = tuple("/".join(parts[:n]) for n in range(len(parts), 2, -1))
        return ((Test("value", "in", prefixes or (value,)),),)
    return ((Test("value", "=", value),),)


def clause(c: Criterion, base_url: str = "", terminology: Terminology | None = None) -> AnyClause:
    """One criterion (its values ORed) as a storage clause, inside its chain if any."""
    out: AnyClause = _terminal(c, base_url, terminology)
    for step in reversed(c.chain):
        if step.kind == "chain":
            out = Chain(step.code, step.types, (out,))
        else:
            out = Reverse(step.types[0], (step.code,), (out,))
    return out


def _terminal(c: Criterion, base_url: str, terminology: Terminology | None = None) -> Clause:
    p = c.param
    code = p.code
    if c.modifier == "missing":
        return Clause(
            _table(p.type, code),
            p.union_of or code,
            ((),),
            negate=c.values[0] == "true" and len(c.values) == 1,
        )
    if p.type == "composite":
        from helseflyt.search.composite import composite_clause

        return composite_clause(c, base_url)
    if code == "_id":
        return Clause("resource", code, tuple((Test("res_id", "=", unescape(v)),) for v in c.values))
    if code == "_lastUpdated":
        return _ranged(c, lambda raw: _date_tests(c, raw, "last_updated", "last_updated"), "resource")
    if p.type == "date":
        return _ranged(c, lambda raw: _date_tests(c, raw, "low", "high"), "date")
    if p.type in ("number", "quantity"):
        return _ranged(c, lambda raw: (lambda r: (r[0], (r[1],)))(_number_tests(c, raw)), "number")
    if p.type == "string":
        if c.modifier == "exact":
            alts = tuple((Test("exact", "=", unescape(v)),) for v in c.values)
        elif c.modifier == "contains":
            alts = tuple((Test("norm", "contains", normalise(unescape(v))),) for v in c.values)
        else:
            alts = tuple((Test("norm", "prefix", normalise(unescape(v))),) for v in c.values)
        return Clause("string", code, alts)
    if p.type == "token":
        if c.modifier == "text":
            alts = tuple((Test("norm", "prefix", normalise(unescape(v))),) for v in c.values)
            return Clause("string", code + ":text", alts)
        if c.modifier in ("in", "not-in"):
            alts = tuple(alt for v in c.values for alt in value_set_tests(c.text, v, terminology))
            return Clause("token", code, alts, negate=c.modifier == "not-in")
        if c.modifier in ("below", "above"):
            alts = tuple(
                alt for v in c.values for alt in subsumption_tests(c.text, c.modifier, v, terminology)
            )
            return Clause("token", code, alts)
        param = code + ":of-type" if c.modifier == "of-type" else code
        alts = tuple(_token_tests(c, v) for v in c.values)
        return Clause("token", param, alts, negate=c.modifier == "not")
    if p.type == "reference":
        if c.modifier == "identifier":
            return Clause("token", code + ":identifier", tuple(_token_tests(c, v) for v in c.values))
        return Clause("reference", code, tuple(_reference_tests(c, v, base_url) for v in c.values))
    if p.type == "uri":
        return Clause("uri", code, tuple(alt for v in c.values for alt in _uri_tests(c, v)))
    raise InvalidRequest(f"search parameter {c.text!r} of type {p.type} is not supported")


def _table(kind: str, code: str) -> str:
    if code in ("_id", "_lastUpdated"):
        return "resource"
    return "number" if kind == "quantity" else kind


def _ranged(c: Criterion, tests: object, table: str) -> Clause:
    """Prefixed values: ``ne`` values must each hold (AND of negations); others OR."""
    alts: list[tuple[Test, ...]] = []
    negated: list[tuple[Test, ...]] = []
    for raw in c.values:
        prefix, found = tests(raw)  # type: ignore[operator]
        (negated if prefix == "ne" else alts).extend(found)
    if negated and alts:
        raise InvalidRequest(
            f"search parameter {c.text!r}: do not mix ne with other prefixes in one value list"
        )
    code = c.param.code
    if negated:
        return Clause(table, code, tuple(negated), negate=True)
    return Clause(table, code, tuple(alts))


def build_query(
    parsed: ParsedSearch,
    res_types: Sequence[str],
    *,
    base_url: str = "",
    total: bool = False,
    total_cap: int | None = None,
    terminology: Terminology | None = None,
) -> SearchQuery:
    """The storage query of a parsed search over ``res_types`` (``terminology``: the
    installed packages' registry, for ``:in``/``:below``/``:above``)."""
    # Several types (system search): a code means the same index rows for each type
    # (the parser checked that every type defines it), so the first type's clauses serve.
    first = res_types[0]
    clauses = tuple(clause(c, base_url, terminology) for c in parsed.criteria[first])
    clauses += interval_drivers(clauses)  # redundant: bounds narrow date ranges
    sort = []
    for code, desc in parsed.sort:
        p = for_type(first)[code]
        if code == "_id":
            sort.append(SortKey("resource", code, "res_id", desc))
        elif code == "_lastUpdated":
            sort.append(SortKey("resource", code, "last_updated", desc))
        else:
            column = "high" if p.type == "date" and desc else _SORT_COLUMN[p.type]
            sort.append(SortKey(_table(p.type, code), code, column, desc))
    cursor = parsed.cursor
    if cursor is not None and len(cursor.keys) != len(sort):
        raise InvalidRequest("_cursor does not belong to this _sort")
    if parsed.contained != "false":
        _check_contained(parsed, clauses)
    return SearchQuery(
        types=tuple(res_types),
        clauses=clauses,
        sort=tuple(sort),
        count=parsed.count,
        cursor=cursor,
        total=total,
        total_cap=total_cap,
        contained=parsed.contained,
        contained_type=parsed.contained_type,
    )


def _check_contained(parsed: ParsedSearch, clauses: Sequence[AnyClause]) -> None:
    """What a search in contained resources cannot do (400): sort (a contained resource
    has no sort keys of its own in the index order), ``_id``/``_lastUpdated``/``_list``
    (columns and lists of stored resources, which contained ones are not)."""
    what = f"_contained={parsed.contained}"
    if parsed.sort or parsed.lists:
        raise InvalidRequest(f"{'_sort' if parsed.sort else '_list'} cannot be combined with {what}")
    for c in clauses:
        if c.table == "resource":
            raise InvalidRequest(f"{c.param} cannot be combined with {what}")


def sort_values(
    sort: Sequence[SortKey], res_type: str, res_id: str, micros: int, resource: Any
) -> tuple[Any, ...]:
    """The sort keys of a stored resource, as the store computes them from its index rows
    (for the cursor of a paging link)."""
    rows = list(index(res_type, resource)) if any(k.table != "resource" for k in sort) else []
    out: list[Any] = []
    for key in sort:
        if key.table == "resource":
            out.append(res_id if key.column == "res_id" else micros)
            continue
        at = 2 + COLUMNS[key.table].index(key.column)
        found = [
            r[at]
            for r in rows
            if isinstance(r, tuple) and r[0] == key.table and r[1] == key.param and r[at] is not None
        ]
        out.append((max(found) if key.descending else min(found)) if found else None)
    return tuple(out)


MAX_INCLUDE = 1000  # included resources per page


def include_queries(inc: Include, sources: Sequence[Any], limit: int) -> list[SearchQuery]:
    """The searches that find what ``inc`` includes for ``sources`` (resource versions
    with ``type`` and ``id``): per source type, the resources they point to
    (``_include``) or the resources of ``inc.source`` pointing to them (``_revinclude``)."""
    by_type: dict[str, list[str]] = {}
    for v in sources:
        if "#" not in v.id:  # a contained match (Container/id#local): no stored resource has its id
            by_type.setdefault(v.type, []).append(v.id)
    out = []
    count = max(limit, 0)
    for res_type, ids in by_type.items():
        these = (Clause("resource", "_id", ((Test("res_id", "in", tuple(ids)),),)),)
        if inc.reverse:
            params = _references(inc.source, inc.code, res_type)
            if params:
                clauses = tuple(Chain(code, (res_type,), these) for code in params)
                for c in clauses:  # one search per parameter: clauses are ANDed
                    out.append(SearchQuery((inc.source,), (c,), count=count))
            continue
        if inc.source not in ("*", res_type):
            continue
        params = _references(res_type, inc.code, inc.target)
        targets = sorted(
            {t for code in params for t in (for_type(res_type)[code].targets or ())}
            if inc.target is None
            else {inc.target}
        )
        if params and targets:
            reverse = Reverse(res_type, params, these, read=True)  # these: the page's own
            out.append(SearchQuery(tuple(targets), (reverse,), count=count))
    return out


def _references(res_type: str, code: str, target: str | None) -> tuple[str, ...]:
    """Reference parameters of ``res_type`` named ``code`` (``*``: all) that may point to
    ``target`` (None: anything)."""
    params = for_type(res_type)
    chosen = params.values() if code == "*" else [params[code]] if code in params else []
    return tuple(
        p.code
        for p in chosen
        if p.type == "reference" and (target is None or not p.targets or target in p.targets)
    )


def compartment_clause(focus: tuple[str, str], res_types: Sequence[str]) -> Clause:
    """Membership of ``res_types`` in the compartment of ``focus`` (e.g. ``("Patient",
    "123")``): one of the type's parameters of the official CompartmentDefinition
    refers to the focal resource. :class:`InvalidRequest` if a type is not a member."""
    kind, focal_id = focus
    try:
        members = compartment(kind)
    except KeyError:
        raise InvalidRequest(f"{kind} is not a compartment (R4 has {', '.join(COMPARTMENTS)})") from None
    pairs: set[tuple[str, str]] = set()
    for res_type in res_types:
        found = tuple(p for p in members.get(res_type, ()) if p in for_type(res_type))
        if not found:
            raise InvalidRequest(f"{res_type} is not in the {kind} compartment")
        pairs.update((res_type, p) for p in found)
    target = (Test("target_type", "=", kind), Test("target_id", "=", focal_id))
    if len(res_types) > 1:  # each type by its own parameters
        return Clause("reference", tuple(sorted(pairs)), (target,))
    return Clause("reference", tuple(sorted(p for _, p in pairs)), (target,))


def compartment_types(kind: str) -> list[str]:
    """The member types of compartment ``kind`` that have a supported linking parameter
    (``Patient/[id]/*``)."""
    try:
        members = compartment(kind)
    except KeyError:
        raise InvalidRequest(f"{kind} is not a compartment (R4 has {', '.join(COMPARTMENTS)})") from None
    return sorted(t for t, params in members.items() if any(p in for_type(t) for p in params))
