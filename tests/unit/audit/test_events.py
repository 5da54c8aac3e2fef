"""Audit events: classification, what a request touched, the FHIR rendering."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from helseflyt.audit.chain import GENESIS, canonical, link
from helseflyt.audit.events import ACCESS_BASIS_SYSTEM, Capture, classify, from_capture, to_fhir
from helseflyt.norway.identifiers import HPR, ORGNR

WHEN = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)


def capture(method: str, path: str, status: int = 200, **kw: object) -> Capture:
    fields: dict[str, object] = {"query": b"", "request_body": [], "response_body": []}
    fields.update(kw)
    return Capture(WHEN, method, path, status=status, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/fhir/Patient/1", ("read", "Patient", "1", None, None)),
        ("GET", "/fhir/Patient/1/_history/2", ("vread", "Patient", "1", "2", None)),
        ("GET", "/fhir/Observation", ("search-type", "Observation", None, None, None)),
        ("POST", "/fhir/Observation/_search", ("search-type", "Observation", None, None, None)),
        ("POST", "/fhir/Observation", ("create", "Observation", None, None, None)),
        ("PUT", "/fhir/Observation/9", ("update", "Observation", "9", None, None)),
        ("PATCH", "/fhir/Observation/9", ("patch", "Observation", "9", None, None)),
        ("DELETE", "/fhir/Observation/9", ("delete", "Observation", "9", None, None)),
        ("GET", "/fhir/_history", ("history-system", None, None, None, None)),
        ("GET", "/fhir/Patient/_history", ("history-type", "Patient", None, None, None)),
        ("GET", "/fhir/Patient/1/_history", ("history-instance", "Patient", "1", None, None)),
        ("POST", "/fhir", ("transaction", None, None, None, None)),
        ("GET", "/fhir/Patient/1/$everything", ("operation", "Patient", "1", None, "$everything")),
        ("GET", "/fhir/metadata", ("capabilities", None, None, None, None)),
    ],
)
def test_classify(method: str, path: str, expected: tuple[object, ...]) -> None:
    assert classify(method, path) == expected


def test_read_of_an_observation_names_its_patient() -> None:
    body = orjson.dumps({"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"}})
    event = from_capture(capture("GET", "/fhir/Observation/o1", response_body=[body], etag='W/"3"'))
    assert (event.interaction, event.action, event.outcome) == ("read", "R", "0")
    assert event.patients == ("p1",)
    assert [(e.type, e.id, e.version) for e in event.entities] == [("Observation", "o1", "3")]


def test_denied_and_failed_outcomes() -> None:
    assert from_capture(capture("GET", "/fhir/Patient/1", 403)).outcome == "4"
    assert from_capture(capture("GET", "/fhir/Patient/1", 404)).outcome == "4"
    assert from_capture(capture("GET", "/fhir/Patient/1", 500)).outcome == "8"


def test_search_records_the_query_and_the_patients_of_the_results() -> None:
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"resource": {"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/p2"}}}
        ],
    }
    event = from_capture(
        capture("GET", "/fhir/Condition", query=b"patient=p1", response_body=[orjson.dumps(bundle)])
    )
    assert event.action == "R"
    assert set(event.patients) == {"p1", "p2"}
    assert event.entities[0].role == "query"


def test_transaction_is_one_event_listing_every_entry() -> None:
    request = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:a",
                "resource": {"resourceType": "Patient"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {"resourceType": "Observation", "subject": {"reference": "urn:uuid:a"}},
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    response = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            {"response": {"status": "201", "location": "Patient/new/_history/1"}},
            {"response": {"status": "201", "location": "Observation/o/_history/1"}},
        ],
    }
    event = from_capture(
        capture("POST", "/fhir", request_body=[orjson.dumps(request)], response_body=[orjson.dumps(response)])
    )
    assert (event.interaction, event.action) == ("transaction", "E")
    assert event.patients == ("new",)
    assert [(e.type, e.id) for e in event.entities] == [("Patient", "new"), ("Observation", "o")]


def test_agent_basis_and_purpose_in_the_fhir_rendering() -> None:
    principal = {"role": "practitioner", "hpr": "565501872", "orgnr_parent": "983658725"}
    event = from_capture(
        capture(
            "GET",
            "/fhir/Patient/p1",
            principal=principal,
            access={"basis": "AKUTT", "reason": "unconscious", "purpose": "ETREAT"},
            client=("10.0.0.7", 5000),
        )
    )
    assert event.review and event.emergency
    fhir = to_fhir(event)
    user, org = fhir["agent"]
    assert user["who"]["identifier"] == {"system": HPR, "value": "565501872"}
    assert user["requestor"] is True and user["network"]["address"] == "10.0.0.7"
    assert org["who"]["identifier"] == {"system": ORGNR, "value": "983658725"}
    codes = [c["coding"][0]["code"] for c in fhir["purposeOfEvent"]]
    assert codes == ["ETREAT", "AKUTT"]
    assert fhir["purposeOfEvent"][1]["coding"][0]["system"] == ACCESS_BASIS_SYSTEM
    assert fhir["entity"][0]["what"]["reference"] == "Patient/p1"
    assert fhir["subtype"][0]["code"] == "read" and fhir["action"] == "R"


def test_chain_link_is_sha256_of_previous_hash_and_body() -> None:
    import hashlib

    body = canonical({"b": 1, "a": "x"})
    assert body == b'{"a":"x","b":1}'
    assert link(GENESIS, body) == hashlib.sha256(bytes(32) + body).hexdigest()
