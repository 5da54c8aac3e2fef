"""Compile each FHIR type into a checker function, once, on first use.

A checker is ``check(obj, path, ctx)``: ``obj`` is the JSON value, ``path`` its FHIRPath
location (e.g. ``Patient.name[0]``), ``ctx`` collects issues. A type compiles to a dict
from JSON key to a field handler ``h(value, obj, path, key, ctx)``; paths of children
are only formatted when a child is an object or an error is reported.

Checkers of other types are reached through one-item lists ("cells") so that recursive
types (Identifier -> Reference -> Identifier) compile lazily. Compilation is
idempotent, so a race between two threads compiling the same type is harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from helseflyt.fhir import model
from helseflyt.fhir.validation import references, resources
from helseflyt.fhir.validation.context import Ctx
from helseflyt.fhir.validation.identifiers import check_identifier
from helseflyt.fhir.validation.invariants import period_rule
from helseflyt.fhir.validation.primitives import Primitive, primitive
from helseflyt.fhir.validation.terminology import Binding, element_binding

Checker = Callable[[Any, str, Ctx], None]
Handler = Callable[[Any, dict, str, str, Ctx], None]

_CELLS: dict[str, list[Checker]] = {}
_LOCAL_REF_TYPES = frozenset({"canonical", "uri", "url"})


def cell(type_name: str) -> list[Checker]:
    """A one-item list holding the checker of ``type_name`` (compiled on first call)."""
    found = _CELLS.get(type_name)
    if found is not None:
        return found
    box: list[Checker] = []

    def trampoline(obj: Any, path: str, ctx: Ctx) -> None:
        box[0] = _compile(type_name)
        box[0](obj, path, ctx)

    box.append(trampoline)
    return _CELLS.setdefault(type_name, box)


def _noop(v: Any, obj: dict, path: str, key: str, ctx: Ctx) -> None:
    return None


def _compile(type_name: str) -> Checker:
    elems = model.elements(type_name)
    if elems is None:  # pragma: no cover - every type code in R4 has a definition
        raise KeyError(f"unknown FHIR type {type_name!r}")
    primitives = model.primitive_types()
    table: dict[str, Handler] = {}
    required: list[tuple[str, tuple[str, ...]]] = []
    choices: dict[str, tuple[str, str]] = {}  # json key -> (element path, key without _)
    for e in elems.values():
        keys: list[str] = []
        for t in e.types if e.choice else e.types[:1]:
            key = e.name + t[0].upper() + t[1:] if e.choice else e.name
            table[key] = _field(e, t)
            keys.append(key)
            if t in primitives:
                table["_" + key] = _companion(e, t)
                keys.append("_" + key)
            if e.choice:
                choices[key] = choices["_" + key] = (e.path, key)
        if e.min > 0:
            required.append((e.path, tuple(keys)))
    if model.type_kind(type_name) == "resource":
        table["resourceType"] = _noop
    post = _extension_rule if type_name == "Extension" else None
    if type_name == "Period":
        post = period_rule
    if type_name == "Identifier":
        post = check_identifier  # Norwegian no-basis identifiers (validation/identifiers.py)
    return _object_checker(type_name, table, tuple(required), choices, post)


def _object_checker(
    type_name: str,
    table: dict[str, Handler],
    required: tuple[tuple[str, tuple[str, ...]], ...],
    choices: dict[str, tuple[str, str]],
    post: Checker | None,
) -> Checker:
    get = table.get
    choice_of = choices.get
    choice_keys = frozenset(choices)
    # Keys whose handler is a plain single string check: done here, without the call
    # (the values known valid first, then the regex).
    simple_get = {k: s for k, h in table.items() if (s := getattr(h, "simple", None))}.get

    def check(obj: Any, path: str, ctx: Ctx) -> None:
        if type(obj) is not dict:
            ctx.add("structure", f"expected a JSON object ({type_name}), got {_kind(obj)}", path)
            return
        if not obj:
            ctx.add("structure", "empty object is not allowed (omit the element)", path)
            return
        for k, v in obj.items():
            s = simple_get(k)
            if s is not None and type(v) is str and v != "" and (v in s[0] or s[1](v) is not None):
                continue  # what the handler would find
            h = get(k)
            if h is None:
                ctx.add("structure", f"unknown element {k!r} in {type_name}", f"{path}.{k}")
            elif v is None:
                ctx.add("structure", "null is not allowed (omit the element)", f"{path}.{k}")
            else:
                h(v, obj, path, k, ctx)
        for element_path, keys in required:
            for k in keys:
                if k in obj:
                    break
            else:
                name = element_path.rsplit(".", 1)[1]
                ctx.add(
                    "required",
                    f"missing required element {name!r} ({element_path} has minimum cardinality 1)",
                    f"{path}.{name.removesuffix('[x]')}",
                )
        if choices and len(obj.keys() & choice_keys) > 1:
            seen: dict[str, str] = {}
            for k in obj:
                c = choice_of(k)
                if c is not None:
                    first = seen.setdefault(c[0], c[1])
                    if first != c[1]:
                        ctx.add(
                            "structure",
                            f"only one of {c[0]} is allowed, found {first!r} and {c[1]!r}",
                            f"{path}.{c[1]}",
                        )
        if post is not None:
            post(obj, path, ctx)

    return check


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a number"


def _field(e: model.Element, t: str) -> Handler:
    if e.max == 0:
        return _prohibited(e)
    many = e.max is None or e.max > 1
    bound = element_binding(e.path, e.binding) if e.binding else None
    if t in model.primitive_types():
        return _primitive_field(e, primitive(t), many, bound, t in _LOCAL_REF_TYPES)
    if t == "Resource":
        return resources.contained_field(e) if e.name == "contained" else resources.field(e, many)
    post = _reference_post(e.target_profiles) if t == "Reference" else None
    if bound is not None:
        post = _concept_post(bound) if t == "CodeableConcept" else _coding_post(bound)
    return _complex_field(e, cell(t), many, post)


def _cardinality(e: model.Element, v: Any, many: bool, path: str, ctx: Ctx) -> bool:
    """Check array-ness and size; False if the items must not be checked further."""
    if not many:
        if type(v) is list:
            ctx.add("structure", f"{e.path} has max cardinality 1: must not be an array", path)
            return False
        return True
    if type(v) is not list:
        ctx.add("structure", f"{e.path} has max cardinality *: must be an array", path)
        return False
    if not v:
        ctx.add("structure", "empty array is not allowed (omit the element)", path)
        return False
    if e.max is not None and len(v) > e.max:
        ctx.add("structure", f"{e.path} allows at most {e.max} items, found {len(v)}", path)
    return True


def _primitive_field(
    e: model.Element, prim: Primitive, many: bool, bound: Binding | None, local: bool
) -> Handler:
    ok = prim.ok

    def bad(v: Any, path: str, ctx: Ctx) -> None:
        code, message = prim.message(v)
        ctx.add(code, message, path)

    def extra(v: Any, path: str, ctx: Ctx) -> None:
        if bound is not None and not bound.code_ok(v):
            ctx.add("code-invalid", f"{v!r} is not in {bound.describe()}", path)
        if local and v[:1] == "#":
            ctx.local_refs.append((v[1:], path, False))

    checks_more = bound is not None or local
    match, seen = prim.match, prim.seen
    if not many and match is not None and not checks_more:
        # The most common case (string, uri, dateTime... without binding), inlined.

        def single_str(v: Any, obj: dict, path: str, key: str, ctx: Ctx) -> None:
            if type(v) is str and v != "" and (v in seen or match(v) is not None):
                return
            if type(v) is list:
                _cardinality(e, v, False, f"{path}.{key}", ctx)
            else:
                bad(v, f"{path}.{key}", ctx)

        single_str.simple = (seen, match)  # type: ignore[attr-defined]  # inlined by _object_checker
        return single_str
    if not many:

        def single(v: Any, obj: dict, path: str, key: str, ctx: Ctx) -> None:
            if ok(v):
                if checks_more:
                    extra(v, f"{path}.{key}", ctx)
            elif type(v) is list:
                _cardinality(e, v, False, f"{path}.{key}", ctx)
            else:
                bad(v, f"{path}.{key}", ctx)

        return single

    def array(v: Any, obj: dict, path: str, key: str, ctx: Ctx) -> None:
        if type(v) is not list or not v:
            _cardinality(e, v, True, f"{path}.{key}", ctx)
            return
        for i, x in enumerate(v):
            if ok(x):
                if checks_more:
                    extra(x, f"{path}.{key}[{i}]", ctx)
            elif x is None:
                ext = obj.get("_" + key)
                if type(ext) is not list or len(ext) <= i or ext[i] is None:
                    ctx.add(
                        "structure",
                        f"null in {key!r} needs a non-null _{key}[{i}] with an id or extension",
                        f"{path}.{key}[{i}]",
                    )
            else:
                bad(x, f"{path}.{key}[{i}]", ctx)
        if e.max is not None and len(v) > e.max:
            _cardinality(e, v, True, f"{path}.{key}", ctx)

    return array


def _prohibited(e: model.Element) -> Handler:
    def handler(v: Any, obj: dict, path: str, key: str, ctx: Ctx) -> None:
        ctx.add("structure", f"{e.path} is not allowed (max cardinality 0)", f"{path}.{key}")

    return handler


def _companion(e: model.Element, t: str) -> Handler:
    """The ``_name`` element carrying a primitive's id and extensions."""
    many = e.max is None or e.max > 1
    element = cell(t)  # the primitive's own element model: id, extension

    def handler(v: Any, obj: dict, path: str, key: str, ctx: Ctx) -> None:
        name = key[1:]
        if not many:
            if type(v) is list:
                _cardinality(e, v, False, f"{path}.{key}", ctx)
            else:
                element[0](v, f"{path}.{name}", ctx)
            return
        if not _cardinality(e, v, True, f"{path}.{key}", ctx):
            return
        values = obj.get(name)
        if values is not None and (type(values) is not list or len(values) != len(v)):
            ctx.add("structure", f"{key!r} must have as many items as {name!r}", f"{path}.{key}")
        for i, x in enumerate(v):
            if x is None:
                if type(values) is not list or len(values) <= i or values[i] is None:
                    ctx.add(
                        "structure",
                        f"null in {key!r} needs a non-null {name}[{i}]",
                        f"{path}.{name}[{i}]",
                    )
            else:
                element[0](x, f"{path}.{name}[{i}]", ctx)

    return handler


