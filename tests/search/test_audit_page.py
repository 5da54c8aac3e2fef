"""The audit writer reads a search's (or history's) entities and patients from the page it
hands over (``Capture.page``) instead of parsing the response: the events must be
exactly those parsing the response gives, for every kind of searchset."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from helseflyt.audit.events import Capture, from_capture
from helseflyt.http.testing import Client

JSON = {"Content-Type": "application/fhir+json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _create(client: Client, resource: dict[str, Any]) -> str:
    r = client.post(resource["resourceType"], json=resource, headers=JSON)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _data(client: Client) -> tuple[str, str]:
    pid = _create(client, {"resourceType": "Patient", "name": [{"family": "Nordmann"}]})
    other = _create(client, {"resourceType": "Patient", "name": [{"family": "Hansen"}]})
    org = _create(client, {"resourceType": "Organization", "name": "Legekontoret"})
    for who in (pid, other):
        ref = {"reference": f"Patient/{who}"}
        enc = _create(
            client,
            {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"code": "AMB"},
                "subject": ref,
                "serviceProvider": {"reference": f"Organization/{org}"},
                "period": {"start": "2024-03-01T10:00:00Z"},
            },
        )
        _create(
            client,
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "BT"},
                "subject": ref,
                "encounter": {"reference": f"Encounter/{enc}"},
                "valueQuantity": {"value": 1.50, "unit": "mmHg"},
            },
        )
        _create(
            client,
            {
                "resourceType": "AllergyIntolerance",
                "patient": ref,
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                            "code": "active",
                        }
                    ]
                },
            },
        )
        _create(
            client,
            {
                "resourceType": "Coverage",
                "status": "active",
                "beneficiary": ref,
                "payor": [{"reference": f"Organization/{org}"}],
            },
        )
        _create(
            client,
            {
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "subject": ref,
                "contained": [{"resourceType": "Medication", "id": "m1", "code": {"text": "Paracet"}}],
                "medicationReference": {"reference": "#m1"},
            },
        )
    return pid, org


REQUESTS = [
    ("GET", "Patient", {}),
    ("GET", "Patient", {"name": "nord"}),
    ("GET", "Encounter", {"_include": "Encounter:subject"}),
    ("GET", "Encounter", {"_include": "Encounter:service-provider", "_revinclude": "Observation:encounter"}),
    ("GET", "Observation", {"_include": "Observation:encounter", "_include:iterate": "Encounter:subject"}),
    ("GET", "Observation", {"_elements": "status"}),
    ("GET", "Observation", {"_elements": "subject,code"}),
    ("GET", "Encounter", {"_summary": "true"}),
    ("GET", "Encounter", {"_summary": "data", "_include": "Encounter:subject"}),
    ("GET", "Observation", {"_summary": "count"}),
    ("GET", "Observation", {"_summary": "text"}),
    ("GET", "AllergyIntolerance", {}),
    ("GET", "Coverage", {"_include": "Coverage:payor"}),
    ("GET", "Organization", {}),
    ("GET", "Medication", {"_contained": "true"}),
    ("GET", "Medication", {"_contained": "both", "_containedType": "container"}),
    ("GET", "Observation", {"_count": "1", "_sort": "-_lastUpdated"}),
    ("GET", "Observation", {"unknown-param": "x"}),
    ("GET", "Observation", {"_pretty": "true"}),
    ("GET", "", {"_type": "Patient,Coverage"}),
    ("GET", "{pid}/Observation", {}),
    ("GET", "{pid}/*", {}),
    ("POST", "Observation/_search", {"status": "final"}),
    ("GET", "Encounter", {"date": "1999-01-01"}),
    ("GET", "_history", {}),
    ("GET", "_history", {"_count": "3"}),
    ("GET", "_history", {"_summary": "true"}),
    ("GET", "Observation/_history", {}),
    ("GET", "Patient/_history", {"_elements": "name"}),
    ("GET", "{pid}/_history", {}),
]


def test_events_from_the_page_are_those_from_the_response(client: Client) -> None:
    pid, _org = _data(client)
    renamed = {"resourceType": "Patient", "id": pid, "name": [{"family": "Nordmann-Berg"}]}
    assert client.put(f"Patient/{pid}", json=renamed, headers=JSON).status_code == 200
    gone = _create(
        client,
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": f"Patient/{pid}"},
        },
    )
    assert client.delete(f"Observation/{gone}").status_code in (200, 204)
    sink = _state(client).audit
    captured: list[Capture] = []
    submit = sink.submit

    def keep(item: Any) -> bool:
        captured.append(item)
        return bool(submit(item))

    sink.submit = keep
    for method, path, params in REQUESTS:
        url = path.replace("{pid}", f"Patient/{pid}")
        if method == "POST":
            r = client.post(url, content="&".join(f"{k}={v}" for k, v in params.items()), headers=FORM)
        else:
            r = client.request(method, url, params=params)
        assert r.status_code == 200, (url, params, r.text)
    paged = [c for c in captured if c.page is not None]
    assert len(paged) == len(REQUESTS)
    for c in paged:
        assert from_capture(c, new_id=_one) == from_capture(replace(c, page=None), new_id=_one), c.query
    some = [from_capture(c) for c in paged]
    assert any(len(e.patients) >= 2 and len(e.entities) >= 4 for e in some)  # the test sees real pages


def _one() -> str:
    return "1"


def _state(client: Client) -> Any:
    transport: Any = client.http._transport
    return transport.app.state
