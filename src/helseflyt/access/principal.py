"""The authenticated actor of a request, built from a validated token.

Roles, from the HelseID claims (HelseID has no role claim):

* **practitioner**: the token names an HPR-number (``helseid://claims/hpr/hpr_number``),
  or names a person (``pid``) and carries ``user/`` scopes (health personnel without
  an HPR-number, e.g. administrative staff);
* **patient**: the token names a person (``pid``) and carries no ``user/`` scopes;
* **system**: no person at all (client credentials: an integration).

Which scopes count depends on the role, so that no token reaches past its actor:
a practitioner's ``user/`` and ``patient/`` scopes, a patient's ``patient/`` scopes, a
system's ``system/`` scopes. The authorisation layer narrows further (a patient's own
compartment, a practitioner's basis for access) in SQL.

``Principal`` is the one object the layers below the HTTP edge see (it travels in
``interactions.context.Context.principal``; None there means open development mode).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from helseflyt.access import scopes as smart
from helseflyt.access.scopes import Scope

__all__ = [
    "CLAIM_HPR",
    "CLAIM_ORGNR_CHILD",
    "CLAIM_ORGNR_PARENT",
    "CLAIM_PID",
    "CLAIM_SECURITY_LEVEL",
    "ROLES",
    "Principal",
    "role_of",
]

CLAIM_PID = "helseid://claims/identity/pid"
CLAIM_SECURITY_LEVEL = "helseid://claims/identity/security_level"
CLAIM_HPR = "helseid://claims/hpr/hpr_number"
CLAIM_ORGNR_PARENT = "helseid://claims/client/claims/orgnr_parent"
CLAIM_ORGNR_CHILD = "helseid://claims/client/claims/orgnr_child"

ROLES = ("practitioner", "patient", "system")
_CONTEXTS = {"practitioner": ("user", "patient"), "patient": ("patient",), "system": ("system",)}


def role_of(pid: str | None, hpr: str | None, scopes: tuple[Scope, ...]) -> str:
    if hpr:
        return "practitioner"
    if pid:
        return "practitioner" if any(s.context == "user" for s in scopes) else "patient"
    return "system"


@dataclass(frozen=True, slots=True)
class Principal:
    role: str  # practitioner | patient | system
    subject: str | None = None  # "sub"
    client_id: str | None = None
    pid: str | None = None  # fødselsnummer or D-nummer of the person
    hpr: str | None = None
    orgnr_parent: str | None = None  # the legal entity
    orgnr_child: str | None = None  # the part of it (department, point of care)
    security_level: str | None = None
    scopes: tuple[Scope, ...] = ()
    scope_text: tuple[str, ...] = ()  # every scope as granted, resource scopes or not
    token_id: str | None = None  # "jti"
    issuer: str | None = None
    expires_at: datetime | None = None
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_person(self) -> bool:
        return self.role in ("practitioner", "patient")

    @property
    def effective_scopes(self) -> tuple[Scope, ...]:
        """The scopes that count for this role (see the module docstring)."""
        contexts = _CONTEXTS[self.role]
        return tuple(s for s in self.scopes if s.context in contexts)

    def allows(self, resource_type: str, interaction: str) -> bool:
        return smart.allows(self.scopes, resource_type, interaction, contexts=_CONTEXTS[self.role])

    def allows_everything(self) -> bool:
        return all(self.allows("*", i) for i in ("create", "read", "update", "delete", "search"))

    def describe(self) -> str:
        """Who, in a few words, for logs and messages (never the fødselsnummer)."""
        parts = [self.role]
        if self.hpr:
            parts.append(f"HPR {self.hpr}")
        if self.orgnr_parent:
            parts.append(f"org {self.orgnr_parent}" + (f"/{self.orgnr_child}" if self.orgnr_child else ""))
        if self.client_id:
            parts.append(f"client {self.client_id}")
        return ", ".join(parts)