def _complex_field(e: model.Element, sub: list[Checker], many: bool, post: Checker | None) -> Handler:
    if not many:

        def single(v: Any, obj: dict, path: str, key: str, ctx: Ctx) -> None:
            p = f"{path}.{key}"
            if type(v) is list:
                _cardinality(e, v, False, p, ctx)
                return
            sub[0](v, p, ctx)
            if post is not None and type(v) is dict:
                post(v, p, ctx)

        return single

    bounded = e.max is not None

    def array(v: Any, obj: dict, path: str, key: str, ctx: Ctx) -> None:
        p = f"{path}.{key}"
        if (type(v) is not list or not v or bounded) and not _cardinality(e, v, True, p, ctx):
            return
        check = sub[0]
        for i, x in enumerate(v):
            q = f"{p}[{i}]"
            check(x, q, ctx)
            if post is not None and type(x) is dict:
                post(x, q, ctx)

    return array


def _extension_rule(obj: dict, path: str, ctx: Ctx) -> None:
    """ext-1: an extension has either nested extensions or a value[x], not both."""
    has_value = any(k.startswith(("value", "_value")) for k in obj)
    has_nested = "extension" in obj
    if has_value and has_nested:
        ctx.add("invalid", "an extension must have either extensions or value[x], not both (ext-1)", path)
    elif not has_value and not has_nested:
        ctx.add("invalid", "an extension must have either extensions or value[x] (ext-1)", path)


