"""Citizen controls as FHIR ``Consent`` resources: the codes and the shapes Helseflyt honours.

Kjernejournal's controls (docs/access.md has copy-paste examples):

* **reservation** — nothing of the patient is shared with anyone but the patient;
* **sperring** (lock) of everything or of parts — opened only with ``FORHOYET_SAMTYKKE``
  or ``FORHOYET_AKUTT``;
* **blokkering** of named health personnel — holds even in an emergency.

A control is an ``active`` Consent with ``patient`` = the Patient and a ``category``
coding ``urn:helseflyt:citizen-control|reservation|sperring|blokkering``. What a
sperring covers is read from index rows (so that it is enforced in SQL):

* nothing more named → the whole record (the Patient resource included);
* ``category`` codings ``http://hl7.org/fhir/resource-types|<Type>`` → those types;
* ``provision.securityLabel`` codings → resources whose ``meta.security`` has one;
* ``provision.data.reference`` → those resources.

A blokkering names the practitioner in ``provision.actor.reference``: by HPR-number
(``{"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.4", "value": "..."}}``) or as
``Practitioner/[id]`` of a Practitioner carrying that HPR identifier.

Besides Consents, a resource labelled ``meta.security`` =
``urn:oid:2.16.578.1.12.4.1.1.9603|NORS`` (Volven 9603: locked by the citizen) is
treated as sperret.

This module has no dependencies: the SQL in ``storage/sql_access.py`` reads its codes.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BLOCKING",
    "CONTROL_SYSTEM",
    "CONTROLS",
    "CONFIDENTIALITY_SYSTEM",
    "LOCKED_LABELS",
    "RESERVATION",
    "RESOURCE_TYPES_SYSTEM",
    "SPERRING",
    "is_citizen_control",
]

CONTROL_SYSTEM = "urn:helseflyt:citizen-control"
RESERVATION = "reservation"
SPERRING = "sperring"
BLOCKING = "blokkering"
CONTROLS = (RESERVATION, SPERRING, BLOCKING)
RESOURCE_TYPES_SYSTEM = "http://hl7.org/fhir/resource-types"
CONFIDENTIALITY_SYSTEM = "urn:oid:2.16.578.1.12.4.1.1.9603"  # Volven 9603
LOCKED_LABELS = ("NORS",)  # meta.security codes in Volven 9603 that count as sperret


def is_citizen_control(resource: Any) -> bool:
    """A Consent carrying one of the control codes (only the patient may write one)."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Consent":
        return False
    for concept in resource.get("category") or ():
        if not isinstance(concept, dict):
            continue
        for coding in concept.get("coding") or ():
            if isinstance(coding, dict) and coding.get("system") == CONTROL_SYSTEM:
                return True
    return False
