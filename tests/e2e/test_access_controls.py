"""Citizen controls in time (``provision.period``), linked Patient records (``Patient.link``)
and the purge of expired emergency grants, through the app on every backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from helseflyt.access import policy
from helseflyt.access.testing import TestIssuer
from helseflyt.http.testing import Client
from helseflyt.storage import Store
from helseflyt.storage.sql_access import insert_grants, purge_grants

from . import test_access_matrix as matrix
from .test_access_matrix import FNR, HPR_NOENC, HPR_OTHER_GP, JSON, OTHER_HOSPITAL, OTHER_OFFICE, _day, _obs
from .test_access_rules import doctor, patient, reservation

store, api, issuer = matrix.store, matrix.api, matrix.issuer


def system(issuer: TestIssuer, scope: str = "system/*.cruds") -> dict[str, str]:
    return {"authorization": f"Bearer {issuer.token(issuer.claims('system', scope=scope))}"}


def control(code: str, patient_id: str, start: int | None, end: int | None) -> dict[str, Any]:
    consent = reservation(patient_id)
    consent["category"][0]["coding"][0]["code"] = code
    period = {k: _day(v) for k, v in (("start", start), ("end", end)) if v is not None}
    consent["provision"] = {"type": "deny", **({"period": period} if period else {})}
    return consent


@pytest.mark.parametrize(
    ("start", "end", "applies"),
    [(3, 30, False), (-3, 30, True), (-3, None, True), (None, 3, True), (-30, -3, False)],
    ids=["before", "inside", "open-end", "open-start", "after"],
)
def test_reservation_applies_within_its_period(
    api: Client, issuer: TestIssuer, start: int | None, end: int | None, applies: bool
) -> None:
    writer = patient(issuer, "po", "openid patient/*.cruds")
    gp = doctor(issuer, HPR_OTHER_GP, OTHER_OFFICE)
    assert api.get("Observation/obs-o", headers=gp).status_code == 200
    made = api.post("Consent", json=control("reservation", "po", start, end), headers={**writer, **JSON})
    assert made.status_code == 201, made.text
    expected = 404 if applies else 200
    assert api.get("Observation/obs-o", headers=gp).status_code == expected
    found = api.get("Observation", params={"patient": "Patient/po"}, headers=gp).json()
    assert ("obs-o" in {e["resource"]["id"] for e in found.get("entry", ())}) is not applies
    sys = api.get("Observation/obs-o", headers=system(issuer, "system/*.rs"))
    assert sys.status_code == expected  # a reservation holds for system tokens too


def test_sperring_and_blokkering_follow_their_period(api: Client, issuer: TestIssuer) -> None:
    writer = patient(issuer, "po", "openid patient/*.cruds")
    gp = doctor(issuer, HPR_OTHER_GP, OTHER_OFFICE)
    ended = control("sperring", "po", -10, -1)
    assert api.post("Consent", json=ended, headers={**writer, **JSON}).status_code == 201
    assert api.get("Observation/obs-o", headers=gp).status_code == 200  # the lock has ended
    current = api.post("Consent", json=control("sperring", "po", -1, 1), headers={**writer, **JSON})
    assert current.status_code == 201
    locked = api.get("Observation/obs-o", headers=gp)
    assert locked.status_code == 403 and "sperret" in locked.text, locked.text  # as docs/access.md says
    assert api.delete(f"Consent/{current.json()['id']}", headers=writer).status_code in (200, 204)
    block = control("blokkering", "po", -1, 10)
    block["provision"]["actor"] = [
        {"role": {"text": "blocked"}, "reference": {"reference": "Practitioner/other-gp"}}
    ]
    assert api.post("Consent", json=block, headers={**writer, **JSON}).status_code == 201
    assert api.get("Observation/obs-o", headers=gp).status_code == 404  # blocked now


def _linked_record(api: Client, issuer: TestIssuer) -> None:
    """po2: an older record of po's person (no fødselsnummer on it), replaced by Patient/po."""
    old = {
        "resourceType": "Patient",
        "id": "po2",
        "active": False,
        "generalPractitioner": [{"reference": "Practitioner/other-gp"}],
        "link": [{"other": {"reference": "Patient/po"}, "type": "replaced-by"}],
    }
    sys = {**system(issuer), **JSON}
    made = api.put("Patient/po2", json=old, headers=sys)
    assert made.status_code in (200, 201), made.text
    obs = {**_obs("po2", "8310-5"), "id": "obs-po2"}
    assert api.put("Observation/obs-po2", json=obs, headers=sys).status_code in (200, 201)


