"""Token :in/:not-in/:below/:above and _list on every backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helseflyt.http.testing import Client
from helseflyt.packages import install, read_package
from helseflyt.search import registry, terminology
from helseflyt.storage import Store

Put = Callable[[dict[str, Any]], dict[str, Any]]
Ids = Callable[[str], list[str]]
CS = "http://example.org/fhir/CodeSystem/findings"
GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"
V3_ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


def refused(client: Client, url: str, words: str) -> None:
    r = client.get(url)
    assert r.status_code == 400, (url, r.text)
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert words in outcome["issue"][0]["diagnostics"], outcome


def _condition(id: str, system: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": id,
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": system, "code": code}]},
    }


@pytest.fixture
def terms(put: Put) -> None:
    put(
        {
            "resourceType": "CodeSystem",
            "id": "findings",
            "url": CS,
            "status": "active",
            "content": "complete",
            "hierarchyMeaning": "is-a",
            "concept": [
                {"code": "lung", "concept": [{"code": "asthma", "concept": [{"code": "asthma-child"}]}]},
                {"code": "heart"},
                {"code": "angina", "property": [{"code": "parent", "valueCode": "heart"}]},
            ],
        }
    )
    put(
        {
            "resourceType": "CodeSystem",
            "id": "groups",
            "url": "http://example.org/fhir/CodeSystem/groups",
            "status": "active",
            "content": "complete",
            "hierarchyMeaning": "grouped-by",
            "concept": [{"code": "g", "concept": [{"code": "g1"}]}],
        }
    )
    put(
        {
            "resourceType": "ValueSet",
            "id": "chronic",
            "url": "http://example.org/fhir/ValueSet/chronic",
            "status": "active",
            "compose": {"include": [{"system": CS, "concept": [{"code": "asthma"}, {"code": "angina"}]}]},
        }
    )
    put(
        {
            "resourceType": "ValueSet",
            "id": "all-findings",
            "url": "http://example.org/fhir/ValueSet/all-findings",
            "status": "active",
            "compose": {
                "include": [{"system": CS}],
                "exclude": [{"system": CS, "concept": [{"code": "heart"}]}],
            },
        }
    )
    put(
        {
            "resourceType": "ValueSet",
            "id": "filtered",
            "url": "http://example.org/fhir/ValueSet/filtered",
            "status": "active",
            "compose": {
                "include": [
                    {"system": CS, "filter": [{"property": "concept", "op": "is-a", "value": "lung"}]}
                ]
            },
        }
    )
    put(
        {
            "resourceType": "ValueSet",
            "id": "regex",
            "url": "http://example.org/fhir/ValueSet/regex",
            "status": "active",
            "compose": {
                "include": [{"system": CS, "filter": [{"property": "code", "op": "regex", "value": "a.*"}]}]
            },
        }
    )
    for id, code in (
        ("c-asthma", "asthma"),
        ("c-child", "asthma-child"),
        ("c-angina", "angina"),
        ("c-heart", "heart"),
    ):
        put(_condition(id, CS, code))
    put(_condition("c-other", "http://example.org/other", "asthma"))
    put({"resourceType": "Patient", "id": "kari", "gender": "female"})
    put({"resourceType": "Patient", "id": "ola", "gender": "male"})
    put({"resourceType": "Patient", "id": "x", "gender": "unknown"})
    put({"resourceType": "Patient", "id": "none"})


@pytest.mark.usefixtures("terms")
def test_in_and_not_in(client: Client, ids: Ids) -> None:
    assert ids("Condition?code:in=http://example.org/fhir/ValueSet/chronic") == [
        "c-angina",
        "c-asthma",
    ]
    assert ids("Condition?code:not-in=http://example.org/fhir/ValueSet/chronic") == [
        "c-child",
        "c-heart",
        "c-other",
    ]
    # a whole code system minus an exclusion; the same code in another system does not count
    assert ids("Condition?code:in=http://example.org/fhir/ValueSet/all-findings") == [
        "c-angina",
        "c-asthma",
        "c-child",
    ]
    # the core R4 value sets (official definitions)
    assert ids(f"Patient?gender:in={GENDER_VS}") == ["kari", "ola", "x"]
    assert ids(f"Patient?gender:not-in={GENDER_VS}") == ["none"]
    assert ids(f"Patient?gender:in={GENDER_VS}&gender=male") == ["ola"]
    # an is-a filter over the stored hierarchy; a regex filter cannot be expanded here
    assert ids("Condition?code:in=http://example.org/fhir/ValueSet/filtered") == ["c-asthma", "c-child"]
    refused(client, "Condition?code:in=http://example.org/fhir/ValueSet/regex", "cannot be expanded")
    refused(client, "Condition?code:in=http://example.org/fhir/ValueSet/nope", "unknown here")


@pytest.mark.usefixtures("terms")
def test_below_and_above(client: Client, ids: Ids) -> None:
    assert ids(f"Condition?code:below={CS}|lung") == ["c-asthma", "c-child"]
    assert ids(f"Condition?code:below={CS}|heart") == ["c-angina", "c-heart"]  # parent property
    assert ids(f"Condition?code:below={CS}|asthma-child") == ["c-child"]
    assert ids(f"Condition?code:above={CS}|asthma-child") == ["c-asthma", "c-child"]
    assert ids(f"Condition?code:above={CS}|angina") == ["c-angina", "c-heart"]
    refused(
        client, "Condition?code:below=http://snomed.info/sct|195967001", "hierarchy of http://snomed.info/sct"
    )
    refused(client, "Condition?code:below=http://example.org/fhir/CodeSystem/groups|g", "grouped-by")
    refused(client, "Condition?code:below=lung", "system|code")
    refused(client, f"Condition?code:below={CS}|kidney", "not a code")


@pytest.mark.usefixtures("terms")
def test_too_many_codes_is_a_400(client: Client, ids: Ids, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(terminology, "MAX_CODES", 2)
    assert ids("Condition?code:in=http://example.org/fhir/ValueSet/chronic") == ["c-angina", "c-asthma"]
    refused(client, "Condition?code:in=http://example.org/fhir/ValueSet/all-findings", "at most 2")
    refused(client, f"Condition?code:below={CS}|lung", "at most 2")  # lung, asthma, asthma-child
    assert ids(f"Condition?code:below={CS}|asthma") == ["c-asthma", "c-child"]


def test_list(client: Client, put: Put, ids: Ids) -> None:
    base = client.get("metadata").json()["implementation"]["url"]
    for id in ("a", "b", "c"):
        put({"resourceType": "Patient", "id": id})
    put({"resourceType": "Observation", "id": "a", "status": "final", "code": {"text": "x"}})
    entries = [
        {"item": {"reference": "Patient/a"}},
        {"item": {"reference": f"{base}/Patient/b"}},  # this server's base: local
        {"item": {"reference": "Patient/c"}, "deleted": True},
        {"item": {"reference": "Observation/a"}},
        {"item": {"reference": "Patient/gone"}},
        {"item": {"reference": "http://elsewhere.example/fhir/Patient/c"}},
    ]
    put({"resourceType": "List", "id": "42", "status": "current", "mode": "working", "entry": entries})
    put(
        {
            "resourceType": "List",
            "id": "43",
            "status": "current",
            "mode": "working",
            "entry": [{"item": {"reference": "Patient/c"}}],
        }
    )
    assert ids("Patient?_list=42") == ["a", "b"]
    assert ids("Observation?_list=42") == ["a"]
    assert ids("Patient?_list=42,43") == ["a", "b", "c"]
    assert ids("Patient?_list=42&_list=43") == []
    assert ids("Patient?_list=nope") == []
    assert ids("Patient?_list=42&_id=a") == ["a"]
    assert ids("?_type=Patient,Observation&_list=42") == ["a", "a", "b"]
    r = client.get("Patient?_list=42")
    assert "_list=42" in r.json()["link"][0]["url"]
    refused(client, "AllergyIntolerance?patient=a&_list=$current-allergies", "functional lists")
    rest = client.get("metadata").json()["rest"][0]
    assert [p["name"] for p in rest["searchParam"]] == [
        "_list",
        "_summary",
        "_elements",
        "_contained",
        "_containedType",
    ]


def test_in_with_an_installed_ig(client: Client, store: Store, shared_dir: Path, put: Put, ids: Ids) -> None:
    """Value sets and code systems of an IG package installed with ``helseflyt ig install``."""
    vs = "http://hl7.no/fhir/ValueSet/no-basis-family-relation"
    cs = "http://hl7.no/fhir/CodeSystem/no-basis-family-relation"
    try:
        install(store, read_package(shared_dir / "profiles" / "no-basis"))
        relations = {"barn": [cs, "barn"], "mor": [cs, "mor"], "v3": [V3_ROLE, "MTH"]}
        for id, (system, code) in relations.items():
            put(
                {
                    "resourceType": "RelatedPerson",
                    "id": id,
                    "patient": {"reference": "Patient/p1"},
                    "relationship": [{"coding": [{"system": system, "code": code}]}],
                }
            )
        assert ids(f"RelatedPerson?relationship:in={vs}") == ["barn", "mor"]
        assert ids(f"RelatedPerson?relationship:not-in={vs}") == ["v3"]
        # a flat code system (no hierarchy declared): each code subsumes only itself
        assert ids(f"RelatedPerson?relationship:below={cs}|barn") == ["barn"]
    finally:
        registry.set_custom([])  # the package's SearchParameters: the registry is process-wide
