"""$validate at type and instance level: same checks as a write, nothing stored."""

from __future__ import annotations

from helseflyt.http.testing import Client
from helseflyt.storage import HistoryQuery, Store


def _versions(store: Store) -> int:
    with store.reader() as reader:
        return reader.history_count(HistoryQuery())


def test_valid_resource_gives_information_only(client: Client, store: Store) -> None:
    r = client.post("Patient/$validate", json={"resourceType": "Patient", "birthDate": "1980-02-29"})
    assert r.status_code == 200
    issues = r.json()["issue"]
    assert [i["severity"] for i in issues] == ["information"]
    assert _versions(store) == 0


def test_invalid_resource_lists_every_problem_and_stores_nothing(client: Client, store: Store) -> None:
    body = {"resourceType": "Patient", "birthDate": "1980-13-01", "gender": "x", "nope": 1}
    r = client.post("Patient/$validate", json=body)
    assert r.status_code == 200
    got = {(i["severity"], i["expression"][0]) for i in r.json()["issue"]}
    assert got == {("error", "Patient.birthDate"), ("error", "Patient.gender"), ("error", "Patient.nope")}
    assert _versions(store) == 0


def test_parameters_body_and_modes(client: Client) -> None:
    wrapped = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": {"resourceType": "Observation", "status": "bogus"}},
            {"name": "mode", "valueCode": "create"},
        ],
    }
    r = client.post("Observation/$validate", json=wrapped)
    assert r.status_code == 200
    assert any(i["expression"] == ["Observation.status"] for i in r.json()["issue"])
    bad_mode = {"resourceType": "Parameters", "parameter": [{"name": "mode", "valueCode": "drop"}]}
    r = client.post("Observation/$validate", json=bad_mode)
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"


def test_wrong_type_and_malformed_json(client: Client) -> None:
    r = client.post("Patient/$validate", json={"resourceType": "Observation"})
    assert r.status_code == 200
    assert r.json()["issue"][0]["expression"] == ["resourceType"]
    r = client.post("Patient/$validate", content=b"{oops", headers={"content-type": "application/fhir+json"})
    assert r.status_code == 400


def test_instance_level_validates_stored_and_checks_id(client: Client) -> None:
    r = client.put("Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    assert r.status_code == 201
    r = client.get("Patient/p1/$validate")
    assert r.status_code == 200 and r.json()["issue"][0]["severity"] == "information"
    r = client.post("Patient/p1/$validate", json={"resourceType": "Patient", "id": "p2"})
    assert r.json()["issue"][0]["expression"] == ["id"]
    r = client.get("Patient/missing/$validate")
    assert r.status_code == 404
    delete_mode = {"resourceType": "Parameters", "parameter": [{"name": "mode", "valueCode": "delete"}]}
    assert client.post("Patient/p1/$validate", json=delete_mode).status_code == 200


def test_capability_statement_lists_validate(client: Client) -> None:
    rest = client.get("metadata").json()["rest"][0]
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert {
        "name": "validate",
        "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
    } in patient["operation"]
