"""``Reference.reference`` formats (https://hl7.org/fhir/R4/references.html).

Accepted: ``Type/id``, ``Type/id/_history/vid`` (Type a concrete R4 resource type), an
absolute URL, ``urn:uuid:<uuid>``, ``urn:oid:<oid>``, ``#id`` (a contained resource)
or ``#`` (the container), and ``Type?query`` (a conditional reference, resolved by
transaction processing).
"""

from __future__ import annotations

import re
from functools import cache

from helseflyt.fhir import model

_ID = r"[A-Za-z0-9\-\.]{1,64}"
_RELATIVE = re.compile(rf"([A-Z][A-Za-z]+)/({_ID})(?:/_history/({_ID}))?", re.ASCII)
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+", re.ASCII)
_UUID = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_OID = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
_CONDITIONAL = re.compile(r"([A-Z][A-Za-z]+)\?\S*", re.ASCII)
_ABSOLUTE_FHIR = re.compile(rf".*/([A-Z][A-Za-z]+)/{_ID}(?:/_history/{_ID})?", re.ASCII)


@cache
def _resource_types() -> frozenset[str]:
    return model.resource_types()


# Results per reference text: a Bundle names its patient and encounters hundreds of
# times. Bounded like the primitives' memo (short texts, emptied when full).
_MEMO: dict[str, tuple[str, str | None, str | None]] = {}
_MEMO_SIZE = 8192
_MEMO_LEN = 256


def classify(reference: str) -> tuple[str, str | None, str | None]:
    """(kind, resource type or local id, error message).

    kind is one of ``relative``, ``absolute``, ``urn``, ``local``, ``conditional``,
    ``invalid``. For ``local`` the second item is the id after ``#``.
    """
    found = _MEMO.get(reference)
    if found is None:
        found = _classify(reference)
        if len(reference) <= _MEMO_LEN:
            if len(_MEMO) >= _MEMO_SIZE:
                _MEMO.clear()
            _MEMO[reference] = found
    return found


def _classify(reference: str) -> tuple[str, str | None, str | None]:
    if reference.startswith("#"):
        return "local", reference[1:], None
    m = _RELATIVE.fullmatch(reference)
    if m is not None:
        if m.group(1) not in _resource_types():
            return "invalid", None, f"unknown resource type {m.group(1)!r} in reference"
        return "relative", m.group(1), None
    if reference.startswith("urn:"):
        if _UUID.fullmatch(reference) or _OID.fullmatch(reference):
            return "urn", None, None
        return "invalid", None, "malformed urn:uuid: or urn:oid: reference"
    if _ABSOLUTE.fullmatch(reference):
        m = _ABSOLUTE_FHIR.fullmatch(reference)
        kind = m.group(1) if m and m.group(1) in _resource_types() else None
        return "absolute", kind, None
    m = _CONDITIONAL.fullmatch(reference)
    if m is not None and m.group(1) in _resource_types():
        return "conditional", m.group(1), None
    return (
        "invalid",
        None,
        "not Type/id, Type/id/_history/vid, an absolute URL, urn:uuid:, urn:oid: or #id",
    )


def contained_ids(resource: dict) -> dict[str, int]:
    """The index of the first contained resource with each id (local references ``#id``)."""
    contained = resource.get("contained")
    ids: dict[str, int] = {}
    if type(contained) is list:
        for i, c in enumerate(contained):
            if type(c) is dict and type(c.get("id")) is str:
                ids.setdefault(c["id"], i)
    return ids
