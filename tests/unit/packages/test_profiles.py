"""Profile validation (helseflyt.fhir.validation.profiles) with small hand-written profiles."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from helseflyt.fhir.validation import validate
from helseflyt.packages import Registry, install, installed, load, read_package
from helseflyt.storage import open_store

EXT = {
    "resourceType": "StructureDefinition",
    "url": "http://example.org/ext/flag",
    "name": "Flag",
    "status": "active",
    "kind": "complex-type",
    "abstract": False,
    "type": "Extension",
    "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
    "derivation": "constraint",
    "differential": {
        "element": [
            {"id": "Extension", "path": "Extension", "max": "1"},
            {"id": "Extension.url", "path": "Extension.url", "fixedUri": "http://example.org/ext/flag"},
            {
                "id": "Extension.value[x]",
                "path": "Extension.value[x]",
                "min": 1,
                "type": [{"code": "boolean"}],
            },
        ]
    },
}
VS = {
    "resourceType": "ValueSet",
    "url": "http://example.org/vs/g",
    "status": "active",
    "compose": {
        "include": [{"system": "http://hl7.org/fhir/administrative-gender", "concept": [{"code": "female"}]}]
    },
}
PROFILE = {
    "resourceType": "StructureDefinition",
    "url": "http://example.org/p/patient",
    "name": "P",
    "status": "active",
    "kind": "resource",
    "abstract": False,
    "type": "Patient",
    "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
    "derivation": "constraint",
    "differential": {
        "element": [
            {"id": "Patient", "path": "Patient"},
            {
                "id": "Patient.extension",
                "path": "Patient.extension",
                "slicing": {"discriminator": [{"type": "value", "path": "url"}], "rules": "open"},
            },
            {
                "id": "Patient.extension:flag",
                "path": "Patient.extension",
                "sliceName": "flag",
                "min": 1,
                "type": [{"code": "Extension", "profile": ["http://example.org/ext/flag"]}],
            },
            {
                "id": "Patient.identifier",
                "path": "Patient.identifier",
                "slicing": {"discriminator": [{"type": "value", "path": "system"}], "rules": "closed"},
            },
            {"id": "Patient.identifier:a", "path": "Patient.identifier", "sliceName": "a", "max": "1"},
            {"id": "Patient.identifier:a.system", "path": "Patient.identifier.system", "fixedUri": "urn:a"},
            {"id": "Patient.identifier:a.value", "path": "Patient.identifier.value", "min": 1},
            {
                "id": "Patient.gender",
                "path": "Patient.gender",
                "min": 1,
                "binding": {"strength": "required", "valueSet": "http://example.org/vs/g"},
            },
            {"id": "Patient.photo", "path": "Patient.photo", "max": "0"},
            {
                "id": "Patient.maritalStatus",
                "path": "Patient.maritalStatus",
                "patternCodeableConcept": {"coding": [{"system": "urn:m", "code": "U"}]},
            },
            {"id": "Patient.deceased[x]", "path": "Patient.deceased[x]", "type": [{"code": "boolean"}]},
            {
                "id": "Patient.managingOrganization",
                "path": "Patient.managingOrganization",
                "type": [
                    {
                        "code": "Reference",
                        "targetProfile": ["http://hl7.org/fhir/StructureDefinition/Organization"],
                    }
                ],
            },
        ]
    },
}
REG = Registry([EXT, VS, PROFILE])
FLAG = {"url": "http://example.org/ext/flag", "valueBoolean": True}


def patient(**kw: object) -> dict:
    return {
        "resourceType": "Patient",
        "meta": {"profile": [PROFILE["url"]]},
        "gender": "female",
        "extension": [FLAG],
        **kw,
    }


def errors(resource: dict, **kw: object) -> list[tuple[str, str]]:
    return [
        (i.expression[0], i.diagnostics)
        for i in validate(resource, conformance=REG, **kw)
        if i.severity == "error"
    ]


def test_valid_resource() -> None:
    assert errors(patient(identifier=[{"system": "urn:a", "value": "1"}])) == []


def test_each_rule_names_the_element() -> None:
    cases = {
        "Patient.identifier:a.value": patient(identifier=[{"system": "urn:a"}]),
        "Patient.identifier:a: maximum": patient(
            identifier=[{"system": "urn:a", "value": "1"}, {"system": "urn:a", "value": "2"}]
        ),
        "closed": patient(identifier=[{"system": "urn:b", "value": "1"}]),
        "Patient.gender: 'male'": patient(gender="male"),
        "Patient.photo is not allowed": patient(photo=[{"url": "http://x"}]),
        "pattern": patient(maritalStatus={"coding": [{"system": "urn:m", "code": "M"}]}),
        "type DateTime is not allowed": patient(deceasedDateTime="2020-01-01"),
        "reference to Patient is not allowed": patient(managingOrganization={"reference": "Patient/1"}),
        "Patient.extension:flag: minimum": {
            **patient(),
            "extension": [{"url": "http://x", "valueString": "s"}],
        },
        "Extension.value[x]: type String": {
            **patient(),
            "extension": [{"url": FLAG["url"], "valueString": "s"}],
        },
    }
    for expected, resource in cases.items():
        found = errors(resource)
        assert any(expected in d for _, d in found), (expected, found)


def test_unknown_profile_is_a_warning_and_explicit_profile_an_error() -> None:
    r = {"resourceType": "Patient", "meta": {"profile": ["http://example.org/unknown"]}}
    issues = validate(r, conformance=REG)
    assert [i.severity for i in issues] == ["warning"]
    assert errors({"resourceType": "Patient"}, profiles=["http://example.org/unknown"])
    assert errors({"resourceType": "Patient"}, profiles=[PROFILE["url"]])  # gender, flag missing


def test_tgz_package_install_and_list(tmp_path: Path) -> None:
    tgz = tmp_path / "example.pkg-1.0.0.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        files = {
            "package/package.json": {"name": "example.pkg", "version": "1.0.0"},
            "package/sd.json": PROFILE,
            "package/ext.json": EXT,
            "package/vs.json": VS,
            "package/example/p.json": {"resourceType": "Patient"},
        }
        for name, content in files.items():
            data = json.dumps(content).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    pkg = read_package(tgz)
    assert (pkg.id, pkg.version, len(pkg.resources)) == ("example.pkg", "1.0.0", 3)
    store = open_store(f"sqlite:///{tmp_path}/h.db")
    try:
        report = install(store, pkg)
        assert report.installed == {"StructureDefinition": 2, "ValueSet": 1}
        assert [(p.id, p.version, p.resources) for p in installed(store)] == [
            ("example.pkg", "1.0.0", {"StructureDefinition": 2, "ValueSet": 1})
        ]
        reg = load(store)
        assert reg.profile(PROFILE["url"]) is not None
        assert reg.value_set_codes(VS["url"]) == {("http://hl7.org/fhir/administrative-gender", "female")}
    finally:
        store.close()
