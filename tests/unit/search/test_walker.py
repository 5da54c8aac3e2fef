"""The generated per-type walker gives exactly the rows of each plan entry run on its own
(same rows, same order), and the rows of the FHIRPath engine."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from test_fastpath import _engine_rows, official_examples

from conftest import synthea_resources
from helseflyt.search import index as ix
from helseflyt.search import registry
from helseflyt.search.index import _walker_for, index, index_by_entry


@pytest.fixture(autouse=True)
def _generate_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every type's walker from its first resource (a process waits for a few hundred)."""
    monkeypatch.setattr(ix, "GENERATE_AFTER", 0)


def _same_order(resources: list[dict[str, Any]], *, engine: bool = False) -> int:
    for r in resources:
        t = r["resourceType"]
        rows = index(t, r)
        assert (t, registry.generation()) in ix._WALKERS, "the generated walker ran"
        assert rows == index_by_entry(t, r), f"{t}/{r.get('id')}"
        if engine:
            assert set(rows) == _engine_rows(t, r), f"{t}/{r.get('id')}"
    return len(resources)


def test_synthea_sample_row_for_row(synthea_tgz: Path) -> None:
    assert _same_order(synthea_resources(synthea_tgz, 1 << 30)) > 20_000


def test_official_examples_row_for_row(r4_examples_dir: Path) -> None:
    assert _same_order(official_examples(r4_examples_dir)) > 1000


OBSERVATION = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "BP"}], "text": "BP"},
    "subject": {"reference": "Patient/p1", "identifier": {"system": "s", "value": "v"}},
    "encounter": {"reference": "urn:uuid:e1"},
    "effectiveDateTime": "2020-01-02T03:04:05Z",
    "valueQuantity": {"value": 1.5, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
    "component": [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {"value": 120},
        },
        {"code": {"text": "dia"}, "valueCodeableConcept": {"coding": [{"code": "x"}]}},
        {"code": {"text": "s"}, "valueString": "Høy"},
    ],
}


def _variant(**changes: Any) -> dict[str, Any]:
    r = copy.deepcopy(OBSERVATION)
    for key, value in changes.items():
        if value is None:
            r.pop(key, None)
        else:
            r[key] = value
    return r


def test_cases_the_generated_steps_give_up_on() -> None:
    """Each case makes the generated code hand one entry to its own path (fast path or
    engine) before writing any of its rows; the rows and their order must not change."""
    base = OBSERVATION
    resources = [
        base,
        _variant(_status={"extension": [{"url": "u", "valueString": "x"}]}),  # only a companion
        _variant(status=None, _status={"id": "s"}),
        _variant(component=[*base["component"], None]),  # null in a repeating element
        _variant(value={"value": 1}),  # the choice element's bare name
        _variant(valueQuantity=None, valueString="a", _valueString={"id": "v"}),
        _variant(valueQuantity=[{"value": 1}, {"value": 2}]),  # a list where one is expected
        _variant(component=[{"code": {"text": "a"}, "_valueQuantity": {"id": "q"}}]),
        _variant(code={"coding": [{"code": "c"}, "not a coding"], "text": 5}),
        _variant(extension={"url": "not a list"}),
        _variant(effectiveDateTime=None, effectivePeriod={"start": "2020", "end": "2021-02"}),
        _variant(effectiveDateTime=None, effectiveTiming={"event": ["2020-01-01"]}),
        _variant(subject={"reference": "Group/g"}, encounter=None),
        _variant(contained=[{"resourceType": "Patient", "id": "c1", "name": [{"family": "Ås"}]}]),
        {
            "resourceType": "Patient",
            "telecom": [{"system": "phone", "value": "1"}, {"system": 5, "value": "2"}],
            "name": [{"family": "Østby", "given": ["Åse", None], "_given": [None, {"id": "g"}]}],
            "address": [{"line": ["a"], "city": "Oslo", "postalCode": "0150"}],
            "extension": [{"url": "u", "valueCode": "x"}, "not an extension"],
            "deceasedBoolean": False,
        },
        {"resourceType": "Patient", "telecom": [{"_system": {"id": "x"}, "value": "1"}]},
        {"resourceType": "Condition", "onsetAge": {"value": 3, "unit": "a"}, "code": {"text": "t"}},
    ]
    assert _same_order(resources, engine=True) == len(resources)


def test_custom_parameters_get_a_new_walker() -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"family": "Nordmann", "extension": [{"url": "http://x/middle", "valueString": "Kari"}]}],
    }
    custom = {
        "resourceType": "SearchParameter",
        "url": "http://x/SearchParameter/middle",
        "code": "middle",
        "type": "string",
        "base": ["Patient"],
        "status": "active",
        "expression": "Patient.name.extension('http://x/middle').value",
    }
    before = _walker_for("Patient", registry.generation())
    assert not [row for row in index("Patient", patient) if row[1] == "middle"]
    try:
        registry.set_custom([custom])
        assert _walker_for("Patient", registry.generation()) is not before
        assert ("string", "middle", "kari", "Kari") in index("Patient", patient)
        assert _same_order([patient], engine=True) == 1
    finally:
        registry.set_custom([])
    assert not [row for row in index("Patient", patient) if row[1] == "middle"]


def test_a_process_generates_a_walker_after_a_few_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ix, "GENERATE_AFTER", 3)
    monkeypatch.setattr(ix, "_WALKERS", {})
    monkeypatch.setattr(ix, "_SEEN", {})
    key = ("Observation", registry.generation())
    rows = [index("Observation", OBSERVATION) for _ in range(2)]
    assert key not in ix._WALKERS  # the per-entry path so far
    rows += [index("Observation", OBSERVATION) for _ in range(2)]
    assert ix._WALKERS[key] is _walker_for(*key)
    assert all(r == index_by_entry("Observation", OBSERVATION) for r in rows)
