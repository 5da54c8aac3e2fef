"""The access filter of one request (:class:`AccessFilter`, plain data), the constants
the SQL reads, and :class:`_Sql`, which collects arguments while fragments are built."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from helseflyt.fhir.model import compartment
from helseflyt.storage.common import TextArray

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR = "urn:oid:2.16.578.1.12.4.1.4.2"
HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
ORGNR = "urn:oid:2.16.578.1.12.4.1.4.101"


def _links() -> dict[str, tuple[str, ...]]:
    found = {t: ps for t, ps in compartment("Patient").items() if t != "Patient"}
    found.setdefault("Task", ("patient",))
    found.setdefault("Device", ("patient",))
    return found


# Patient-linked types and the reference parameters that link them to a Patient.
LINKS: dict[str, tuple[str, ...]] = _links()
# Types without patient data that persons may see within their scopes.
PUBLIC_TYPES = frozenset(
    {
        "Organization", "Practitioner", "PractitionerRole", "Location", "HealthcareService",
        "Endpoint", "Medication", "MedicationKnowledge", "Substance", "CapabilityStatement",
        "StructureDefinition", "ValueSet", "CodeSystem", "ConceptMap", "NamingSystem",
        "SearchParameter", "OperationDefinition", "ImplementationGuide", "Questionnaire",
        "ActivityDefinition", "PlanDefinition", "Library", "Measure", "CompartmentDefinition",
        "StructureMap", "TerminologyCapabilities",
    }
)  # fmt: skip
_LINK_PAIRS = tuple(f"{t}|{p}" for t, ps in sorted(LINKS.items()) for p in ps)
_ACTIVE_ENCOUNTER = ("planned", "arrived", "triaged", "in-progress", "onleave")
_ACTIVE_EPISODE = ("planned", "waitlist", "active", "onhold")
_VOID = ("cancelled", "entered-in-error")
LOCK_OPENING = frozenset({"FORHOYET_SAMTYKKE", "FORHOYET_AKUTT"})


@dataclass(frozen=True, slots=True)
class AccessFilter:
    """What one request may see (see the module docstring). Plain data: no SQL here."""

    role: str  # practitioner | patient | system
    pid: str | None = None  # the person's fødselsnummer/D-nummer
    hpr: str | None = None
    orgnrs: tuple[str, ...] = ()  # orgnr_parent, orgnr_child
    actor: str | None = None  # the key of this practitioner's emergency grants
    basis: str | None = None  # nhn-access-basis declared on the request
    opens_locked: bool = False  # the declared basis opens sperret data
    declared_any: bool = False  # the declared basis covers every patient of this call
    declared_ids: tuple[str, ...] = ()  # ... or these Patient ids
    declared_nin: str | None = None  # ... and the Patients with this identifier
    now: int = 0  # epoch µs
    care_since: int = 0  # epoch µs: an encounter/episode ended after this is "recent"
    # The patients of the care relationships through encounters, episodes and care teams,
    # computed ahead (care_patients) and cached by the policy; None = a subquery instead.
    care_ids: tuple[str, ...] | None = None
    # The patients with an active reservation / sperring / blokkering of this practitioner,
    # read per request (read_sets()) in the same snapshot; None = correlated subqueries.
    reserved_ids: tuple[str, ...] | None = None
    locking_ids: tuple[str, ...] | None = None
    blocking_ids: tuple[str, ...] | None = None
    # A patient token's own Patient records with those linked to them (Patient.link),
    # computed per request; None = the records with the token's identifier only.
    own_ids: tuple[str, ...] | None = None
    patient_links: bool = True  # any Patient.link stored (False: controls skip the link lookup)
    # A practitioner's other bases, read per request (basis_sets()): the patients who have
    # them as regular GP, with an unexpired emergency grant (and of those, FORHOYET_AKUTT),
    # and with the declared nhn-patient-nin. When every set is known the predicate checks
    # each resource's patients against one precomputed set (see _practitioner_sets).
    gp_ids: tuple[str, ...] | None = None
    grant_ids: tuple[str, ...] | None = None
    grant_open_ids: tuple[str, ...] | None = None
    nin_ids: tuple[str, ...] | None = None
    postgres: bool = False  # id sets go as one array parameter (= ANY), else json_each


class _Sql:
    """Arguments collected while SQL fragments are built in any order: each value gets a
    numbered marker, and :meth:`finish` turns the markers into ``?`` in text order."""

    __slots__ = ("postgres", "values")

    def __init__(self, postgres: bool = False) -> None:
        self.values: list[Any] = []
        self.postgres = postgres

    def among(self, expr: str, ids: Sequence[str], *, negate: bool = False) -> str:
        """``expr`` is (not) one of ``ids``, the ids as one parameter: the SQL text does not
        change with the set, so PostgreSQL can reuse a prepared plan."""
        if not ids:
            return "1 = 1" if negate else "1 = 0"
        if self.postgres:
            test = f"{expr} = ANY({self.marks([TextArray(ids)])}::text[])"
            return f"NOT ({test})" if negate else test
        test = f"IN (SELECT value FROM json_each({self.marks([json.dumps(list(ids))])}))"
        return f"{expr} {'NOT ' if negate else ''}{test}"

    def marks(self, values: Sequence[Any]) -> str:
        out = []
        for v in values:
            out.append(f"\x00{len(self.values)}\x00")
            self.values.append(v)
        return ", ".join(out) if out else "NULL"

    def finish(self, text: str, args: list[Any]) -> str:
        def one(m: re.Match[str]) -> str:
            args.append(self.values[int(m.group(1))])
            return "?"

        return _MARK.sub(one, text)


_MARK = re.compile("\x00(\\d+)\x00")
