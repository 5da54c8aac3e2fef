"""The direct dict walk (fhirpath/direct.py) gives exactly what the general closures give."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import synthea_resources
from helseflyt.fhir import fhirpath
from helseflyt.fhir.fhirpath import Expression, FHIRPathError
from helseflyt.fhir.model import search_parameters

BENCH = [  # bench/fhirpath_bench.py
    "Observation.code.coding.where(system='http://loinc.org').code",
    "Observation.subject",
    "(Observation.effective as dateTime)",
    "Observation.value.ofType(Quantity).value > 5",
    "Patient.name",
    "Patient.name.where(use='official').family.first()",
    "Patient.birthDate <= @2000-01-01",
    "Condition.code | Condition.category",
    "Encounter.period.start",
    "Bundle.entry.resource.where(resourceType='Patient')",
]
EXTRA = [
    "Bundle.entry.resource.where(id != 'p')",
    "Bundle.entry.resource.where(status = 'final')",
    "Bundle.entry.resource.where(valueString = 'x')",
    "Bundle.entry.resource.where(resourceType='Patient').first()",
    "Patient.name.given.first()",
    "Patient.name.where(family = 'A').given",
    "Patient.name.where(use = 'official') | Patient.name.where(family = 'A')",
    "Patient.birthDate | Patient.gender",
    "Patient.name.where(given = 'x')",
    "Patient.name.where(period = 'x')",
    "Observation.code.coding.where(code = '1').display",
    "Observation.component.where(code = 'x')",
    "Observation.value.ofType(Quantity) | Observation.component.value.ofType(Quantity)",
    "Observation.where(status = 'final').subject",
    "Observation.where(effective = '2020').subject",
    "Observation.where(Observation = 'x')",
    "Observation.component.value.ofType(Quantity)",
    "(Observation.component.value as Quantity)",
    "Observation.component.value.as(Quantity).value",
    "Observation.value.ofType(FHIR.Quantity).value <= 5.5",
    "Observation.value.ofType(Quantity).unit = 'mmHg'",
    "Observation.value.ofType(Quantity).code != 'mm[Hg]'",
    "Observation.value",
    "Observation.status = 'final'",
    "Observation.issued > @2019-01-01T00:00:00Z",
    "Patient.name.given",
    "Patient.name.family > 'M'",
    "Patient.gender.ofType(code)",
    "Patient.gender.ofType(string)",
    "Patient.deceased.ofType(boolean)",
    "Patient.multipleBirth as integer",
    "Patient.address.line",
    "Patient.birthDate.as(date)",
    "Patient.valueQuantity",
    "Patient.nosuchelement",
    "Patient.birthDate > 5",
]


def _general(expr: Expression) -> Expression:
    return Expression(expr.text, expr._fn, expr.strict)  # the same closures, no direct walk


def _outcome(expr: Expression, resource: dict[str, Any]) -> Any:
    try:
        return ("ok", expr.evaluate(resource))
    except FHIRPathError as exc:
        return ("error", exc.kind)


def _official_paths() -> list[str]:
    """Every union alternative of the official search parameter expressions."""
    out = set()
    for sp in search_parameters():
        for part in re.split(r"\s\|\s", sp.get("expression") or ""):
            out.add(part.strip())
    return sorted(out)


def _check(expressions: list[str], resources: list[dict[str, Any]], strict: bool = False) -> int:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(r)
    direct = 0
    for text in expressions:
        try:
            expr = fhirpath.compile(text, strict=strict)
        except FHIRPathError:
            continue
        if expr._direct is None:
            continue
        direct += 1
        general = _general(expr)
        root = re.match(r"\(?(\w+)", text)
        for r in by_type.get(root[1] if root else "", []) + resources[:3]:
            assert _outcome(expr, r) == _outcome(general, r), (text, r.get("id"))
    return direct


EDGE: list[dict[str, Any]] = [
    {  # two components, one with only an extension on its value
        "resourceType": "Observation",
        "status": "final",
        "_status": {"extension": [{"url": "u", "valueString": "x"}]},
        "component": [
            {"code": {"text": "a"}, "valueQuantity": {"value": 120, "unit": "mmHg"}},
            {"code": {"text": "b"}, "valueQuantity": {"value": 80.5, "unit": "mmHg"}},
            {"code": {"text": "c"}, "_valueString": {"extension": []}},
            {"code": {"text": "d"}, "valueString": "x"},
        ],
        "valueQuantity": {"value": 5, "unit": "mmHg", "code": "mm[Hg]"},
        "issued": "2020-01-01T00:00:00Z",
    },
    {"resourceType": "Observation", "valueQuantity": {"value": 5.000001}, "component": []},
    {"resourceType": "Observation", "valueString": "x", "valueQuantity": {"value": 6}},
    {"resourceType": "Observation", "value": {"value": 6}},
    {"resourceType": "Observation", "_valueQuantity": {"extension": []}},
    {"resourceType": "Observation", "component": [{"valueQuantity": {"value": 1}}]},
    {"resourceType": "Observation", "effectiveDateTime": "2020", "_effectiveDateTime": {"id": "e"}},
    {"resourceType": "Observation", "_effectiveDateTime": {"id": "e"}},
    {"resourceType": "Observation", "effectivePeriod": {"start": "2020"}},
    {"resourceType": "Patient", "valueQuantity": {"value": 1}},
    {
        "resourceType": "Patient",
        "name": [
            {"family": "A", "given": ["x", None], "_given": [None, {"id": "g"}]},
            {"_family": {"id": "f"}},
        ],
        "birthDate": "1999-12-31",
        "gender": "female",
        "deceasedBoolean": False,
        "multipleBirthInteger": 2,
        "address": [{"line": ["a", "b"]}, {"line": []}, "not a dict"],
    },
    {"resourceType": "Patient", "name": [], "_birthDate": {"id": "b"}, "birthDate": None},
    {"resourceType": "Patient", "name": {"family": "not a list"}, "birthDate": "2001"},
    {"resourceType": "Encounter", "period": {"start": "2020-01-01", "end": "2020-01-02"}},
    {"resourceType": "Encounter", "period": [{"start": "a"}, {"start": "b"}]},
    {"resourceType": "Person", "name": [{"family": "P"}]},
    {
        "resourceType": "Bundle",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "p", "name": [{"family": "A"}]}},
            {"resource": {"resourceType": "Observation", "status": "final", "valueString": "x"}},
            {"resource": {"resourceType": "Patient", "id": "q"}},
            {"fullUrl": "urn:x"},
        ],
    },
    {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Observation", "id": "1"}}]},
    {"resourceType": "Bundle", "entry": [{"resource": {"id": "1"}}]},
    {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": "A"}, {"use": "official", "family": "A", "id": "x"}],
        "birthDate": "2000-01-01",
        "gender": "other",
    },
    {"resourceType": "Patient", "name": [{"use": ["official"]}, {"family": 7}]},
    {"resourceType": "Condition", "code": {"text": "a"}, "category": [{"text": "a"}, {"text": "b"}]},
    {"resourceType": "Condition", "code": "not a dict", "category": [{"text": "a"}]},
    {
        "resourceType": "Observation",
        "code": {"coding": [{"system": "http://loinc.org", "code": "1", "display": "D"}, {"code": "2"}]},
        "status": "12",
        "component": [{"code": {"text": "x"}}],
    },
]


@pytest.mark.parametrize("strict", [False, True])
def test_edge_cases_equal_the_general_closures(strict: bool) -> None:
    assert _check(BENCH + EXTRA, EDGE, strict) >= len(BENCH) + 10


def test_bench_expressions_are_direct() -> None:
    assert all(fhirpath.compile(e)._direct is not None for e in BENCH)
    assert fhirpath.compile("Bundle.entry.resource.id")._direct is None  # typed by the data


def test_non_dict_input_uses_the_closures() -> None:
    node = fhirpath.compile("Patient").evaluate_nodes({"resourceType": "Patient", "id": "p"})[0]
    assert fhirpath.compile("Patient.id").evaluate(node) == ["p"]


def test_synthea_equals_the_general_closures(synthea_tgz: Path) -> None:
    resources = synthea_resources(synthea_tgz, 1500)
    assert _check(BENCH + EXTRA + _official_paths(), resources) > 500


def test_official_examples_equal_the_general_closures(r4_examples_dir: Path) -> None:
    resources: list[dict[str, Any]] = []
    for path in sorted(r4_examples_dir.glob("*.json")):
        data = path.read_bytes()
        if len(data) > 60_000 or path.name == "package.json":
            continue
        r = json.loads(data)
        if isinstance(r, dict) and "resourceType" in r:
            resources.append(r)
    assert len(resources) > 1000, "the official examples package looks incomplete"
    assert _check(_official_paths(), resources) > 500
