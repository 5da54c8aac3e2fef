"""Differential tests of validation's fast path (``fhir/validation/fast.py``).

``validate`` gives the same issues with the fast path as the reporting checker alone,
and the fast path accepts exactly the resources with no issue: never one with an issue
(which would hide it), and every valid one (else valid writes would pay twice).
"""

from __future__ import annotations

import copy
import random
import tarfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import helseflyt.fhir.validation as validation
from helseflyt.errors import Issue
from helseflyt.fhir.json import loads
from helseflyt.fhir.validation import fast, validate


def reporting_only(resource: Any, **kw: Any) -> list[Issue]:
    """``validate`` without the fast path (the reporting checker decides alone)."""
    saved = validation.accepts
    validation.accepts = lambda r: False  # type: ignore[assignment]
    try:
        return validate(resource, **kw)
    finally:
        validation.accepts = saved


def check(resource: Any, **kw: Any) -> list[Issue]:
    """Assert that both paths agree on ``resource``; its issues."""
    want = reporting_only(resource, **kw)
    assert validate(resource, **kw) == want, resource
    if type(resource) is dict:
        alone = want if not kw else reporting_only(resource)
        assert fast.accepts(resource) == (not alone), (resource, alone)
    return want


# Values that break (or keep) every kind of element: wrong JSON types, empty values,
# local and malformed references, out-of-range numbers.
REPLACEMENTS: tuple[Any, ...] = (
    None, "", [], {}, 0, -1, 2**40, Decimal("1.5"), Decimal("NaN"), 1.5, True, "x", "#", "#c1",
    "urn:uuid:1", "Patient/1", "2020-02-30", "http://x.org/Patient/1", {"x": 1}, [None],
    {"extension": [{"url": "http://x.org", "valueString": "a"}]}, {"id": "a"},
)  # fmt: skip


