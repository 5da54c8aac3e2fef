"""The indexer's dict-walk fast path gives exactly the rows of the FHIRPath engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import synthea_resources
from helseflyt.fhir.fhirpath import FHIRPathError
from helseflyt.search import index as ix
from helseflyt.search.fastpath import compile_fast


def _engine_rows(res_type: str, resource: dict[str, Any]) -> set[Any]:
    """The rows the indexer made before the fast path: every expression by the engine."""
    out: list[Any] = []
    for compiled, _, emits, composite in ix._plan(res_type):
        try:
            nodes = compiled.evaluate_nodes(resource)
        except (FHIRPathError, TypeError, ValueError, KeyError, AttributeError):
            continue
        for emit, code, only in emits:
            for node in nodes:
                emit(code, node, only, out)
        if composite is not None:
            composite(resource, nodes, out, engine=True)
    for c in resource.get("contained") or ():  # contained resources: "@" rows (see index._contained)
        kind, local = c["resourceType"], c["id"]
        out.append(("@token", kind, local, "_id", None, local))
        out += [("@" + row[0], kind, local, *row[1:]) for row in _engine_rows(kind, c)]
    return set(out)


def _same(resources: list[dict[str, Any]]) -> int:
    for r in resources:
        t = r["resourceType"]
        rows = ix.index(t, r)
        assert len(rows) == len(set(rows)), "rows are deduplicated"
        assert set(rows) == _engine_rows(t, r), f"{t}/{r.get('id')}"
    return len(resources)


def test_subset_compiles() -> None:
    assert compile_fast("Observation", "Observation.subject") is not None
    assert compile_fast("Observation", "(Observation.effective as dateTime) | Observation.code") is not None
    assert compile_fast("Patient", "Patient.telecom.where(system='phone')") is not None
    assert compile_fast("Patient", "Patient.extension('http://x/y')") is not None
    assert compile_fast("Observation", "(Observation.value as CodeableConcept).text") is not None
    assert compile_fast("Observation", "Observation.component.value.ofType(Quantity)") is not None
    assert compile_fast("Patient", "Patient.deceased.exists() and Patient.deceased != false") is None
    assert compile_fast("Patient", "Person.name") is None
    fast = compile_fast("Observation", "Observation.subject | Observation.extension('u')")
    assert fast is not None and fast.trigger == {"subject", "_subject", "extension"}


def test_edge_cases_equal_the_engine() -> None:
    bp = {"code": {"text": "bp"}, "valueQuantity": {"value": 1, "unit": "mmHg"}}
    resources = [
        {  # several component values: 'as' on a collection fails in the engine (ofType does not)
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "s", "code": "c", "display": "C"}], "text": "C"},
            "component": [bp, bp | {"valueQuantity": {"value": 2, "unit": "mmHg"}}],
            "effectivePeriod": {"start": "2020-01-01"},
            "subject": {"reference": "Patient/1", "identifier": {"system": "s", "value": "v"}},
            "_status": {"extension": [{"url": "u", "valueString": "x"}]},
        },
        {
            "resourceType": "Patient",
            "name": [{"family": "Østby", "given": ["Åse", "Kari"]}, {"text": "A"}],
            "telecom": [{"system": "phone", "value": "1"}, {"system": "email", "value": "a@b"}],
            "_birthDate": {"extension": [{"url": "u", "valueString": "x"}]},
            "gender": "female",
            "deceasedBoolean": False,
            "extension": [{"url": "u", "valueCode": "x"}],
            "address": [{"line": ["a", None], "_line": [None, {"extension": []}], "city": "Oslo"}],
        },
        {"resourceType": "Observation", "valueString": "x", "code": {"text": "t"}},
        {"resourceType": "Observation", "valueCodeableConcept": {"text": "t"}, "status": "final"},
    ]
    assert _same(resources) == 4


def test_synthea_equals_the_engine(synthea_tgz: Path) -> None:
    resources = synthea_resources(synthea_tgz, 2000)
    assert _same(resources) >= 2000


def official_examples(folder: Path, max_bytes: int | None = None) -> list[dict[str, Any]]:
    """Every resource of the official examples package, Bundle entries included."""
    resources: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.json")):
        data = path.read_bytes()
        if max_bytes is not None and len(data) > max_bytes:
            continue
        try:
            r = json.loads(data)
        except ValueError:
            continue
        if not isinstance(r, dict) or "resourceType" not in r or path.name == "package.json":
            continue
        resources.append(r)
        for e in r.get("entry") or () if r["resourceType"] == "Bundle" else ():
            if isinstance(e, dict) and isinstance(e.get("resource"), dict):
                resources.append(e["resource"])
    assert len(resources) > 1000, "the official examples package looks incomplete"
    return resources


def test_official_examples_equal_the_engine(r4_examples_dir: Path) -> None:
    # the engine's union is quadratic: huge definitions take minutes
    assert _same(official_examples(r4_examples_dir, max_bytes=60_000)) > 1000
