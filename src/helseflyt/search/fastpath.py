"""Plain dict walks for the simple search parameter expressions (the indexer's fast path).

Nearly all official R4 SearchParameter expressions (1,510 of the 1,578 distinct ones,
after :func:`helseflyt.search.registry.patch_expression`) are unions of simple paths:
``Observation.subject``, ``Patient.name``, ``(Observation.effective as dateTime)``,
``Patient.telecom.where(system='phone')``, ``Observation.extension('url')``,
``Observation.component.value.ofType(Quantity)``.
:func:`compile_fast` turns such an expression into a function that walks the resource's
dicts and lists directly and returns the same items the FHIRPath engine would
(:class:`~helseflyt.fhir.fhirpath.Node` with the same value and FHIR type), several
times faster: no context, no lazily typed parent chain, no generic dispatch.

Exactness: each step mirrors the engine's member navigation (choice elements by the
model's keys, ``Resource``-typed elements by their ``resourceType``), ``as`` and
``as()`` raise on more than one item as the engine does (``ofType()`` does not), and ``where(name='literal')``
compares a single string. Anything the walk does not model exactly (a primitive that
has only its ``_name`` extension companion, a ``where`` over a repeating or complex
element, an unknown model) raises :class:`Slow`, and the caller evaluates that
expression with the engine for that resource. A union may keep duplicates that the
engine's ``|`` removes; :func:`helseflyt.search.index.index` dedupes its rows anyway.
Expressions outside the subset get ``None`` and always use the engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from helseflyt.fhir.fhirpath import FHIRPathError, Node
from helseflyt.fhir.fhirpath.compiler import _choices, _is_choice_key, matches_type
from helseflyt.fhir.fhirpath.typeinfo import info

__all__ = ["Fast", "Slow", "compile_fast"]

Item = tuple[Any, str | None]  # (JSON value, FHIR type or None)
Step = Callable[[list[Item]], list[Item]]


class Slow(Exception):  # noqa: N818 - a signal, not an error
    """The walk met a case it does not model exactly: use the engine."""


_NAME = r"[a-z][A-Za-z0-9_]*"
_TYPE = r"[A-Za-z][A-Za-z0-9_.]*"
_STEP = re.compile(
    rf"\.(?:(?P<member>{_NAME})(?![A-Za-z0-9_(])"
    rf"|where\((?P<wname>[a-z][a-z0-9]*)\s*=\s*'(?P<wlit>[^'\\]*)'\)"
    rf"|extension\('(?P<url>[^'\\]*)'\)"
    rf"|(?P<fn>as|ofType)\((?P<astype>{_TYPE})\))"
)
_HEAD = re.compile(rf"^(?:\((?P<inner>[^()]*?) as (?P<optype>{_TYPE})\)|(?P<plain>[^()]*?(?=\.|$)))")
_ROOT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*")
_ABSTRACT = ("Resource", "DomainResource")
_UNSET: Any = object()


_CHILD: dict[tuple[str | None, str], str | None] = {}
_CHOICES: dict[tuple[str | None, str], Any] = {}


def _child_type(parent: str | None, key: str) -> str | None:
    try:
        return _CHILD[(parent, key)]
    except KeyError:
        t = _CHILD[(parent, key)] = info().child_type(parent, key)
        return t


def _choices_of(parent: str | None, name: str) -> Any:
    try:
        return _CHOICES[(parent, name)]
    except KeyError:
        c = _CHOICES[(parent, name)] = _choices(parent, name)
        return c


def _type_for(parent: str | None, key: str, value: Any) -> str | None:
    """The FHIR type the engine gives ``parent[key]`` (see ``Node.type``)."""
    t = _child_type(parent, key)
    if (t is None or t in _ABSTRACT) and value.__class__ is dict:
        t = value.get("resourceType", t)
    return t


def _expand(value: Any, parent: str | None, key: str, out: list[Item], choice_type: str | None) -> None:
    if value.__class__ is list:
        for v in value:
            if v is None:
                raise Slow  # an element with only its _key companion
            out.append((v, choice_type if choice_type is not None else _type_for(parent, key, v)))
    else:
        out.append((value, choice_type if choice_type is not None else _type_for(parent, key, value)))


def _root_keys(res_type: str, steps: list[Step]) -> frozenset[str] | None:
    """The top-level keys without which the alternative is empty (None: unknown)."""
    first = steps[0] if steps else None
    name = getattr(first, "member_name", None)
    if name is not None:
        # a choice element then as/ofType(T) (``value.ofType(Quantity)``): only the
        # choice keys of type T can give items (the type is the key's, not the value's)
        as_type = getattr(steps[1], "as_type", None) if len(steps) > 1 else None
        keys = {name, "_" + name}
        for key, ukey, ctype in _choices_of(res_type, name) or ():
            typed = Node(None, None, None, None, None, ctype)
            if as_type is None or matches_type(typed, as_type, exact=True):
                keys.update((key, ukey))
        return frozenset(keys)
    if getattr(first, "extension_url", None) is not None:
        return frozenset(("extension",))
    return None


def _member(name: str) -> Step:
    uname = "_" + name
    maybe_choice = any(c.isupper() for c in name)

    typed: dict[str | None, str | None] = {}  # parent type -> child type, if not abstract
    choices_of: dict[str | None, Any] = {}  # parent type -> its choices named ``name``

    def member(items: list[Item]) -> list[Item]:
        out: list[Item] = []
        for d, t in items:
            if d.__class__ is not dict:
                continue
            value = d.get(name)
            if value is not None:
                if maybe_choice and _is_choice_key(Node(d, None, None, None, None, t or ""), name):
                    raise FHIRPathError(f"'{name}' is the JSON name of a choice element", "semantic")
                ct = typed.get(t, _UNSET)
                if ct is _UNSET:
                    ct = _child_type(t, name)
                    ct = typed[t] = None if ct is None or ct in _ABSTRACT else ct
                if ct is None:  # the value's resourceType decides
                    _expand(value, t, name, out, None)
                elif value.__class__ is list:
                    for v in value:
                        if v is None:
                            raise Slow  # an element with only its _key companion
                        out.append((v, ct))
                else:
                    out.append((value, ct))
                continue
            if uname in d:
                raise Slow
            choices = choices_of.get(t, _UNSET)
            if choices is _UNSET:
                choices = choices_of[t] = _choices_of(t, name)
            if choices is None:
                raise Slow  # no model
            for key, ukey, ctype in choices:
                value = d.get(key)
                if value is not None:
                    _expand(value, t, key, out, ctype)
                    break
                if ukey in d:
                    raise Slow
        return out

    member.member_name = name  # type: ignore[attr-defined]
    return member


def _as(type_name: str, function: str | None) -> Step:
    """``ofType(T)``, ``as(T)`` (``function`` "as") or ``as T`` (``function`` None)."""

    def as_(items: list[Item]) -> list[Item]:
        if function != "ofType" and len(items) > 1:
            raise FHIRPathError("as() needs a single item" if function else "'as' needs a single item")
        return [
            (v, t)
            for v, t in items
            if matches_type(Node(v, None, None, None, None, t or ""), type_name, exact=True)
        ]

    as_.as_type = type_name  # type: ignore[attr-defined]
    as_.as_function = function  # type: ignore[attr-defined]
    return as_


def _where_eq(name: str, literal: str) -> Step:
    def where(items: list[Item]) -> list[Item]:
        out = []
        for d, t in items:
            if d.__class__ is not dict:
                raise Slow
            v = d.get(name)
            if v is None:
                if "_" + name in d:
                    raise Slow
                continue
            if v.__class__ is not str:
                raise Slow  # a repeating or complex element: the engine decides
            if v == literal:
                out.append((d, t))
        return out

    where.where_eq = (name, literal)  # type: ignore[attr-defined]
    return where


def _extension(url: str) -> Step:
    def extension(items: list[Item]) -> list[Item]:
        out: list[Item] = []
        for d, _ in items:
            if d.__class__ is not dict:
                raise Slow  # a primitive's extensions live in its _key companion
            exts = d.get("extension")
            if exts is None:
                continue
            if exts.__class__ is not list:
                raise Slow
            for e in exts:
                if e.__class__ is dict and e.get("url") == url:
                    out.append((e, "Extension"))
        return out

    extension.extension_url = url  # type: ignore[attr-defined]
    return extension


def _steps(text: str, steps: list[Step]) -> bool:
    """Append the steps of ``.a.b.where(...)...``; False if ``text`` is not all steps."""
    pos = 0
    while pos < len(text):
        m = _STEP.match(text, pos)
        if m is None:
            return False
        if m["member"]:
            steps.append(_member(m["member"]))
        elif m["wname"]:
            steps.append(_where_eq(m["wname"], m["wlit"]))
        elif m["url"] is not None:
            steps.append(_extension(m["url"]))
        else:
            if "." in m["astype"]:
                return False
            steps.append(_as(m["astype"], m["fn"]))
        pos = m.end()
    return True


def _path(res_type: str, text: str) -> list[Step] | None:
    """The steps of one union alternative, or None if it is not in the subset."""
    text = text.strip()
    head = _HEAD.match(text)
    if head is None:
        return None
    path = head["inner"] if head["inner"] is not None else head["plain"]
    rest = text[head.end() :]
    root = _ROOT.match(path)
    if root is None:
        return None
    steps: list[Step] = []
    first = root.group(0)
    if first[:1].isupper():
        if first != res_type:
            return None
        tail = path[root.end() :]
    else:
        tail = "." + path
    if not _steps(tail, steps):
        return None
    if head["optype"] is not None:
        if "." in head["optype"]:
            return None
        steps.append(_as(head["optype"], None))
    if not _steps(rest, steps):
        return None
    return steps


def _walk(res_type: str, steps: tuple[Step, ...]) -> Callable[[dict[str, Any]], list[Item]]:
    """The items of one alternative for a ``res_type`` resource."""
    name = getattr(steps[0], "member_name", None) if steps else None
    first = _root(res_type, name, steps[0]) if name is not None else None
    rest = steps[1:] if first is not None else steps

    def walk(resource: dict[str, Any]) -> list[Item]:
        items: list[Item] = first(resource) if first is not None else [(resource, res_type)]
        for step in rest:
            if not items:
                return items
            items = step(items)
        return items

    return walk


def _root(res_type: str, name: str, step: Step) -> Callable[[dict[str, Any]], list[Item]] | None:
    """``step`` (member ``name``) on the resource itself, whose type is known: the
    common cases without the generic step's per-item lookups; the rest through it."""
    t = _child_type(res_type, name)
    choices = _choices_of(res_type, name)
    if t is None or t in _ABSTRACT or any(c.isupper() for c in name) or choices is None:
        return None
    uname = "_" + name

    def root(resource: dict[str, Any]) -> list[Item]:
        value = resource.get(name)
        if value is None:
            return step([(resource, res_type)]) if choices or uname in resource else []
        if value.__class__ is list:
            if None in value:
                raise Slow  # an element with only its _key companion
            return [(v, t) for v in value]
        return [(value, t)]

    return root


