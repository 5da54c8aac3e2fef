"""Chaining, reverse chaining (``_has``), ``_include`` and ``_revinclude``, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from helseflyt.http.testing import Client
from helseflyt.search.parse import Include
from helseflyt.search.plan import include_queries
from helseflyt.storage.base import ResourceVersion
from helseflyt.storage.sql_search import compile_search

Put = Callable[[dict[str, Any]], dict[str, Any]]
LOINC = "http://loinc.org"


def search(client: Client, url: str) -> tuple[list[str], list[str]]:
    """(matches, includes) as sorted ``Type/id``."""
    r = client.get(url)
    assert r.status_code == 200, r.text
    entries = r.json().get("entry", [])

    def of(mode: str) -> list[str]:
        return sorted(
            f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in entries
            if e["search"]["mode"] == mode
        )

    return of("match"), of("include")


def ids(client: Client, url: str) -> list[str]:
    return [m.split("/")[1] for m in search(client, url)[0]]


@pytest.fixture(autouse=True)
def world(put: Put) -> None:
    put({"resourceType": "Organization", "id": "org1", "name": "Tromsø legekontor"})
    put({"resourceType": "Practitioner", "id": "gp1", "name": [{"family": "Lege"}]})
    put({"resourceType": "Practitioner", "id": "gp2", "name": [{"family": "Doktor"}]})
    put({"resourceType": "PractitionerRole", "id": "role1", "practitioner": {"reference": "Practitioner/gp1"},
         "organization": {"reference": "Organization/org1"}})  # fmt: skip
    put({"resourceType": "Patient", "id": "kari", "gender": "female", "name": [{"family": "Østby"}],
         "identifier": [{"system": "urn:fnr", "value": "1"}],
         "generalPractitioner": [{"reference": "Practitioner/gp1"}],
         "managingOrganization": {"reference": "Organization/org1"}})  # fmt: skip
    put({"resourceType": "Patient", "id": "ola", "gender": "male", "name": [{"family": "Nordmann"}],
         "identifier": [{"system": "urn:fnr", "value": "2"}],
         "generalPractitioner": [{"reference": "Practitioner/gp2"}]})  # fmt: skip
    put(
        {
            "resourceType": "Group",
            "id": "kari",
            "type": "person",
            "actual": True,
            "name": "not the patient",
            "identifier": [{"system": "urn:grp", "value": "g"}],
        }
    )
    for oid, subject, code in [("o1", "Patient/kari", "8480-6"), ("o2", "Patient/kari", "8462-4"),
                               ("o3", "Patient/ola", "8480-6"), ("o4", "Group/kari", "8480-6")]:  # fmt: skip
        put({"resourceType": "Observation", "id": oid, "status": "final", "subject": {"reference": subject},
             "code": {"coding": [{"system": LOINC, "code": code}]}})  # fmt: skip
    put({"resourceType": "Encounter", "id": "e1", "status": "finished", "class": {"code": "AMB"},
         "subject": {"reference": "Patient/kari"},
         "participant": [{"individual": {"reference": "Practitioner/gp1"}}]})  # fmt: skip
    put({"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/kari"},
         "encounter": {"reference": "Encounter/e1"}, "code": {"coding": [{"code": "flu"}]}})  # fmt: skip


def test_chain(client: Client) -> None:
    assert ids(client, "Observation?subject:Patient.name=østby") == ["o1", "o2"]
    assert ids(client, "Observation?subject:Patient.identifier=urn:fnr|2") == ["o3"]
    assert ids(client, "Observation?patient.gender=female") == ["o1", "o2"]
    assert ids(client, "Observation?subject:Group.identifier=urn:grp|g") == ["o4"]
    assert ids(client, "Observation?subject.identifier=urn:fnr|1") == ["o1", "o2"]  # Group/kari has none
    assert ids(client, "Patient?general-practitioner.name=lege") == ["kari"]
    assert ids(client, "Patient?general-practitioner:Practitioner.name=doktor") == ["ola"]
    # depth 2 and 3
    assert ids(client, "Observation?subject:Patient.general-practitioner.name=lege") == ["o1", "o2"]
    assert ids(client, "Condition?encounter.subject:Patient.organization.name=tromsø") == ["c1"]
    assert ids(client, "Observation?subject:Patient.name=østby&code=8462-4") == ["o2"]
    assert ids(client, "Observation?subject:Patient.name=nobody") == []


def test_has(client: Client) -> None:
    assert ids(client, f"Patient?_has:Observation:patient:code={LOINC}|8480-6") == ["kari", "ola"]
    assert ids(client, "Patient?_has:Observation:patient:code=8462-4") == ["kari"]
    assert ids(client, "Patient?_has:Condition:subject:code=flu&gender=female") == ["kari"]
    assert ids(client, "Practitioner?_has:Encounter:practitioner:_has:Condition:encounter:code=flu") == [
        "gp1"
    ]
    assert ids(client, "Practitioner?_has:PractitionerRole:practitioner:organization.name=tromsø") == ["gp1"]
    assert ids(client, "Patient?_has:Observation:patient:code=none") == []


def test_chain_and_has_checked_per_row(client: Client) -> None:
    """A more selective criterion drives the search; a chain or ``_has`` next to it is
    probed for each of its rows (storage/sql_search.py), nested ones too: same answers."""
    assert ids(client, "Observation?patient=kari&subject:Patient.gender=female") == ["o1", "o2"]
    assert ids(client, "Observation?patient=ola&subject:Patient.gender=female") == []
    assert ids(client, "Observation?patient=kari&subject:Patient.general-practitioner.name=lege") == [
        "o1",
        "o2",
    ]
    assert ids(client, "Observation?patient=kari&subject:Patient.general-practitioner.name=doktor") == []
    assert ids(client, "Observation?subject:Patient.name=østby&code:not=8462-4") == ["o1"]
    assert ids(client, "Patient?name=østby&_has:Observation:patient:code=8462-4") == ["kari"]
    assert ids(client, "Patient?name=nordmann&_has:Observation:patient:code=8462-4") == []
    assert ids(client, "Patient?name=nordmann&_has:Observation:patient:code=8480-6") == ["ola"]
    assert ids(client, "Patient?_id=kari&_has:Condition:subject:encounter.status=finished") == ["kari"]
    assert ids(client, "Patient?_id=kari&_has:Condition:subject:encounter.status=planned") == []
    assert ids(
        client, "Practitioner?name=lege&_has:Encounter:practitioner:_has:Condition:encounter:code=flu"
    ) == ["gp1"]
    assert ids(client, "Encounter?patient=kari&_has:Condition:encounter:code=flu") == ["e1"]
    assert ids(client, "Encounter?patient=kari&_has:Condition:encounter:code=cold") == []


def test_chain_errors(client: Client) -> None:
    assert client.get("Observation?code.name=x").status_code == 400  # not a reference
    strict = {"Prefer": "handling=strict"}
    assert client.get("Observation?subject:Patient.nonsense=x", headers=strict).status_code == 400
    assert client.get("Observation?subject:Organization.name=x").status_code == 400  # not a target
    assert client.get("Patient?_has:Observation:nonsense:code=x").status_code == 400
    assert client.get("Patient?_has:Observation=x").status_code == 400


def test_include(client: Client) -> None:
    matches, included = search(client, "Observation?code=8462-4&_include=Observation:subject")
    assert matches == ["Observation/o2"] and included == ["Patient/kari"]
    _, included = search(client, "Observation?_include=Observation:subject:Group")
    assert included == ["Group/kari"]
    _, included = search(client, "Observation?_id=o1,o3&_include=Observation:patient")
    assert included == ["Patient/kari", "Patient/ola"]
    _, included = search(client, "Encounter?_include=*")
    assert included == ["Patient/kari", "Practitioner/gp1"]
    # not iterated: the patient's practitioner stays out; iterated: it comes in
    url = "Observation?_id=o1&_include=Observation:subject&_include=Patient:general-practitioner"
    assert client.get(url).status_code == 400  # Patient is not searched here
    _, included = search(client, url.replace("_include=Patient", "_include:iterate=Patient"))
    assert included == ["Patient/kari", "Practitioner/gp1"]


def test_include_follows_the_current_references_of_the_page(client: Client, put: Put) -> None:
    """The include reads the reference rows of the page's resources by their ids: those of
    their current versions only, and none of a deleted resource."""
    put({"resourceType": "Observation", "id": "o2", "status": "final",
         "subject": {"reference": "Patient/ola"},
         "code": {"coding": [{"system": LOINC, "code": "8462-4"}]}})  # fmt: skip
    matches, included = search(client, "Observation?code=8462-4&_include=Observation:subject")
    assert matches == ["Observation/o2"] and included == ["Patient/ola"]
    assert client.delete("Observation/o3").status_code in (200, 204)
    matches, included = search(client, "Observation?_id=o1,o3&_include=Observation:patient")
    assert matches == ["Observation/o1"] and included == ["Patient/kari"]
    _, included = search(client, "Observation?_include=Observation:subject")
    assert included == ["Group/kari", "Patient/kari", "Patient/ola"]


def test_include_sql_reads_the_page_references_by_id() -> None:
    """No second lookup of the page's resources; the ids are one parameter when the
    connection gives ``in_list`` (the same statement for every page size)."""
    page = [ResourceVersion("Encounter", f"e{i}", 1, datetime.now(UTC), False, b"{}", i) for i in range(3)]
    include = Include("Encounter", "subject", None, iterate=False, reverse=False)
    (query,) = include_queries(include, [*page, replace(page[0], id="c1#m1")], 10)
    sql, args = compile_search(query, "h.body")
    assert "resource_current s" not in sql and "IN (?, ?, ?)" in sql
    assert [a for a in args if str(a).startswith("e") and a != "Encounter"] == ["e0", "e1", "e2"]
    sql, args = compile_search(query, "h.body", lambda ids: ("= ANY(?)", list(ids)))
    assert "= ANY(?)" in sql and ["e0", "e1", "e2"] in args


def test_revinclude(client: Client) -> None:
    matches, included = search(client, "Patient?_id=kari&_revinclude=Observation:subject")
    assert matches == ["Patient/kari"] and included == [
        "Observation/o1",
        "Observation/o2",
    ]  # not Group/kari's
    _, included = search(client, "Patient?_revinclude=Condition:*")
    assert included == ["Condition/c1"]
    url = "Patient?_id=kari&_revinclude=Encounter:subject&_revinclude:iterate=Condition:encounter"
    _, included = search(client, url)
    assert included == ["Condition/c1", "Encounter/e1"]
    matches, included = search(client, "Practitioner?_id=gp1&_revinclude=PractitionerRole:practitioner"
                                "&_include:iterate=PractitionerRole:organization")  # fmt: skip
    assert included == ["Organization/org1", "PractitionerRole/role1"]


def test_include_errors(client: Client) -> None:
    assert client.get("Observation?_include=Observation").status_code == 400
    assert client.get("Observation?_include=Observation:code").status_code == 400
    assert client.get("Observation?_include=Nope:subject").status_code == 400


def test_compartment(client: Client) -> None:
    assert ids(client, "Patient/kari/Observation") == ["o1", "o2"]
    assert ids(client, "Patient/kari/Observation?code=8462-4") == ["o2"]
    assert ids(client, "Patient/ola/Observation") == ["o3"]
    assert ids(client, "Patient/kari/Encounter") == ["e1"]
    assert ids(client, "Patient/kari/Condition?_include=Condition:encounter") == ["c1"]
    assert ids(client, "Practitioner/gp1/Encounter") == ["e1"]
    assert ids(client, "Encounter/e1/Condition") == ["c1"]
    assert ids(client, "Patient/nobody/Observation") == []
    b = client.get("Patient/kari/Observation?_count=1").json()
    assert b["total"] == 2 and b["link"][0]["url"].startswith(
        "http://testserver/fhir/Patient/kari/Observation?"
    )
    nxt = next(link["url"] for link in b["link"] if link["relation"] == "next")
    assert [e["resource"]["id"] for e in client.get(nxt).json()["entry"]] == ["o2"]
    assert client.get("Patient/kari/Organization").status_code == 400  # not in the compartment
    assert client.get("Observation/o1/Patient").status_code == 400  # not a compartment
    assert client.get("Patient/kari/Nonsense").status_code == 404


def test_compartment_every_type(client: Client) -> None:
    assert search(client, "Patient/kari/*")[0] == [
        "Condition/c1",
        "Encounter/e1",
        "Observation/o1",
        "Observation/o2",
    ]
    assert search(client, "Patient/ola/*")[0] == ["Observation/o3"]  # Group/kari's o4 is not kari's
    assert search(client, "Practitioner/gp1/*")[0] == [
        "Encounter/e1",
        "Patient/kari",
        "PractitionerRole/role1",
    ]
    assert ids(client, "Patient/kari/*?_type=Observation,Condition") == ["c1", "o1", "o2"]
    b = client.get("Patient/kari/*?_type=Observation&_count=1").json()
    assert b["total"] == 2 and b["link"][0]["url"].startswith("http://testserver/fhir/Patient/kari/*?_type=")
    nxt = next(link["url"] for link in b["link"] if link["relation"] == "next")
    assert [e["resource"]["id"] for e in client.get(nxt).json()["entry"]] == ["o2"]
    seen, url = [], "Patient/kari/*?_count=3"
    while url:
        page = client.get(url).json()
        assert page["total"] == 4
        seen += [e["resource"]["id"] for e in page["entry"]]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert seen == ["c1", "e1", "o1", "o2"]
    assert client.get("Patient/kari/*?_type=Organization").status_code == 400  # not a member
    assert client.get("Observation/o1/*").status_code == 400  # not a compartment