def _slots(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value inside ``value`` (dict keys and list indexes)."""
    if type(value) is dict:
        for k, v in value.items():
            yield (*path, k)
            yield from _slots(v, (*path, k))
    elif type(value) is list:
        for i, v in enumerate(value):
            yield (*path, i)
            yield from _slots(v, (*path, i))


def _parent(resource: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        resource = resource[step]
    return resource


def mutants(resource: dict, rng: random.Random, count: int, most: int = 10**9) -> Iterator[dict]:
    """``resource`` with one random change, ``count`` times (changed in place and
    restored after each: do not keep what is yielded); none if it has more than
    ``most`` values."""
    slots = list(_slots(resource))
    if not slots or len(slots) > most:
        return
    for _ in range(count):
        path = rng.choice(slots)
        parent, last = _parent(resource, path), path[-1]
        value = parent[last]
        saved = parent.copy()
        saved_value = value.copy() if type(value) in (dict, list) else None
        kind = rng.randrange(8)
        if kind < 3:
            parent[last] = copy.deepcopy(rng.choice(REPLACEMENTS))
        elif kind == 3:
            del parent[last]
        elif kind == 4 and type(parent) is dict:
            # a sibling of another type: an unknown element, a companion, a second choice
            name = str(last).lstrip("_")
            parent[rng.choice([name + "String", "_" + name, name + "x", "valueBoolean"])] = rng.choice(
                ["a", True, {"id": "b"}, [{"id": "c"}]]
            )
        elif kind == 5:
            parent[last] = [value] if type(value) is not list else value[:1]
        elif kind == 6 and type(value) is list and value:
            value.append(value[0])  # duplicate ids, longer arrays
        else:
            parent[last] = copy.deepcopy(_parent(resource, (*rng.choice(slots), "")))  # another subtree
        yield resource
        if type(parent) is dict:
            parent.clear()
            parent.update(saved)
        else:
            parent[:] = saved
        if saved_value is not None:
            if type(value) is dict:
                value.clear()
                value.update(saved_value)
            else:
                value[:] = saved_value


def agree(resource: dict) -> list[Issue]:
    """Assert that the fast path accepts ``resource`` iff it has no issue; its issues."""
    want = reporting_only(resource)
    assert fast.accepts(resource) == (not want), (resource, want)
    return want


def _all_examples(directory: Path) -> list[dict]:
    """Every resource of the package, definitional ones too (more types, more issues),
    except the few very large Bundles of definitions (time)."""
    out = []
    for path in sorted(directory.glob("*.json")):
        if path.name in ("package.json", "ig-r4.json") or path.name.startswith("."):
            continue
        if path.stat().st_size > 1_000_000:
            continue
        resource = loads(path.read_bytes())
        if type(resource) is dict and "resourceType" in resource:
            out.append(resource)
    return out


def test_every_r4_example_and_its_mutants(r4_examples_dir: Path) -> None:
    rng = random.Random(20261130)
    examples = _all_examples(r4_examples_dir)
    assert len(examples) > 2000
    valid = invalid = 0
    for resource in examples:
        check(resource)
        for variant in mutants(resource, rng, 6, most=600):
            if agree(variant):
                invalid += 1
            else:
                valid += 1
    # the mutants exercise both outcomes
    assert invalid > 5000 and valid > 1000, (invalid, valid)


@pytest.mark.slow
def test_synthea_mutants(synthea_tgz: Path) -> None:
    rng = random.Random(7)
    with tarfile.open(synthea_tgz) as tar:
        for member in list(tar)[:10]:
            if member.isfile() and member.name.endswith(".json"):
                bundle = loads(tar.extractfile(member).read())  # type: ignore[union-attr]
                check(bundle)
                for entry in bundle["entry"][:200]:
                    assert check(entry["resource"]) == []
                    for variant in mutants(entry["resource"], rng, 3):
                        agree(variant)


def obs(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        **fields,
    }


MED = {"resourceType": "Medication", "id": "m1"}
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
XHTML = "http://www.w3.org/1999/xhtml"
ALLERGY = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
EDGE_CASES: list[Any] = [
    None, [], {}, {"resourceType": "Nope"}, {"resourceType": "DomainResource"}, {"id": "x"},
    obs(), obs(resourceType=None), obs(valueString="a", _valueString={"id": "x"}),
    obs(valueString="a", _valueBoolean={"id": "x"}), obs(_valueString={"id": "x"}),
    obs(valueString="a", valueBoolean=True), obs(effectivePeriod={"start": "2020-02", "end": "2020-01"}),
    obs(effectivePeriod={"start": "2020-01-01T10:00:00Z", "end": "2020-01"}),
    obs(status="nope"), obs(status=None), obs(extra=1), obs(code=None),
    obs(code={"coding": [{"system": "http://loinc.org", "code": "x", "userSelected": "yes"}]}),
    obs(subject={"reference": "Device/1"}), obs(subject={"reference": "Medication/1"}),
    obs(subject={"reference": "#"}), obs(subject={"reference": "#x"}), obs(subject={"reference": "bad ref"}),
    obs(subject={"reference": "urn:uuid:0"}), obs(subject={"reference": ""}),
    obs(contained=[MED]), obs(contained=[MED], focus=[{"reference": "#m1"}]),
    obs(contained=[MED], focus=[{"reference": "#m2"}]),
    obs(contained=[{**MED, "extension": [{"url": "#", "valueString": "a"}]}]),
    obs(contained=[{**MED, "code": {"coding": [{"system": "#"}]}}]),
    obs(contained=[MED, MED], focus=[{"reference": "#m1"}]),
    obs(contained=[{"resourceType": "Medication"}]), obs(contained=[{**MED, "contained": [MED]}]),
    obs(contained=[{**MED, "meta": {"versionId": "1"}}], focus=[{"reference": "#m1"}]),
    obs(contained=[{**MED, "meta": {"security": [{"code": "R"}]}}], focus=[{"reference": "#m1"}]),
    obs(contained=[{**MED, "meta": {"source": "x"}}], focus=[{"reference": "#m1"}]),
    obs(extension=[{"url": "http://x.org"}]), obs(extension=[{"url": "http://x.org", "valueCode": "a"}]),
    obs(extension=[{"url": "http://x.org", "_valueCode": {"id": "a"}}]),
    obs(extension=[{"url": "http://x.org", "valueCode": "a", "extension": [{"url": "y", "valueId": "1"}]}]),
    obs(extension=[{"url": "http://x.org", "valueInteger": 2**31}]),
    obs(extension=[{"url": "http://x.org", "valueDecimal": Decimal("Infinity")}]),
    obs(extension=[{"url": "http://x.org", "valueDecimal": float("nan")}]),
    obs(extension=[{"url": "http://x.org", "valuePositiveInt": 0}]),
    obs(extension=[{"url": "http://x.org", "valueBase64Binary": "abc"}]),
    obs(extension=[{"url": "http://x.org", "valueBase64Binary": "ab c="}]),
    {"resourceType": "Patient", "name": [{"given": ["A", None], "_given": [None, {"id": "g"}]}]},
    {"resourceType": "Patient", "name": [{"given": ["A", None], "_given": [None, None]}]},
    {"resourceType": "Patient", "name": [{"given": ["A", None]}]},
    {"resourceType": "Patient", "name": [{"given": ["A"], "_given": [{"id": "g"}, {"id": "h"}]}]},
    {"resourceType": "Patient", "name": [{"_given": [{"id": "g"}]}]},
    {"resourceType": "Patient", "name": [{"_given": [None]}]},
    {"resourceType": "Patient", "name": [{"given": "A"}]}, {"resourceType": "Patient", "gender": ["male"]},
    {"resourceType": "Patient", "identifier": [{"system": FNR, "value": "1"}]},
    {"resourceType": "Patient", "identifier": [{"system": FNR, "value": "13031353453"}]},
    {"resourceType": "Patient", "text": {"status": "generated", "div": "<p>x</p>"}},
    {"resourceType": "Patient", "text": {"status": "generated", "div": f'<div xmlns="{XHTML}">x</div>'}},
    {"resourceType": "Patient", "birthDate": "2023-02-30"},
    {"resourceType": "Patient", "birthDate": "2023-02-28"},
    {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": obs(subject={"reference": "#"})}]},
    {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": obs(subject={"reference": "#x"})}]},
    {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": obs(contained=[MED])}]},
    {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": obs()}, {"resource": {}}]},
    {"resourceType": "Parameters", "parameter": [{"name": "a", "resource": obs(), "valueString": "x"}]},
    {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/1"},
     "clinicalStatus": {"coding": [{"system": {"x": 1}, "code": "active"}]}},
    {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/1"},
     "clinicalStatus": {"coding": [{"system": ALLERGY, "code": "active"}]}},
    {"resourceType": "CapabilityStatement", "status": "draft", "date": "2020", "kind": "instance",
     "fhirVersion": "4.0.1", "format": ["json", "application/x+y", "nope"]},
]  # fmt: skip


@pytest.mark.parametrize("resource", EDGE_CASES)
def test_edge_cases(resource: Any) -> None:
    check(resource)
    if type(resource) is dict:
        check(resource, expected_type="Observation")


def _nested(depth: int) -> dict[str, Any]:
    ext: dict[str, Any] = {"url": "http://x.org", "valueString": "a"}
    for _ in range(depth):
        ext = {"url": "http://x.org", "extension": [ext]}
    return obs(extension=[ext])


@pytest.mark.parametrize("depth", [fast.MAX_DEPTH - 3, fast.MAX_DEPTH + 3, 2000])
def test_deep_nesting_is_left_to_the_reporting_checker(depth: int) -> None:
    resource = _nested(depth)
    want = reporting_only(resource)
    assert validate(resource) == want
    assert fast.accepts(resource) == (depth < fast.MAX_DEPTH)
    if depth == 2000:
        assert [i.diagnostics for i in want] == ["the resource is nested too deeply to be valid FHIR"]


def test_generated_source_is_inspectable() -> None:
    text = fast.source("Coding")
    assert text.startswith("def ok_Coding(o, refs, d):")
    assert "k == 'system'" in text
    compile(text, "<Coding>", "exec")
