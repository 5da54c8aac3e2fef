"""One synthetic patient and their care over time, as a list of resources.

Everything is drawn from the patient's own ``random.Random`` and the fixed ``as_of``
date, never from the clock, so a patient is the same whatever else is generated.
"""

from __future__ import annotations

import base64
import bisect
import itertools
import random
import uuid
from datetime import date, timedelta
from typing import Any

from helseflyt.norway.identifiers import DNR, FNR, make_fodselsnummer
from helseflyt.synth import tables
from helseflyt.synth.fhir import (
    ATC,
    BYDEL,
    EXT_DISTRICT,
    EXT_MUNICIPALITY,
    ICD10,
    ICPC2,
    KOMMUNE,
    LOINC,
    NLK,
    SNOMED,
    at,
    coding,
    concept,
    day,
    instant,
    meta,
    quantity,
    ref,
    term,
)
from helseflyt.synth.structure import Municipality, Structure

DISCHARGED_TO = ("Hjem", "Sykehjem", "Hjem med hjemmesykepleie")
_AGE_CUM = list(itertools.accumulate(b[2] for b in tables.AGE_BANDS))
_OSLO_CUM = list(itertools.accumulate(d[2] for d in tables.OSLO_DISTRICTS))


def _pick_cum(rng: random.Random, cum: list[float] | list[int]) -> int:
    return bisect.bisect_right(cum, rng.random() * cum[-1])