def test_a_patient_sees_their_linked_records(api: Client, issuer: TestIssuer) -> None:
    _linked_record(api, issuer)
    me = patient(issuer, "po")
    assert api.get("Observation/obs-po2", headers=me).status_code == 200
    assert api.get("Patient/po2", headers=me).status_code == 200
    found = api.get("Observation", params={"_total": "accurate"}, headers=me).json()
    assert {"obs-o", "obs-po2"} <= {e["resource"]["id"] for e in found["entry"]}
    other = patient(issuer, "pn")
    assert api.get("Observation/obs-po2", headers=other).status_code == 404


def test_controls_on_one_record_cover_the_linked_ones(api: Client, issuer: TestIssuer) -> None:
    _linked_record(api, issuer)
    gp = doctor(issuer, HPR_OTHER_GP, OTHER_OFFICE)
    assert api.get("Observation/obs-po2", headers=gp).status_code == 200  # the GP of po2 too
    writer = patient(issuer, "po", "openid patient/*.cruds")
    made = api.post("Consent", json=reservation("po"), headers={**writer, **JSON})
    assert made.status_code == 201
    assert api.get("Observation/obs-po2", headers=gp).status_code == 404  # po's reservation covers po2
    assert api.get("Observation/obs-po2", headers=system(issuer, "system/*.rs")).status_code == 404
    assert api.delete(f"Consent/{made.json()['id']}", headers=writer).status_code in (200, 204)
    lock = control("sperring", "po", None, None)
    lock["category"].append(
        {"coding": [{"system": "http://hl7.org/fhir/resource-types", "code": "Observation"}]}
    )
    assert api.post("Consent", json=lock, headers={**writer, **JSON}).status_code == 201
    locked = api.get("Observation/obs-po2", headers=gp)  # a sperring of parts too
    assert locked.status_code == 403 and "sperret" in locked.text, locked.text
    assert api.get("Patient/po2", headers=gp).status_code == 200  # only Observations are locked
    opened = {**gp, "nhn-access-basis": "FORHOYET_SAMTYKKE"}
    assert api.get("Observation/obs-po2", headers=opened).status_code == 200


def test_the_access_log_covers_linked_records(api: Client, issuer: TestIssuer) -> None:
    _linked_record(api, issuer)
    gp = doctor(issuer, HPR_OTHER_GP, OTHER_OFFICE)
    assert api.get("Observation/obs-po2", headers=gp).status_code == 200
    log = api.get("Patient/po/$access-log", headers=patient(issuer, "po"))
    assert log.status_code == 200, log.text
    hprs = [
        p["valueIdentifier"]["value"]
        for a in log.json()["parameter"]
        if a["name"] == "access"
        for p in a["part"]
        if p["name"] == "hpr"
    ]
    assert HPR_OTHER_GP in hprs
    # and the citizen may read the log of their old record too
    assert api.get("Patient/po2/$access-log", headers=patient(issuer, "po")).status_code == 200
    assert api.get("Patient/po2/$access-log", headers=patient(issuer, "pn")).status_code == 403


