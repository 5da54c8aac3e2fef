"""The FHIRPath engine's API and the behaviour the official suite does not pin down.

Conformance itself is measured in tests/conformance/test_fhirpath_suite.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from helseflyt.fhir import fhirpath
from helseflyt.fhir import json as fhir_json
from helseflyt.fhir.fhirpath import FHIRPathError, FPDateTime, Node, Quantity
from helseflyt.fhir.fhirpath.typeinfo import TypeInfo

OBS: dict[str, Any] = {
    "resourceType": "Observation",
    "status": "final",
    "code": {
        "coding": [
            {"system": "http://loinc.org", "code": "8302-2"},
            {"system": "http://snomed.info/sct", "code": "50373000"},
        ]
    },
    "subject": {"reference": "Patient/p1"},
    "effectiveDateTime": "2024-05-01T10:00:00+02:00",
    "valueQuantity": {"value": 1.5, "unit": "m", "system": "http://unitsofmeasure.org", "code": "m"},
}


def ev(expression: str, resource: Any = OBS, **variables: Any) -> list[Any]:
    return fhirpath.compile(expression).evaluate(resource, variables=variables or None)


def test_compile_is_cached() -> None:
    assert fhirpath.compile("Observation.status") is fhirpath.compile("Observation.status")


def test_path_and_where() -> None:
    assert ev("Observation.code.coding.where(system='http://loinc.org').code") == ["8302-2"]
    assert ev("code.coding.code") == ["8302-2", "50373000"]


def test_choice_type_navigation() -> None:
    assert ev("Observation.value.unit") == ["m"]
    assert ev("Observation.value.ofType(Quantity).value") == [1.5]
    assert ev("(Observation.effective as dateTime)") == ["2024-05-01T10:00:00+02:00"]
    assert ev("Observation.value is Quantity") == [True]


def test_choice_json_name_is_an_error() -> None:
    with pytest.raises(FHIRPathError, match="choice"):
        ev("Observation.valueQuantity")


def test_typed_comparisons_on_resource_values() -> None:
    assert ev("Observation.value > 1 'm'") == [True]
    assert ev("Observation.value < 200 'cm'") == [True]
    assert ev("Observation.effective > @2024-05-01T07:00:00Z") == [True]
    assert ev("Observation.effective.toString()") == ["2024-05-01T10:00:00+02:00"]


def test_decimal_precision_from_fhir_json() -> None:
    resource = fhir_json.loads(b'{"resourceType":"Observation","valueQuantity":{"value":1.50}}')
    assert ev("Observation.value.value", resource) == [Decimal("1.50")]
    assert ev("Observation.value.value = 1.5", resource) == [True]


def test_primitive_extension_companion() -> None:
    patient = {
        "resourceType": "Patient",
        "birthDate": "1980-03-01",
        "_birthDate": {"extension": [{"url": "http://e", "valueString": "x"}]},
        "name": [{"given": ["A", None], "_given": [None, {"extension": [{"url": "u", "valueCode": "c"}]}]}],
    }
    assert ev("Patient.birthDate.extension('http://e').value", patient) == ["x"]
    assert ev("Patient.name.given.select($this.hasValue())", patient) == [True, False]
    assert ev("Patient.name.given.count()", patient) == [2]


def test_variables_and_constants() -> None:
    assert ev("%ucum") == ["http://unitsofmeasure.org"]
    assert ev("%limit + 1", limit=2) == [3]
    assert ev("%resource.status") == ["final"]
    assert ev("%`vs-administrative-gender`") == ["http://hl7.org/fhir/ValueSet/administrative-gender"]
    with pytest.raises(FHIRPathError, match="undefined variable"):
        ev("%nope")


def test_evaluate_nodes_know_their_location() -> None:
    nodes = fhirpath.compile("Observation.code.coding.where(code='50373000')").evaluate_nodes(OBS)
    assert len(nodes) == 1
    node = nodes[0]
    assert isinstance(node, Node)
    assert (node.key, node.index, node.container) == ("coding", 1, OBS["code"])
    assert node.type == "Coding"
    assert node.path() == "Observation.code.coding[1]"


def test_computed_values_are_system_values() -> None:
    assert ev("today()")[0].kind == "date"
    (quantity,) = ev("2 'mg' + 3 'mg'")
    assert isinstance(quantity, Quantity) and quantity.value == 5
    (date,) = ev("@2024-01-31 + 1 month")
    assert isinstance(date, FPDateTime) and str(date) == "2024-02-29"


def test_resolve_within_a_bundle() -> None:
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {
                "fullUrl": "urn:uuid:1",
                "resource": {"resourceType": "Patient", "id": "p1", "gender": "female"},
            },
            {
                "fullUrl": "urn:uuid:2",
                "resource": {"resourceType": "Observation", "subject": {"reference": "urn:uuid:1"}},
            },
            {"resource": {"resourceType": "Observation", "subject": {"reference": "Patient/p1"}}},
        ],
    }
    expr = "Bundle.entry.resource.ofType(Observation).subject.resolve().gender"
    assert ev(expr, bundle) == ["female", "female"]


def test_resolve_contained() -> None:
    resource = {
        "resourceType": "Observation",
        "contained": [{"resourceType": "Patient", "id": "c1"}],
        "subject": {"reference": "#c1"},
    }
    assert ev("Observation.subject.resolve().id", resource) == ["c1"]


def test_member_of_needs_a_terminology_service() -> None:
    assert ev("Observation.code.coding.first().memberOf('http://x')") == []


@pytest.mark.parametrize(
    ("expression", "kind"),
    [
        ("Observation.", "syntax"),
        ("1 +", "syntax"),
        ("'abc", "syntax"),
        ("nosuch()", "semantic"),
        ("Observation.code.coding.single()", "execution"),
        ("1 + 'a'", "execution"),
    ],
)
def test_errors_have_a_kind(expression: str, kind: str) -> None:
    with pytest.raises(FHIRPathError) as err:
        ev(expression)
    assert err.value.kind == kind


def test_strict_mode_checks_element_names() -> None:
    with pytest.raises(FHIRPathError, match="no element"):
        fhirpath.compile("Observation.statuz", strict=True).evaluate(OBS)
    assert fhirpath.compile("Observation.statuz").evaluate(OBS) == []


def test_without_model_choice_keys_are_found_by_name() -> None:
    ti = TypeInfo(None)
    assert ti.choice_keys("Observation", "value") is None
    assert ti.child_type("Observation", "status") is None


def test_one_off_evaluate_helper() -> None:
    assert fhirpath.evaluate(OBS, "Observation.subject.reference") == ["Patient/p1"]