class Patient:
    """Builds the resources of patient number ``index``."""

    def __init__(
        self, index: int, rng: random.Random, structure: Structure, muni_cum: list[int], as_of: date
    ) -> None:
        self.rng = rng
        self.as_of = as_of
        self.id = f"pasient-{index:07d}"
        self.structure = structure
        self.muni: Municipality = structure.municipalities[_pick_cum(rng, muni_cum)]
        self.trust = structure.trusts[self.muni.trust]
        self.gp, self.office = rng.choice(self.muni.gps)
        self.out: list[dict[str, Any]] = []
        self.counters: dict[str, int] = {}
        self.meds: list[tuple[str, str]] = []

    # -- helpers ----------------------------------------------------------------------
    def new_id(self, kind: str) -> str:
        n = self.counters.get(kind, 0) + 1
        self.counters[kind] = n
        return f"{self.id}-{kind}-{n}"

    def add(self, resource_type: str, kind: str, body: dict[str, Any]) -> str:
        rid = self.new_id(kind)
        self.out.append({"resourceType": resource_type, "id": rid, "meta": meta(), **body})
        return rid

    def subject(self) -> dict[str, str]:
        return ref("Patient", self.id)

    def past_day(self, max_days: int, min_days: int = 0) -> date:
        lower = max(min_days, 0)
        upper = max(lower, min(max_days, (self.as_of - self.birth).days))
        return self.as_of - timedelta(days=self.rng.randint(lower, upper))

    # -- the person ---------------------------------------------------------------------
    def person(self, used: set[str]) -> None:
        rng = self.rng
        band = tables.AGE_BANDS[_pick_cum(rng, _AGE_CUM)]
        self.age = rng.randint(band[0], band[1])
        self.female = rng.random() < tables.female_share(self.age)
        self.birth = self.as_of - timedelta(days=365 * self.age + rng.randint(1, 364))
        self.d_nummer = 18 <= self.age <= 60 and rng.random() < 0.03
        number = self._number(used)
        if self.d_nummer:
            family, male, female = rng.choice(tables.FOREIGN)
            given = [female if self.female else male]
        else:
            family = rng.choice(tables.SURNAMES)
            names = tables.FEMALE_NAMES if self.female else tables.MALE_NAMES
            given = [rng.choice(names)]
            if rng.random() < 0.3:
                given.append(rng.choice(names))
        self.name = f"{' '.join(given)} {family}"
        address: dict[str, Any] = {
            "extension": [
                {"url": EXT_MUNICIPALITY, "valueCoding": coding(KOMMUNE, self.muni.code, self.muni.name)}
            ],
            "use": "home",
            "type": "physical",
            "line": [f"{rng.choice(tables.STREETS)} {rng.randint(1, 120)}"],
            "city": self.muni.city,
            "postalCode": self.muni.postal_code,
            "country": "NO",
        }
        if self.muni.code == "0301":
            code, name, _ = tables.OSLO_DISTRICTS[_pick_cum(rng, _OSLO_CUM)]
            address["extension"].append({"url": EXT_DISTRICT, "valueCoding": coding(BYDEL, code, name)})
            address["district"] = name
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "id": self.id,
            "meta": meta(),
            "identifier": [{"use": "official", "system": DNR if self.d_nummer else FNR, "value": number}],
            "active": True,
            "name": [{"use": "official", "family": family, "given": given}],
        }
        if self.age >= 12:
            patient["telecom"] = [
                {"system": "phone", "value": f"+47 9{rng.randint(0, 9_999_999):07d}", "use": "mobile"}
            ]
        patient["gender"] = "female" if self.female else "male"
        patient["birthDate"] = day(self.birth)
        patient["address"] = [address]
        kin_female = rng.random() < 0.5
        kin_given = rng.choice(tables.FEMALE_NAMES if kin_female else tables.MALE_NAMES)
        relation = "Forelder" if self.age < 18 else rng.choice(("Ektefelle", "Samboer", "Barn", "Søsken"))
        patient["contact"] = [
            {
                "relationship": [
                    {"coding": [coding("http://terminology.hl7.org/CodeSystem/v2-0131", "N", "Next-of-Kin")]},
                    {"text": relation},
                ],
                "name": {"use": "official", "family": family, "given": [kin_given]},
                "telecom": [
                    {"system": "phone", "value": f"+47 4{rng.randint(0, 9_999_999):07d}", "use": "mobile"}
                ],
                "gender": "female" if kin_female else "male",
            }
        ]
        patient["generalPractitioner"] = [ref("Practitioner", self.gp), ref("Organization", self.office)]
        self.out.append(patient)

    def _number(self, used: set[str]) -> str:
        b = self.birth
        if b.year >= 2000:
            low, high = 500, 999
        elif b.year >= 1900:
            low, high = 0, 499
        else:
            low, high = 500, 749
        while True:
            individual = self.rng.randint(low, high)
            if individual % 2 != (0 if self.female else 1):
                individual = individual + 1 if individual < high else individual - 1
            number = make_fodselsnummer(
                b.day, b.month, b.year, individual, d_nummer=self.d_nummer, synthetic=True
            )
            if number is not None and number not in used:
                used.add(number)
                return number

    # -- care over time -------------------------------------------------------------------
    def care(self) -> None:
        conditions = self.chronic()
        self.allergies()
        self.vaccinations()
        for _ in range(self._gp_visits()):
            self.gp_visit()
        self.admissions(conditions)
        if self.age >= 75 and self.rng.random() < 0.25:
            self.home_care()
        if self.age >= 85 and self.rng.random() < 0.15:
            self.nursing_home()
        if self.rng.random() < 0.3:
            self.appointment()

    def _gp_visits(self) -> int:
        base = 1 if self.age < 40 else 2 if self.age < 70 else 4
        return self.rng.randint(0, base * 2)

    def chronic(self) -> list[tuple[str, str, str]]:
        rng, found = self.rng, []
        if self.age < 30:
            return found
        for key, icpc, icd, per_mille_40, per_mille_70, meds in tables.CHRONIC:
            if self.age < 40:
                p = per_mille_40 / 3000
            else:
                p = (per_mille_70 if self.age >= 70 else per_mille_40) / 1000
            if rng.random() >= p:
                continue
            onset = self.past_day(365 * min(15, self.age - 29), 200)
            cid = self.add("Condition", "tilstand", {
                "clinicalStatus": term("condition-clinical", "active"),
                "verificationStatus": term("condition-ver-status", "confirmed"),
                "category": [term("condition-category", "problem-list-item", "Problem List Item")],
                "code": {"coding": [coding(ICPC2, *icpc), coding(ICD10, *icd)], "text": icd[1]},
                "subject": self.subject(),
                "onsetDateTime": day(onset),
                "recordedDate": day(onset),
                "recorder": ref("Practitioner", self.gp),
            })  # fmt: skip
            found.append((key, cid, day(onset)))
            self.medication(meds[0], onset, cid, self.gp)
            if len(meds) > 1 and rng.random() < 0.4:
                self.medication(meds[1], self.past_day((self.as_of - onset).days), cid, self.gp)
            if key == "diabetes":
                if self.age >= 40:
                    self.medication(tables.STATIN, onset, cid, self.gp)
                self.hba1c_course(onset)
        return found

    def medication(self, atc: tuple[str, str], start: date, reason: str, prescriber: str) -> str:
        code = concept(ATC, atc[0], atc[1])
        rid = self.add("MedicationRequest", "forskrivning", {
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": code,
            "subject": self.subject(),
            "authoredOn": day(start),
            "requester": ref("Practitioner", prescriber),
            "reasonReference": [ref("Condition", reason)],
            "dosageInstruction": [{"text": self.rng.choice(("1 tablett daglig", "1 tablett morgen og kveld",
                                                            "Etter behov, inntil 3 ganger daglig"))}],
        })  # fmt: skip
        pll = uuid.UUID(int=self.rng.getrandbits(128), version=4)
        self.add("MedicationStatement", "legemiddel", {
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{pll}"}],
            "basedOn": [ref("MedicationRequest", rid)],
            "status": "active",
            "medicationCodeableConcept": concept(ATC, atc[0], atc[1]),
            "subject": self.subject(),
            "effectivePeriod": {"start": day(start)},
            "dateAsserted": day(start),
            "informationSource": ref("Practitioner", prescriber),
        })  # fmt: skip
        self.meds.append(atc)
        return rid

    def hba1c_course(self, onset: date) -> None:
        rng = self.rng
        code, display, unit, low, high = tables.HBA1C
        value = rng.gauss(62, 8)
        when = onset
        while when < self.as_of:
            value = max(38.0, value + rng.gauss(-1.0, 3.0))
            self.observation("laboratory", NLK, code, display, when, quantity(round(value), unit),
                             ranges=(low, high))  # fmt: skip
            when += timedelta(days=rng.randint(90, 200))

    def observation(
        self,
        category: str,
        system: str,
        code: str,
        display: str,
        when: date,
        value: dict[str, Any] | None,
        *,
        ranges: tuple[float | None, float | None] | None = None,
        encounter: str | None = None,
        components: list[dict[str, Any]] | None = None,
    ) -> str:
        body: dict[str, Any] = {
            "status": "final",
            "category": [term("observation-category", category)],
            "code": concept(system, code, display),
            "subject": self.subject(),
        }
        if encounter is not None:
            body["encounter"] = ref("Encounter", encounter)
        body["effectiveDateTime"] = instant(at(when, 8 * 60 + self.rng.randint(0, 480)))
        if value is not None:
            body["valueQuantity"] = value
        if ranges is not None:
            rr: dict[str, Any] = {}
            unit = value["unit"] if value else ""
            if ranges[0] is not None:
                rr["low"] = quantity(ranges[0], unit)
            if ranges[1] is not None:
                rr["high"] = quantity(ranges[1], unit)
            body["referenceRange"] = [rr]
        if components:
            body["component"] = components
        return self.add("Observation", "obs", body)

    def gp_visit(self) -> None:
        rng = self.rng
        when = self.past_day(3 * 365)
        start = at(when, 8 * 60 + rng.randint(0, 420))
        reason = rng.choice(tables.GP_REASONS)
        eid = self.add("Encounter", "kontakt", {
            "status": "finished",
            "class": coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB", "ambulatory"),
            "subject": self.subject(),
            "participant": [{"individual": ref("Practitioner", self.gp)}],
            "period": {"start": instant(start), "end": instant(start + timedelta(minutes=20))},
            "reasonCode": [concept(ICPC2, *reason)],
            "serviceProvider": ref("Organization", self.office),
        })  # fmt: skip
        if self.age >= 18 and rng.random() < 0.6:
            sys_bp = round(rng.gauss(118 + self.age * 0.4, 12))
            dia_bp = round(rng.gauss(72 + self.age * 0.1, 8))
            self.observation("vital-signs", LOINC, "85354-9", "Blood pressure panel", when, None,
                             encounter=eid, components=[
                                 {"code": concept(LOINC, "8480-6", "Systolic blood pressure"),
                                  "valueQuantity": quantity(sys_bp, "mm[Hg]")},
                                 {"code": concept(LOINC, "8462-4", "Diastolic blood pressure"),
                                  "valueQuantity": quantity(dia_bp, "mm[Hg]")}])  # fmt: skip
            self.observation("vital-signs", LOINC, "8867-4", "Heart rate", when,
                             quantity(round(rng.gauss(72, 10)), "/min"), encounter=eid)  # fmt: skip
            weight = rng.gauss(78 if not self.female else 67, 12)
            self.observation("vital-signs", LOINC, "29463-7", "Body weight", when,
                             quantity(round(max(40.0, weight), 1), "kg"), encounter=eid)  # fmt: skip
        if rng.random() < 0.4:
            for lab in rng.sample(tables.LABS, rng.randint(1, 3)):
                code, display, unit, low, high, mean, sd = lab
                value = round(max(0.1, rng.gauss(mean, sd)), 1)
                self.observation("laboratory", NLK, code, display, when, quantity(value, unit),
                                 ranges=(low, high), encounter=eid)  # fmt: skip

    def admissions(self, chronic: list[tuple[str, str, str]]) -> None:
        rng = self.rng
        rate = 0.03 if self.age < 60 else 0.1 if self.age < 80 else 0.25
        if self.age < 5:
            rate = 0.06
        for _ in range(3):
            if rng.random() < rate:
                self.admission(chronic)

    def admission(self, chronic: list[tuple[str, str, str]]) -> None:
        rng = self.rng
        icd, display, dept_index = rng.choice(
            tables.PEDIATRIC_ADMISSIONS if self.age < 16 else tables.ADMISSIONS
        )
        dept, doctors = self.trust.departments[dept_index]
        doctor = rng.choice(doctors)
        start_day = self.past_day(3 * 365, 10)
        start = at(start_day, rng.randint(0, 1439))
        end = start + timedelta(days=rng.randint(1, 8), hours=rng.randint(0, 8))
        eid_ref = self.new_id("kontakt")
        cid = self.add("Condition", "tilstand", {
            "clinicalStatus": term("condition-clinical", "resolved"),
            "verificationStatus": term("condition-ver-status", "confirmed"),
            "category": [term("condition-category", "encounter-diagnosis", "Encounter Diagnosis")],
            "code": concept(ICD10, icd, display),
            "subject": self.subject(),
            "encounter": ref("Encounter", eid_ref),
            "onsetDateTime": instant(start),
            "abatementDateTime": instant(end),
            "recordedDate": instant(start),
            "recorder": ref("Practitioner", doctor),
        })  # fmt: skip
        self.out.append({
            "resourceType": "Encounter", "id": eid_ref, "meta": meta(),
            "status": "finished",
            "class": coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP", "inpatient encounter"),
            "subject": self.subject(),
            "participant": [{"individual": ref("Practitioner", doctor)}],
            "period": {"start": instant(start), "end": instant(end)},
            "reasonCode": [concept(ICD10, icd, display)],
            "diagnosis": [{"condition": ref("Condition", cid), "rank": 1}],
            "hospitalization": {"dischargeDisposition": {"text": rng.choice(DISCHARGED_TO)}},
            "serviceProvider": ref("Organization", dept),
        })  # fmt: skip
        # The hospital doctor renews one of the patient's medicines: an overlapping order
        # from a different prescriber, as real medication lists have.
        if self.meds:
            self.medication(rng.choice(self.meds), end.date(), cid, doctor)
        elif icd in ("J18.9", "N39.0"):
            self.medication(("J01CE02", "Fenoksymetylpenicillin"), end.date(), cid, doctor)
        text = (
            f"Epikrise\n\nPasienten ble innlagt {start:%d.%m.%Y} med {display.lower()} og "
            f"utskrevet {end:%d.%m.%Y} i stabil tilstand. Syntetiske testdata.\n"
        )
        self.add("DocumentReference", "dokument", {
            "status": "current",
            "docStatus": "final",
            "type": concept(LOINC, "18842-5", "Discharge summary"),
            "subject": self.subject(),
            "date": instant(end),
            "author": [ref("Practitioner", doctor), ref("Organization", dept)],
            "custodian": ref("Organization", self.trust.org_id),
            "securityLabel": [term("v3-Confidentiality", "N", "normal")],
            "content": [{"attachment": {
                "contentType": "text/plain; charset=utf-8", "language": "nb",
                "data": base64.b64encode(text.encode()).decode("ascii"), "title": "Epikrise",
                "creation": instant(end)}}],
            "context": {"encounter": [ref("Encounter", eid_ref)],
                        "period": {"start": instant(start), "end": instant(end)}},
        })  # fmt: skip

    def home_care(self) -> None:
        rng = self.rng
        start = self.past_day(2 * 365, 30)
        nurse = rng.choice(self.muni.nurses)
        eoc = self.add("EpisodeOfCare", "forlop", {
            "status": "active",
            "type": [{"text": "Hjemmesykepleie"}],
            "patient": self.subject(),
            "managingOrganization": ref("Organization", self.muni.home_care_id),
            "period": {"start": day(start)},
            "careManager": ref("Practitioner", nurse),
        })  # fmt: skip
        for _ in range(rng.randint(1, 3)):
            when = at(start + timedelta(days=rng.randint(0, (self.as_of - start).days - 1)), 9 * 60)
            self.add("Encounter", "kontakt", {
                "status": "finished",
                "class": coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "HH", "home health"),
                "subject": self.subject(),
                "episodeOfCare": [ref("EpisodeOfCare", eoc)],
                "participant": [{"individual": ref("Practitioner", nurse)}],
                "period": {"start": instant(when), "end": instant(when + timedelta(minutes=30))},
                "serviceProvider": ref("Organization", self.muni.home_care_id),
            })  # fmt: skip

    def nursing_home(self) -> None:
        self.add("EpisodeOfCare", "forlop", {
            "status": "active",
            "type": [{"text": "Langtidsopphold i sykehjem"}],
            "patient": self.subject(),
            "managingOrganization": ref("Organization", self.muni.nursing_home_id),
            "period": {"start": day(self.past_day(3 * 365, 30))},
        })  # fmt: skip

    def allergies(self) -> None:
        rng = self.rng
        if rng.random() >= 0.15:
            return
        code, display, reaction, reaction_display, critical_share = rng.choice(tables.ALLERGIES)
        critical = rng.random() < critical_share
        category = {"373270004": "medication", "387207008": "medication", "256349002": "food",
                    "227493005": "food"}.get(code, "environment")  # fmt: skip
        self.add("AllergyIntolerance", "allergi", {
            "clinicalStatus": term("allergyintolerance-clinical", "active"),
            "verificationStatus": term("allergyintolerance-verification", "confirmed"),
            "type": "allergy",
            "category": [category],
            "criticality": "high" if critical else "low",
            "code": concept(SNOMED, code, display),
            "patient": self.subject(),
            "recordedDate": day(self.past_day(10 * 365)),
            "recorder": ref("Practitioner", self.gp),
            "reaction": [{"manifestation": [concept(SNOMED, reaction, reaction_display)],
                          "severity": "severe" if critical else "mild"}],
        })  # fmt: skip

    def vaccinations(self) -> None:
        rng = self.rng
        for code, display, min_age in tables.VACCINES:
            if self.age < min_age:
                continue
            if code == "J07BB02":
                days = [self.as_of.replace(month=10, day=15) - timedelta(days=365 * y + rng.randint(0, 40))
                        for y in (1, 2, 3) if rng.random() < 0.6]  # fmt: skip
            elif code == "J07BN01":
                days = [date(2021, 5, 1) + timedelta(days=rng.randint(0, 200))] if rng.random() < 0.85 else []
            elif code == "J07AL02":
                days = [self.past_day(5 * 365)] if rng.random() < 0.4 else []
            elif code == "J07CA09":
                days = [self.birth + timedelta(days=d) for d in (92, 152, 365)] if self.age < 18 else []
            else:
                days = [self.birth + timedelta(days=456)] if self.age < 18 else []
            for when in days:
                if when < self.birth or when >= self.as_of:
                    continue
                self.add("Immunization", "vaksine", {
                    "status": "completed",
                    "vaccineCode": concept(ATC, code, display),
                    "patient": self.subject(),
                    "occurrenceDateTime": day(when),
                    "primarySource": True,
                })  # fmt: skip

    def appointment(self) -> None:
        rng = self.rng
        when = at(self.as_of + timedelta(days=rng.randint(1, 60)), 8 * 60 + 20 * rng.randint(0, 20))
        self.add("Appointment", "time", {
            "status": "booked",
            "description": "Kontroll hos fastlegen",
            "start": instant(when),
            "end": instant(when + timedelta(minutes=20)),
            "minutesDuration": 20,
            "participant": [
                {"actor": self.subject(), "required": "required", "status": "accepted"},
                {"actor": ref("Practitioner", self.gp), "required": "required", "status": "accepted"},
            ],
        })  # fmt: skip
