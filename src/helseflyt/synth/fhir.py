"""Small builders for the FHIR JSON the generator writes (plain dicts, insertion-ordered)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

ICPC2 = "http://hl7.org/fhir/sid/icpc-2"
ICD10 = "urn:oid:2.16.578.1.12.4.1.1.7110"
ATC = "http://www.whocc.no/atc"
NLK = "urn:oid:2.16.578.1.12.4.1.1.7280"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
KOMMUNE = "urn:oid:2.16.578.1.12.4.1.1.3402"
BYDEL = "urn:oid:2.16.578.1.12.4.1.1.3403"
EXT_MUNICIPALITY = "http://hl7.no/fhir/StructureDefinition/no-basis-municipalitycode"
EXT_DISTRICT = "http://hl7.no/fhir/StructureDefinition/no-basis-urban-district"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"

# Every generated resource says it is test data (HL7 v3 ActReason HTEST).
META: dict[str, Any] = {
    "tag": [{"system": TERMINOLOGY + "v3-ActReason", "code": "HTEST", "display": "test health data"}]
}
TZ = "+01:00"  # a fixed offset: the output must not depend on the machine's time zone


def meta() -> dict[str, Any]:
    return {"tag": [dict(META["tag"][0])]}


def ref(resource_type: str, resource_id: str, display: str | None = None) -> dict[str, str]:
    out = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        out["display"] = display
    return out


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"coding": [coding(system, code, display)]}


def term(name: str, code: str, display: str | None = None) -> dict[str, Any]:
    """A CodeableConcept from a terminology.hl7.org code system."""
    return concept(TERMINOLOGY + name, code, display)


def quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def instant(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S") + TZ


def day(when: date) -> str:
    return when.isoformat()


def at(d: date, minutes: int) -> datetime:
    """``d`` at a time of day given in minutes after midnight."""
    return datetime(d.year, d.month, d.day) + timedelta(minutes=minutes)
