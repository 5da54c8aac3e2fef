"""What a request needs, decided at the HTTP edge from its method, path and query:
a list of :class:`Need` (resource type, interaction) that the principal's scopes must
all allow.

Paths are those under the FHIR base (``/fhir``)::

    GET  /                          search of the _type types (all: "*")
    POST /                          transaction/batch: each entry (see bundle_needs)
    GET  /_history                  history-system of "*"
    GET  /T  POST /T/_search        search T          POST /T      create T
    PUT  /T?criteria                update T          DELETE /T?   delete T
    GET  /T/_history                history-type T
    GET  /T/id                      read T            PUT /T/id    update T
    PATCH /T/id                     patch T           DELETE /T/id delete T
    GET  /T/id/_history             history-instance T
    GET  /T/id/_history/vid         vread T
    *    /T/$op, /T/id/$op          operation T       */$op        operation "*"

A search also needs to search every type it reaches: the types of ``_type``, the
source of each ``_revinclude``, the target of each ``_include`` and typed chain
(``subject:Patient.name``), and each type of ``_has``. Where the target type is not
written out (``_include=Observation:subject``, ``subject.name``), it needs "*": the
client can name the type to be checked against narrower scopes. This is the
type-level gate only; which *resources* a principal may see is the authorisation
layer's filter, in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from helseflyt.interactions.types import is_resource_type

__all__ = ["Need", "bundle_needs", "needs", "search_needs"]

ANY = "*"


@dataclass(frozen=True, slots=True)
class Need:
    resource_type: str  # a type or "*"
    interaction: str

    def __str__(self) -> str:
        what = "every resource type" if self.resource_type == ANY else self.resource_type
        return f"{self.interaction} on {what}"


def _type(name: str) -> str:
    return name if is_resource_type(name) else ANY


def search_needs(types: Iterable[str], params: Iterable[tuple[str, str]]) -> list[Need]:
    out = [Need(t, "search") for t in types]
    for key, value in params:
        name = key.split(":", 1)[0]
        if name == "_type":
            continue
        if name == "_include":
            parts = value.split(":")
            target = parts[2] if len(parts) >= 3 else ANY
            out.append(Need(_type(target), "search"))
        elif name == "_revinclude":
            out.append(Need(_type(value.split(":", 1)[0]), "search"))
        elif name == "_has":
            out.extend(Need(_type(t), "search") for t in _has_types(key))
        elif "." in key:  # chained: subject:Patient.name, subject.name
            for link in key.split(".")[:-1]:
                _, _, target = link.partition(":")
                out.append(Need(_type(target) if target else ANY, "search"))
    return _unique(out)


def _has_types(key: str) -> Iterator[str]:
    parts = key.split(":")
    for i, part in enumerate(parts):
        if part == "_has" and i + 1 < len(parts):
            yield parts[i + 1]


def _unique(items: list[Need]) -> list[Need]:
    return list(dict.fromkeys(items))


def _type_list(params: list[tuple[str, str]]) -> list[str]:
    types = [t.strip() for k, v in params if k == "_type" for t in v.split(",") if t.strip()]
    return [_type(t) for t in types] or [ANY]


def needs(method: str, segments: list[str], params: list[tuple[str, str]]) -> list[Need] | None:
    """The needs of a request to ``/fhir/<segments>``; None for POST to the base (a
    Bundle: see :func:`bundle_needs`). Methods a route does not take need nothing (the
    router answers 405); paths of unknown shape need everything (fail closed)."""
    method = "GET" if method == "HEAD" else method
    n = len(segments)
    if n == 0:
        if method == "POST":
            return None
        return search_needs(_type_list(params), params) if method == "GET" else []
    first = segments[0]
    if first.startswith("$"):
        return [Need(ANY, "operation")]
    if first == "_history":
        return [Need(ANY, "history-system")]
    rtype = _type(first)
    if n == 1:
        return {
            "GET": search_needs([rtype], params),
            "POST": [Need(rtype, "create")],
            "PUT": [Need(rtype, "update")],
            "DELETE": [Need(rtype, "delete")],
        }.get(method, [])
    second = segments[1]
    if second.startswith("$") or (n >= 3 and segments[2].startswith("$")):
        return [Need(rtype, "operation")]
    if second == "_search":
        return search_needs([rtype], params)
    if second == "_history":
        return [Need(rtype, "history-type")]
    if n == 2:
        interaction = {"GET": "read", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method)
        return [Need(rtype, interaction)] if interaction else []
    if segments[2] == "_history" and n <= 4:
        return [Need(rtype, "history-instance" if n == 3 else "vread")]
    if n == 3 and is_resource_type(segments[2]):  # compartment search: Patient/1/Observation
        return [Need(rtype, "read"), *search_needs([segments[2]], params)]
    return [Need(ANY, "read" if method == "GET" else "update")]  # unknown shape: fail closed


def entry_needs(method: str, url: str, base_path: str) -> list[Need]:
    parts = urlsplit(url)
    path = parts.path
    if parts.scheme:  # an absolute URL: relative to the FHIR base if it is under it
        path = path[len(base_path) :] if path.startswith(base_path + "/") else path
    segments = [s for s in path.split("/") if s]
    params = parse_qsl(parts.query, keep_blank_values=True)
    found = needs(method.upper(), segments, params)
    return found if found is not None else [Need(ANY, "create")]  # a Bundle inside: everything


def _conditional_references(value: Any) -> Iterator[str]:
    """Types of conditional references (``Patient?identifier=...``), which search."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("reference")
            if isinstance(ref, str) and "?" in ref:
                yield ref.split("?", 1)[0]
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))


def bundle_needs(bundle: Any, base_path: str = "/fhir") -> list[Need]:
    """The needs of the entries of a transaction or batch Bundle. A body that is not
    one needs nothing here: the route rejects it with 400."""
    if not isinstance(bundle, dict) or not isinstance(bundle.get("entry"), list):
        return []
    out: list[Need] = []
    for entry in bundle["entry"]:
        if not isinstance(entry, dict):
            continue
        request = entry.get("request")
        if (
            isinstance(request, dict)
            and isinstance(request.get("method"), str)
            and isinstance(request.get("url"), str)
        ):
            out.extend(entry_needs(request["method"], request["url"], base_path))
        out.extend(Need(_type(t), "search") for t in _conditional_references(entry.get("resource")))
    return _unique(out)
