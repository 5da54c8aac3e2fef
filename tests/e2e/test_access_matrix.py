"""The access matrix: actors × data × interactions, through the ASGI app, on every backend.

Actors: the patient themself, another patient, the patient's own GP, another GP, a
hospital doctor with and without an encounter, emergency access with and without a
reason (and elevated, ``FORHOYET_AKUTT``), a practitioner the patient has blocked, a
system integration. Data: a normal resource, a locked one (sperring of a resource
type), a reserved patient's, a ``NORS``-labelled one. Interactions: read, search (with
``_total`` and every ``next`` page), ``_include``, ``_revinclude``, instance and type
history (every page), batch GET entries.

Every cell asserts the expected allow/deny, and every response body is walked: it must
hold no resource the actor may not see (matches, included resources, history entries,
batch entries), and ``total`` must count only what the actor may see.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from helseflyt.access.principal import CLAIM_HPR, CLAIM_ORGNR_CHILD, CLAIM_ORGNR_PARENT, CLAIM_PID
from helseflyt.access.testing import AUDIENCE, ISSUER, TestIssuer
from helseflyt.http.testing import Client
from helseflyt.search.index import index
from helseflyt.settings import Settings
from helseflyt.storage import Store, open_store
from helseflyt.storage.testing import FixedClock

FNR_SYS = "urn:oid:2.16.578.1.12.4.1.4.1"
HPR_SYS = "urn:oid:2.16.578.1.12.4.1.4.4"
ORGNR_SYS = "urn:oid:2.16.578.1.12.4.1.4.101"
V9603 = "urn:oid:2.16.578.1.12.4.1.1.9603"
CONTROL = "urn:helseflyt:citizen-control"
JSON = {"content-type": "application/fhir+json"}

FNR = {"pn": "13116900216", "pl": "05898597468", "pr": "02013299997", "po": "13031353453"}
HOSPITAL, GP_OFFICE, OTHER_OFFICE, OTHER_HOSPITAL = "974703475", "983658725", "974760673", "974589095"
HPR_GP, HPR_OTHER_GP, HPR_HOSP, HPR_NOENC, HPR_BLOCKED = "100001", "100002", "100003", "100004", "100005"

# -- the data -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Res:
    type: str
    id: str
    patient: str | None  # None: public (no patient data)
    locked: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


def _day(days: int) -> str:
    return (_now() + timedelta(days=days)).date().isoformat()


def _patient(key: str, gp: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": FNR_SYS, "value": FNR[key]}],
        "generalPractitioner": [{"reference": gp}],
    }


def _obs(patient: str, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        **extra,
    }


def _enc(patient: str, org: str, start: int, end: int | None) -> dict[str, Any]:
    period = {"start": _day(start)} | ({"end": _day(end)} if end is not None else {})
    return {
        "resourceType": "Encounter",
        "status": "in-progress" if end is None else "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": f"Patient/{patient}"},
        "serviceProvider": {"reference": f"Organization/{org}"},
        "period": period,
    }


def _consent(
    patient: str, control: str, provision: dict[str, Any] | None = None, **more: Any
) -> dict[str, Any]:
    category = [{"coding": [{"system": CONTROL, "code": control}]}, *more.pop("category", [])]
    out: dict[str, Any] = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
            ]
        },
        "category": category,
        "patient": {"reference": f"Patient/{patient}"},
    }
    if provision:
        out["provision"] = provision
    return out


def _org(orgnr: str) -> dict[str, Any]:
    return {"resourceType": "Organization", "identifier": [{"system": ORGNR_SYS, "value": orgnr}]}


def _pract(hpr: str) -> dict[str, Any]:
    return {"resourceType": "Practitioner", "identifier": [{"system": HPR_SYS, "value": hpr}]}


DATA: list[tuple[Res, dict[str, Any]]] = []


def _seed() -> list[tuple[Res, dict[str, Any]]]:
    nors = {"security": [{"system": V9603, "code": "NORS"}]}
    blocked_actor = {"reference": {"identifier": {"system": HPR_SYS, "value": HPR_BLOCKED}}}
    return [
        (Res("Organization", "hospital", None), _org(HOSPITAL)),
        (Res("Organization", "gp-office", None), _org(GP_OFFICE)),
        (Res("Organization", "other-office", None), _org(OTHER_OFFICE)),
        (Res("Practitioner", "gp", None), _pract(HPR_GP)),
        (Res("Practitioner", "other-gp", None), _pract(HPR_OTHER_GP)),
        (Res("Patient", "pn", "pn"), _patient("pn", "Practitioner/gp")),
        (Res("Patient", "pl", "pl"), _patient("pl", "Practitioner/gp")),
        (Res("Patient", "pr", "pr"), _patient("pr", "Organization/gp-office")),
        (Res("Patient", "po", "po"), _patient("po", "Practitioner/other-gp")),
        (Res("Observation", "obs-n", "pn"), _obs("pn", "8867-4")),
        (Res("Observation", "obs-nors", "pn", locked=True), {**_obs("pn", "8867-4"), "meta": nors}),
        (Res("Observation", "obs-l", "pl", locked=True), _obs("pl", "8867-4")),
        (Res("Observation", "obs-r", "pr"), _obs("pr", "8867-4")),
        (Res("Observation", "obs-o", "po"), _obs("po", "8867-4")),
        (
            Res("Condition", "cond-l", "pl"),
            {"resourceType": "Condition", "subject": {"reference": "Patient/pl"}},
        ),
        (Res("Encounter", "enc-n", "pn"), _enc("pn", "hospital", -5, None)),
        (Res("Encounter", "enc-l", "pl"), _enc("pl", "hospital", -20, -10)),
        (Res("Encounter", "enc-r", "pr"), _enc("pr", "hospital", -5, None)),
        (Res("Encounter", "enc-o", "po"), _enc("po", "hospital", -300, -200)),  # too long ago
        (
            Res("Consent", "con-b", "pn"),
            _consent("pn", "blokkering", {"type": "deny", "actor": [blocked_actor]}),
        ),
        (
            Res("Consent", "con-l", "pl"),
            _consent(
                "pl",
                "sperring",
                category=[
                    {"coding": [{"system": "http://hl7.org/fhir/resource-types", "code": "Observation"}]}
                ],
            ),
        ),
        (Res("Consent", "con-r", "pr"), _consent("pr", "reservation")),
    ]


ALL = {(r.type, r.id): r for r, _ in _seed()}
RESERVED = {"pr"}
BLOCKS = {"pn": {HPR_BLOCKED}}

# -- the actors ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    name: str
    role: str
    patient: str | None = None  # patient token: whose; "self"/"other" resolved per cell
    hpr: str | None = None
    org: str | None = None
    care: frozenset[str] = frozenset()  # patients with a care relationship
    basis: str | None = None
    reason: str | None = None
    declared: bool = False
    elevated: bool = False
    headers: dict[str, str] = field(default_factory=dict)


MINE = frozenset({"pn", "pl", "pr"})  # the own GP's and the hospital's patients
ACTORS = [
    Actor("patient-self", "patient", patient="self"),
    Actor("patient-other", "patient", patient="other"),
    Actor("own-gp", "practitioner", hpr=HPR_GP, org=GP_OFFICE, care=MINE),
    Actor("other-gp", "practitioner", hpr=HPR_OTHER_GP, org=OTHER_OFFICE, care=frozenset({"po"})),
    Actor("hospital-encounter", "practitioner", hpr=HPR_HOSP, org=HOSPITAL, care=MINE),
    Actor("hospital-no-encounter", "practitioner", hpr=HPR_NOENC, org=OTHER_HOSPITAL),
    Actor("emergency", "practitioner", org=OTHER_HOSPITAL, basis="AKUTT", reason="bevisstløs", declared=True),
    Actor(
        "emergency-elevated",
        "practitioner",
        org=OTHER_HOSPITAL,
        basis="FORHOYET_AKUTT",
        reason="hjertestans",
        declared=True,
        elevated=True,
    ),
    Actor("emergency-no-reason", "practitioner", org=OTHER_HOSPITAL, basis="AKUTT"),
    # blocked by pn; declares FORHOYET_SAMTYKKE, which opens locks but never a blokkering
    Actor(
        "blocked",
        "practitioner",
        hpr=HPR_BLOCKED,
        org=HOSPITAL,
        care=MINE,
        basis="FORHOYET_SAMTYKKE",
        reason="samtykke",
        declared=True,
        elevated=True,
    ),
    Actor("system", "system"),
]
ITEMS = {"normal": "obs-n", "locked": "obs-l", "reserved": "obs-r", "nors": "obs-nors"}
INTERACTIONS = ["read", "search", "include", "revinclude", "history", "batch"]
_serial = itertools.count(200001)


def may_see(actor: Actor, me: str | None, res: Res, target: str) -> bool:
    """The expected answer: may ``actor`` (for patient actors: token of ``me``) see ``res``
    in a request about ``target``? (A declared basis covers the patient in question.)"""
    p = res.patient
    if p is None:
        return True
    if actor.role == "system":
        return p not in RESERVED
    if actor.role == "patient":
        return p == me
    if actor.basis and not actor.reason:
        return False
    if p in RESERVED or actor.hpr in BLOCKS.get(p, ()):
        return False
    if not (p in actor.care or (actor.declared and p == target)):
        return False
    return actor.elevated and p == target if res.locked else True


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def store(store_url: str, clock: FixedClock) -> Iterator[Store]:
    opened = open_store(store_url, indexer=index, clock=clock)  # the full search indexer
    with opened.transaction() as tx:
        tx.put_many([(r.type, r.id, body) for r, body in _seed()])
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


def jwks_settings(tmp_path: Path, issuer: TestIssuer, **more: Any) -> Settings:
    """Settings trusting ``issuer`` (its key set in a file), plus ``more``."""
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(issuer.jwks()))
    return Settings(
        data_dir=str(tmp_path / "data"),
        auth="jwks",
        auth_jwks=str(path),
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
        **more,
    )


@pytest.fixture
def api(make_client: Callable[..., Client], tmp_path: Path, issuer: TestIssuer) -> Client:
    return make_client(settings=jwks_settings(tmp_path, issuer))


def headers_for(issuer: TestIssuer, actor: Actor, me: str | None, target: str) -> dict[str, str]:
    if actor.role == "patient":
        claims = issuer.claims("patient", **{CLAIM_PID: FNR[me or "pn"]})
    elif actor.role == "system":
        claims = issuer.claims("system", scope="system/*.rs")
    else:
        hpr = actor.hpr or str(next(_serial))  # emergency actors: a fresh HPR per cell (grants)
        claims = issuer.claims(
            "practitioner", **{CLAIM_HPR: hpr, CLAIM_ORGNR_PARENT: actor.org, CLAIM_ORGNR_CHILD: None}
        )
    out = {"authorization": f"Bearer {issuer.token(claims)}"}
    if actor.basis:
        out["nhn-access-basis"] = actor.basis
        out["nhn-patient-nin"] = FNR[target]
        if actor.reason:
            out["nhn-access-reason"] = quote(actor.reason)
    return out


# -- the leak check ---------------------------------------------------------------------------


def resources_in(body: Any) -> Iterator[tuple[str, str]]:
    if isinstance(body, dict):
        t, i = body.get("resourceType"), body.get("id")
        if t not in (None, "Bundle", "OperationOutcome") and isinstance(i, str):
            yield t, i
        for v in body.values():
            yield from resources_in(v)
    elif isinstance(body, list):
        for v in body:
            yield from resources_in(v)


class Cell:
    def __init__(
        self, api: Client, actor: Actor, me: str | None, target: str, headers: dict[str, str]
    ) -> None:
        self.api, self.actor, self.me, self.target, self.headers = api, actor, me, target, headers

    def allowed(self, key: tuple[str, str]) -> bool:
        return may_see(self.actor, self.me, ALL[key], self.target)

    def get(self, url: str, **kw: Any) -> Any:
        response = self.api.get(url, headers=self.headers, **kw)
        self.no_leak(response)
        return response

    def no_leak(self, response: Any) -> None:
        if not response.content:
            return
        body = response.json()
        leaked = [k for k in resources_in(body) if k in ALL and not self.allowed(k)]
        assert not leaked, f"{self.actor.name} got {leaked} from {response.request.url}"
        unknown = [k for k in resources_in(body) if k not in ALL]
        assert not unknown, unknown

    def walk(self, url: str, **params: str) -> tuple[list[tuple[str, str]], list[int]]:
        """Every page of a Bundle: the resources of all pages and each page's total."""
        found: list[tuple[str, str]] = []
        totals: list[int] = []
        response = self.get(url, params=params)
        while True:
            if response.status_code != 200:
                return found, [-response.status_code]
            body = response.json()
            if "total" in body:
                totals.append(body["total"])
            found += [
                (e["resource"]["resourceType"], e["resource"]["id"])
                for e in body.get("entry", ())
                if "resource" in e and e["resource"].get("resourceType") != "OperationOutcome"
            ]
            nxt = [link["url"] for link in body.get("link", ()) if link["relation"] == "next"]
            if not nxt:
                return found, totals
            response = self.get(nxt[0])


