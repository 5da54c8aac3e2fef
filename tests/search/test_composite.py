"""Composite search parameters on every backend: all parts match on the same element."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from helseflyt.http.testing import Client
from helseflyt.search import registry
from helseflyt.search.index import index

Put = Callable[[dict[str, Any]], dict[str, Any]]
Ids = Callable[[str], list[str]]
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def _bp(id: str, systolic: float, diastolic: float) -> dict[str, Any]:
    """A blood pressure panel shaped as Synthea writes it: two components."""

    def component(code: str, value: float) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": LOINC, "code": code, "display": code}], "text": code},
            "valueQuantity": {"value": value, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"},
        }

    return {
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2021-03-01T10:00:00Z",
        "component": [component("8480-6", systolic), component("8462-4", diastolic)],
    }


@pytest.fixture
def observations(put: Put) -> None:
    put(_bp("bp-high", 150, 95))
    put(_bp("bp-normal", 118, 76))
    put(
        {
            "resourceType": "Observation",
            "id": "weight",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "29463-7"}]},
            "valueQuantity": {"value": 82.5, "unit": "kg", "system": UCUM, "code": "kg"},
        }
    )
    put(
        {
            "resourceType": "Observation",
            "id": "smoker",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "72166-2"}]},
            "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "8517006"}]},
        }
    )
    put(
        {
            "resourceType": "Observation",
            "id": "onset",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "11368-8"}]},
            "valuePeriod": {"start": "2019-05-01", "end": "2019-06-30"},
        }
    )
    put(
        {
            "resourceType": "Observation",
            "id": "sampled",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "33882-2"}]},
            "valueDateTime": "2019-06-15T10:30:00+02:00",
        }
    )
    put(
        {
            "resourceType": "Observation",
            "id": "note",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "8691-8"}]},
            "valueString": "Reiste til Tromsø",
        }
    )


@pytest.mark.usefixtures("observations")
def test_component_parts_come_from_the_same_component(client: Client, ids: Ids) -> None:
    q = "Observation?component-code-value-quantity="
    assert ids(q + f"{LOINC}|8480-6$gt140") == ["bp-high"]
    assert ids(q + "8480-6$gt100") == ["bp-high", "bp-normal"]
    # systolic code with a diastolic value: 95 is the diastolic of bp-high, never systolic
    assert ids(q + "8480-6$95") == []
    assert ids(q + "8480-6$lt100") == []
    assert ids(q + "8462-4$95") == ["bp-high"]
    assert ids(q + f"8462-4$ge76|{UCUM}|mm[Hg]") == ["bp-high", "bp-normal"]
    assert ids(q + "8462-4$76||kg") == []
    assert ids(q + "8480-6$ne150") == ["bp-normal"]
    assert ids(q + "8480-6$gt140,8462-4$lt80") == ["bp-high", "bp-normal"]
    # repeated: AND across components (each on its own component)
    assert ids(q + "8480-6$gt140&" + q[len("Observation?") :] + "8462-4$gt90") == ["bp-high"]
    assert ids(q + "8480-6$gt140&" + q[len("Observation?") :] + "8462-4$lt90") == []


@pytest.mark.usefixtures("observations")
def test_code_value_and_combo(client: Client, ids: Ids) -> None:
    assert ids(f"Observation?code-value-quantity={LOINC}|29463-7$ap80") == ["weight"]
    assert ids("Observation?code-value-quantity=29463-7$gt90") == []
    # the panel's own code has no value: code-value-quantity does not see the components
    assert ids("Observation?code-value-quantity=8480-6$gt100") == []
    assert ids("Observation?combo-code-value-quantity=8480-6$gt140") == ["bp-high"]
    assert ids("Observation?combo-code-value-quantity=29463-7$82.5") == ["weight"]
    assert ids("Observation?combo-code-value-quantity=8480-6$95") == []
    assert ids("Observation?code-value-concept=72166-2$http://snomed.info/sct|8517006") == ["smoker"]
    assert ids("Observation?combo-code-value-concept=72166-2$8517006") == ["smoker"]
    assert ids("Observation?code-value-concept=72166-2$|8517006") == []
    assert ids("Observation?code-value-date=11368-8$2019-06") == []  # the period is wider
    assert ids("Observation?code-value-date=11368-8$ge2019-05-01") == ["onset"]
    assert ids("Observation?code-value-date=11368-8$2019") == ["onset"]
    assert ids("Observation?code-value-date=11368-8$gt2020") == []
    # a dateTime value: R4's component expression is value.as(DateTime) (patched, see registry)
    assert ids("Observation?code-value-date=33882-2$2019-06-15") == ["sampled"]
    assert ids("Observation?code-value-date=33882-2$lt2019-06-01") == []
    assert ids("Observation?code-value-date=11368-8$2019-06-15") == []  # a day inside the period
    assert ids("Observation?code-value-string=8691-8$reiste") == ["note"]
    assert ids("Observation?code-value-string=8691-8$tromsø") == []
    assert ids("Observation?component-code-value-quantity:missing=false") == ["bp-high", "bp-normal"]
    assert "weight" in ids("Observation?combo-code-value-quantity:missing=false")
    assert ids("Observation?combo-code-value-concept:missing=true") == sorted(
        ["bp-high", "bp-normal", "weight", "onset", "sampled", "note"]
    )


@pytest.mark.usefixtures("observations")
def test_malformed_composite_values_are_400(client: Client) -> None:
    for url in (
        "Observation?component-code-value-quantity=8480-6",
        "Observation?component-code-value-quantity=8480-6$100$3",
        "Observation?component-code-value-quantity=8480-6$abc",
        "Observation?component-code-value-quantity=$100",
        "Observation?component-code-value-quantity:exact=8480-6$100",
        "Observation?_sort=combo-code-value-quantity",
    ):
        r = client.get(url)
        assert r.status_code == 400, url
        assert r.json()["resourceType"] == "OperationOutcome"


def test_other_composites(client: Client, put: Put, ids: Ids) -> None:
    put(
        {
            "resourceType": "Group",
            "id": "g1",
            "type": "person",
            "actual": True,
            "characteristic": [
                {
                    "code": {"text": "gender"},
                    "valueCodeableConcept": {"coding": [{"code": "female"}]},
                    "exclude": False,
                },
                {"code": {"coding": [{"code": "smoker"}]}, "valueBoolean": True, "exclude": False},
            ],
        }
    )
    assert ids("Group?characteristic-value=smoker$true") == ["g1"]
    assert ids("Group?characteristic-value=smoker$female") == []
    put(
        {
            "resourceType": "DocumentReference",
            "id": "d2",
            "status": "current",
            "content": [{"attachment": {"url": "http://x/a.pdf"}}],
            "relatesTo": [{"code": "replaces", "target": {"reference": "DocumentReference/d1"}}],
        }
    )
    assert ids("DocumentReference?relationship=DocumentReference/d1$replaces") == ["d2"]
    assert ids("DocumentReference?relationship=d1$replaces") == ["d2"]
    assert ids("DocumentReference?relationship=DocumentReference/d1$transforms") == []
    put(
        {
            "resourceType": "MolecularSequence",
            "id": "m1",
            "coordinateSystem": 0,
            "referenceSeq": {"chromosome": {"coding": [{"code": "1"}]}, "windowStart": 100, "windowEnd": 900},
            "variant": [{"start": 120, "end": 130}, {"start": 500, "end": 510}],
        }
    )
    assert ids("MolecularSequence?chromosome-window-coordinate=1$ge100$le900") == ["m1"]
    assert ids("MolecularSequence?chromosome-variant-coordinate=1$gt400$lt520") == ["m1"]
    assert ids("MolecularSequence?chromosome-variant-coordinate=1$gt400$lt200") == []
    put(
        {
            "resourceType": "ValueSet",
            "id": "vs1",
            "status": "active",
            "useContext": [
                {"code": {"code": "age"}, "valueRange": {"low": {"value": 18}, "high": {"value": 65}}},
                {"code": {"code": "focus"}, "valueCodeableConcept": {"coding": [{"code": "diabetes"}]}},
            ],
        }
    )
    assert ids("ValueSet?context-type-quantity=age$ge60") == ["vs1"]
    assert ids("ValueSet?context-type-value=focus$diabetes") == ["vs1"]
    assert ids("ValueSet?context-type-value=age$diabetes") == []


def test_registry_and_capability_statement(client: Client) -> None:
    assert not [k for k, why in registry.unsupported().items() if why.startswith("type composite")]
    combo = registry.param("Observation", "combo-code-value-quantity")
    assert combo is not None and combo.union_of == ("code-value-quantity", "component-code-value-quantity")
    cs = client.get("metadata").json()
    obs = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Observation")
    listed = {p["name"]: p["type"] for p in obs["searchParam"]}
    assert listed["component-code-value-quantity"] == "composite"


def test_rows_per_component_and_none_for_the_union() -> None:
    rows = [r for r in index("Observation", _bp("x", 150, 95)) if r[0] == "composite"]
    assert sorted((r[1], r[3], r[6]) for r in rows) == [
        ("component-code-value-quantity", "8462-4", 95.0),
        ("component-code-value-quantity", "8480-6", 150.0),
    ]


def test_custom_composite(client: Client, put: Put, ids: Ids) -> None:
    """A custom composite written through the API (components by the official
    definitions' URLs) is compiled and indexed like the official ones."""
    sp = "http://hl7.org/fhir/SearchParameter/"
    try:
        put(
            {
                "resourceType": "SearchParameter",
                "id": "component-code-interpretation",
                "url": "http://example.org/fhir/SearchParameter/component-code-interpretation",
                "name": "ComponentCodeInterpretation",
                "status": "active",
                "description": "A component's code and its interpretation",
                "code": "component-code-interpretation",
                "base": ["Observation"],
                "type": "composite",
                "expression": "Observation.component",
                "component": [
                    {"definition": sp + "Observation-component-code", "expression": "code"},
                    {
                        "definition": sp + "Observation-component-value-concept",
                        "expression": "interpretation",
                    },
                ],
            }
        )
        bp = _bp("bp-flag", 150, 70)
        bp["component"][0]["interpretation"] = [{"coding": [{"code": "H"}]}]
        put(bp)
        p = registry.param("Observation", "component-code-interpretation")
        assert p is not None and p.components == (("token", "code"), ("token", "interpretation"))
        assert ids("Observation?component-code-interpretation=8480-6$H") == ["bp-flag"]
        # not ignored as unknown (that would match every Observation): same component only
        assert ids("Observation?component-code-interpretation=8462-4$H") == []
    finally:
        registry.set_custom([])  # the registry is process-wide
