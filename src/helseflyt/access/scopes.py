"""SMART on FHIR scopes (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).

A scope names a context, a resource type and permissions::

    patient/Observation.rs     v2: c create, r read, u update, d delete, s search
    user/*.cruds               every type, every permission
    system/Patient.read        v1: read = rs, write = cud, * = cruds

Which interaction needs which permission (SMART v2, table "scopes"):

==================  ==========  ==========================================
interaction         permission  note
==================  ==========  ==========================================
read, vread         r
history-instance    r           ``history`` means this one
search              s           type and system level
history-type        s
history-system      s
create              c
update, patch       u
delete              d
operation           r           our choice: SMART says nothing about operations
==================  ==========  ==========================================

Granular v2 scopes with a query (``patient/Observation.rs?category=laboratory``) are
parsed but grant nothing yet: honouring them needs the search filter in SQL, and a
scope that granted more than it says would be worse than one that grants less.
Anything that is not a resource scope (``openid``, ``fhirUser``, ``launch/patient``,
HelseID's ``helseid://scopes/...``) is kept as text and ignored here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "CONTEXTS",
    "INTERACTIONS",
    "Scope",
    "allows",
    "parse",
    "parse_one",
    "permission_for",
]

CONTEXTS = ("patient", "user", "system")
_V2_ORDER = "cruds"
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(
    r"(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]{0,63})\.(?P<perm>[a-z*]{1,5})(?:\?(?P<query>.*))?"
)

INTERACTIONS: dict[str, str] = {
    "read": "r",
    "vread": "r",
    "history": "r",
    "history-instance": "r",
    "search": "s",
    "history-type": "s",
    "history-system": "s",
    "create": "c",
    "update": "u",
    "patch": "u",
    "delete": "d",
    "operation": "r",
}


@dataclass(frozen=True, slots=True)
class Scope:
    """One SMART resource scope. ``query`` is set for a granular v2 scope."""

    context: str  # patient | user | system
    resource_type: str  # a type name or "*"
    permissions: frozenset[str]  # subset of "cruds"
    query: str | None = None
    text: str = ""

    def grants(self, resource_type: str, permission: str) -> bool:
        if self.query is not None:
            return False  # granular scopes are not honoured yet (see the module docstring)
        if self.resource_type not in ("*", resource_type):
            return False
        return permission in self.permissions

    def __str__(self) -> str:
        return self.text


def permission_for(interaction: str) -> str:
    try:
        return INTERACTIONS[interaction]
    except KeyError:
        raise ValueError(f"unknown interaction {interaction!r} (one of {', '.join(INTERACTIONS)})") from None


def _permissions(text: str) -> frozenset[str] | None:
    if text in _V1:
        return frozenset(_V1[text])
    if not text or any(c not in _V2_ORDER for c in text):
        return None
    # v2 permissions are in the order c r u d s, each at most once
    if list(text) != sorted(set(text), key=_V2_ORDER.index):
        return None
    return frozenset(text)


def parse_one(text: str) -> Scope | None:
    """The resource scope ``text``, or None if it is not one (or not well-formed)."""
    m = _SCOPE.fullmatch(text)
    if m is None:
        return None
    permissions = _permissions(m["perm"])
    if permissions is None:
        return None
    return Scope(m["context"], m["type"], permissions, m["query"], text)


def parse(value: str | Iterable[str] | None) -> tuple[Scope, ...]:
    """Resource scopes of a space-separated ``scope`` claim (or a list of them)."""
    if value is None:
        return ()
    items = value.split() if isinstance(value, str) else [s for v in value for s in str(v).split()]
    return tuple(s for s in (parse_one(item) for item in items) if s is not None)


def allows(
    scopes: Iterable[Scope], resource_type: str, interaction: str, *, contexts: Iterable[str] = CONTEXTS
) -> bool:
    """Whether any of ``scopes`` (in one of ``contexts``) permits ``interaction`` on
    ``resource_type``. ``resource_type`` "*" asks for every type at once."""
    permission = permission_for(interaction)
    allowed = frozenset(contexts)
    return any(s.context in allowed and s.grants(resource_type, permission) for s in scopes)