class Fast:
    """A compiled walk: ``evaluate(resource)`` gives the engine's nodes, ``items(resource)``
    the same as ``(value, FHIR type or None)`` pairs (the indexer's form: no node
    objects); ``trigger`` holds the top-level keys of which a resource must have one for
    the result to be non-empty (None: unknown); ``alternatives`` the steps of each union
    alternative (read by :mod:`helseflyt.search.walker`, which generates code from them)."""

    __slots__ = ("alternatives", "evaluate", "items", "trigger")

    def __init__(
        self,
        evaluate: Callable[[dict[str, Any]], list[Any]],
        items: Callable[[dict[str, Any]], list[Item]],
        trigger: frozenset[str] | None,
        alternatives: tuple[tuple[Step, ...], ...] = (),
    ) -> None:
        self.evaluate = evaluate
        self.items = items
        self.trigger = trigger
        self.alternatives = alternatives


def compile_fast(res_type: str, expression: str) -> Fast | None:
    """A dict walk equal to the engine's ``evaluate_nodes`` for ``expression`` on a
    ``res_type`` resource (may raise :class:`Slow` or ``FHIRPathError``), or None."""
    from helseflyt.search.registry import _split_union

    alternatives = []
    for part in _split_union(expression):
        steps = _path(res_type, part)
        if steps is None:
            return None
        alternatives.append(tuple(steps))
    if not alternatives:
        return None

    walks = tuple(_walk(res_type, steps) for steps in alternatives)
    if len(walks) == 1:
        (items,) = walks
    else:

        def items(resource: dict[str, Any]) -> list[Item]:
            found: list[Item] = []
            for walk in walks:
                found += walk(resource)
            return found

    def evaluate(resource: dict[str, Any]) -> list[Any]:
        return [Node(v, None, None, None, None, t or "") for v, t in items(resource)]

    trigger: set[str] | None = set()
    for steps in alternatives:
        keys = _root_keys(res_type, list(steps))
        if keys is None or trigger is None:
            trigger = None
        else:
            trigger |= keys
    return Fast(evaluate, items, frozenset(trigger) if trigger is not None else None, tuple(alternatives))
