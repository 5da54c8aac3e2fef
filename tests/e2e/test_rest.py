"""Every REST interaction, header and status code, through the ASGI app, on every backend.

See docs/rest.md for the behaviour each test pins down.
"""

from __future__ import annotations

import json
from email.utils import format_datetime
from typing import Any

import pytest

from e2e.conftest import FixedClock
from helseflyt.http.testing import BASE, Client
from helseflyt.interactions.patch import fhirpath_patch_available
from helseflyt.interactions.types import resource_types
from helseflyt.storage import HistoryQuery, Store

FHIR_JSON = "application/fhir+json"
# A local system: values such as "a" or "123" would fail the check digits of a no-basis one.
SYS = "http://helseflyt.example/patient-id"


def patient(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **extra}


def ident(value: str, system: str = SYS) -> list[dict[str, str]]:
    return [{"system": system, "value": value}]


def create(client: Client, resource: dict[str, Any], **kw: Any) -> dict[str, Any]:
    r = client.post(resource["resourceType"], json=resource, **kw)
    assert r.status_code == 201, r.text
    return r.json()


def stored_versions(store: Store) -> int:
    with store.reader() as reader:
        return reader.history_count(HistoryQuery())


def outcome_text(r: Any) -> str:
    body = r.json()
    assert body["resourceType"] == "OperationOutcome", body
    return " ".join(i.get("diagnostics", "") for i in body["issue"])


# --- create, read, vread ----------------------------------------------------------


def test_create_assigns_id_and_versioning_headers(client: Client, clock: FixedClock) -> None:
    r = client.post("Patient", json=patient(id="ignored", active=True))
    assert r.status_code == 201
    body = r.json()
    assert body["id"] != "ignored"
    assert body["meta"] == {"versionId": "1", "lastUpdated": "2024-01-02T03:04:05.678Z"}
    assert r.headers["location"] == f"{BASE}/Patient/{body['id']}/_history/1"
    assert r.headers["etag"] == 'W/"1"'
    assert r.headers["last-modified"] == format_datetime(clock.now.replace(microsecond=0), usegmt=True)
    assert r.headers["content-type"].startswith(FHIR_JSON)


def test_read_returns_stored_bytes(client: Client) -> None:
    created = client.post("Patient", json=patient(birthDate="1970-01-01"))
    pid = created.json()["id"]
    r = client.get(f"Patient/{pid}")
    assert r.status_code == 200
    assert r.content == created.content
    assert r.headers["etag"] == 'W/"1"'
    assert "last-modified" in r.headers


def test_read_unknown_is_404_and_unknown_type_is_404(client: Client) -> None:
    r = client.get("Patient/nope")
    assert r.status_code == 404 and "not known" in outcome_text(r)
    r = client.get("Pasient/1")
    assert r.status_code == 404 and "unknown resource type" in outcome_text(r)


def test_vread(client: Client) -> None:
    pid = create(client, patient())["id"]
    client.put(f"Patient/{pid}", json=patient(id=pid, active=False))
    r = client.get(f"Patient/{pid}/_history/1")
    assert r.status_code == 200 and r.json()["meta"]["versionId"] == "1" and "active" not in r.json()
    assert r.headers["etag"] == 'W/"1"'
    assert client.get(f"Patient/{pid}/_history/2").json()["active"] is False
    assert client.get(f"Patient/{pid}/_history/3").status_code == 404
    assert client.get(f"Patient/{pid}/_history/x").status_code == 404


def test_conditional_read_headers(client: Client, clock: FixedClock) -> None:
    pid = create(client, patient())["id"]
    assert client.get(f"Patient/{pid}", headers={"If-None-Match": 'W/"1"'}).status_code == 304
    assert client.get(f"Patient/{pid}", headers={"If-None-Match": 'W/"9"'}).status_code == 200
    later = format_datetime(clock.now.replace(microsecond=0), usegmt=True)
    earlier = format_datetime(clock.now.replace(year=2020), usegmt=True)
    r = client.get(f"Patient/{pid}", headers={"If-Modified-Since": later})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == 'W/"1"'
    assert client.get(f"Patient/{pid}", headers={"If-Modified-Since": earlier}).status_code == 200
    assert client.get(f"Patient/{pid}", headers={"If-Modified-Since": "garbage"}).status_code == 200


# --- update -------------------------------------------------------------------------


