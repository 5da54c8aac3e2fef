"""Transaction Bundles through the ASGI app, on every backend (R4 §3.1.0.11)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from helseflyt.fhir.references import iter_references
from helseflyt.ingest.verify import current_totals, unresolved_references
from helseflyt.storage import HistoryQuery, Store, open_store

FHIR = {"Content-Type": "application/fhir+json"}


def tx(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(full_url: str, resource: dict[str, Any], **request: Any) -> dict[str, Any]:
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }


def patient(family: str = "Nordmann", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family}], **extra}


def count(store: Store, res_type: str | None = None) -> int:
    with store.reader() as r:
        return r.history_count(HistoryQuery(type=res_type))


def test_urn_uuid_references_are_resolved_everywhere(client, store) -> None:
    pat = "urn:uuid:9b0a44c5-3b4f-4e52-9f13-111111111111"
    org = "urn:oid:2.16.578.1.12.4.1.2.1"
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "puls"},
        "subject": {"reference": pat},
        "performer": [{"reference": org}],
        "focus": [{"reference": "#p1"}],
        "extension": [{"url": "http://example.org/x", "valueReference": {"reference": pat}}],
        "contained": [
            {
                "resourceType": "Provenance",
                "id": "p1",
                "recorded": "2024-01-01T00:00:00Z",
                "target": [{"reference": pat}],
                "agent": [{"who": {"reference": org}}],
            }
        ],
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><a href="{pat}">p</a></div>',
        },
    }
    bundle = tx(
        post("urn:uuid:0f0f0f0f-0000-4000-8000-000000000001", obs),
        post(pat, patient(identifier=[{"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "13116900216"}])),
        post(org, {"resourceType": "Organization", "name": "Legekontoret"}),
    )
    r = client.post("", json=bundle, headers=FHIR)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created"] * 3
    locs = [e["response"]["location"] for e in body["entry"]]
    assert all(e["response"]["etag"] == 'W/"1"' and e["response"]["lastModified"] for e in body["entry"])
    obs_id, pat_ref, org_ref = (
        locs[0].split("/")[1],
        "/".join(locs[1].split("/")[:2]),
        "/".join(locs[2].split("/")[:2]),
    )
    stored = client.get(f"Observation/{obs_id}").json()
    refs = [x for x in iter_references(stored) if not x.startswith("#")]
    assert sorted(refs) == sorted([pat_ref, org_ref, pat_ref, pat_ref, org_ref])
    assert f'href="{pat_ref}"' in stored["text"]["div"]


def test_one_bad_entry_fails_all_and_stores_nothing(client, store) -> None:
    bundle = tx(
        post("urn:uuid:aaaaaaaa-0000-4000-8000-000000000001", patient()),
        post("urn:uuid:aaaaaaaa-0000-4000-8000-000000000002", patient(birthDate="1969-13-45")),
    )
    r = client.post("", json=bundle, headers=FHIR)
    assert r.status_code == 400, r.text
    out = r.json()
    assert out["resourceType"] == "OperationOutcome"
    exprs = [x for i in out["issue"] for x in i.get("expression", [])]
    assert any(x.startswith("Bundle.entry[1].resource.birthDate") for x in exprs), exprs
    assert count(store) == 0


def test_malformed_bundle_names_the_element(client, store) -> None:
    bundle = tx(post("urn:uuid:x1", patient()), {"resource": patient(), "request": {"method": "POST"}})
    r = client.post("", json=bundle, headers=FHIR)
    assert r.status_code == 400
    exprs = [x for i in r.json()["issue"] for x in i.get("expression", [])]
    assert "Bundle.entry[1].request.url" in exprs
    assert count(store) == 0


def test_processing_order_and_ifmatch(client, store) -> None:
    client.put("Patient/p1", json=patient("A", id="p1"), headers=FHIR)
    client.put("Patient/p2", json=patient("B", id="p2"), headers=FHIR)
    bundle = tx(
        {"request": {"method": "GET", "url": "Patient/p2"}},
        {
            "resource": patient("C", id="p2"),
            "request": {"method": "PUT", "url": "Patient/p2", "ifMatch": 'W/"1"'},
        },
        post("urn:uuid:bbbbbbbb-0000-4000-8000-000000000001", patient("D")),
        {"request": {"method": "DELETE", "url": "Patient/p1"}},
    )
    r = client.post("", json=bundle, headers=FHIR)
    assert r.status_code == 200, r.text
    e = r.json()["entry"]
    assert [x["response"]["status"] for x in e] == ["200 OK", "200 OK", "201 Created", "204 No Content"]
    assert e[0]["resource"]["name"][0]["family"] == "C"  # GET runs after PUT
    assert client.get("Patient/p1").status_code == 410
    stale = tx(
        {
            "resource": patient("E", id="p2"),
            "request": {"method": "PUT", "url": "Patient/p2", "ifMatch": 'W/"1"'},
        }
    )
    r = client.post("", json=stale, headers=FHIR)
    assert r.status_code == 412
    assert client.get("Patient/p2").json()["name"][0]["family"] == "C"


def test_conditional_create_and_conditional_reference(client, store) -> None:
    ident = {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "13116900216"}
    first = client.put("Patient/known", json=patient(id="known", identifier=[ident]), headers=FHIR)
    assert first.status_code == 201
    q = "identifier=urn:oid:2.16.578.1.12.4.1.4.1|13116900216"
    bundle = tx(
        post("urn:uuid:cccccccc-0000-4000-8000-000000000001", patient(identifier=[ident]), ifNoneExist=q),
        post(
            "urn:uuid:cccccccc-0000-4000-8000-000000000002",
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "subject": {"reference": "urn:uuid:cccccccc-0000-4000-8000-000000000001"},
                "performer": [{"reference": f"Patient?{q}"}],
            },
        ),
    )
    r = client.post("", json=bundle, headers=FHIR, params={})
    assert r.status_code == 200, r.text
    e = r.json()["entry"]
    assert e[0]["response"]["status"] == "200 OK"
    assert e[0]["response"]["location"].startswith("Patient/known/")
    obs = client.get("/".join(e[1]["response"]["location"].split("/")[:2])).json()
    assert obs["subject"]["reference"] == "Patient/known"
    assert obs["performer"][0]["reference"] == "Patient/known"
    assert count(store, "Patient") == 1
    nothing = tx(
        post(
            "urn:uuid:dd",
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "subject": {"reference": "Patient?identifier=none|none"},
            },
        )
    )
    r = client.post("", json=nothing, headers=FHIR)
    assert r.status_code == 400 and count(store, "Observation") == 1


def test_duplicate_identities_fail(client, store) -> None:
    bundle = tx(
        {"resource": patient(id="x"), "request": {"method": "PUT", "url": "Patient/x"}},
        {"request": {"method": "DELETE", "url": "Patient/x"}},
    )
    r = client.post("", json=bundle, headers=FHIR)
    assert r.status_code == 400
    assert count(store) == 0


def test_prefer_representation_and_outcome(client) -> None:
    bundle = tx(post("urn:uuid:ee", patient()))
    r = client.post("", json=bundle, headers={**FHIR, "Prefer": "return=representation"})
    assert r.json()["entry"][0]["resource"]["resourceType"] == "Patient"
    r = client.post(
        "", json=tx(post("urn:uuid:ee", patient())), headers={**FHIR, "Prefer": "return=OperationOutcome"}
    )
    assert r.json()["entry"][0]["response"]["outcome"]["resourceType"] == "OperationOutcome"


def test_batch_entries_are_independent(client, store) -> None:
    bundle = tx(
        post("urn:uuid:ff1", patient()),
        post("urn:uuid:ff2", patient(birthDate="not-a-date")),
        {"request": {"method": "GET", "url": "Patient/missing"}},
        {"request": {"method": "POST"}},
        kind="batch",
    )
    r = client.post("", json=bundle, headers=FHIR)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "batch-response"
    st = [e["response"]["status"] for e in body["entry"]]
    assert (
        st[0] == "201 Created"
        and st[1].startswith("400")
        and st[2].startswith("404")
        and st[3].startswith("400")
    )
    assert body["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert count(store, "Patient") == 1


KILLED = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from helseflyt.interactions.context import Context
    from helseflyt.interactions.transaction import process_bundle
    from helseflyt.search.identifier_index import index_identifiers
    from helseflyt.storage import open_store
    calls = 0
    def clock():
        global calls
        calls += 1
        if calls == 3:  # after the DELETE and the POSTs are written, before commit
            print("mid-transaction", flush=True)
            time.sleep(600)
        return datetime.now(UTC)
    store = open_store(sys.argv[1], indexer=index_identifiers, clock=clock)
    pats = [{"fullUrl": f"urn:uuid:{i}", "resource": {"resourceType": "Patient"},
             "request": {"method": "POST", "url": "Patient"}} for i in range(500)]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "Patient/keep"}}, *pats,
        {"resource": {"resourceType": "Patient", "id": "new"},
         "request": {"method": "PUT", "url": "Patient/new"}}]}
    process_bundle(Context(store, "http://x/fhir", lambda r, t: []), bundle)
    print("committed", flush=True)
    """
)


