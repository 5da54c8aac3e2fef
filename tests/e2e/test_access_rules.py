"""Authorisation rules the matrix does not walk: writes of citizen controls, emergency
grants and their review, chains and ``_has`` over hidden data (every backend)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from helseflyt.access.principal import CLAIM_HPR, CLAIM_ORGNR_CHILD, CLAIM_ORGNR_PARENT, CLAIM_PID
from helseflyt.access.testing import TestIssuer
from helseflyt.http.testing import Client

from . import test_access_matrix as matrix
from .test_access_matrix import CONTROL, FNR, FNR_SYS, GP_OFFICE, HPR_GP, HPR_NOENC, JSON, OTHER_HOSPITAL

# the matrix's fixtures: a store with its data (full search indexer), the app with jwks auth
store, api, issuer = matrix.store, matrix.api, matrix.issuer


def patient(issuer: TestIssuer, key: str, scope: str = "openid patient/*.rs") -> dict[str, str]:
    claims = issuer.claims("patient", **{CLAIM_PID: FNR[key]}, scope=scope)
    return {"authorization": f"Bearer {issuer.token(claims)}"}


def doctor(issuer: TestIssuer, hpr: str, org: str, **headers: str) -> dict[str, str]:
    claims = issuer.claims(
        "practitioner", **{CLAIM_HPR: hpr, CLAIM_ORGNR_PARENT: org, CLAIM_ORGNR_CHILD: None}
    )
    return {"authorization": f"Bearer {issuer.token(claims)}", **headers}


def reservation(patient_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {"text": "privacy"},
        "category": [{"coding": [{"system": CONTROL, "code": "reservation"}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
    }


def test_patient_manages_own_controls_only(api: Client, issuer: TestIssuer) -> None:
    writer = patient(issuer, "po", "openid patient/*.cruds")
    mine = api.post("Consent", json=reservation("po"), headers={**writer, **JSON})
    assert mine.status_code == 201, mine.text
    theirs = api.post("Consent", json=reservation("pn"), headers={**writer, **JSON})
    assert theirs.status_code == 403, theirs.text
    system = {"authorization": f"Bearer {issuer.token(issuer.claims('system', scope='system/*.rs'))}"}
    listed = api.get("Consent", params={"patient": "Patient/pn", "_total": "accurate"}, headers=system)
    assert listed.json()["total"] == 1  # only the blokkering: the refused write rolled back
    # the reservation now hides po from its GP
    gp = doctor(issuer, "100002", "974760673")
    assert api.get("Observation/obs-o", headers=gp).status_code == 404
    assert api.delete(f"Consent/{mine.json()['id']}", headers=writer).status_code in (200, 204)
    assert api.get("Observation/obs-o", headers=gp).status_code == 200


def test_practitioners_cannot_touch_citizen_controls(api: Client, issuer: TestIssuer) -> None:
    gp = doctor(issuer, HPR_GP, GP_OFFICE)
    assert api.post("Consent", json=reservation("pn"), headers={**gp, **JSON}).status_code == 403
    assert api.delete("Consent/con-b", headers=gp).status_code == 403


def test_emergency_grant_lasts_and_is_reviewed(api: Client, issuer: TestIssuer) -> None:
    plain = doctor(issuer, HPR_NOENC, OTHER_HOSPITAL)
    assert api.get("Observation/obs-n", headers=plain).status_code == 403
    missing = api.get("Observation/obs-n", headers={**plain, "nhn-access-basis": "AKUTT"})
    assert missing.status_code == 403 and "nhn-access-reason" in missing.text
    reason = quote("bevisstløs, ingen pårørende")
    urgent = {**plain, "nhn-access-basis": "AKUTT", "nhn-access-reason": reason}
    assert api.get("Observation/obs-n", headers=urgent).status_code == 200
    # the grant: the same practitioner now reads and searches pn's data without a header
    assert api.get("Patient/pn", headers=plain).status_code == 200
    found = api.get("Observation", params={"patient": "Patient/pn"}, headers=plain).json()
    assert {e["resource"]["id"] for e in found.get("entry", ())} == {"obs-n"}  # not the NORS one
    assert api.get("Observation/obs-o", headers=plain).status_code == 403  # only pn
    review = api.get("AuditEvent/$review", params={"org": OTHER_HOSPITAL}, headers=plain).json()
    flagged = [
        {p["name"]: p for p in a["part"]} for a in review.get("parameter", ()) if a["name"] == "access"
    ]
    bases = [f["basis"]["valueCoding"]["code"] for f in flagged if "basis" in f]
    assert bases.count("AKUTT") >= 4, review  # the declaration and the reads under its grant
    reasons = [f["reason"]["valueString"] for f in flagged if "reason" in f]
    assert "bevisstløs, ingen pårørende" in reasons


def test_chains_and_has_see_only_visible_data(api: Client, issuer: TestIssuer) -> None:
    other = patient(issuer, "po")
    chained = api.get(
        "Observation", params={"subject:Patient.identifier": f"{FNR_SYS}|{FNR['pn']}"}, headers=other
    )
    assert chained.status_code == 200 and not chained.json().get("entry")
    gp = doctor(issuer, HPR_GP, GP_OFFICE)
    has = api.get(
        "Patient",
        params={"_has:Observation:subject:_security": "urn:oid:2.16.578.1.12.4.1.1.9603|NORS"},
        headers=gp,
    )
    assert has.status_code == 200
    assert not [e for e in has.json().get("entry", ()) if e["resource"]["resourceType"] == "Patient"]


def test_new_patient_and_encounter_in_one_transaction(api: Client, issuer: TestIssuer) -> None:
    gp = doctor(issuer, HPR_GP, GP_OFFICE)
    assert api.get("Patient/pn", headers=gp).status_code == 200  # fills the care cache
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:11111111-1111-4111-8111-111111111111",
                "request": {"method": "POST", "url": "Patient"},
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": FNR_SYS, "value": "29029600013"}],
                },
            },
            {
                "request": {"method": "POST", "url": "Encounter"},
                "resource": {
                    "resourceType": "Encounter",
                    "status": "in-progress",
                    "class": {"code": "AMB"},
                    "subject": {"reference": "urn:uuid:11111111-1111-4111-8111-111111111111"},
                    "serviceProvider": {"reference": "Organization/gp-office"},
                },
            },
        ],
    }
    done = api.post("", json=bundle, headers={**gp, **JSON})
    assert done.status_code == 200, done.text
    new_id = done.json()["entry"][0]["response"]["location"].split("/")[1]
    assert api.get(f"Patient/{new_id}", headers=gp).status_code == 200  # its encounter counts at once
    other = doctor(issuer, HPR_NOENC, OTHER_HOSPITAL)
    assert api.get(f"Patient/{new_id}", headers=other).status_code == 403


def test_contained_matches_are_as_visible_as_their_container(
    api: Client, store: Any, issuer: TestIssuer
) -> None:
    def order(pid: str) -> dict[str, Any]:
        return {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "subject": {"reference": f"Patient/{pid}"},
            "contained": [{"resourceType": "Medication", "id": "m", "code": {"text": "paracet"}}],
            "medicationReference": {"reference": "#m"},
        }

    with store.transaction() as tx:
        tx.put_many(
            [("MedicationRequest", "mr-po", order("po")), ("MedicationRequest", "mr-pn", order("pn"))]
        )
    me = patient(issuer, "po")
    for kind, expected in (
        ("container", "MedicationRequest/mr-po"),
        ("contained", "MedicationRequest/mr-po#m"),
    ):
        params = {"code:text": "paracet", "_contained": "true", "_containedType": kind}
        found = api.get("Medication", params=params, headers=me).json()
        assert found["total"] == 1, found
        assert [e["fullUrl"].split("/fhir/")[1] for e in found["entry"]] == [expected]
