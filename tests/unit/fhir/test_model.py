"""The R4 type model generated from the official definitions."""

from __future__ import annotations

import dataclasses

import pytest

from helseflyt.fhir import model
from helseflyt.fhir.model import Element


def test_resource_and_primitive_types() -> None:
    types = model.resource_types()
    assert len(types) == 146
    assert {"Patient", "Observation", "Bundle", "Parameters", "Binary"} <= types
    assert "DomainResource" not in types and "Resource" not in types
    assert model.primitive_types() == {
        "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id",
        "instant", "integer", "markdown", "oid", "positiveInt", "string", "time",
        "unsignedInt", "uri", "url", "uuid", "xhtml",
    }  # fmt: skip


def test_elements_of_a_resource() -> None:
    patient = model.elements("Patient")
    assert patient is not None
    assert patient["gender"] == Element(
        name="gender",
        path="Patient.gender",
        min=0,
        max=1,
        types=("code",),
        choice=False,
        binding="http://hl7.org/fhir/ValueSet/administrative-gender",
        target_profiles=(),
    )
    assert patient["id"].types == ("id",)  # Resource.id is an id, not a plain string
    assert patient["name"].max is None and patient["name"].types == ("HumanName",)
    deceased = patient["deceased"]
    assert deceased.choice and deceased.path == "Patient.deceased[x]"
    assert deceased.types == ("boolean", "dateTime")
    gp = patient["generalPractitioner"]
    assert gp.types == ("Reference",)
    assert gp.target_profiles == ("Organization", "Practitioner", "PractitionerRole")
    assert patient["contact"].types == ("Patient.contact",)
    assert set(patient) >= {"meta", "text", "contained", "extension", "modifierExtension"}


def test_backbone_and_content_reference() -> None:
    component = model.elements("Observation.component")
    assert component is not None
    assert component["code"].min == 1
    assert component["value"].choice
    assert model.base_type("Observation.component") == "BackboneElement"
    item = model.elements("Questionnaire.item")
    assert item is not None
    assert item["item"].types == ("Questionnaire.item",)
    assert item["linkId"].min == 1


def test_data_types_and_bases() -> None:
    quantity = model.elements("Quantity")
    assert quantity is not None
    assert quantity["comparator"].binding == "http://hl7.org/fhir/ValueSet/quantity-comparator"
    assert model.elements("Age") is not None
    assert model.base_type("Age") == "Quantity"
    assert model.base_type("Patient") == "DomainResource"
    assert model.base_type("DomainResource") == "Resource"
    assert model.base_type("string") == "Element"
    assert model.elements("NoSuchType") is None
    assert model.base_type("NoSuchType") is None
    ext = model.elements("Extension")
    assert ext is not None and ext["url"].min == 1 and ext["url"].types == ("uri",)


def test_element_is_frozen() -> None:
    e = model.elements("Patient")["gender"]  # type: ignore[index]
    assert dataclasses.is_dataclass(e)
    try:
        e.min = 1  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:  # pragma: no cover
        raise AssertionError("Element must be frozen")


def test_primitive_regexes_come_from_the_snapshots() -> None:
    assert model.primitive_regex("id") == r"[A-Za-z0-9\-\.]{1,64}"
    assert model.primitive_regex("date").startswith("([0-9]([0-9]([0-9][1-9]")  # type: ignore[union-attr]
    assert model.primitive_regex("xhtml") is None


def test_search_parameters() -> None:
    params = model.search_parameters()
    assert len(params) == 1400
    by_url = {p["url"]: p for p in params}
    birthdate = by_url["http://hl7.org/fhir/SearchParameter/individual-birthdate"]
    assert birthdate["code"] == "birthdate"
    assert birthdate["type"] == "date"
    assert "Patient" in birthdate["base"]
    assert birthdate["expression"]
    assert all("text" not in p for p in params)
    composite = [p for p in params if p["type"] == "composite"]
    assert composite and all(p.get("component") for p in composite)


def test_value_sets() -> None:
    gender = model.value_set_codes("http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1")
    assert gender == {
        ("http://hl7.org/fhir/administrative-gender", c) for c in ("male", "female", "other", "unknown")
    }
    types = model.value_set_codes("http://hl7.org/fhir/ValueSet/resource-types")
    assert types is not None and ("http://hl7.org/fhir/resource-types", "Patient") in types
    assert model.value_set_codes("http://hl7.org/fhir/ValueSet/mimetypes") is None
    assert model.value_set_rule("http://hl7.org/fhir/ValueSet/mimetypes") == "mime-type"
    assert model.value_set_rule("http://hl7.org/fhir/ValueSet/currencies") == "currency"
    assert model.value_set_codes("http://example.org/unknown") is None
    # every required binding of the core model is either enumerated or has a rule
    for name in model.resource_types():
        for e in (model.elements(name) or {}).values():
            if e.binding:
                assert (
                    model.value_set_codes(e.binding) is not None
                    or model.value_set_rule(e.binding) is not None
                ), e.path


def test_structure_definition_urls() -> None:
    assert model.structure_definition_url("Patient") == "http://hl7.org/fhir/StructureDefinition/Patient"
    assert all(
        model.structure_definition_url(t) == f"http://hl7.org/fhir/StructureDefinition/{t}"
        for t in model.resource_types()
    )


def test_compartments_from_the_official_definitions() -> None:
    from helseflyt.fhir import model

    patient = model.compartment("Patient")
    assert patient["Observation"] == ("subject", "performer")
    assert patient["Encounter"] == ("patient",)
    assert "Organization" not in patient  # not a member of the Patient compartment
    assert set(model.compartment("Encounter")) >= {"Observation", "Condition"}
    with pytest.raises(KeyError):
        model.compartment("Nope")
