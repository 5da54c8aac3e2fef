"""FHIRPath Patch: every operation type and error, and the examples of the spec page
(https://hl7.org/fhir/R4/fhirpatch.html)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from helseflyt.errors import InvalidRequest
from helseflyt.fhir.patch import apply_fhirpath_patch
from helseflyt.fhir.patch.fhirpath_patch import apply


def operation(type_: str, path: str, **parts: Any) -> dict[str, Any]:
    """One ``operation`` parameter; keyword values are ``(value[x] key, value)`` or parts."""
    out = [{"name": "type", "valueCode": type_}, {"name": "path", "valueString": path}]
    for name, spec in parts.items():
        if isinstance(spec, tuple):
            out.append({"name": name, spec[0]: spec[1]})
        else:
            out.append({"name": name, **spec})
    return {"name": "operation", "part": out}


def params(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(operations)}


@pytest.fixture
def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [
            {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "1"},
            {"system": "urn:x", "value": "2"},
        ],
        "name": [{"family": "Nordmann", "given": ["Kari", "Ola"]}],
        "birthDate": "1980-01-01",
        "_birthDate": {"extension": [{"url": "http://x", "valueString": "approx"}]},
        "active": True,
    }


# -- spec page examples ---------------------------------------------------------------------


def test_spec_add_birth_date() -> None:
    out = apply(
        {"resourceType": "Patient"},
        params(
            operation("add", "Patient", name=("valueString", "birthDate"), value=("valueDate", "1930-01-01"))
        ),
    )
    assert out == {"resourceType": "Patient", "birthDate": "1930-01-01"}


def test_spec_add_anonymous_type_with_parts() -> None:
    value = {
        "part": [
            {"name": "name", "valueHumanName": {"text": "a name"}},
        ]
    }
    out = apply(
        {"resourceType": "Patient"},
        params(operation("add", "Patient", name=("valueString", "contact"), value=value)),
    )
    assert out["contact"] == [{"name": {"text": "a name"}}]


def test_spec_insert_identifier(patient: dict[str, Any]) -> None:
    out = apply(
        patient,
        params(
            operation(
                "insert",
                "Patient.identifier",
                index=("valueInteger", 0),
                value=("valueIdentifier", {"system": "http://example.org", "value": "new"}),
            )
        ),
    )
    assert [i["value"] for i in out["identifier"]] == ["new", "1", "2"]


def test_spec_delete_birth_date(patient: dict[str, Any]) -> None:
    out = apply(patient, params(operation("delete", "Patient.birthDate")))
    assert "birthDate" not in out and "_birthDate" not in out


def test_spec_replace_birth_date(patient: dict[str, Any]) -> None:
    out = apply(patient, params(operation("replace", "Patient.birthDate", value=("valueDate", "1930-01-01"))))
    assert out["birthDate"] == "1930-01-01"


def test_spec_move_identifier(patient: dict[str, Any]) -> None:
    out = apply(
        patient,
        params(
            operation(
                "move", "Patient.identifier", source=("valueInteger", 0), destination=("valueInteger", 1)
            )
        ),
    )
    assert [i["value"] for i in out["identifier"]] == ["2", "1"]


# -- behaviour -------------------------------------------------------------------------------


def test_input_is_not_mutated(patient: dict[str, Any]) -> None:
    before = copy.deepcopy(patient)
    apply(
        patient,
        params(
            operation("delete", "Patient.identifier[0]"),
            operation("add", "Patient", name=("valueString", "gender"), value=("valueCode", "female")),
        ),
    )
    assert patient == before


def test_add_appends_to_a_repeating_element(patient: dict[str, Any]) -> None:
    out = apply(
        patient,
        params(
            operation("add", "Patient.name[0]", name=("valueString", "given"), value=("valueString", "Nils"))
        ),
    )
    assert out["name"][0]["given"] == ["Kari", "Ola", "Nils"]


def test_add_creates_a_list_for_a_repeating_element() -> None:
    out = apply(
        {"resourceType": "Patient"},
        params(
            operation(
                "add",
                "Patient",
                name=("valueString", "identifier"),
                value=("valueIdentifier", {"value": "1"}),
            )
        ),
    )
    assert out["identifier"] == [{"value": "1"}]


def test_add_choice_element_uses_the_typed_key() -> None:
    out = apply(
        {"resourceType": "Observation", "status": "final"},
        params(
            operation(
                "add",
                "Observation",
                name=("valueString", "value"),
                value=("valueQuantity", {"value": 5, "unit": "mg"}),
            )
        ),
    )
    assert out["valueQuantity"] == {"value": 5, "unit": "mg"}


def test_replace_choice_element_changes_its_type() -> None:
    obs = {"resourceType": "Observation", "valueQuantity": {"value": 5}}
    out = apply(obs, params(operation("replace", "Observation.value", value=("valueString", "high"))))
    assert out == {"resourceType": "Observation", "valueString": "high"}


def test_replace_list_item_selected_by_where(patient: dict[str, Any]) -> None:
    out = apply(
        patient,
        params(
            operation("replace", "Patient.identifier.where(value='2').system", value=("valueUri", "urn:y"))
        ),
    )
    assert out["identifier"][1] == {"system": "urn:y", "value": "2"}


def test_delete_last_item_removes_the_list(patient: dict[str, Any]) -> None:
    out = apply(
        patient,
        params(operation("delete", "Patient.name.given[1]"), operation("delete", "Patient.name.given[0]")),
    )
    assert out["name"] == [{"family": "Nordmann"}]


def test_delete_of_nothing_is_a_no_op(patient: dict[str, Any]) -> None:
    assert apply(patient, params(operation("delete", "Patient.deceased"))) == patient


def test_operations_apply_in_order(patient: dict[str, Any]) -> None:
    out = apply(
        patient,
        params(
            operation("add", "Patient", name=("valueString", "gender"), value=("valueCode", "female")),
            operation("replace", "Patient.gender", value=("valueCode", "male")),
        ),
    )
    assert out["gender"] == "male"


def test_exported_name() -> None:
    assert apply_fhirpath_patch is apply


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        (
            [
                operation(
                    "add", "Patient.contact", name=("valueString", "gender"), value=("valueCode", "male")
                )
            ],
            "must match exactly one element, it matched 0",
        ),
        (
            [operation("add", "Patient.identifier", name=("valueString", "use"), value=("valueCode", "old"))],
            "must match exactly one element, it matched 2",
        ),
        (
            [
                operation(
                    "add", "Patient", name=("valueString", "birthDate"), value=("valueDate", "1990-01-01")
                )
            ],
            "already exists",
        ),
        ([operation("add", "Patient", value=("valueDate", "1990-01-01"))], "part 'name' is required"),
        ([operation("add", "Patient", name=("valueString", "gender"))], "part 'value' is required"),
        (
            [
                operation(
                    "insert", "Patient.identifier", index=("valueInteger", 3), value=("valueIdentifier", {})
                )
            ],
            "index 3 is out of range",
        ),
        (
            [operation("insert", "Patient.identifier", value=("valueIdentifier", {}))],
            "part 'index' is required",
        ),
        (
            [
                operation(
                    "insert", "Patient.identifier", index=("valueString", "1"), value=("valueIdentifier", {})
                )
            ],
            "needs valueInteger",
        ),
        ([operation("delete", "Patient.identifier")], "matched 2 elements"),
        ([operation("delete", "Patient")], "not select a deletable element"),
        ([operation("replace", "Patient.gender", value=("valueCode", "male"))], "it matched 0"),
        ([operation("replace", "Patient", value=("valueCode", "male"))], "cannot be replaced"),
        (
            [
                operation(
                    "move", "Patient.identifier", source=("valueInteger", 0), destination=("valueInteger", 2)
                )
            ],
            "destination 2 is out of range",
        ),
        (
            [
                operation(
                    "move", "Patient.identifier", source=("valueInteger", -1), destination=("valueInteger", 0)
                )
            ],
            "source -1 is out of range",
        ),
        (
            [
                operation(
                    "move",
                    "Patient.identifier.first()",
                    source=("valueInteger", 0),
                    destination=("valueInteger", 1),
                )
            ],
            "must name a list element",
        ),
        ([operation("upsert", "Patient")], "type must be one of"),
        ([operation("delete", "Patient.name.where(")], "invalid path"),
        ([{"name": "op"}], "must be named 'operation'"),
        (
            [{"name": "operation", "part": [{"name": "path", "valueString": "Patient"}]}],
            "part 'type' is required",
        ),
    ],
)
def test_errors(patient: dict[str, Any], operations: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(InvalidRequest, match="FHIRPath Patch") as err:
        apply(patient, params(*operations))
    assert message in str(err.value)


def test_body_must_be_parameters(patient: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest, match="Parameters"):
        apply(patient, {"resourceType": "Bundle"})


def test_error_names_the_operation(patient: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest, match=r"operation 2 \(delete\)"):
        apply(
            patient, params(operation("delete", "Patient.active"), operation("delete", "Patient.identifier"))
        )