def test_update_and_update_as_create(client: Client) -> None:
    r = client.put("Patient/p-1", json=patient(id="p-1", active=True))
    assert r.status_code == 201 and r.headers["location"] == f"{BASE}/Patient/p-1/_history/1"
    r = client.put("Patient/p-1", json=patient(id="p-1", active=False))
    assert r.status_code == 200 and r.headers["etag"] == 'W/"2"'
    assert r.json()["meta"]["versionId"] == "2"
    assert client.get("Patient/p-1").json()["active"] is False


@pytest.mark.parametrize(
    ("url", "body", "needle"),
    [
        ("Patient/a", patient(id="b"), "does not match"),
        ("Patient/a", patient(), "id is missing"),
        ("Patient/a_b", patient(id="a_b"), "invalid resource id"),
        ("Patient/" + "x" * 65, patient(id="x" * 65), "invalid resource id"),
        ("Patient/a", {"resourceType": "Observation", "id": "a"}, "does not match"),
    ],
)
def test_update_id_rules(client: Client, store: Store, url: str, body: dict[str, Any], needle: str) -> None:
    r = client.put(url, json=body)
    assert r.status_code == 400 and needle in outcome_text(r)
    assert stored_versions(store) == 0


def test_if_match(client: Client) -> None:
    pid = create(client, patient())["id"]
    ok = client.put(f"Patient/{pid}", json=patient(id=pid, active=True), headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200
    stale = client.put(f"Patient/{pid}", json=patient(id=pid, active=False), headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412 and "version 2" in outcome_text(stale)
    assert client.get(f"Patient/{pid}").json()["active"] is True
    absent = client.put("Patient/nobody", json=patient(id="nobody"), headers={"If-Match": 'W/"1"'})
    assert absent.status_code == 412
    bad = client.put(f"Patient/{pid}", json=patient(id=pid), headers={"If-Match": "yesterday"})
    assert bad.status_code == 400


# --- delete -------------------------------------------------------------------------


def test_delete_is_versioned(client: Client) -> None:
    pid = create(client, patient())["id"]
    r = client.delete(f"Patient/{pid}")
    assert r.status_code == 204 and r.headers["etag"] == 'W/"2"'
    r = client.get(f"Patient/{pid}")
    assert r.status_code == 410 and r.json()["issue"][0]["code"] == "deleted"
    assert client.get(f"Patient/{pid}/_history/2").status_code == 410
    assert client.get(f"Patient/{pid}/_history/1").status_code == 200
    assert client.delete(f"Patient/{pid}").status_code == 204  # idempotent
    assert client.delete("Patient/never").status_code == 204
    r = client.put(f"Patient/{pid}", json=patient(id=pid))
    assert r.status_code == 201 and r.headers["etag"] == 'W/"3"'


def test_delete_if_match(client: Client) -> None:
    pid = create(client, patient())["id"]
    assert client.delete(f"Patient/{pid}", headers={"If-Match": 'W/"7"'}).status_code == 412
    assert client.delete(f"Patient/{pid}", headers={"If-Match": 'W/"1"'}).status_code == 204


# --- history ------------------------------------------------------------------------


def test_instance_history(client: Client, clock: FixedClock) -> None:
    pid = create(client, patient())["id"]
    clock.advance(1)
    client.put(f"Patient/{pid}", json=patient(id=pid, active=True))
    clock.advance(1)
    client.delete(f"Patient/{pid}")
    r = client.get(f"Patient/{pid}/_history")
    assert r.status_code == 200
    bundle = r.json()
    assert bundle["type"] == "history" and bundle["total"] == 3
    methods = [e["request"]["method"] for e in bundle["entry"]]
    assert methods == ["DELETE", "PUT", "POST"]
    assert [e["response"]["etag"] for e in bundle["entry"]] == ['W/"3"', 'W/"2"', 'W/"1"']
    assert "resource" not in bundle["entry"][0]
    assert bundle["entry"][1]["resource"]["active"] is True
    assert bundle["entry"][2]["fullUrl"] == f"{BASE}/Patient/{pid}"
    assert client.get("Patient/never/_history").status_code == 404


def test_type_and_system_history_with_since_and_at(client: Client, clock: FixedClock) -> None:
    a = create(client, patient())["id"]
    clock.advance(60)
    create(client, {"resourceType": "Organization", "name": "Helse Nord"})
    clock.advance(60)
    client.put(f"Patient/{a}", json=patient(id=a, active=True))
    assert client.get("Patient/_history").json()["total"] == 2
    assert client.get("_history").json()["total"] == 3
    r = client.get("_history", params={"_since": "2024-01-02T03:05:00Z"})
    assert r.json()["total"] == 2
    r = client.get(f"Patient/{a}/_history", params={"_at": "2024-01-02T03:05:30Z"})
    entries = r.json()["entry"]
    assert [e["response"]["etag"] for e in entries] == ['W/"1"']
    assert client.get("_history", params={"_since": "2024-01-02"}).json()["total"] == 3
    assert client.get("_history", params={"_since": "not-a-date"}).status_code == 400


def test_history_paging(client: Client) -> None:
    for i in range(7):
        create(client, patient(identifier=ident(str(i))))
    seen: list[str] = []
    url: str | None = "Patient/_history?_count=3"
    pages = 0
    while url:
        bundle = client.get(url).json()
        assert bundle["total"] == 7
        seen += [e["resource"]["id"] for e in bundle.get("entry", [])]
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nxt[0] if nxt else None
        pages += 1
    assert pages == 3 and len(seen) == 7 == len(set(seen))


@pytest.mark.parametrize("query", ["_count=-1", "_count=x", "_count=5000", "_sort=foo", "_count=1&_count=2"])
def test_history_bad_parameters(client: Client, query: str) -> None:
    r = client.get(f"_history?{query}")
    assert r.status_code == 400
    assert r.json()["resourceType"] == "OperationOutcome"


# --- patch --------------------------------------------------------------------------

JSON_PATCH = {"Content-Type": "application/json-patch+json"}


def test_json_patch(client: Client) -> None:
    pid = create(client, patient(active=True))["id"]
    ops = [
        {"op": "replace", "path": "/active", "value": False},
        {"op": "add", "path": "/gender", "value": "male"},
    ]
    r = client.patch(f"Patient/{pid}", content=json.dumps(ops), headers=JSON_PATCH)
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False and r.json()["gender"] == "male"
    assert r.headers["etag"] == 'W/"2"'


@pytest.mark.parametrize(
    ("ops", "status"),
    [
        ([{"op": "test", "path": "/active", "value": False}], 422),
        ([{"op": "remove", "path": "/nothere"}], 422),
        ([{"op": "jump", "path": "/active"}], 400),
        ({"op": "add"}, 400),
        ([{"op": "replace", "path": "/id", "value": "other"}], 422),
        ([{"op": "add", "path": "/birthDate", "value": "13.01.1970"}], 400),
        ([{"op": "add", "path": "/colour", "value": "blue"}], 400),
    ],
)
def test_json_patch_errors(client: Client, ops: Any, status: int) -> None:
    pid = create(client, patient(active=True))["id"]
    r = client.patch(f"Patient/{pid}", content=json.dumps(ops), headers=JSON_PATCH)
    assert r.status_code == status, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert client.get(f"Patient/{pid}").headers["etag"] == 'W/"1"'


def test_patch_preconditions(client: Client) -> None:
    pid = create(client, patient(active=True))["id"]
    ops = json.dumps([{"op": "replace", "path": "/active", "value": False}])
    stale = client.patch(f"Patient/{pid}", content=ops, headers={**JSON_PATCH, "If-Match": 'W/"5"'})
    assert stale.status_code == 412
    assert client.patch("Patient/none", content=ops, headers=JSON_PATCH).status_code == 404
    client.delete(f"Patient/{pid}")
    assert client.patch(f"Patient/{pid}", content=ops, headers=JSON_PATCH).status_code == 410


@pytest.mark.xfail(
    not fhirpath_patch_available(), reason="helseflyt.fhir.patch.fhirpath_patch not landed yet", strict=True
)
def test_fhirpath_patch(client: Client) -> None:
    pid = create(client, patient(active=True))["id"]
    params = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "operation",
                "part": [
                    {"name": "type", "valueCode": "replace"},
                    {"name": "path", "valueString": "Patient.active"},
                    {"name": "value", "valueBoolean": False},
                ],
            }
        ],
    }
    r = client.patch(f"Patient/{pid}", json=params, headers={"Content-Type": FHIR_JSON})
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False