def test_who_may_link_records(api: Client, issuer: TestIssuer) -> None:
    writer = patient(issuer, "po", "openid patient/*.cruds")
    mine = api.get("Patient/po", headers=writer).json()
    mine["link"] = [{"other": {"reference": "Patient/pn"}, "type": "seealso"}]
    refused = api.put("Patient/po", json=mine, headers={**writer, **JSON})
    assert refused.status_code == 403 and "Patient.link" in refused.text
    assert api.get("Observation/obs-n", headers=patient(issuer, "po")).status_code == 404
    gp = doctor(issuer, HPR_OTHER_GP, OTHER_OFFICE)
    theirs = api.get("Patient/po", headers=gp).json()
    theirs["link"] = [{"other": {"reference": "Patient/pn"}, "type": "seealso"}]  # pn is not the GP's
    refused = api.put("Patient/po", json=theirs, headers={**gp, **JSON})
    assert refused.status_code == 403 and "Patient/pn" in refused.text
    assert FNR["po"] in str(api.get("Patient/po", headers=gp).json())  # unchanged


def _grants(store: Store) -> list[tuple[Any, ...]]:
    with store.reader() as r:
        return [tuple(row) for row in r.conn.query("SELECT actor, patient_id, expires FROM access_grant")]


def test_expired_grants_are_purged_and_stay_audited(api: Client, issuer: TestIssuer, store: Store) -> None:
    plain = doctor(issuer, HPR_NOENC, OTHER_HOSPITAL)
    urgent = {**plain, "nhn-access-basis": "AKUTT", "nhn-access-reason": quote("hjertestans")}
    assert api.get("Observation/obs-n", headers=urgent).status_code == 200
    assert [(a, p) for a, p, _ in _grants(store)] == [(f"hpr:{HPR_NOENC}", "pn")]
    with store.transaction() as tx:  # time passes: the grant runs out; someone else's too
        tx.conn.executemany("UPDATE access_grant SET expires = ?", [(1,)])
        insert_grants(tx.conn, [("hpr:100009", "pl", "AKUTT", "old", 0, 2)])
    assert api.get("Observation/obs-n", headers=plain).status_code == 403  # expired: no access
    policy.PURGES._last.clear()  # the periodic purge of everyone's is due
    again = {**urgent, "nhn-access-reason": quote("ny hendelse")}
    assert api.get("Patient/po", headers=again).status_code == 200  # a new grant purges
    left = _grants(store)
    assert [(a, p) for a, p, _ in left] == [(f"hpr:{HPR_NOENC}", "po")]
    assert all(expires > 2 for *_, expires in left)
    review = api.get("AuditEvent/$review", params={"org": OTHER_HOSPITAL}, headers=plain).json()
    reasons = [
        p["valueString"]
        for a in review.get("parameter", ())
        if a["name"] == "access"
        for p in a["part"]
        if p["name"] == "reason"
    ]
    assert "hjertestans" in reasons and "ny hendelse" in reasons  # the purged grant's audit stays


def test_purge_grants_on_its_own(store: Store) -> None:
    rows = [
        ("hpr:1", "a", "AKUTT", "r", 0, 10),
        ("hpr:1", "b", "AKUTT", "r", 0, 30),
        ("hpr:2", "a", "AKUTT", "r", 0, 10),
    ]
    with store.transaction() as tx:
        insert_grants(tx.conn, rows)
        purge_grants(tx.conn, 20, "hpr:1")
    assert sorted((a, p) for a, p, _ in _grants(store)) == [("hpr:1", "b"), ("hpr:2", "a")]
    with store.transaction() as tx:
        purge_grants(tx.conn, 20)
    assert [(a, p) for a, p, _ in _grants(store)] == [("hpr:1", "b")]


def test_grant_lasts_the_configured_hours(
    make_client: Callable[..., Client], tmp_path: Path, issuer: TestIssuer, store: Store
) -> None:
    settings = matrix.jwks_settings(tmp_path, issuer, access_emergency_hours=1.5)
    client = make_client(settings=settings)
    urgent = {
        **doctor(issuer, HPR_NOENC, OTHER_HOSPITAL),
        "nhn-access-basis": "AKUTT",
        "nhn-access-reason": "x",
    }
    assert client.get("Observation/obs-n", headers=urgent).status_code == 200
    with store.reader() as r:
        ((granted, expires),) = r.conn.query("SELECT granted, expires FROM access_grant")
    assert expires - granted == 90 * 60 * 1_000_000