def _reference_post(targets: tuple[str, ...]) -> Checker:
    allowed = frozenset(targets) if targets and "Resource" not in targets else None

    def post(obj: dict, path: str, ctx: Ctx) -> None:
        ref = obj.get("reference")
        if type(ref) is not str or not ref:
            return
        kind, what, error = references.classify(ref)
        if error is not None:
            ctx.add("value", f"invalid reference {ref!r}: {error}", f"{path}.reference")
        elif kind == "local":
            ctx.local_refs.append((what or "", f"{path}.reference", True))
        elif allowed is not None and what is not None and what not in allowed:
            ctx.add(
                "value",
                f"reference to {what} is not allowed here (allowed: {', '.join(sorted(allowed))})",
                f"{path}.reference",
            )

    return post


def _coding_post(bound: Binding) -> Checker:
    def post(obj: dict, path: str, ctx: Ctx) -> None:
        if "code" in obj and not bound.coding_ok(obj):
            ctx.add("code-invalid", f"the coding is not in {bound.describe()}", path)

    return post


def _concept_post(bound: Binding) -> Checker:
    def post(obj: dict, path: str, ctx: Ctx) -> None:
        codings = obj.get("coding")
        if type(codings) is list:
            for c in codings:
                if type(c) is dict and bound.coding_ok(c):
                    return
        ctx.add("code-invalid", f"no coding from {bound.describe()}", path)

    return post