def test_fhirpath_patch_needs_parameters(client: Client) -> None:
    pid = create(client, patient())["id"]
    r = client.patch(f"Patient/{pid}", json=patient(id=pid), headers={"Content-Type": FHIR_JSON})
    assert r.status_code == 400 and "Parameters" in outcome_text(r)


# --- conditional create / update / delete -----------------------------------------


def test_conditional_create(client: Client, store: Store) -> None:
    header = {"If-None-Exist": f"identifier={SYS}|123"}
    first = client.post("Patient", json=patient(identifier=ident("123")), headers=header)
    assert first.status_code == 201
    again = client.post("Patient", json=patient(identifier=ident("123")), headers=header)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    assert stored_versions(store) == 1
    client.post("Patient", json=patient(identifier=ident("123")))
    many = client.post("Patient", json=patient(identifier=ident("123")), headers=header)
    assert many.status_code == 412
    by_value = client.post("Patient", json=patient(), headers={"If-None-Exist": "identifier=999"})
    assert by_value.status_code == 201


@pytest.mark.parametrize(
    "criteria", ["name=Ola", "identifier:of-type=x", "birthdate=1970", "_lastUpdated=gt2020"]
)
def test_unsupported_criteria_are_refused(client: Client, store: Store, criteria: str) -> None:
    r = client.post("Patient", json=patient(), headers={"If-None-Exist": criteria})
    assert r.status_code == 400 and "not supported yet" in outcome_text(r)
    assert client.put(f"Patient?{criteria}", json=patient()).status_code == 400
    create(client, patient(id="keep"))
    assert client.delete(f"Patient?{criteria}").status_code == 400
    assert stored_versions(store) == 1


