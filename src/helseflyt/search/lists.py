"""``_list`` (https://hl7.org/fhir/R4/search.html#list): ``Patient?_list=42`` matches the
resources that ``List/42`` refers to in ``List.entry.item`` (entries flagged
``deleted`` left out). Relative references ``Type/id`` and absolute ones to this server's
base count. The List is read through the request's store, so its access decision is
that of a read: a List that does not exist or that the caller may not see matches
nothing (a practitioner who needs a declared basis for it gets the read's 403). Commas
OR lists; repeated ``_list`` parameters AND them.

Functional lists (``_list=$current-allergies``, ``$current-problems``...) are a 400
with ``not-supported``: R4 leaves them optional, and neither answer a server without
them could give is right (ignoring the parameter returns every record instead of the
curated list; an empty result claims the patient has none).
"""

from __future__ import annotations

from collections.abc import Sequence

from helseflyt.errors import InvalidRequest, NotSupported
from helseflyt.fhir import json as fjson
from helseflyt.search.conditional import unescape
from helseflyt.search.index import reference_parts
from helseflyt.storage.base import Reader
from helseflyt.storage.query import Clause, Test

__all__ = ["list_clause"]


def list_clause(reader: Reader, values: Sequence[str], res_types: Sequence[str], base_url: str) -> Clause:
    """The resources of ``res_types`` that one of the Lists ``values`` (ids) refers to."""
    wanted = set(res_types)
    ids: dict[str, set[str]] = {}
    for raw in values:
        value = unescape(raw)
        if value.startswith("$"):
            raise NotSupported(
                f"_list={value}: functional lists are not supported; give the id of a List resource",
                status=400,
            )
        list_id = value.removeprefix("List/")
        if not list_id or "/" in list_id:
            raise InvalidRequest(f"_list={value!r} must be the id of a List resource")
        current = reader.read("List", list_id)
        if current is None or current.body is None:
            continue
        for entry in fjson.loads(current.body).get("entry") or ():
            if not isinstance(entry, dict) or entry.get("deleted") is True:
                continue
            ref = (entry.get("item") or {}).get("reference")
            if not isinstance(ref, str):
                continue
            if base_url and ref.startswith(base_url + "/"):
                ref = ref[len(base_url) + 1 :]
            t, i, _ = reference_parts(ref)
            if t in wanted and i is not None:
                ids.setdefault(t, set()).add(i)
    alternatives = tuple(
        (Test("res_type", "=", t), Test("res_id", "in", tuple(sorted(found))))
        for t, found in sorted(ids.items())
    )
    return Clause("resource", "_list", alternatives)
