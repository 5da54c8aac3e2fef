"""Parse FHIR search parameters (https://hl7.org/fhir/R4/search.html) into criteria.

``parse(pairs, res_types) -> ParsedSearch``: each ``name[:modifier]=value[,value]``
pair becomes a :class:`Criterion` bound to the registry's :class:`SearchParam` (values
split on unescaped commas: OR; repeated names: AND). Result parameters (``_count``,
``_sort``, ``_total``, ``_summary``, ``_elements``, ``_contained``, ``_containedType``,
paging cursors) go to their own
fields. A malformed value raises :class:`InvalidRequest` (400) naming the parameter.
An unknown or unsupported parameter is listed in ``ignored`` (the caller reports it as
a warning, or refuses with 400 under ``Prefer: handling=strict``); it never silently
changes the match.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from helseflyt.errors import InvalidRequest
from helseflyt.fhir.subset import SUMMARY_MODES
from helseflyt.search.conditional import split_escaped, unescape
from helseflyt.search.registry import SearchParam, for_type
from helseflyt.storage.query import Cursor

__all__ = [
    "MAX_COUNT",
    "Criterion",
    "Include",
    "Step",
    "ParsedSearch",
    "decode_cursor",
    "encode_cursor",
    "parse",
]

DEFAULT_COUNT = 50
MAX_COUNT = 1000
_FORMAT = frozenset({"_format", "_pretty"})
_MODIFIERS = {
    "token": {"not", "text", "of-type", "missing", "in", "not-in", "below", "above"},
    "string": {"exact", "contains", "missing"},
    "date": {"missing"},
    "number": {"missing"},
    "quantity": {"missing"},
    "reference": {"missing", "identifier"},  # and :[type]
    "uri": {"above", "below", "missing"},
    "composite": {"missing"},
}
_TOTALS = ("none", "estimate", "accurate")
_CONTAINED = {"_contained": ("false", "true", "both"), "_containedType": ("container", "contained")}


@dataclass(frozen=True, slots=True)
class Step:
    """One link of a chain, outermost first: ``chain`` follows reference ``code`` of the
    current type to ``types``; ``has`` goes back from ``types[0]`` resources whose
    reference ``code`` points to the current type."""

    kind: str  # "chain" | "has"
    code: str
    types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Criterion:
    param: SearchParam
    modifier: str | None
    values: tuple[str, ...]  # raw (still escaped), OR-ed
    text: str  # name[:modifier]=value as given, for the self link
    chain: tuple[Step, ...] = ()  # chained / _has steps before ``param``


@dataclass(frozen=True, slots=True)
class Include:
    """``_include`` (``reverse`` False) or ``_revinclude``: resources of ``source`` point
    with reference ``code`` (``*``: any) to resources of ``target`` (None: any)."""

    source: str  # "*" for _include=*
    code: str
    target: str | None
    iterate: bool
    reverse: bool


@dataclass(slots=True)
class ParsedSearch:
    criteria: dict[str, list[Criterion]] = field(default_factory=dict)  # by resource type
    applied: list[tuple[str, str]] = field(default_factory=list)  # pairs the search used
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    count: int = DEFAULT_COUNT
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (code, descending)
    total: str | None = None
    summary: str | None = None
    elements: tuple[str, ...] = ()
    cursor: Cursor | None = None
    includes: list[Include] = field(default_factory=list)
    lists: list[tuple[str, ...]] = field(default_factory=list)  # _list values (ORed), ANDed
    contained: str = "false"  # _contained: false | true | both
    contained_type: str = "container"  # _containedType: container | contained


def _int(name: str, value: str, high: int) -> int:
    if not value.isdigit() or int(value) > high:
        raise InvalidRequest(f"{name}={value!r} must be a whole number from 0 to {high}")
    return int(value)


def parse(pairs: Sequence[tuple[str, str]], res_types: Sequence[str]) -> ParsedSearch:
    out = ParsedSearch()
    registries = {t: for_type(t) for t in res_types}
    for t in res_types:
        out.criteria[t] = []
    for raw_name, value in pairs:
        if raw_name in _FORMAT or raw_name == "_type":
            continue
        if raw_name == "_count":
            out.count = _int("_count", value, MAX_COUNT)
        elif raw_name == "_sort":
            out.sort = []
            for key in value.split(","):
                code = key.strip()
                desc = code.startswith("-")
                code = code.lstrip("-")
                if not code or any(code not in reg for reg in registries.values()):
                    raise InvalidRequest(
                        f"_sort={value!r}: {code!r} is not a search parameter of {', '.join(res_types)}"
                    )
                if any(reg[code].type == "composite" for reg in registries.values()):
                    raise InvalidRequest(f"_sort={value!r}: composite parameters cannot be sorted on")
                out.sort.append((code, desc))
        elif raw_name == "_total":
            if value not in _TOTALS:
                raise InvalidRequest(f"_total={value!r} must be one of {', '.join(_TOTALS)}")
            out.total = value
        elif raw_name == "_summary":
            out.summary = summary_mode(value)
        elif raw_name in _CONTAINED:
            if value not in _CONTAINED[raw_name]:
                raise InvalidRequest(f"{raw_name}={value!r} must be one of {', '.join(_CONTAINED[raw_name])}")
            if raw_name == "_contained":
                out.contained = value
            else:
                out.contained_type = value
        elif raw_name == "_elements":
            out.elements = element_names(value)
        elif raw_name.partition(":")[0] in ("_include", "_revinclude"):
            name, _, mod = raw_name.partition(":")
            if mod not in ("", "iterate", "recurse"):
                raise InvalidRequest(f"{raw_name}: the only modifier is :iterate")
            out.includes.append(_include(name, value, mod != "", res_types))
        elif raw_name == "_list":
            if value == "" or "" in split_escaped(value, ","):
                raise InvalidRequest(f"_list={value!r} has an empty value")
            out.lists.append(tuple(split_escaped(value, ",")))
        elif raw_name == "_cursor":
            out.cursor = decode_cursor(value)
            continue
        else:
            _criterion(out, registries, raw_name, value)
            continue
        out.applied.append((raw_name, value))
    check_subset(out.summary, out.elements)
    return out


def summary_mode(value: str) -> str:
    if value not in SUMMARY_MODES:
        raise InvalidRequest(f"_summary={value!r} must be one of {', '.join(SUMMARY_MODES)}")
    return value


def element_names(value: str) -> tuple[str, ...]:
    return tuple(e.strip() for e in value.split(",") if e.strip())


def check_subset(summary: str | None, elements: tuple[str, ...]) -> None:
    """``_summary`` (other than ``false``/``count``) and ``_elements`` exclude each other
    (as in HAPI FHIR: "Cannot combine the _summary and _elements parameters")."""
    if elements and summary not in (None, "false", "count"):
        raise InvalidRequest(f"_summary={summary} cannot be combined with _elements")


def _include(name: str, value: str, iterate: bool, res_types: Sequence[str]) -> Include:
    from helseflyt.interactions.types import is_resource_type

    reverse = name == "_revinclude"
    if value == "*" and not reverse:
        return Include("*", "*", None, iterate, False)
    parts = value.split(":")
    if len(parts) not in (2, 3) or not is_resource_type(parts[0]):
        raise InvalidRequest(f"{name}={value!r} must be Type:parameter[:targetType]")
    source, code = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if target is not None and not is_resource_type(target):
        raise InvalidRequest(f"{name}={value!r}: {target!r} is not a resource type")
    if code != "*":
        p = for_type(source).get(code)
        if p is None or p.type != "reference":
            raise InvalidRequest(f"{name}={value!r}: {code!r} is not a reference parameter of {source}")
    if not iterate and not reverse and source not in res_types:
        raise InvalidRequest(f"{name}={value!r}: {source} is not searched here (use :iterate)")
    return Include(source, code, target, iterate, reverse)


def _resolve(res_type: str, name: str) -> tuple[tuple[Step, ...], str, str]:
    """Chain steps, the final type and the final parameter name[:modifier] of ``name``;
    :class:`InvalidRequest` if a step does not resolve."""
    if name.startswith("_has:"):
        pieces = name.split(":", 3)
        if len(pieces) != 4:
            raise InvalidRequest(f"{name}: _has takes _has:Type:reference:parameter")
        _, source, code, rest = pieces
        p = for_type(source).get(code) if source in _types() else None
        if p is None or p.type != "reference":
            raise InvalidRequest(f"{name}: {code!r} is not a reference parameter of {source!r}")
        if p.targets and res_type not in p.targets:
            raise InvalidRequest(f"{name}: {source}.{code} does not refer to {res_type}")
        steps, final, last = _resolve(source, rest)
        return (Step("has", code, (source,)), *steps), final, last
    head, dot, rest = name.partition(".")
    if not dot:
        return (), res_type, name
    code, _, target = head.partition(":")
    p = for_type(res_type).get(code)
    if p is None or p.type != "reference":
        raise InvalidRequest(f"{name}: {code!r} is not a reference parameter of {res_type}")
    next_name = rest.split(".", 1)[0].split(":", 1)[0]
    if target:
        if target not in _types() or (p.targets and target not in p.targets):
            raise InvalidRequest(f"{name}: {res_type}.{code} does not refer to {target!r}")
        targets = (target,)
    else:
        targets = tuple(t for t in (p.targets or ()) if next_name == "_has" or next_name in for_type(t))
    if not targets:
        raise InvalidRequest(f"{name}: no target type of {res_type}.{code} has a parameter {next_name!r}")
    last_steps: list[tuple[tuple[Step, ...], str, str]] = [_resolve(t, rest) for t in targets]
    inner, final, last = last_steps[0]
    if len(targets) > 1:
        kinds = {for_type(t)[last.split(":")[0]].type for t in targets if not inner}
        if inner or len(kinds) > 1:
            raise InvalidRequest(f"{name}: ambiguous; name the target type ({code}:Type.{rest})")
        final = targets[0]
    return (Step("chain", code, targets), *inner), final, last


def _types() -> frozenset[str]:
    from helseflyt.interactions.types import resource_types

    return frozenset(resource_types())


def _criterion(
    out: ParsedSearch, registries: dict[str, dict[str, SearchParam]], raw_name: str, value: str
) -> None:
    chains: dict[str, tuple[Step, ...]] = {}
    if "." in raw_name or raw_name.startswith("_has:"):
        finals = {}
        for t in registries:
            steps, final, last = _resolve(t, raw_name)
            chains[t], finals[t] = steps, final
        last_name = last
        registries = {t: for_type(finals[t]) for t in registries}
    else:
        last_name = raw_name
    name, _, modifier = last_name.partition(":")
    if name.startswith("_") and name not in (
        "_id",
        "_lastUpdated",
        "_tag",
        "_profile",
        "_security",
        "_source",
    ):
        out.ignored.append((raw_name, f"{name} is not supported yet"))
        return
    params = {t: reg.get(name) for t, reg in registries.items()}
    if any(p is None for p in params.values()):
        missing = [t for t, p in params.items() if p is None]
        out.ignored.append((raw_name, f"unknown search parameter {name!r} for {', '.join(missing)}"))
        return
    first = next(iter(params.values()))
    assert first is not None
    mod = modifier or None
    if mod is not None and mod not in _MODIFIERS[first.type]:
        if not (first.type == "reference" and mod[:1].isupper()):
            raise InvalidRequest(f"modifier :{mod} is not supported for {first.type} parameter {name!r}")
    if value == "":
        raise InvalidRequest(f"search parameter {raw_name!r} has an empty value")
    values = tuple(split_escaped(value, ","))
    if any(v == "" for v in values):
        raise InvalidRequest(f"search parameter {raw_name!r} has an empty value in {value!r}")
    if mod == "missing" and any(v not in ("true", "false") for v in values):
        raise InvalidRequest(f"{raw_name}={value!r}: :missing takes true or false")
    for t, p in params.items():
        assert p is not None
        out.criteria[t].append(Criterion(p, mod, values, raw_name, chains.get(t, ())))
    out.applied.append((raw_name, value))


def encode_cursor(cursor: Cursor) -> str:
    """The ``_cursor`` value of a paging link: the sort keys and type/id, opaque."""
    data = orjson.dumps(["b" if cursor.backward else "a", cursor.type, cursor.id, *cursor.keys])
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_cursor(value: str) -> Cursor:
    try:
        data: Any = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        direction, t, i, *keys = data
        if direction not in ("a", "b") or not isinstance(t, str) or not isinstance(i, str):
            raise ValueError(value)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise InvalidRequest(f"_cursor={value!r} is not a cursor of this server") from exc
    return Cursor(tuple(keys), t, i, direction == "b")


def unescaped(value: str) -> str:
    return unescape(value)
