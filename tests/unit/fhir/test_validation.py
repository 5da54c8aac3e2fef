"""The R4 validator: each rule, valid and invalid, with exact locations and codes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from helseflyt.fhir.json import loads
from helseflyt.fhir.validation import validate


def found(resource: Any, **kw: Any) -> list[tuple[str, str]]:
    """(code, expression) of every issue."""
    out = []
    for issue in validate(resource, **kw):
        assert issue.severity == "error"
        assert issue.diagnostics
        assert len(issue.expression) == 1
        out.append((issue.code, issue.expression[0]))
    return out


def patient(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **fields}


def obs(**fields: Any) -> dict[str, Any]:
    base = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    }
    return {**base, **fields}


# --- resource envelope ---------------------------------------------------------------


def test_minimal_resources_are_valid() -> None:
    assert found(patient()) == []
    assert found(obs()) == []
    assert found(patient(id="p-1.x", active=True)) == []


@pytest.mark.parametrize("value", [None, [], "Patient", 3])
def test_not_an_object(value: Any) -> None:
    assert found(value) == [("structure", "Resource")]


def test_missing_and_unknown_resource_type() -> None:
    assert found({"id": "x"}) == [("required", "Resource")]
    assert found({"resourceType": "Patientx"}) == [("value", "Patientx")]
    assert found({"resourceType": "DomainResource"}) == [("value", "DomainResource")]
    assert found({"resourceType": 3}) == [("value", "Resource")]


def test_expected_type() -> None:
    assert found(patient(), expected_type="Patient") == []
    assert found(patient(), expected_type="Observation") == [("invalid", "Patient")]


def test_resource_id_format() -> None:
    assert found(patient(id="a" * 64)) == []
    assert found(patient(id="a" * 65)) == [("value", "Patient.id")]
    assert found(patient(id="has space")) == [("value", "Patient.id")]
    assert found(patient(id="under_score")) == [("value", "Patient.id")]


# --- structure and cardinality -------------------------------------------------------


def test_unknown_elements() -> None:
    assert found(patient(foo=1)) == [("structure", "Patient.foo")]
    assert found(patient(name=[{"family": "X", "nick": "Y"}])) == [("structure", "Patient.name[0].nick")]
    # "_x" is only allowed for primitives
    assert found(patient(_name=[{}])) == [("structure", "Patient._name")]
    # resourceType only at a resource's root
    assert found(patient(name=[{"resourceType": "HumanName"}])) == [
        ("structure", "Patient.name[0].resourceType")
    ]


def test_required_elements() -> None:
    assert found({"resourceType": "Observation", "code": {"text": "x"}}) == [
        ("required", "Observation.status")
    ]
    # a choice element with min 1: any of its types satisfies it
    mr = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/1"},
    }
    assert found(mr) == [("required", "MedicationRequest.medication")]
    assert found({**mr, "medicationCodeableConcept": {"text": "x"}}) == []
    # a primitive with only an extension satisfies the cardinality
    ext = {"extension": [{"url": "http://example.org/x", "valueBoolean": True}]}
    assert found({"resourceType": "Observation", "_status": ext, "code": {"text": "x"}}) == []


def test_array_vs_single_value() -> None:
    assert found(patient(name={"family": "X"})) == [("structure", "Patient.name")]
    assert found(patient(gender=["male"])) == [("structure", "Patient.gender")]
    assert found(patient(maritalStatus=[{"text": "x"}])) == [("structure", "Patient.maritalStatus")]
    assert found(patient(name=[{"given": "Ola"}])) == [("structure", "Patient.name[0].given")]


def test_max_cardinality_zero() -> None:
    # xhtml.extension is 0..0: a narrative div cannot carry extensions
    div = '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'
    ext = {"extension": [{"url": "http://x", "valueString": "y"}]}
    text = {"status": "generated", "div": div, "_div": ext}
    assert found(patient(text=text)) == [("structure", "Patient.text.div.extension")]
    assert found(patient(text={**text, "_div": {"id": "d"}})) == []


def test_empty_values_and_null() -> None:
    assert found(patient(name=[{}])) == [("structure", "Patient.name[0]")]
    assert found(patient(name=[])) == [("structure", "Patient.name")]
    assert found(patient(gender="")) == [("value", "Patient.gender")]
    assert found(patient(gender=None)) == [("structure", "Patient.gender")]
    assert found(patient(name=[None])) == [("structure", "Patient.name[0]")]
    assert found(patient(name=[{"family": ""}])) == [("value", "Patient.name[0].family")]


def test_null_in_primitive_array_needs_companion() -> None:
    ext = {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}
    ok = patient(name=[{"given": ["A", None], "_given": [None, ext]}])
    assert found(ok) == []
    bad = patient(name=[{"given": ["A", None]}])
    assert found(bad) == [("structure", "Patient.name[0].given[1]")]
    both_null = patient(name=[{"given": ["A", None], "_given": [None, None]}])
    assert found(both_null) == [
        ("structure", "Patient.name[0].given[1]"),
        ("structure", "Patient.name[0].given[1]"),
    ]
    misaligned = patient(name=[{"given": ["A", "B"], "_given": [ext]}])
    assert found(misaligned) == [("structure", "Patient.name[0]._given")]


def test_primitive_companion_elements() -> None:
    ext = {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}
    assert found(patient(birthDate="2000-01-01", _birthDate=ext)) == []
    assert found(patient(_birthDate={"id": "a1", **ext})) == []
    assert found(patient(_birthDate={"value": "2000"})) == [("structure", "Patient.birthDate.value")]
    assert found(patient(_birthDate={})) == [("structure", "Patient.birthDate")]
    assert found(patient(_birthDate="x")) == [("structure", "Patient.birthDate")]


# --- primitives ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("birthDate", ["2000", "2000-02", "2000-02-29"], ["2000-13", "20000101", "2000-1-1", 2000]),
        ("deceasedDateTime", ["2000", "2020-01-01T10:00:00+01:00", "2020-01-01T10:00:00.123Z"],
         ["2020-01-01T10:00:00", "2020-01-01T25:00:00Z", "2020-01-01 10:00:00Z"]),
        ("deceasedBoolean", [True, False], ["true", 1, 0]),
        ("multipleBirthInteger", [0, -5, 2**31 - 1], [2**31, 1.5, "1", True, Decimal("1.0")]),
        ("gender", ["male"], [" male", "male "]),
        ("implicitRules", ["http://example.org/rules", "urn:x"], ["has space", ""]),
        ("language", ["nb-NO", "en"], ["", 3]),
    ],
)  # fmt: skip
def test_primitive_formats(field: str, good: list[Any], bad: list[Any]) -> None:
    for value in good:
        assert found(patient(**{field: value})) == [], value
    for value in bad:
        codes = found(patient(**{field: value}))
        assert len(codes) == 1 and codes[0][1] == f"Patient.{field}", (value, codes)
        assert codes[0][0] in ("value", "structure", "code-invalid"), (value, codes)


def test_json_type_errors_are_structure_and_format_errors_are_value() -> None:
    assert found(patient(birthDate=2000)) == [("structure", "Patient.birthDate")]
    assert found(patient(birthDate="yesterday")) == [("value", "Patient.birthDate")]
    assert found(patient(active="true")) == [("structure", "Patient.active")]


@pytest.mark.parametrize(
    ("type_name", "field", "good", "bad"),
    [
        ("instant", "issued", ["2020-01-01T10:00:00Z"], ["2020-01-01", "2020-01-01T10:00:00"]),
        ("decimal", "valueQuantity", [1, 1.5, Decimal("1.50"), -0.0], ["1.5", True]),
        ("time", "valueTime", ["10:00:00", "23:59:60.5"], ["10:00", "24:00:00"]),
        ("integer", "valueInteger", [5], [5.5, "5"]),
        ("string", "valueString", ["x y", "æøå"], ["", "\x0bx", 5]),
    ],
)  # fmt: skip
def test_more_primitives(type_name: str, field: str, good: list[Any], bad: list[Any]) -> None:
    def make(v: Any) -> dict[str, Any]:
        if field == "valueQuantity":
            return obs(valueQuantity={"value": v})
        return obs(**{field: v})

    where = "Observation.valueQuantity.value" if field == "valueQuantity" else f"Observation.{field}"
    for value in good:
        assert found(make(value)) == [], value
    for value in bad:
        codes = found(make(value))
        assert [c[1] for c in codes] == [where], (value, codes)


def test_more_primitive_types() -> None:
    def att(**kw: Any) -> dict[str, Any]:
        return patient(photo=[kw])

    assert found(att(data="aGVsbG8=", url="http://x/y", size=0, hash="AAAA")) == []
    assert found(att(data="aGVsbG8")) == [("value", "Patient.photo[0].data")]
    assert found(att(data="a$==")) == [("value", "Patient.photo[0].data")]
    assert found(att(size=-1)) == [("value", "Patient.photo[0].size")]
    assert found(att(url="a b")) == [("value", "Patient.photo[0].url")]
    # positiveInt
    rel = {"resourceType": "RiskAssessment", "status": "final", "subject": {"reference": "Patient/1"}}
    assert found(rel) == []
    # oid / uuid / canonical / markdown / id-typed elements
    # (a no-basis system: the value must also pass its check digits, see tests/unit/norway)
    ident = patient(identifier=[{"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "13116900216"}])
    assert found(ident) == []
    qr = {"resourceType": "Questionnaire", "status": "draft", "derivedFrom": ["http://x|1.0"]}
    assert found(qr) == []
    assert found({**qr, "description": ""}) == [("value", "Questionnaire.description")]
    assert found({**qr, "derivedFrom": ["a b"]}) == [("value", "Questionnaire.derivedFrom[0]")]
    ext = patient(extension=[{"url": "http://x", "valueOid": "urn:oid:1.2.3"}])
    assert found(ext) == []
    bad_oid = patient(extension=[{"url": "http://x", "valueOid": "1.2.3"}])
    assert found(bad_oid) == [("value", "Patient.extension[0].valueOid")]
    bad_uuid = patient(extension=[{"url": "http://x", "valueUuid": "urn:uuid:ABC"}])
    assert found(bad_uuid) == [("value", "Patient.extension[0].valueUuid")]
    bad_id = patient(extension=[{"url": "http://x", "valueId": "a b"}])
    assert found(bad_id) == [("value", "Patient.extension[0].valueId")]


def test_xhtml_narrative() -> None:
    div = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Hei</p></div>'
    assert found(patient(text={"status": "generated", "div": div})) == []
    for bad in ("<p>Hei</p>", "<div><p>no namespace</p></div>", "plain text"):
        assert found(patient(text={"status": "generated", "div": bad})) == [("value", "Patient.text.div")]
    assert found(patient(text={"status": "generated"})) == [("required", "Patient.text.div")]


def test_decimals_from_the_json_parser() -> None:
    parsed = loads(b'{"resourceType":"Observation","status":"final","code":{"text":"x"},'
                   b'"valueQuantity":{"value":1.50,"unit":"mg"}}')  # fmt: skip
    assert isinstance(parsed["valueQuantity"]["value"], Decimal)
    assert found(parsed) == []


# --- choice types --------------------------------------------------------------------


def test_choice_types() -> None:
    assert found(obs(valueString="x")) == []
    assert found(obs(valueString="x", _valueString={"id": "a"})) == []
    assert found(obs(valueFoo="x")) == [("structure", "Observation.valueFoo")]
    assert found(obs(value="x")) == [("structure", "Observation.value")]
    assert found(obs(valueString="x", valueBoolean=True)) == [("structure", "Observation.valueBoolean")]
    assert found(obs(valueString="x", _valueBoolean={"id": "a"})) == [
        ("structure", "Observation.valueBoolean")
    ]
    # effective[x] and value[x] are separate choices
    assert found(obs(valueString="x", effectiveDateTime="2020")) == []


# --- required bindings ---------------------------------------------------------------


def test_required_binding_on_code() -> None:
    assert found(patient(gender="unknown")) == []
    assert found(patient(gender="mann")) == [("code-invalid", "Patient.gender")]
    assert found(obs(status="done")) == [("code-invalid", "Observation.status")]
    assert found(obs(valueQuantity={"value": 1, "comparator": "<"})) == []
    assert found(obs(valueQuantity={"value": 1, "comparator": "~"})) == [
        ("code-invalid", "Observation.valueQuantity.comparator")
    ]
    assert found(patient(telecom=[{"system": "phone", "use": "mobile", "value": "1"}])) == []
    assert found(patient(telecom=[{"system": "pager2"}])) == [("code-invalid", "Patient.telecom[0].system")]


def test_required_binding_on_codeable_concept() -> None:
    system = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
    base = {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/1"}}
    good = {**base, "clinicalStatus": {"coding": [{"system": system, "code": "active"}]}}
    assert found(good) == []
    wrong = {**base, "clinicalStatus": {"coding": [{"system": system, "code": "gone"}]}}
    assert found(wrong) == [("code-invalid", "AllergyIntolerance.clinicalStatus")]
    no_system = {**base, "clinicalStatus": {"coding": [{"code": "active"}]}}
    assert found(no_system) == [("code-invalid", "AllergyIntolerance.clinicalStatus")]
    one_of_two = {
        **base,
        "clinicalStatus": {
            "coding": [{"system": "http://x", "code": "y"}, {"system": system, "code": "active"}]
        },
    }
    assert found(one_of_two) == []


def test_not_enumerable_value_sets_use_a_rule() -> None:
    def att(ct: str) -> dict[str, Any]:
        return patient(photo=[{"contentType": ct}])

    assert found(att("image/png")) == []
    assert found(att("text/plain; charset=UTF-8")) == []
    assert found(att("png")) == [("code-invalid", "Patient.photo[0].contentType")]
    money = {"resourceType": "Account", "status": "active"}
    assert found(money) == []
    claim_total = {
        "resourceType": "ChargeItem",
        "status": "billed",
        "code": {"text": "x"},
        "subject": {"reference": "Patient/1"},
        "priceOverride": {"value": 10, "currency": "NOK"},
    }
    assert found(claim_total) == []
    bad = {**claim_total, "priceOverride": {"value": 10, "currency": "nok"}}
    assert found(bad) == [("code-invalid", "ChargeItem.priceOverride.currency")]
    # CapabilityStatement.format also allows xml, json and ttl (its definition says so)
    cs = {
        "resourceType": "CapabilityStatement", "status": "active", "date": "2020",
        "kind": "instance", "fhirVersion": "4.0.1", "format": ["json", "application/fhir+xml"],
    }  # fmt: skip
    assert found(cs) == []
    assert found({**cs, "format": ["yaml"]}) == [("code-invalid", "CapabilityStatement.format[0]")]


# --- references ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref",
    [
        "Patient/123",
        "Patient/123/_history/2",
        "http://example.org/fhir/Patient/123",
        "https://example.org/anything",
        "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0",
        "urn:oid:1.2.3.4",
        "Patient?identifier=urn:oid:2.16.578.1.12.4.1.4.1|13116900216",
    ],
)
def test_valid_references(ref: str) -> None:
    assert found(obs(subject={"reference": ref})) == []


@pytest.mark.parametrize(
    "ref",
    ["Patient", "Patient/", "patient/1", "Foo/1", "Patient/a_b", "urn:uuid:xyz", "urn:oid:abc", "1"],
)
def test_invalid_references(ref: str) -> None:
    assert found(obs(subject={"reference": ref})) == [("value", "Observation.subject.reference")]


def test_reference_target_types() -> None:
    # Observation.subject: Patient | Group | Device | Location
    assert found(obs(subject={"reference": "Group/1"})) == []
    assert found(obs(subject={"reference": "Medication/1"})) == [("value", "Observation.subject.reference")]
    # Reference(Any) accepts every type
    assert found(obs(focus=[{"reference": "Medication/1"}])) == []


# --- contained resources -------------------------------------------------------------


def test_contained_resources() -> None:
    med = {"resourceType": "Medication", "id": "m1", "code": {"text": "Paracet"}}
    base = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/1"},
    }
    good = {**base, "contained": [med], "medicationReference": {"reference": "#m1"}}
    assert found(good) == []
    # validated as their own type
    bad_inner = {**good, "contained": [{**med, "status": "x"}]}
    assert found(bad_inner) == [("code-invalid", "MedicationRequest.contained[0].status")]
    # ref-1: #id must match a contained id
    dangling = {**base, "medicationReference": {"reference": "#m2"}}
    assert found(dangling) == [("invalid", "MedicationRequest.medicationReference.reference")]
    # dom-3: a contained resource must be referenced
    orphan = {**base, "contained": [med], "medicationCodeableConcept": {"text": "x"}}
    assert found(orphan) == [("invalid", "MedicationRequest.contained[0]")]
    # dom-2, dom-4, dom-5
    nested = {**med, "contained": [{"resourceType": "Substance", "id": "s", "code": {"text": "x"}}]}
    meta = {"versionId": "1", "lastUpdated": "2020-01-01T00:00:00Z", "security": [{"code": "R"}]}
    rules = {**good, "contained": [{**nested, "meta": meta}]}
    assert sorted(found(rules)) == sorted(
        [
            ("invalid", "MedicationRequest.contained[0].contained"),
            ("invalid", "MedicationRequest.contained[0].meta.versionId"),
            ("invalid", "MedicationRequest.contained[0].meta.lastUpdated"),
            ("invalid", "MedicationRequest.contained[0].meta.security"),
        ]
    )
    no_id = {
        **base,
        "contained": [{"resourceType": "Medication"}],
        "medicationCodeableConcept": {"text": "x"},
    }
    assert found(no_id) == [("required", "MedicationRequest.contained[0].id")]
    unknown = {**good, "contained": [{"resourceType": "Nope", "id": "m1"}]}
    assert found(unknown) == [("value", "MedicationRequest.contained[0]")]


def test_contained_referring_to_container() -> None:
    prov = {
        "resourceType": "Provenance",
        "id": "p",
        "target": [{"reference": "#"}],
        "recorded": "2020-01-01T00:00:00Z",
        "agent": [{"who": {"display": "x"}}],
    }
    assert found(patient(contained=[prov])) == []


def test_bundle_entries_are_resources_with_their_own_frame() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", "resource": patient()},
            {"resource": obs(status="nope")},
            {"resource": {"resourceType": "Nope"}},
            {"resource": patient(generalPractitioner=[{"reference": "#x"}])},
        ],
    }
    assert found(bundle) == [
        ("code-invalid", "Bundle.entry[1].resource.status"),
        ("value", "Bundle.entry[2].resource"),
        ("invalid", "Bundle.entry[3].resource.generalPractitioner[0].reference"),
    ]


# --- extensions ----------------------------------------------------------------------


def test_extensions() -> None:
    assert found(patient(extension=[{"url": "http://x", "valueString": "y"}])) == []
    nested = {"url": "http://x", "extension": [{"url": "a", "valueInteger": 1}]}
    assert found(patient(extension=[nested])) == []
    assert found(patient(extension=[{"valueString": "y"}])) == [("required", "Patient.extension[0].url")]
    assert found(patient(extension=[{"url": "http://x"}])) == [("invalid", "Patient.extension[0]")]
    both = {"url": "http://x", "valueString": "y", "extension": [{"url": "a", "valueInteger": 1}]}
    assert found(patient(extension=[both])) == [("invalid", "Patient.extension[0]")]
    bad_value = {"url": "http://x", "valueQuantity": {"value": "1"}}
    assert found(patient(modifierExtension=[bad_value])) == [
        ("structure", "Patient.modifierExtension[0].valueQuantity.value")
    ]


# --- backbone elements and content references -----------------------------------------


def test_backbone_and_content_reference() -> None:
    q = {
        "resourceType": "Questionnaire",
        "status": "draft",
        "item": [{"linkId": "1", "type": "group", "item": [{"linkId": "1.1", "type": "string"}]}],
    }
    assert found(q) == []
    bad = {**q, "item": [{"linkId": "1", "type": "group", "item": [{"type": "strin"}]}]}
    assert found(bad) == [
        ("code-invalid", "Questionnaire.item[0].item[0].type"),
        ("required", "Questionnaire.item[0].item[0].linkId"),
    ]


# --- everything at once ---------------------------------------------------------------


def test_multi_error_resource_reports_every_problem() -> None:
    resource = {
        "resourceType": "Patient",
        "id": "bad id",
        "active": "yes",
        "gender": "mann",
        "birthDate": "1990-02-30x",
        "name": [{"given": ["Kari", ""], "family": 7}, {}],
        "telecom": {"system": "phone"},
        "managingOrganization": {"reference": "Organisation/1"},
        "deceasedBoolean": False,
        "deceasedDateTime": "2020",
        "unknown": True,
    }
    assert found(resource) == [
        ("value", "Patient.id"),
        ("structure", "Patient.active"),
        ("code-invalid", "Patient.gender"),
        ("value", "Patient.birthDate"),
        ("value", "Patient.name[0].given[1]"),
        ("structure", "Patient.name[0].family"),
        ("structure", "Patient.name[1]"),
        ("structure", "Patient.telecom"),
        ("value", "Patient.managingOrganization.reference"),
        ("structure", "Patient.unknown"),
        ("structure", "Patient.deceasedDateTime"),
    ]


def test_diagnostics_are_precise() -> None:
    (issue,) = validate(patient(gender="mann"))
    assert "'mann'" in issue.diagnostics
    assert "administrative-gender" in issue.diagnostics
    (issue,) = validate(patient(foo=1))
    assert issue.diagnostics == "unknown element 'foo' in Patient"
    (issue,) = validate(obs(status=None))
    assert issue.diagnostics == "null is not allowed (omit the element)"


def test_dates_must_exist_in_the_calendar() -> None:
    from helseflyt.fhir.validation import validate

    bad = validate({"resourceType": "Patient", "birthDate": "2023-02-30"})
    assert [(i.code, i.expression) for i in bad] == [("value", ("Patient.birthDate",))]
    assert validate({"resourceType": "Patient", "birthDate": "2024-02-29"}) == []
    bad = validate({"resourceType": "Patient", "deceasedDateTime": "2023-04-31T10:00:00Z"})
    assert [i.expression for i in bad] == [("Patient.deceasedDateTime",)]


def test_absurd_nesting_is_an_issue_not_a_crash() -> None:
    from helseflyt.fhir.validation import validate

    ext: dict = {"url": "http://example.org/x", "valueString": "a"}
    for _ in range(3000):
        ext = {"url": "http://example.org/x", "extension": [ext]}
    issues = validate({"resourceType": "Patient", "extension": [ext]})
    assert [i.diagnostics for i in issues] == ["the resource is nested too deeply to be valid FHIR"]


# --- per-1: a Period does not end before it starts ----------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2020", "2020"),
        ("2020-05", "2020"),  # FHIRPath: indeterminate, so the invariant holds
        ("2020-01-01T10:00:00Z", "2020-01-01T10:00:00Z"),
        ("2020-01-01T10:00:00+02:00", "2020-01-01T09:00:00Z"),  # 08:00Z <= 09:00Z
        ("2020-01-01", "2020-01-01T00:00:00Z"),
    ],
)
def test_period_start_not_after_end(start: str, end: str) -> None:
    assert found(obs(effectivePeriod={"start": start, "end": end})) == []


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("1980", "1979"),
        ("2020-02", "2020-01-31"),
        ("2020-01-01T10:00:01Z", "2020-01-01T10:00:00Z"),
        ("2020-01-01T10:00:00+01:00", "2020-01-01T08:59:59Z"),
    ],
)
def test_period_ending_before_it_starts(start: str, end: str) -> None:
    period = {"start": start, "end": end}
    assert found(obs(effectivePeriod=period)) == [("invariant", "Observation.effectivePeriod")]
    # also nested (Encounter.statusHistory.period)
    enc = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "statusHistory": [{"status": "finished", "period": {"start": start, "end": end}}],
    }
    assert found(enc) == [("invariant", "Encounter.statusHistory[0].period")]
