"""Token modifiers that need terminology: ``:in``, ``:not-in``, ``:below``, ``:above``.

* ``code:in=[ValueSet url]``: the codes of the value set (a ``code`` element such as
  ``Patient.gender`` is indexed without a system, implied by its binding: it matches by
  code alone, as does a Coding without a system), from ValueSets stored on this
  server (``helseflyt ig install`` or written through the API; ``compose`` with
  ``concept`` lists, whole code systems, included value sets and exclusions, or a stored
  ``expansion``) and the core R4 value sets (``fhir.model.value_set_codes``). A value set
  that is unknown, or that cannot be expanded here (a ``filter``, or a whole code system
  whose codes are not loaded), is a 400 saying so. ``:not-in`` is its negation (no code
  of the resource is in the value set), like ``:not``.
* ``code:below=system|code`` / ``:above``: the code and its descendants (ancestors) in
  the code system's ``is-a`` hierarchy: nested ``concept``s and ``parent``/``child``
  properties of a stored CodeSystem with ``content = complete``. A system without a
  known hierarchy (none installed, a fragment, or another ``hierarchyMeaning``) is a
  400 with the reason: never a silently partial answer.

``terminology`` is the installed packages' :class:`helseflyt.packages.registry.Registry`
(the server's ``LiveRegistry.current()``), asked only when one of these modifiers is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from helseflyt.errors import InvalidRequest, NotSupported
from helseflyt.search.conditional import split_escaped, unescape
from helseflyt.storage.query import Test

__all__ = ["MAX_CODES", "Terminology", "subsumption_tests", "value_set_tests"]

MAX_CODES = 10_000  # codes of one value set or subtree, sent as SQL parameters
Terminology = Callable[[], Any]  # () -> packages.registry.Registry


def _registry(terminology: Terminology | None) -> Any:
    if terminology is not None:
        return terminology()
    from helseflyt.packages.registry import Registry

    return Registry()  # nothing installed: the core R4 value sets only


def value_set_tests(text: str, raw: str, terminology: Terminology | None) -> tuple[tuple[Test, ...], ...]:
    """Alternatives matching a token row whose (system, code) is in the value set ``raw``."""
    url = unescape(raw)
    codes = _registry(terminology).value_set_codes(url)
    if codes is None:
        raise NotSupported(
            f"search parameter {text!r}: the value set {url!r} is unknown here or cannot be expanded "
            "(install it with its code systems; filters are not evaluated)",
            status=400,
        )
    _not_too_many(text, len(codes), f"the value set {url!r}")
    by_system: dict[str, list[str]] = {}
    for system, code in codes:
        by_system.setdefault(system, []).append(code)
    if codes:  # a code element (Patient.gender): its system is implied by its binding
        by_system.setdefault("", []).extend(code for _, code in codes)
    return tuple(
        (
            Test("system", "=", system) if system else Test("system", "null"),
            Test("value", "in", tuple(sorted(c))),
        )
        for system, c in sorted(by_system.items())
    )


def subsumption_tests(
    text: str, modifier: str, raw: str, terminology: Terminology | None
) -> tuple[tuple[Test, ...], ...]:
    """Alternatives for ``:below`` (the code or a descendant) or ``:above`` (an
    ancestor); a code element without a system matches by code, as for ``:in``."""
    pieces = split_escaped(raw, "|")
    if len(pieces) != 2 or not pieces[0] or not pieces[1]:
        raise InvalidRequest(f"search parameter {text!r}: :{modifier} takes system|code, got {raw!r}")
    system, code = unescape(pieces[0]), unescape(pieces[1])
    parents, children = _hierarchy(text, _registry(terminology), system)
    if code not in parents:
        raise InvalidRequest(f"search parameter {text!r}: {code!r} is not a code of {system}")
    step = children if modifier == "below" else parents
    found, todo = {code}, [code]
    while todo:
        for other in step.get(todo.pop(), ()):
            if other not in found:
                found.add(other)
                todo.append(other)
    _not_too_many(
        text, len(found), f"{system}|{code} with its {'descendants' if modifier == 'below' else 'ancestors'}"
    )
    found_codes = tuple(sorted(found))
    return (Test("system", "=", system), Test("value", "in", found_codes)), (
        Test("system", "null"),
        Test("value", "in", found_codes),
    )


def _not_too_many(text: str, n: int, what: str) -> None:
    if n > MAX_CODES:
        raise NotSupported(
            f"search parameter {text!r}: {what} has {n:,} codes; at most {MAX_CODES:,} are supported",
            status=400,
        )


def _hierarchy(text: str, reg: Any, system: str) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(code -> parents, code -> children) of an installed, complete is-a CodeSystem."""
    cache: dict[str, Any] = reg.__dict__.setdefault("_search_hierarchies", {})
    if system in cache:
        return cache[system]  # type: ignore[no-any-return]
    cs = reg.code_system(system)
    why = None
    if cs is None:
        why = "no CodeSystem with this url is installed"
    elif cs.get("content") != "complete":
        why = f"the installed CodeSystem has content {cs.get('content')!r}, not complete"
    elif cs.get("hierarchyMeaning") not in (None, "is-a"):
        why = f"its hierarchy means {cs['hierarchyMeaning']!r}, not is-a"
    if why is not None:
        raise NotSupported(
            f"search parameter {text!r}: the hierarchy of {system} is not known here ({why}); "
            ":below and :above need it",
            status=400,
        )
    parents: dict[str, set[str]] = {}
    children: dict[str, set[str]] = {}

    def link(parent: str, child: str) -> None:
        parents.setdefault(child, set()).add(parent)
        children.setdefault(parent, set()).add(child)

    def walk(items: Any, parent: str | None) -> None:
        for c in items or ():
            if type(c) is not dict or type(c.get("code")) is not str:
                continue
            parents.setdefault(c["code"], set())
            if parent is not None:
                link(parent, c["code"])
            for prop in c.get("property") or ():
                value = prop.get("valueCode") if type(prop) is dict else None
                if type(value) is str and prop.get("code") == "parent":
                    link(value, c["code"])
                elif type(value) is str and prop.get("code") == "child":
                    link(c["code"], value)
            walk(c.get("concept"), c["code"])

    walk(cs.get("concept"), None)
    cache[system] = (parents, children)
    return parents, children