def test_conditional_update(client: Client) -> None:
    url = f"Patient?identifier={SYS}|42"
    r = client.put(url, json=patient(identifier=ident("42")))
    assert r.status_code == 201
    pid = r.json()["id"]
    r = client.put(url, json=patient(identifier=ident("42"), active=True))
    assert r.status_code == 200 and r.json()["id"] == pid and r.headers["etag"] == 'W/"2"'
    r = client.put(url, json=patient(id="other", identifier=ident("42")))
    assert r.status_code == 400
    r = client.put(f"Patient?_id={pid}", json=patient(id=pid, active=False), headers={"If-Match": 'W/"1"'})
    assert r.status_code == 412
    r = client.put("Patient?identifier=none", json=patient(id="chosen"))
    assert r.status_code == 201 and r.json()["id"] == "chosen"
    create(client, patient(identifier=ident("42")))
    assert client.put(url, json=patient(identifier=ident("42"))).status_code == 412
    assert client.put("Patient", json=patient()).status_code == 400


def test_conditional_delete_single_and_multiple(client: Client) -> None:
    a = create(client, patient(identifier=ident("a")))["id"]
    b1 = create(client, patient(identifier=ident("b")))["id"]
    b2 = create(client, patient(identifier=ident("b")))["id"]
    keep = create(client, patient(identifier=ident("c")))["id"]
    assert client.delete(f"Patient?identifier={SYS}|a").status_code == 204
    assert client.get(f"Patient/{a}").status_code == 410
    r = client.delete(f"Patient?identifier={SYS}|b", headers={"Prefer": "return=OperationOutcome"})
    assert r.status_code == 200 and "deleted 2" in outcome_text(r)
    assert client.get(f"Patient/{b1}").status_code == 410
    assert client.get(f"Patient/{b2}").status_code == 410
    assert client.delete("Patient?identifier=nothing").status_code == 204
    assert client.delete(f"Patient?_id={keep},{a}&identifier={SYS}|c").status_code == 204
    assert client.get(f"Patient/{keep}").status_code == 410
    assert client.delete("Patient").status_code == 400


# --- Prefer, formats ----------------------------------------------------------------


def test_prefer_return(client: Client) -> None:
    r = client.post("Patient", json=patient(), headers={"Prefer": "return=minimal"})
    assert r.status_code == 201 and r.content == b"" and r.headers["location"]
    r = client.post("Patient", json=patient(), headers={"Prefer": "return=OperationOutcome"})
    assert r.status_code == 201 and r.json()["resourceType"] == "OperationOutcome"
    r = client.post("Patient", json=patient(), headers={"Prefer": "return=representation"})
    assert r.json()["resourceType"] == "Patient"


