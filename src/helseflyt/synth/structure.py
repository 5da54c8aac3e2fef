"""The shared care structure: municipalities, GP offices and fastleger, home care,
nursing homes, health trusts with departments, and the PractitionerRoles tying them.

Its size follows the population: one fastlege per about 1,100 inhabitants (at least one
per municipality), offices of up to four GPs. Identifiers are synthetic but pass their
checks: organisasjonsnummer start with 3 (like Skatteetaten's synthetic organisations),
HPR-numbers with 8, so none is a real one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from helseflyt.norway.identifiers import HER, HPR, ORGNR, RESH, hpr_check_digit, orgnr_check_digit
from helseflyt.synth import tables
from helseflyt.synth.fhir import EXT_MUNICIPALITY, KOMMUNE, coding, meta, ref, term

PEOPLE_PER_GP = 1_100
GPS_PER_OFFICE = 4
DOCTORS_PER_DEPARTMENT = 3
NURSES_PER_HOME_CARE = 2


@dataclass
class Municipality:
    code: str
    name: str
    population: int
    postal_code: str
    city: str
    trust: str
    org_id: str = ""
    home_care_id: str = ""
    nursing_home_id: str = ""
    nurses: list[str] = field(default_factory=list)
    gps: list[tuple[str, str]] = field(default_factory=list)  # (practitioner id, office id)


@dataclass
class Trust:
    key: str
    name: str
    org_id: str
    departments: list[tuple[str, list[str]]]  # (organization id, doctor ids)


@dataclass
class Structure:
    resources: list[dict[str, Any]]
    municipalities: list[Municipality]
    weights: list[int]
    trusts: dict[str, Trust]


class _Numbers:
    """Sequential synthetic identifiers (unique within a population)."""

    def __init__(self) -> None:
        self.org = 0
        self.hpr = 0
        self.resh = 0
        self.her = 0

    def orgnr(self) -> str:
        while True:
            self.org += 1
            first8 = f"3{self.org + 1_000_000:07d}"
            k = orgnr_check_digit(first8)
            if k < 10:
                return first8 + str(k)

    def hpr_nr(self) -> str:
        while True:
            self.hpr += 1
            body = f"8{self.hpr:06d}"
            k = hpr_check_digit(body)
            if k < 10:
                return body + str(k)

    def resh_id(self) -> str:
        self.resh += 1
        return str(7_000_000 + self.resh)

    def her_id(self) -> str:
        self.her += 1
        return str(9_000_000 + self.her)


def build(patients: int, rng: random.Random) -> Structure:
    numbers = _Numbers()
    out: list[dict[str, Any]] = []
    total = sum(m[2] for m in tables.MUNICIPALITIES)
    munis: list[Municipality] = []
    for code, name, population, postal, city, trust in tables.MUNICIPALITIES:
        m = Municipality(code, name, population, postal, city, trust)
        expected = patients * population / total
        n_gps = max(1, round(expected / PEOPLE_PER_GP))
        _municipality(m, n_gps, numbers, rng, out)
        munis.append(m)
    trusts: dict[str, Trust] = {}
    for key, name in tables.HEALTH_TRUSTS:
        trusts[key] = _trust(key, name, numbers, rng, out)
    return Structure(out, munis, [m.population for m in munis], trusts)


def _address(m: Municipality, line: str) -> dict[str, Any]:
    return {
        "extension": [{"url": EXT_MUNICIPALITY, "valueCoding": coding(KOMMUNE, m.code, m.name)}],
        "use": "work",
        "type": "both",
        "line": [line],
        "postalCode": m.postal_code,
        "city": m.city,
        "country": "NO",
    }


def _org(
    oid: str,
    name: str,
    orgnr: str,
    kind: str,
    *,
    part_of: str | None = None,
    extra_ids: list[dict[str, str]] | None = None,
    address: dict[str, Any] | None = None,
) -> dict[str, Any]:
    org: dict[str, Any] = {
        "resourceType": "Organization",
        "id": oid,
        "meta": meta(),
        "identifier": [{"use": "official", "system": ORGNR, "value": orgnr}, *(extra_ids or [])],
        "active": True,
        "type": [term("organization-type", kind)],
        "name": name,
    }
    if address is not None:
        org["address"] = [address]
    if part_of is not None:
        org["partOf"] = ref("Organization", part_of)
    return org


def _person(rng: random.Random) -> tuple[str, str, str]:
    female = rng.random() < 0.5
    given = rng.choice(tables.FEMALE_NAMES if female else tables.MALE_NAMES)
    return rng.choice(tables.SURNAMES), given, "female" if female else "male"


def _practitioner(pid: str, hpr: str, rng: random.Random, qualification: str) -> dict[str, Any]:
    family, given, gender = _person(rng)
    return {
        "resourceType": "Practitioner",
        "id": pid,
        "meta": meta(),
        "identifier": [{"use": "official", "system": HPR, "value": hpr}],
        "active": True,
        "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": gender,
        "qualification": [{"code": {"text": qualification}}],
    }


def _role(rid: str, practitioner: str, org: str, text: str, snomed: tuple[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "PractitionerRole",
        "id": rid,
        "meta": meta(),
        "active": True,
        "practitioner": ref("Practitioner", practitioner),
        "organization": ref("Organization", org),
        "code": [{"coding": [coding("http://snomed.info/sct", *snomed)], "text": text}],
    }


GP_ROLE = ("62247001", "General practitioner")
NURSE_ROLE = ("106292003", "Professional nurse")
DOCTOR_ROLE = ("309343006", "Physician")


def _municipality(
    m: Municipality, n_gps: int, numbers: _Numbers, rng: random.Random, out: list[dict[str, Any]]
) -> None:
    c = m.code
    m.org_id = f"kommune-{c}"
    out.append(_org(m.org_id, f"{m.name} kommune", numbers.orgnr(), "govt", address=_address(m, "Rådhuset")))
    her = [{"use": "official", "system": HER, "value": numbers.her_id()}]
    m.home_care_id = f"hjemmetjeneste-{c}"
    out.append(
        _org(m.home_care_id, f"Hjemmetjenesten i {m.name}", numbers.orgnr(), "govt",
             part_of=m.org_id, extra_ids=her)
    )  # fmt: skip
    m.nursing_home_id = f"sykehjem-{c}"
    out.append(
        _org(m.nursing_home_id, f"{m.city.title()} sykehjem", numbers.orgnr(), "govt", part_of=m.org_id,
             extra_ids=[{"use": "official", "system": HER, "value": numbers.her_id()}])
    )  # fmt: skip
    for n in range(NURSES_PER_HOME_CARE):
        pid = f"sykepleier-{c}-{n + 1}"
        out.append(_practitioner(pid, numbers.hpr_nr(), rng, "Sykepleier"))
        out.append(_role(f"rolle-{pid}", pid, m.home_care_id, "Sykepleier, hjemmesykepleien", NURSE_ROLE))
        m.nurses.append(pid)
    offices = (n_gps + GPS_PER_OFFICE - 1) // GPS_PER_OFFICE
    for o in range(offices):
        office = f"legekontor-{c}-{o + 1}"
        street = rng.choice(tables.STREETS)
        out.append(
            _org(office, f"{street} legesenter", numbers.orgnr(), "prov",
                 extra_ids=[{"use": "official", "system": HER, "value": numbers.her_id()}],
                 address=_address(m, f"{street} {rng.randint(1, 60)}"))
        )  # fmt: skip
        for g in range(min(GPS_PER_OFFICE, n_gps - o * GPS_PER_OFFICE)):
            pid = f"fastlege-{c}-{o + 1}-{g + 1}"
            out.append(_practitioner(pid, numbers.hpr_nr(), rng, "Lege, spesialist i allmennmedisin"))
            out.append(_role(f"rolle-{pid}", pid, office, "Fastlege", GP_ROLE))
            m.gps.append((pid, office))


def _trust(key: str, name: str, numbers: _Numbers, rng: random.Random, out: list[dict[str, Any]]) -> Trust:
    org_id = f"hf-{key}"
    out.append(
        _org(org_id, name, numbers.orgnr(), "prov",
             extra_ids=[{"use": "official", "system": RESH, "value": numbers.resh_id()}])
    )  # fmt: skip
    departments = []
    for d, dept in enumerate(tables.DEPARTMENTS):
        dept_id = f"{org_id}-avd-{d + 1}"
        out.append(
            _org(dept_id, f"{name}, {dept}", numbers.orgnr(), "dept", part_of=org_id,
                 extra_ids=[{"use": "official", "system": RESH, "value": numbers.resh_id()},
                            {"use": "official", "system": HER, "value": numbers.her_id()}])
        )  # fmt: skip
        doctors = []
        for n in range(DOCTORS_PER_DEPARTMENT):
            pid = f"lege-{key}-{d + 1}-{n + 1}"
            out.append(_practitioner(pid, numbers.hpr_nr(), rng, "Lege"))
            out.append(_role(f"rolle-{pid}", pid, dept_id, f"Lege, {dept}", DOCTOR_ROLE))
            doctors.append(pid)
        departments.append((dept_id, doctors))
    return Trust(key, name, org_id, departments)


__all__ = ["Municipality", "Structure", "Trust", "build"]
