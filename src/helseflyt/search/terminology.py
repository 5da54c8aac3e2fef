"""Token modifiers that need terminology: ``:in``, ``:not-in``, ``:below``, ``:above``.

* ``code:in=[ValueSet url]``: the codes of the value set (a ``code`` element such as
  ``Patient.gender`` is indexed without a system, implied by its binding: it matches by
  code alone, as does a Coding without a system), from ValueSets stored on this
  server (``helseflyt ig install`` or written through the API; ``compose`` with
  ``concept`` lists, whole code systems, included value sets and exclusions, or a stored
  ``expansion``; ``concept`` filters ``is-a``, ``descendent-of``, ``is-not-a`` and ``=``
  over a stored hierarchy) and the core R4 value sets (``fhir.model.value_set_codes``). A value set
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
            "(install it with its code systems; of the filters only concept is-a, descendent-of, "
            "is-not-a and = over a stored hierarchy are evaluated)",
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
    hierarchy = _registry(terminology).hierarchy(system)
    if isinstance(hierarchy, str):
        raise NotSupported(
            f"search parameter {text!r}: the hierarchy of {system} is not known here ({hierarchy}); "
            ":below and :above need it",
            status=400,
        )
    if code not in hierarchy.parents:
        raise InvalidRequest(f"search parameter {text!r}: {code!r} is not a code of {system}")
    found = hierarchy.below(code) if modifier == "below" else hierarchy.above(code)
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