def test_formats(client: Client) -> None:
    pid = create(client, patient())["id"]
    assert client.get(f"Patient/{pid}", params={"_format": "json"}).status_code == 200
    assert client.get(f"Patient/{pid}", params={"_format": "application/fhir+json"}).status_code == 200
    assert client.get(f"Patient/{pid}", headers={"Accept": "application/json"}).status_code == 200
    assert client.get(f"Patient/{pid}", headers={"Accept": "text/html, */*;q=0.8"}).status_code == 200
    pretty = client.get(f"Patient/{pid}", params={"_pretty": "true"})
    assert pretty.status_code == 200 and b"\n  " in pretty.content
    for params, headers in (({"_format": "xml"}, {}), ({}, {"Accept": "application/fhir+xml"})):
        r = client.get(f"Patient/{pid}", params=params, headers=headers)
        assert r.status_code == 406 and "XML is not supported yet" in outcome_text(r)
    assert client.get(f"Patient/{pid}", headers={"Accept": "text/plain"}).status_code == 406
    assert client.get(f"Patient/{pid}", params={"_format": "turtle"}).status_code == 406
    assert client.get(f"Patient/{pid}", params={"_pretty": "maybe"}).status_code == 400


def test_xml_body_is_415(client: Client, store: Store) -> None:
    xml = b'<Patient xmlns="http://hl7.org/fhir"/>'
    r = client.post("Patient", content=xml, headers={"Content-Type": "application/fhir+xml"})
    assert r.status_code == 415 and "XML is not supported yet" in outcome_text(r)
    r = client.post("Patient", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert stored_versions(store) == 0


# --- invalid input: 400 with every issue, nothing stored ------------------------


@pytest.mark.parametrize(
    ("body", "expressions"),
    [
        (patient(foo=1), ["Patient.foo"]),
        (patient(birthDate="1970-13-45"), ["Patient.birthDate"]),
        (patient(gender="mann"), ["Patient.gender"]),
        (patient(active=[True]), ["Patient.active"]),
        (patient(name={"family": "Nordmann"}), ["Patient.name"]),
        (
            patient(foo=1, birthDate="x", gender="mann"),
            ["Patient.foo", "Patient.birthDate", "Patient.gender"],
        ),
        ({"resourceType": "Observation"}, None),
        ({"name": []}, ["resourceType"]),
    ],
)
def test_invalid_resources_are_rejected(
    client: Client, store: Store, body: dict[str, Any], expressions: list[str] | None
) -> None:
    for r in (client.post("Patient", json=body), client.put("Patient/x", json={**body, "id": "x"})):
        assert r.status_code == 400, r.text
        issues = r.json()["issue"]
        if expressions is not None:
            found = sorted(e for i in issues for e in i.get("expression", []))
            assert found == sorted(expressions)
    assert stored_versions(store) == 0


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b'{"resourceType": "Patient",', "line 1"),
        (b'{"resourceType": "Patient"}\n}', "line 2"),
        (b"", "empty"),
        (b"\xff\xfe", "malformed JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"Patient"', "JSON object"),
    ],
)
def test_malformed_bodies(client: Client, store: Store, raw: bytes, needle: str) -> None:
    r = client.post("Patient", content=raw, headers={"Content-Type": FHIR_JSON})
    assert r.status_code == 400 and needle in outcome_text(r)
    assert stored_versions(store) == 0


def test_oversized_body_is_413(client: Client, store: Store) -> None:
    big = patient(text={"status": "generated", "div": "<div>" + "x" * 300_000 + "</div>"})
    r = client.post("Patient", json=big)
    assert r.status_code == 413 and r.json()["issue"][0]["code"] == "too-costly"

    async def chunks() -> Any:  # no Content-Length: the streamed body is cut off at the limit
        yield b'{"resourceType": "Patient", "text": {"div": "'
        for _ in range(100):
            yield b"y" * 10_000
        yield b'"}}'

    r = client.post("Patient", content=chunks(), headers={"Content-Type": FHIR_JSON})
    assert r.status_code == 413
    assert stored_versions(store) == 0


def test_decimals_are_kept_exactly(client: Client) -> None:
    raw = (
        b'{"resourceType":"Observation","status":"final","code":{"text":"x"},'
        b'"valueQuantity":{"value":1.50,"unit":"mg"}}'
    )
    r = client.post("Observation", content=raw, headers={"Content-Type": FHIR_JSON})
    assert r.status_code == 201, r.text
    assert b'"value":1.50' in client.get(f"Observation/{r.json()['id']}").content


# --- routing, base, metadata ------------------------------------------------------