def _visible_obs(cell: Cell, patient: str) -> set[tuple[str, str]]:
    return {k for k, r in ALL.items() if r.type == "Observation" and r.patient == patient and cell.allowed(k)}


def run_cell(cell: Cell, item: str, interaction: str) -> None:
    key = ("Observation", ITEMS[item])
    res = ALL[key]
    p = res.patient
    assert p is not None
    want = cell.allowed(key)
    refused = cell.actor.basis is not None and cell.actor.reason is None
    if interaction == "read":
        r = cell.get(f"Observation/{res.id}")
        if want:
            assert r.status_code == 200 and r.json()["id"] == res.id, r.text
        else:
            assert r.status_code in (403, 404), r.text
            if refused:
                assert r.status_code == 403 and "reason" in r.text
    elif interaction == "search":
        found, totals = cell.walk("Observation", patient=f"Patient/{p}", _total="accurate", _count="1")
        if refused:
            assert totals == [-403]
            return
        assert (key in found) is want
        assert set(found) == _visible_obs(cell, p)
        assert all(t == len(found) for t in totals), (totals, found)
    elif interaction == "include":
        found, _ = cell.walk("Observation", patient=f"Patient/{p}", _include="Observation:subject")
        assert (key in found) is want or refused
    elif interaction == "revinclude":
        found, _ = cell.walk("Patient", _id=p, _revinclude="Observation:subject")
        if not refused:
            assert (("Patient", p) in found) is cell.allowed(("Patient", p))
    elif interaction == "history":
        r = cell.get(f"Observation/{res.id}/_history")
        if want:
            assert r.status_code == 200 and r.json()["entry"][0]["resource"]["id"] == res.id
        else:
            assert r.status_code in (403, 404), r.text
        found, totals = cell.walk("Observation/_history", _count="2")
        if not refused:
            assert (key in found) is want
            assert totals and totals[0] == len(found)
        found, _ = cell.walk("_history", _count="10")
        if not refused:
            assert (key in found) is want
    elif interaction == "batch":
        bundle = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [
                {"request": {"method": "GET", "url": f"Observation/{res.id}"}},
                {"request": {"method": "GET", "url": f"Patient/{p}"}},
                {"request": {"method": "GET", "url": f"Patient?identifier={FNR_SYS}|{FNR[p]}"}},
            ],
        }
        r = cell.api.post("", json=bundle, headers={**cell.headers, **JSON})
        cell.no_leak(r)
        if refused:
            assert r.status_code == 403
            return
        assert r.status_code == 200, r.text
        entries = r.json()["entry"]
        status = entries[0]["response"]["status"]
        assert status.startswith("200") if want else status[:3] in ("403", "404"), entries[0]
        patient_ok = cell.allowed(("Patient", p))
        assert entries[1]["response"]["status"].startswith("200" if patient_ok else "40"), entries[1]
    else:  # pragma: no cover
        raise AssertionError(interaction)


@pytest.fixture
def cells(api: Client, issuer: TestIssuer) -> Callable[[Actor, str], Cell]:
    def make(actor: Actor, item: str) -> Cell:
        target = ALL[("Observation", ITEMS[item])].patient
        assert target is not None
        me = None
        if actor.patient == "self":
            me = target
        elif actor.patient == "other":
            me = "po" if target != "po" else "pn"
        return Cell(api, actor, me, target, headers_for(issuer, actor, me, target))

    return make


@pytest.mark.parametrize("actor", ACTORS, ids=lambda a: a.name)
def test_access_matrix(cells: Callable[[Actor, str], Cell], actor: Actor) -> None:
    """One store per actor and backend; every data item × interaction cell in it."""
    for item in ITEMS:
        for interaction in INTERACTIONS:
            run_cell(cells(actor, item), item, interaction)