def test_killed_mid_transaction_leaves_nothing(store_url: str, tmp_path: Path) -> None:
    setup = open_store(store_url)
    with setup.transaction() as t:
        t.put("Patient", "keep", {"resourceType": "Patient"})
    setup.close()
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    proc = subprocess.Popen([sys.executable, str(script), store_url], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "mid-transaction"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    after = open_store(store_url)
    try:
        assert count(after) == 1
        with after.reader() as r:
            kept = r.read("Patient", "keep")
            assert kept is not None and not kept.deleted
            assert r.read("Patient", "new") is None
    finally:
        after.close()


def test_synthea_posted_bundle_by_bundle(make_client, settings, store, synthea_tgz: Path) -> None:
    import tarfile

    from helseflyt.settings import Settings

    big = Settings(data_dir=settings.data_dir, max_body_bytes=64 * 1024 * 1024)
    client = make_client(settings=big)
    posted = 0
    with tarfile.open(synthea_tgz, "r|gz") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".json"):
                f = tar.extractfile(member)
                assert f is not None
                r = client.post("", content=f.read(), headers=FHIR)
                assert r.status_code == 200, r.text[:2000]
                posted += len(r.json()["entry"])
    assert posted == 27_075
    assert_synthea_loaded(store)


SYNTHEA_TOTALS = {
    "Observation": 12066,
    "Claim": 3104,
    "Procedure": 2634,
    "Encounter": 2554,
    "ExplanationOfBenefit": 2554,
    "Immunization": 1234,
    "DiagnosticReport": 804,
    "Condition": 656,
    "MedicationRequest": 550,
    "CarePlan": 261,
    "Goal": 182,
    "Organization": 150,
    "Practitioner": 150,
    "Patient": 102,
    "AllergyIntolerance": 38,
    "ImagingStudy": 36,
}