def test_unsupported_methods_and_paths(client: Client) -> None:
    r = client.post("Patient/1")
    assert r.status_code == 405 and "allow" in r.headers and r.json()["resourceType"] == "OperationOutcome"
    assert client.request("PATCH", "Patient").status_code == 405
    r = client.get("Patient/1/_history/1/extra")
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"


def test_request_id(client: Client) -> None:
    assert client.get("metadata", headers={"X-Request-Id": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert len(client.get("metadata", headers={"X-Request-Id": "bad id!"}).headers["x-request-id"]) == 32


@pytest.mark.parametrize(
    "body",
    [patient(), {"resourceType": "Bundle", "type": "collection"}, {"resourceType": "Bundle"}, [1]],
)
def test_base_post_takes_only_transaction_or_batch(client: Client, body: Any) -> None:
    r = client.post("", json=body)
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"


def test_base_post_transaction(client: Client) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:3f7a4b2c-0000-4000-8000-000000000001",
                "resource": patient(identifier=ident("t1")),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "puls"},
                    "subject": {"reference": "urn:uuid:3f7a4b2c-0000-4000-8000-000000000001"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    r = client.post("", json=bundle)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["type"] == "transaction-response"
    assert [e["response"]["status"][:3] for e in out["entry"]] == ["201", "201"]
    obs_location = out["entry"][1]["response"]["location"]
    obs = client.get(obs_location.removeprefix(BASE + "/").split("/_history")[0]).json()
    assert obs["subject"]["reference"].startswith("Patient/")


def test_capability_statement(client: Client) -> None:
    r = client.get("metadata")
    assert r.status_code == 200
    cs = r.json()
    assert cs["resourceType"] == "CapabilityStatement" and cs["fhirVersion"] == "4.0.1"
    assert cs["software"]["name"] == "Helseflyt" and cs["implementation"]["url"] == BASE
    assert cs["format"] == ["application/fhir+json", "json"]
    assert "application/json-patch+json" in cs["patchFormat"]
    assert ("application/fhir+json" in cs["patchFormat"]) == fhirpath_patch_available()
    rest = cs["rest"][0]
    assert "no access control" in rest["security"]["description"]
    assert {res["type"] for res in rest["resource"]} == set(resource_types())
    patient_caps = next(res for res in rest["resource"] if res["type"] == "Patient")
    codes = {i["code"] for i in patient_caps["interaction"]}
    assert codes == {
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "history-instance",
        "create",
        "history-type",
        "search-type",
    }
    assert patient_caps["conditionalDelete"] == "multiple"
    assert {"identifier", "_id", "name", "birthdate", "_lastUpdated"} <= {
        p["name"] for p in patient_caps["searchParam"]
    }
    assert {i["code"] for i in rest["interaction"]} == {
        "transaction",
        "batch",
        "history-system",
        "search-system",
    }


def test_type_search_answers_a_searchset(client: Client) -> None:
    r = client.get("Patient", params={"name": "x"})  # tests/search/ covers search itself
    assert r.status_code == 200 and r.json()["type"] == "searchset"


def test_no_lost_update_under_concurrency(client: Client) -> None:
    """Read-modify-write with If-Match from several threads: every increment survives."""
    from concurrent.futures import ThreadPoolExecutor

    client.put("Patient/counter", json=patient(id="counter", multipleBirthInteger=0))
    workers, rounds = 6, 8

    def bump() -> int:
        conflicts = 0
        for _ in range(rounds):
            while True:
                r = client.get("Patient/counter")
                body = r.json()
                body["multipleBirthInteger"] += 1
                put = client.put("Patient/counter", json=body, headers={"If-Match": r.headers["etag"]})
                if put.status_code == 200:
                    break
                assert put.status_code == 412, put.text
                conflicts += 1
        return conflicts

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda _: bump(), range(workers)))
    final = client.get("Patient/counter")
    assert final.json()["multipleBirthInteger"] == workers * rounds
    assert final.headers["etag"] == f'W/"{workers * rounds + 1}"'


def test_capability_statement_says_identifiers_go_by_post_search(client: Client) -> None:
    rest = client.get("metadata").json()["rest"][0]
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    ident = next(p for p in patient["searchParam"] if p["name"] == "identifier")
    assert "POST [type]/_search" in ident["documentation"]
    assert "search-type" in {i["code"] for i in patient["interaction"]}
