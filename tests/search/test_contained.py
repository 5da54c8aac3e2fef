"""``_contained`` and ``_containedType`` (https://hl7.org/fhir/R4/search.html#contained)
on every backend: contained resources are indexed with their container and found only
when asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from helseflyt.http.testing import Client

Put = Callable[[dict[str, Any]], dict[str, Any]]
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
TABLET = {"coding": [{"system": "http://snomed.info/sct", "code": "385055001"}]}


def _med(local: str, code: str, **more: Any) -> dict[str, Any]:
    return {
        "resourceType": "Medication",
        "id": local,
        "code": {"coding": [{"system": RX, "code": code}]},
    } | more


def _request(rid: str, *contained: dict[str, Any]) -> dict[str, Any]:
    refs = [{"reference": f"#{c['id']}"} for c in contained[1:]]
    more = {"supportingInformation": refs} if refs else {}  # dom-3: every contained one is referenced
    return more | {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "contained": list(contained),
        "medicationReference": {"reference": f"#{contained[0]['id']}"},
    }


@pytest.fixture
def data(put: Put) -> None:
    put({"resourceType": "Patient", "id": "p1"})
    put(_med("top", "111"))
    put(_request("mr1", _med("med1", "111"), _med("med2", "222", form=TABLET)))
    put(_request("mr2", _med("m", "222")))


def _found(client: Client, url: str) -> list[tuple[str, str]]:
    r = client.get(url)
    assert r.status_code == 200, r.text
    return [
        (e["fullUrl"].split("/fhir/", 1)[1], e["resource"]["resourceType"])
        for e in r.json().get("entry", [])
        if e["search"]["mode"] == "match"
    ]


def test_default_keeps_contained_out(client: Client, data: None) -> None:
    assert _found(client, f"Medication?code={RX}|111") == [("Medication/top", "Medication")]
    assert _found(client, "Medication?_contained=false") == [("Medication/top", "Medication")]
    assert client.get("Medication?_summary=count").json()["total"] == 1
    assert _found(client, "MedicationRequest?_id=mr1") == [("MedicationRequest/mr1", "MedicationRequest")]


def test_contained_true_returns_containers_or_contained(client: Client, data: None) -> None:
    url = f"Medication?code={RX}|111&_contained=true"
    assert _found(client, url) == [("MedicationRequest/mr1", "MedicationRequest")]
    assert _found(client, url + "&_containedType=contained") == [("MedicationRequest/mr1#med1", "Medication")]
    r = client.get(url + "&_containedType=contained").json()
    assert r["total"] == 1 and r["entry"][0]["resource"] == _med("med1", "111")
    containers = _found(client, "Medication?code=222&_contained=true")
    assert containers == [
        ("MedicationRequest/mr1", "MedicationRequest"),
        ("MedicationRequest/mr2", "MedicationRequest"),
    ]
    every = _found(client, "Medication?_contained=true&_containedType=contained")
    assert [u for u, _ in every] == [
        "MedicationRequest/mr1#med1",
        "MedicationRequest/mr1#med2",
        "MedicationRequest/mr2#m",
    ]
    assert client.get("Medication?_contained=true&_summary=count").json()["total"] == 2  # containers


def test_contained_both(client: Client, data: None) -> None:
    url = f"Medication?code={RX}|111&_contained=both"
    assert _found(client, url) == [
        ("Medication/top", "Medication"),
        ("MedicationRequest/mr1", "MedicationRequest"),
    ]
    assert _found(client, url + "&_containedType=contained") == [  # by type, then id
        ("MedicationRequest/mr1#med1", "Medication"),
        ("Medication/top", "Medication"),
    ]


def test_criteria_hold_for_one_contained_resource(client: Client, data: None) -> None:
    # med1 has code 111, med2 the form: no single contained Medication has both
    assert _found(client, f"Medication?code=111&form={TABLET['coding'][0]['code']}&_contained=true") == []
    assert _found(client, "Medication?code=222&form=385055001&_contained=true&_containedType=contained") == [
        ("MedicationRequest/mr1#med2", "Medication")
    ]


def test_paging_and_summary(client: Client, data: None) -> None:
    url = "Medication?_contained=both&_containedType=contained&_count=1&_summary=true"
    seen = []
    while url:
        b = client.get(url).json()
        assert b["total"] == 4
        seen += [e["fullUrl"].rsplit("/", 1)[1] for e in b.get("entry", [])]
        assert all(any(t["code"] == "SUBSETTED" for t in e["resource"]["meta"]["tag"]) for e in b["entry"])
        url = next((link["url"] for link in b["link"] if link["relation"] == "next"), None)
    assert seen == ["mr1#med1", "mr1#med2", "mr2#m", "top"]


def test_update_and_delete_remove_contained_rows(client: Client, put: Put, data: None) -> None:
    put(_request("mr1", _med("med9", "999")))
    found = _found(client, "Medication?_contained=true&_containedType=contained")
    assert [u for u, _ in found] == ["MedicationRequest/mr1#med9", "MedicationRequest/mr2#m"]
    assert _found(client, "Medication?code=111&_contained=true") == []
    assert client.delete("MedicationRequest/mr2").status_code in (200, 204)
    assert _found(client, "Medication?code=222&_contained=true") == []
    assert _found(client, "Medication?_contained=true") == [("MedicationRequest/mr1", "MedicationRequest")]


def test_chains_reach_into_contained_resources(client: Client, put: Put, data: None) -> None:
    obs = {
        "resourceType": "DiagnosticReport",
        "id": "dr1",
        "status": "final",
        "code": {"text": "panel"},
        "contained": [
            {
                "resourceType": "Observation",
                "id": "o1",
                "status": "final",
                "code": {"text": "x"},
                "subject": {"reference": "Patient/p1"},
            }
        ],
        "result": [{"reference": "#o1"}],
    }
    put(obs)
    assert _found(client, "Observation?subject=Patient/p1&_contained=true") == [
        ("DiagnosticReport/dr1", "DiagnosticReport")
    ]
    assert _found(client, "Observation?subject=Patient/p1") == []


def test_bad_values_are_400(client: Client, data: None) -> None:
    for url, name in (
        ("Medication?_contained=yes", "_contained"),
        ("Medication?_contained=true&_containedType=both", "_containedType"),
        ("Medication?_contained=true&_sort=code", "_sort"),
        ("Medication?_contained=both&_id=top", "_id"),
        ("Medication?_contained=true&_lastUpdated=gt2020", "_lastUpdated"),
        ("Medication?_contained=true&_list=l1", "_list"),
    ):
        r = client.get(url)
        assert r.status_code == 400, url
        assert name in r.json()["issue"][0]["diagnostics"], url