def assert_synthea_loaded(store: Store) -> None:
    """Exact totals per type, and every reference points to a stored resource."""
    assert current_totals(store) == SYNTHEA_TOTALS
    assert unresolved_references(store) == []


def test_patch_entries_fhirpath_and_json_patch(client, store) -> None:
    import base64
    import json

    assert client.put("Patient/pp", json={"resourceType": "Patient", "id": "pp"}).status_code == 201
    fhirpath_patch = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "operation",
                "part": [
                    {"name": "type", "valueCode": "add"},
                    {"name": "path", "valueString": "Patient"},
                    {"name": "name", "valueString": "birthDate"},
                    {"name": "value", "valueDate": "1970-01-01"},
                ],
            }
        ],
    }
    ops = [{"op": "add", "path": "/gender", "value": "female"}]
    binary = {
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64.b64encode(json.dumps(ops).encode()).decode(),
    }
    r = client.post(
        "",
        json=tx(
            {"resource": fhirpath_patch, "request": {"method": "PATCH", "url": "Patient/pp"}},
        ),
    )
    assert r.status_code == 200, r.text
    assert r.json()["entry"][0]["response"]["status"].startswith("200")
    r = client.post("", json=tx({"resource": binary, "request": {"method": "PATCH", "url": "Patient/pp"}}))
    assert r.status_code == 200, r.text
    got = client.get("Patient/pp").json()
    assert (got["birthDate"], got["gender"], got["meta"]["versionId"]) == ("1970-01-01", "female", "3")


def test_patch_entry_that_breaks_the_resource_fails_the_transaction(client, store) -> None:
    assert client.put("Patient/pq", json={"resourceType": "Patient", "id": "pq"}).status_code == 201
    bad = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "operation",
                "part": [
                    {"name": "type", "valueCode": "add"},
                    {"name": "path", "valueString": "Patient"},
                    {"name": "name", "valueString": "gender"},
                    {"name": "value", "valueCode": "not-a-gender"},
                ],
            }
        ],
    }
    before = count(store)
    r = client.post(
        "",
        json=tx(
            post("urn:uuid:9b0a44c5-3b4f-4e52-9f13-222222222222", patient("Ny")),
            {"resource": bad, "request": {"method": "PATCH", "url": "Patient/pq"}},
        ),
    )
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
    assert count(store) == before
    r = client.post(
        "",
        json=tx({"resource": {"resourceType": "Basic"}, "request": {"method": "PATCH", "url": "Patient/pq"}}),
    )
    assert r.status_code == 400
