"""Every official R4 example (and every Synthea resource) passes validation.

Definitional resources (conformance and terminology: StructureDefinition, ValueSet...)
are excluded: they are the definitions themselves, loaded by the generator, and their
own examples exercise FHIRPath invariants we do not evaluate yet. Every other example
must validate with zero issues, except the few in ``KNOWN_INVALID``, which are real
errors in the published package (each checked by hand against the R4 definitions).
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from helseflyt.fhir.json import loads
from helseflyt.fhir.validation import validate

DEFINITIONAL = frozenset({
    "CapabilityStatement", "CodeSystem", "CompartmentDefinition", "ConceptMap",
    "ExampleScenario", "GraphDefinition", "ImplementationGuide", "MessageDefinition",
    "NamingSystem", "OperationDefinition", "SearchParameter", "StructureDefinition",
    "StructureMap", "TerminologyCapabilities", "ValueSet",
})  # fmt: skip

_MIME = "operation.accept is 'xml'/'json', but R4 binds it (required) to MIME types"
KNOWN_INVALID = {
    "TestScript-testscript-example.json": _MIME,
    "TestScript-testscript-example-history.json": _MIME,
    "TestScript-testscript-example-multisystem.json": _MIME,
    "TestScript-testscript-example-readtest.json": _MIME,
    "TestScript-testscript-example-search.json": _MIME,
    "TestScript-testscript-example-update.json": _MIME,
    "Questionnaire-qs1.json": "nested items have no linkId (Questionnaire.item.linkId is 1..1)",
    "DeviceMetric-example.json": "parent references a DeviceDefinition; R4 allows Device only",
    "DeviceUseStatement-example.json": (
        "reasonReference points to a Procedure; R4 allows Condition, Observation, "
        "DiagnosticReport, DocumentReference, Media"
    ),
    "MedicationRequest-medrx0301.json": (
        "dispenseRequest.performer references a Practitioner; R4 allows Organization only"
    ),
    "Observation-clinical-gender.json": "performer references an Encounter, not an allowed type",
}


def _examples(directory: Path) -> dict[str, dict]:
    out = {}
    for path in sorted(directory.glob("*.json")):
        if path.name in ("package.json", "ig-r4.json") or path.name.startswith("."):
            continue
        resource = loads(path.read_bytes())
        if resource.get("resourceType") not in DEFINITIONAL:
            out[path.name] = resource
    return out


def test_r4_examples_validate(r4_examples_dir: Path) -> None:
    examples = _examples(r4_examples_dir)
    assert len(examples) == 719
    failures = {}
    for name, resource in examples.items():
        issues = validate(resource)
        if issues and name not in KNOWN_INVALID:
            failures[name] = [(i.expression, i.diagnostics) for i in issues[:5]]
        if not issues and name in KNOWN_INVALID:
            failures[name] = "listed in KNOWN_INVALID but validates"
    assert failures == {}
    accepted = len(examples) - len(KNOWN_INVALID)
    assert accepted == 708


def test_known_invalid_examples_fail_for_the_stated_reason(r4_examples_dir: Path) -> None:
    for name in KNOWN_INVALID:
        issues = validate(loads((r4_examples_dir / name).read_bytes()))
        assert issues, name
        if name.startswith("TestScript"):
            assert all(i.code == "code-invalid" and "mimetypes" in i.diagnostics for i in issues)
        elif name == "Questionnaire-qs1.json":
            assert all(i.code == "required" and "linkId" in i.diagnostics for i in issues)
        else:
            assert [i.code for i in issues] == ["value"], issues
            assert "is not allowed here" in issues[0].diagnostics


@pytest.mark.slow
def test_every_synthea_resource_validates(synthea_tgz: Path) -> None:
    count = 0
    failures = []
    with tarfile.open(synthea_tgz) as tar:
        for member in tar:
            if not (member.isfile() and member.name.endswith(".json")):
                continue
            bundle = loads(tar.extractfile(member).read())  # type: ignore[union-attr]
            for entry in bundle["entry"]:
                count += 1
                issues = validate(entry["resource"])
                if issues:
                    failures.append((member.name, issues[:3]))
    assert failures == []
    assert count == 27075
