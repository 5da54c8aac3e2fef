"""Search over REST, per parameter type, prefix and modifier, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from helseflyt.http.testing import Client

Put = Callable[[dict[str, Any]], dict[str, Any]]
FNR = "urn:test:person-id"


def ids(client: Client, url: str, **kw: Any) -> list[str]:
    r = client.get(url, **kw)
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["type"] == "searchset"
    return sorted(e["resource"]["id"] for e in b.get("entry", []) if e["search"]["mode"] == "match")


@pytest.fixture
def people(put: Put) -> None:
    put(
        {
            "resourceType": "Patient",
            "id": "kari",
            "gender": "female",
            "birthDate": "1980-05-17",
            "active": True,
            "name": [{"family": "Østby", "given": ["Kari", "Åse"]}],
            "identifier": [
                {
                    "system": FNR,
                    "value": "17058012345",
                    "type": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NNNOR"}
                        ]
                    },
                }
            ],
            "telecom": [{"system": "phone", "value": "+4712345678"}],
            "address": [{"city": "Tromsø", "postalCode": "9008"}],
            "generalPractitioner": [{"reference": "Practitioner/gp1"}],
            "meta": {
                "tag": [{"system": "http://x/tags", "code": "demo"}],
                "profile": ["http://hl7.no/fhir/StructureDefinition/no-basis-Patient"],
            },
        }
    )
    put(
        {
            "resourceType": "Patient",
            "id": "ola",
            "gender": "male",
            "birthDate": "1955",
            "name": [{"family": "Nordmann", "given": ["Ola"]}],
            "identifier": [{"system": FNR, "value": "01015512345"}, {"value": "local-1"}],
            "generalPractitioner": [{"reference": "http://other.example/fhir/Practitioner/ext"}],
        }
    )
    put(
        {
            "resourceType": "Patient",
            "id": "per",
            "name": [{"family": "Østbye", "text": "Per Østbye"}],
            "deceasedBoolean": True,
        }
    )
    for i, (code, value, when) in enumerate(
        [
            ("8480-6", 120, "2021-03-01T10:00:00Z"),
            ("8480-6", 135.5, "2022-01-01"),
            ("8462-4", 80, "2022-06-15T08:30:00+02:00"),
        ]
    ):
        put(
            {
                "resourceType": "Observation",
                "id": f"o{i}",
                "status": "final",
                "code": {
                    "coding": [{"system": "http://loinc.org", "code": code, "display": "Blood pressure"}],
                    "text": "BP",
                },
                "subject": {"reference": "Patient/kari" if i < 2 else "Patient/ola"},
                "effectiveDateTime": when,
                "valueQuantity": {
                    "value": value,
                    "system": "http://unitsofmeasure.org",
                    "code": "mm[Hg]",
                    "unit": "mmHg",
                },
            }
        )
    put(
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": "Patient/kari"},
            "period": {"start": "2022-01-01T08:00:00Z", "end": "2022-01-03T12:00:00Z"},
        }
    )
    put(
        {
            "resourceType": "RiskAssessment",
            "id": "r1",
            "status": "final",
            "subject": {"reference": "Patient/kari"},
            "prediction": [{"probabilityDecimal": 0.25}],
        }
    )
    put(
        {
            "resourceType": "ValueSet",
            "id": "vs1",
            "status": "active",
            "url": "http://acme.org/fhir/ValueSet/123",
        }
    )


pytestmark = pytest.mark.usefixtures("people")


def test_string(client: Client) -> None:
    assert ids(client, "Patient?name=øst") == ["kari", "per"]
    assert ids(client, "Patient?name=ost") == []  # ø is a letter of its own, not an accented o
    assert ids(client, "Patient?name=ØSTBY") == ["kari", "per"]
    assert ids(client, "Patient?family:exact=Østby") == ["kari"]
    assert ids(client, "Patient?family:exact=østby") == []
    assert ids(client, "Patient?name:contains=tby") == ["kari", "per"]
    assert ids(client, "Patient?given=ase") == ["kari"]
    assert ids(client, "Patient?address-city=TROMSØ") == ["kari"]
    assert ids(client, "Patient?name=kari,ola") == ["kari", "ola"]
    assert ids(client, "Patient?name=østby&name=kari") == ["kari"]


def test_token(client: Client) -> None:
    assert ids(client, "Patient?gender=female") == ["kari"]
    assert ids(client, f"Patient?identifier={FNR}|17058012345") == ["kari"]
    assert ids(client, "Patient?identifier=17058012345") == ["kari"]
    assert ids(client, "Patient?identifier=|local-1") == ["ola"]
    assert ids(client, f"Patient?identifier={FNR}|") == ["kari", "ola"]
    assert ids(client, "Patient?gender:not=female") == ["ola", "per"]
    assert ids(client, "Patient?active=true") == ["kari"]
    assert ids(client, "Patient?deceased=true") == ["per"]
    assert ids(client, "Patient?telecom=phone|%2B4712345678") == ["kari"]
    assert ids(client, "Observation?code=http://loinc.org|8480-6") == ["o0", "o1"]
    assert ids(client, "Observation?code:text=blood") == ["o0", "o1", "o2"]
    assert ids(client, "Observation?code:text=bp") == ["o0", "o1", "o2"]
    of_type = "http://terminology.hl7.org/CodeSystem/v2-0203|NNNOR|17058012345"
    assert ids(client, f"Patient?identifier:of-type={of_type}") == ["kari"]
    assert ids(client, "Patient?gender:missing=true") == ["per"]
    assert ids(client, "Patient?gender:missing=false") == ["kari", "ola"]


def test_resource_params(client: Client) -> None:
    assert ids(client, "Patient?_id=kari,ola") == ["kari", "ola"]
    assert ids(client, "Patient?_tag=http://x/tags|demo") == ["kari"]
    assert ids(client, "Patient?_profile=http://hl7.no/fhir/StructureDefinition/no-basis-Patient") == ["kari"]
    assert ids(client, "Patient?_lastUpdated=gt2000-01-01") == ["kari", "ola", "per"]
    assert ids(client, "Patient?_lastUpdated=lt2000-01-01") == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("1980", ["kari"]),
        ("1980-05", ["kari"]),
        ("eq1980-05-17", ["kari"]),
        ("1980-05-18", []),
        ("ne1980", ["ola", "per"]),
        ("gt1970", ["kari"]),
        ("lt1970", ["ola"]),
        ("ge1980-05-17", ["kari"]),
        ("le1955-06", ["ola"]),
        ("sa1955", ["kari"]),
        ("eb1980", ["ola"]),
        ("ap1980-05-20", ["kari"]),
    ],
)
def test_date_prefixes(client: Client, query: str, expected: list[str]) -> None:
    assert ids(client, f"Patient?birthdate={query}") == expected


def test_date_period_and_zones(client: Client) -> None:
    assert ids(client, "Encounter?date=2022-01-02") == []  # the period is wider than the day
    assert ids(client, "Encounter?date=2022-01") == ["e1"]
    assert ids(client, "Encounter?date=ge2022-01-02") == ["e1"]
    assert ids(client, "Encounter?date=le2022-01-01") == []  # starts after the day's range
    assert ids(client, "Encounter?date=le2022-01-02") == ["e1"]
    assert ids(client, "Encounter?date=sa2022-01-04") == []
    assert ids(client, "Observation?date=2022-06-15T06:30:00Z") == ["o2"]  # +02:00 in the resource
    assert ids(client, "Observation?date=ge2022-01-01&date=lt2022-06-01") == ["o1"]


def test_number_and_quantity(client: Client) -> None:
    assert ids(client, "RiskAssessment?probability=0.25") == ["r1"]
    assert ids(client, "RiskAssessment?probability=gt0.2") == ["r1"]
    assert ids(client, "RiskAssessment?probability=lt0.2") == []
    assert ids(client, "Observation?value-quantity=120") == ["o0"]
    assert ids(client, "Observation?value-quantity=135") == []  # 135 means [134.5, 135.5)
    assert ids(client, "Observation?value-quantity=136") == ["o1"]  # [135.5, 136.5)
    assert ids(client, "Observation?value-quantity=137") == []
    assert ids(client, "Observation?value-quantity=1e2") == ["o0", "o1", "o2"]  # [50, 150)
    assert ids(client, "Observation?value-quantity=gt100") == ["o0", "o1"]
    assert ids(client, "Observation?value-quantity=le80|http://unitsofmeasure.org|mm[Hg]") == ["o2"]
    assert ids(client, "Observation?value-quantity=ap130") == ["o0", "o1"]
    assert ids(client, "Observation?value-quantity=gt100||kg") == []
    assert ids(client, "Observation?value-quantity=ne120") == ["o1", "o2"]


def test_reference(client: Client) -> None:
    assert ids(client, "Observation?subject=Patient/kari") == ["o0", "o1"]
    assert ids(client, "Observation?subject=kari") == ["o0", "o1"]
    assert ids(client, "Observation?patient=kari") == ["o0", "o1"]
    assert ids(client, "Observation?subject:Patient=ola") == ["o2"]
    assert ids(client, "Observation?subject=http://testserver/fhir/Patient/ola") == ["o2"]
    assert ids(client, "Patient?general-practitioner=http://other.example/fhir/Practitioner/ext") == ["ola"]
    assert ids(client, "Patient?general-practitioner:missing=true") == ["per"]
    assert ids(client, "Observation?subject=Patient/kari,Patient/ola&code=8462-4") == ["o2"]


def test_uri(client: Client) -> None:
    assert ids(client, "ValueSet?url=http://acme.org/fhir/ValueSet/123") == ["vs1"]
    assert ids(client, "ValueSet?url:below=http://acme.org/fhir") == ["vs1"]
    assert ids(client, "ValueSet?url:below=http://acme.org/fh") == []
    assert ids(client, "ValueSet?url:above=http://acme.org/fhir/ValueSet/123/_history/5") == ["vs1"]


def test_errors_and_unknown(client: Client) -> None:
    r = client.get("Patient?birthdate=yesterday")
    assert r.status_code == 400 and "birthdate" in r.text
    r = client.get("Observation?value-quantity=abc")
    assert r.status_code == 400 and "value-quantity" in r.text
    r = client.get("Patient?gender:exact=x")
    assert r.status_code == 400
    r = client.get("Patient?foo=bar&gender=male")
    assert r.status_code == 200
    b = r.json()
    assert [e["resource"]["id"] for e in b["entry"] if e["search"]["mode"] == "match"] == ["ola"]
    outcome = [e for e in b["entry"] if e["search"]["mode"] == "outcome"][0]["resource"]
    assert "foo" in outcome["issue"][0]["diagnostics"]
    assert "foo" not in b["link"][0]["url"] and "gender=male" in b["link"][0]["url"]
    r = client.get("Patient?foo=bar", headers={"Prefer": "handling=strict"})
    assert r.status_code == 400 and "foo" in r.text


def test_paging_total_sort(client: Client, put: Put) -> None:
    for i in range(7):
        put({"resourceType": "Basic", "id": f"b{i}", "code": {"text": "x"}, "created": f"2020-01-0{i + 1}"})
    seen: list[str] = []
    url: str | None = "Basic?_count=3"
    pages = 0
    while url:
        b = client.get(url).json()
        assert b["total"] == 7
        seen += [e["resource"]["id"] for e in b.get("entry", [])]
        url = next((link["url"] for link in b["link"] if link["relation"] == "next"), None)
        pages += 1
        if pages == 1:  # a write during the walk does not repeat or skip anything
            put({"resourceType": "Basic", "id": "b0", "code": {"text": "y"}, "created": "2020-01-01"})
    assert seen == [f"b{i}" for i in range(7)] and pages == 3
    b = client.get("Basic?_sort=-created&_count=2").json()
    assert [e["resource"]["id"] for e in b["entry"]] == ["b6", "b5"]
    nxt = next(link["url"] for link in b["link"] if link["relation"] == "next")
    assert [e["resource"]["id"] for e in client.get(nxt).json()["entry"]] == ["b4", "b3"]
    assert ids(client, "Basic?_sort=created&_count=1") == ["b0"]
    b = client.get("Basic?_summary=count").json()
    assert b["total"] == 7 and "entry" not in b
    assert "total" not in client.get("Basic?_total=none").json()
    b = client.get("Patient?_id=kari&_elements=gender").json()
    res = b["entry"][0]["resource"]
    assert set(res) == {"resourceType", "id", "meta", "gender"}
    assert any(t["code"] == "SUBSETTED" for t in res["meta"]["tag"])


def test_default_total_is_counted_up_to_the_cap(
    client: Client, put: Put, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helseflyt.interactions import search

    monkeypatch.setattr(search, "TOTAL_CAP", 4)  # 1,000 in use: the same code path
    for i in range(7):
        put({"resourceType": "Basic", "id": f"b{i}", "code": {"text": "x"}})
    first = client.get("Basic?_count=3").json()
    assert "total" not in first and len(first["entry"]) == 3  # more than 4: not counted
    nxt = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert "total" not in client.get(nxt).json()
    assert client.get("Basic?_count=3&_total=accurate").json()["total"] == 7
    assert client.get("Basic?_count=3&_total=estimate").json()["total"] == 7
    assert client.get("Basic?_summary=count").json()["total"] == 7
    assert client.get("Basic?_count=3&_sort=_id").json()["total"] == 7  # counted by the page anyway
    assert client.get("Basic?_id=b1,b2,b3,b4&_count=3").json()["total"] == 4


def test_post_search_and_system_search(client: Client) -> None:
    r = client.post(
        "Patient/_search",
        content=f"identifier={FNR}|17058012345",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    assert [e["resource"]["id"] for e in r.json()["entry"]] == ["kari"]
    assert ids(client, "?_type=Patient,Observation&_id=kari,o1") == ["kari", "o1"]
    b = client.get("?_type=Patient&_id=kari").json()
    assert "_type=Patient" in b["link"][0]["url"]


def test_deleted_and_updated_leave_the_index(client: Client, put: Put) -> None:
    assert client.delete("Patient/ola").status_code in (200, 204)
    assert ids(client, "Patient?gender=male") == []
    put({"resourceType": "Patient", "id": "per", "gender": "other"})
    assert ids(client, "Patient?name=øst") == ["kari"]
    assert ids(client, "Patient?gender=other") == ["per"]


def test_post_search_links_never_show_the_identifier(client: Client) -> None:
    """Paging links of a POST search carry a sealed token, never the fødselsnummer."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = client.post("Patient/_search", content=f"identifier={FNR}|17058012345&_count=1", headers=form)
    assert r.status_code == 200
    links = {link["relation"]: link["url"] for link in r.json()["link"]}
    assert all("17058012345" not in url and "identifier" not in url for url in links.values())
    assert "_page=" in links["self"]
    again = client.get(links["self"])
    assert [e["resource"]["id"] for e in again.json()["entry"]] == ["kari"]
    r = client.post("Patient/_search", content="gender=female,male&_count=1", headers=form)
    nxt = next(link["url"] for link in r.json()["link"] if link["relation"] == "next")
    page2 = client.get(nxt)
    assert page2.status_code == 200 and len(page2.json()["entry"]) == 1
    assert page2.json()["entry"][0]["resource"]["id"] != r.json()["entry"][0]["resource"]["id"]
    bad = client.get("Patient?_page=forged")
    assert bad.status_code == 400 and "repeat the search" in bad.text
    assert client.get(f"{links['self']}&gender=male").status_code == 400
