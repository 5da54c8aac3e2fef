"""``_summary=true|text|data`` and ``_elements`` on search, read, vread and history, on
every backend (https://hl7.org/fhir/R4/search.html#summary)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from helseflyt.fhir.subset import SUBSETTED
from helseflyt.http.testing import Client

Put = Callable[[dict[str, Any]], dict[str, Any]]

PATIENT = {
    "resourceType": "Patient",
    "id": "kari",
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Kari</div>'},
    "extension": [{"url": "http://example.org/x", "valueString": "not summary"}],
    "identifier": [{"system": "urn:test:id", "value": "1"}],
    "name": [
        {
            "family": "Østby",
            "given": ["Kari"],
            "extension": [{"url": "http://example.org/y", "valueString": "inside a datatype"}],
        }
    ],
    "gender": "female",
    "birthDate": "1980-05-17",
    "maritalStatus": {"text": "gift"},
    "contact": [{"name": {"family": "Nordmann"}}],
    "communication": [{"language": {"text": "norsk"}, "preferred": True}],
    "link": [{"other": {"reference": "Patient/ola"}, "type": "seealso"}],
}
OBSERVATION = {
    "resourceType": "Observation",
    "id": "o1",
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">BP</div>'},
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
    "subject": {"reference": "Patient/kari"},
    "valueQuantity": {"value": 1.50, "unit": "mmHg"},
    "note": [{"text": "not summary"}],
    "component": [
        {"code": {"text": "c"}, "valueString": "v", "interpretation": [{"text": "not summary"}]}
    ],
}


@pytest.fixture
def data(client: Client, put: Put) -> None:
    put(PATIENT)
    raw = json.dumps(OBSERVATION).replace('"value": 1.5,', '"value": 1.50,')
    r = client.put("Observation/o1", content=raw, headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 201 and "1.50" in raw


def _subsetted(resource: dict[str, Any]) -> bool:
    return SUBSETTED in resource["meta"]["tag"]


def _one(client: Client, url: str) -> dict[str, Any]:
    r = client.get(url)
    assert r.status_code == 200, r.text
    entries = r.json()["entry"]
    assert len(entries) == 1
    return dict(entries[0]["resource"])


def test_summary_true_keeps_summary_elements_recursively(client: Client, data: None) -> None:
    p = _one(client, "Patient?_id=kari&_summary=true")
    assert set(p) == {"resourceType", "id", "meta", "identifier", "name", "gender", "birthDate", "link"}
    assert p["name"] == [{"family": "Østby", "given": ["Kari"]}]  # HumanName.extension is not summary
    assert p["meta"]["versionId"] == "1" and _subsetted(p)
    o = _one(client, "Observation?_id=o1&_summary=true")
    assert set(o) == {"resourceType", "id", "meta", "status", "code", "subject", "valueQuantity", "component"}
    assert o["component"] == [{"code": {"text": "c"}, "valueString": "v"}]
    r = client.get("Observation?_id=o1&_summary=true")
    assert b'"value":1.50' in r.content  # decimals keep their written form


def test_summary_text_and_data(client: Client, data: None) -> None:
    p = _one(client, "Patient?_id=kari&_summary=text")
    assert set(p) == {"resourceType", "id", "meta", "text"} and _subsetted(p)
    o = _one(client, "Observation?_id=o1&_summary=text")  # status and code are mandatory
    assert set(o) == {"resourceType", "id", "meta", "text", "status", "code"}
    o = _one(client, "Observation?_id=o1&_summary=data")
    assert "text" not in o and o["note"] == OBSERVATION["note"] and _subsetted(o)
    assert o["component"] == OBSERVATION["component"]


def test_summary_false_and_count_unchanged(client: Client, data: None) -> None:
    p = _one(client, "Patient?_id=kari&_summary=false")
    assert p["extension"] == PATIENT["extension"] and "tag" not in p["meta"]
    b = client.get("Patient?_summary=count").json()
    assert b["total"] == 1 and "entry" not in b


def test_summary_on_includes(client: Client, data: None) -> None:
    r = client.get("Observation?_id=o1&_include=Observation:subject&_summary=text")
    entries = r.json()["entry"]
    assert [e["search"]["mode"] for e in entries] == ["match", "include"]
    assert set(entries[1]["resource"]) == {"resourceType", "id", "meta", "text"}


def test_bad_summary_values_are_400(client: Client, data: None) -> None:
    for url in (
        "Patient?_summary=yes",
        "Patient/kari?_summary=maybe",
        "Patient/kari/_history/1?_summary=TRUE",
        "Patient/kari/_history?_summary=x",
        "Patient/kari?_summary=count",
    ):
        r = client.get(url)
        assert r.status_code == 400, url
        assert "_summary" in r.json()["issue"][0]["diagnostics"], url


def test_summary_with_elements_is_400(client: Client, data: None) -> None:
    r = client.get("Patient?_summary=true&_elements=name")
    assert r.status_code == 400
    assert "_elements" in r.json()["issue"][0]["diagnostics"]
    assert client.get("Patient/kari?_summary=data&_elements=name").status_code == 400
    p = _one(client, "Patient?_summary=false&_elements=gender")  # false: _elements applies
    assert set(p) == {"resourceType", "id", "meta", "gender"}


def test_read_vread_history_with_summary(client: Client, data: None) -> None:
    r = client.get("Patient/kari?_summary=true")
    assert r.status_code == 200 and r.headers["ETag"] == 'W/"1"'
    p = r.json()
    assert "extension" not in p and "maritalStatus" not in p and _subsetted(p)
    assert client.get("Patient/kari").json() == client.get("Patient/kari?_summary=false").json()
    assert "text" not in client.get("Patient/kari/_history/1?_summary=data").json()
    p = client.get("Patient/kari?_elements=gender").json()
    assert set(p) == {"resourceType", "id", "meta", "gender"}
    b = client.get("Patient/kari/_history?_summary=text").json()
    assert set(b["entry"][0]["resource"]) == {"resourceType", "id", "meta", "text"}
