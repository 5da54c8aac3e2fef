"""The registry compiles the official SearchParameters; the indexer makes typed rows."""

from __future__ import annotations

import pickle

from helseflyt.search import registry
from helseflyt.search.index import index, reference_parts
from helseflyt.search.values import MAX_MICROS, date_range, decimal_range, normalise


def test_registry_compiles_all_but_composite_and_special() -> None:
    missing = registry.unsupported()
    reasons = {r.split(":")[0] for r in missing.values()}
    assert reasons <= {
        "type composite is not supported yet",
        "type special is not supported yet",
        "no FHIRPath expression",
    }
    assert len(missing) < 80
    patient = registry.for_type("Patient")
    for code in (
        "_id",
        "_lastUpdated",
        "_tag",
        "_profile",
        "_security",
        "_source",
        "name",
        "birthdate",
        "identifier",
    ):
        assert code in patient
    assert registry.param("Observation", "patient").only_targets == ("Patient",)


def test_patched_expressions() -> None:
    assert registry.patch_expression("p", "X", "X.subject.where(resolve() is Patient)") == (
        "X.subject",
        ("Patient",),
    )
    assert "item-subject" in registry.for_type("QuestionnaireResponse")


def test_normalise_and_ranges() -> None:
    assert normalise("  Ærlig  ÅSE ") == "ærlig ase"
    assert date_range("2020") == (1577836800000000, 1609459199999999)
    assert date_range("2020-02")[1] - date_range("2020-02")[0] + 1 == 29 * 86400 * 10**6
    assert date_range("2020-01-01T01:00:00+01:00")[0] == 1577836800000000
    assert date_range("2020-01-01T00:00:00.5Z") == (1577836800500000, 1577836800599999)
    assert date_range("2020-13") is None
    assert decimal_range("100")[1:] == (99.5, 100.5)
    assert float(decimal_range("1e2")[1]) == 50


def test_reference_parts() -> None:
    assert reference_parts("Patient/1/_history/2") == ("Patient", "1", None)
    assert reference_parts("http://x/fhir/Patient/1/_history/2") == (None, None, "http://x/fhir/Patient/1")
    assert reference_parts("http://x/Q|1.0") == (None, None, "http://x/Q")
    assert reference_parts("#c1") == (None, None, None)


def test_patient_rows() -> None:
    p = {
        "resourceType": "Patient",
        "identifier": [
            {
                "system": "urn:fnr",
                "value": "1",
                "type": {"coding": [{"system": "t", "code": "NNNOR"}], "text": "Fnr"},
            }
        ],
        "name": [{"family": "Østby", "given": ["Kari"]}],
        "birthDate": "1980",
        "active": True,
        "telecom": [{"system": "phone", "value": "123"}],
        "generalPractitioner": [
            {"reference": "Practitioner/9", "identifier": {"system": "hpr", "value": "77"}}
        ],
        "meta": {"tag": [{"system": "s", "code": "c"}], "profile": ["http://p"]},
    }
    rows = set(index("Patient", p))
    assert ("token", "identifier", "urn:fnr", "1") in rows
    assert ("token", "identifier:of-type", "t", "NNNOR|1") in rows
    assert ("string", "identifier:text", "fnr", "Fnr") in rows
    assert ("string", "family", "østby", "Østby") in rows
    assert ("date", "birthdate", *date_range("1980")) in rows
    assert ("token", "active", None, "true") in rows
    assert ("token", "telecom", "phone", "123") in rows
    assert ("reference", "general-practitioner", "Practitioner", "9", None) in rows
    assert ("token", "general-practitioner:identifier", "hpr", "77") in rows
    assert ("token", "_tag", "s", "c") in rows
    assert ("uri", "_profile", "http://p") in rows


def test_observation_rows_and_filters() -> None:
    o = {
        "resourceType": "Observation",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "1", "display": "Hb"}],
            "text": "Hemoglobin",
        },
        "subject": {"reference": "Group/1"},
        "effectivePeriod": {"start": "2020-01-01"},
        "valueQuantity": {"value": 5.5, "system": "http://unitsofmeasure.org", "code": "g/dL"},
    }
    rows = set(index("Observation", o))
    assert ("reference", "subject", "Group", "1", None) in rows
    assert not any(r[1] == "patient" for r in rows)  # patient keeps only Patient references
    assert ("date", "date", date_range("2020-01-01")[0], MAX_MICROS) in rows
    assert ("number", "value-quantity", 5.5, "http://unitsofmeasure.org", "g/dL") in rows
    assert ("string", "code:text", "hemoglobin", "Hemoglobin") in rows


def test_identifier_on_every_type_and_picklable() -> None:
    rows = index("Basic", {"resourceType": "Basic", "identifier": [{"value": "x"}]})
    assert ("token", "identifier", None, "x") in rows
    assert pickle.loads(pickle.dumps(index)) is index
