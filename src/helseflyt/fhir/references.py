"""Finding and rewriting references inside a resource (transaction Bundles, bulk load).

A transaction Bundle names its own entries by ``fullUrl`` (often ``urn:uuid:`` or
``urn:oid:``) and the server gives the new resources their ids. R4 §3.1.0.11.2
(https://hl7.org/fhir/R4/http.html#trules) then says the server SHALL replace all
matching links in the bundle: in resource references, in elements of type ``uri``,
``url``, ``oid``, ``uuid``, and in ``<a href="">`` / ``<img src="">`` of the narrative.

:func:`rewrite` does that in one walk of the resource, *everywhere* in it: inside
extensions, modifier extensions and contained resources too. Without type information
at hand, an element is treated as URI-like when it holds a string, except

* ``value`` (``Identifier.value``, ``ContactPoint.value``... are ``string`` in R4: an
  identifier that happens to equal a fullUrl keeps its text), and
* ``div``, the narrative, whose ``href``/``src`` attributes are rewritten instead.

A ``reference`` of the form ``Type?criteria`` is a *conditional reference*; the caller
resolves it (``conditional``), because that needs a search inside the transaction.
References to contained resources (``#id``) are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["conditional_references", "iter_references", "rewrite"]

_NARRATIVE_LINK = re.compile(r"""((?:href|src)\s*=\s*)(["'])(.*?)\2""")
_SKIP = frozenset(("value", "div"))


def rewrite(
    resource: dict[str, Any],
    mapping: Mapping[str, str],
    conditional: Callable[[str], str] | None = None,
) -> int:
    """Replace, in place, every link that ``mapping`` knows by its new value.

    ``conditional`` maps a conditional reference (``Patient?identifier=s|v``) to the
    reference it resolves to (and raises if it does not resolve to exactly one); without
    it conditional references are kept. Returns the number of values replaced.
    """
    if not mapping and conditional is None:
        return 0
    return _walk_dict(resource, mapping, conditional)


def _walk_dict(
    node: dict[str, Any], mapping: Mapping[str, str], conditional: Callable[[str], str] | None
) -> int:
    n = 0
    for key, value in node.items():
        if isinstance(value, str):
            if key == "reference":
                new = mapping.get(value)
                if new is None and conditional is not None and "?" in value and not value.startswith("#"):
                    new = conditional(value)
                if new is not None and new != value:
                    node[key] = new
                    n += 1
            elif key == "div":
                if mapping and ("href" in value or "src" in value):
                    new_div = _rewrite_div(value, mapping)
                    if new_div != value:
                        node[key] = new_div
                        n += 1
            elif key not in _SKIP and value in mapping:
                node[key] = mapping[value]
                n += 1
        elif isinstance(value, dict):
            n += _walk_dict(value, mapping, conditional)
        elif isinstance(value, list):
            n += _walk_list(value, key, mapping, conditional)
    return n


def _walk_list(
    items: list[Any], key: str, mapping: Mapping[str, str], conditional: Callable[[str], str] | None
) -> int:
    n = 0
    for i, item in enumerate(items):
        if isinstance(item, dict):
            n += _walk_dict(item, mapping, conditional)
        elif isinstance(item, str) and key not in _SKIP and item in mapping:
            items[i] = mapping[item]
            n += 1
    return n


def _rewrite_div(div: str, mapping: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        new = mapping.get(m.group(3))
        return m.group(0) if new is None else f"{m.group(1)}{m.group(2)}{new}{m.group(2)}"

    return _NARRATIVE_LINK.sub(sub, div)


def iter_references(resource: Any) -> Iterator[str]:
    """Every ``reference`` string anywhere in the resource (contained ones included)."""
    stack = [resource]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "reference" and isinstance(value, str):
                    yield value
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))


def conditional_references(resource: Any) -> list[str]:
    """The conditional references (``Type?criteria``) in a resource."""
    return [r for r in iter_references(resource) if "?" in r and not r.startswith("#")]
