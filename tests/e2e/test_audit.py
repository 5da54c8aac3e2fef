"""The audit trail end to end, on every backend: one AuditEvent per request (allowed or
denied), read-only through the API, the citizen's access log, the review list, the
shutdown flush and ``helseflyt audit verify`` against tampering."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from typer.testing import CliRunner

from helseflyt.audit.store import SQLAuditStore
from helseflyt.audit.verify import verify
from helseflyt.cli import app as cli
from helseflyt.http.testing import Client
from helseflyt.norway.identifiers import FNR, HPR, ORGNR
from helseflyt.storage import Store

JSON = {"Content-Type": "application/fhir+json"}
FNR_A, FNR_B = "13031353453", "29029600013"
HPR_GP, ORG = "565501879", "983658725"


@dataclass(frozen=True)
class Actor:
    """The attributes of ``helseflyt.access.principal.Principal`` the audit trail reads."""

    role: str
    hpr: str | None = None
    pid: str | None = None
    orgnr_parent: str | None = None
    security_level: str | None = "4"
    grants: tuple[str, ...] = ()  # resource types the scopes cover ("*" = all)

    def allows(self, resource_type: str, interaction: str) -> bool:
        return "*" in self.grants or resource_type in self.grants


class WithPrincipal:
    """The app with a fixed principal (and access decision) on every request, as the
    authentication middleware would set it."""

    def __init__(self, app: Any, principal: Any, access: Any = None) -> None:
        self.app, self.router, self.state = app, app.router, app.state
        self.principal, self.access = principal, access

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        state = scope.setdefault("state", {})
        state["principal"] = self.principal
        if self.access is not None:
            state["access"] = self.access
        await self.app(scope, receive, send)


def events(client: Client, **query: str) -> list[dict[str, Any]]:
    r = client.get("AuditEvent", params=query)
    assert r.status_code == 200, r.text
    return [e["resource"] for e in r.json()["entry"] if e["resource"]["resourceType"] == "AuditEvent"]


def last(client: Client) -> dict[str, Any]:
    """The newest event other than the AuditEvent searches themselves."""
    found = [
        e
        for e in events(client, _count="20")
        if not e["outcomeDesc"].split(" ")[3].startswith("/fhir/AuditEvent")
    ]
    return found[0]


def codes(event: dict[str, Any]) -> tuple[str, str, str]:
    return event["subtype"][0]["code"], event["action"], event["outcome"]


def references(event: dict[str, Any]) -> list[str]:
    return [e["what"]["reference"] for e in event["entity"] if "what" in e]


def patient(client: Client, fnr: str = FNR_A) -> str:
    r = client.post(
        "Patient",
        json={"resourceType": "Patient", "identifier": [{"system": FNR, "value": fnr}]},
        headers=JSON,
    )
    assert r.status_code == 201
    return str(r.json()["id"])


def observation(pid: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "BT"},
        "subject": {"reference": f"Patient/{pid}"},
    }


def test_every_interaction_is_audited(client: Client) -> None:
    pid = patient(client)
    assert codes(last(client)) == ("create", "C", "0")
    assert f"Patient/{pid}" in references(last(client))
    r = client.post("Observation", json=observation(pid), headers=JSON)
    oid = r.json()["id"]
    event = last(client)
    assert codes(event) == ("create", "C", "0")
    assert references(event)[:2] == [f"Patient/{pid}", f"Observation/{oid}/_history/1"]
    client.get(f"Observation/{oid}")
    assert codes(last(client)) == ("read", "R", "0")
    assert f"Patient/{pid}" in references(last(client))
    client.get(f"Observation/{oid}/_history/1")
    assert codes(last(client)) == ("vread", "R", "0")
    client.put(f"Observation/{oid}", json={**observation(pid), "id": oid}, headers=JSON)
    assert codes(last(client)) == ("update", "U", "0")
    client.patch(
        f"Observation/{oid}",
        content=orjson.dumps([{"op": "replace", "path": "/status", "value": "amended"}]),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert codes(last(client)) == ("patch", "U", "0")
    client.get(f"Observation/{oid}/_history")
    assert codes(last(client)) == ("history-instance", "R", "0")
    client.get("Observation", params={"subject": f"Patient/{pid}"})
    event = last(client)
    assert event["subtype"][0]["code"] == "search-type" and event["action"] == "R"
    assert f"Patient/{pid}" in references(event)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": observation(pid), "request": {"method": "POST", "url": "Observation"}}],
    }
    assert client.post("", json=bundle, headers=JSON).status_code == 200
    event = last(client)
    assert codes(event) == ("transaction", "E", "0")
    assert f"Patient/{pid}" in references(event)
    client.delete(f"Observation/{oid}")
    assert codes(last(client)) == ("delete", "D", "0")
    client.get(f"Patient/{pid}/$validate")
    assert last(client)["subtype"][1]["code"] == "$validate"


def test_failures_are_audited_with_their_outcome(client: Client) -> None:
    client.get("Patient/missing")
    event = last(client)
    assert codes(event) == ("read", "R", "4")
    assert "HTTP 404" in event["outcomeDesc"]
    client.post("Patient", content=b"{not json", headers=JSON)
    assert codes(last(client)) == ("create", "C", "4")


def test_agent_without_a_principal_is_anonymous(client: Client) -> None:
    client.get("metadata")
    agent = last(client)["agent"][0]
    assert agent["requestor"] is True
    assert "open development mode" in agent["who"]["display"]
    assert agent["network"]["address"]


def test_audit_records_are_read_only(client: Client) -> None:
    client.get("metadata")
    event = last(client)
    eid = event["id"]
    for method, url in [
        ("PUT", f"AuditEvent/{eid}"),
        ("DELETE", f"AuditEvent/{eid}"),
        ("PATCH", f"AuditEvent/{eid}"),
        ("POST", "AuditEvent"),
    ]:
        r = client.request(method, url, json={"resourceType": "AuditEvent", "id": eid}, headers=JSON)
        assert r.status_code == 405, (method, r.text)
        assert r.json()["resourceType"] == "OperationOutcome"
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "DELETE", "url": f"AuditEvent/{eid}"}}],
    }
    r = client.post("", json=bundle, headers=JSON)
    assert r.status_code in (200, 400)
    assert "AuditEvent is not allowed" in r.text
    r = client.get(f"AuditEvent/{eid}")
    assert r.status_code == 200 and r.json() == event
    # the refused writes were audited too
    assert any(codes(e) == ("update", "U", "4") for e in events(client, _count="50"))


def test_practitioner_agent_basis_and_review(make_client: Callable[..., Client], store: Store) -> None:
    from helseflyt.app import create_app
    from helseflyt.settings import Settings

    open_client = make_client()
    pid = patient(open_client)
    open_client.post(
        "Practitioner",
        json={
            "resourceType": "Practitioner",
            "identifier": [{"system": HPR, "value": HPR_GP}],
            "name": [{"family": "Lege", "given": ["Kari"]}],
        },
        headers=JSON,
    )
    open_client.post(
        "Organization",
        json={
            "resourceType": "Organization",
            "identifier": [{"system": ORGNR, "value": ORG}],
            "name": "Helsesenteret",
        },
        headers=JSON,
    )
    doctor = Actor(role="practitioner", hpr=HPR_GP, orgnr_parent=ORG, grants=("*",))
    app = create_app(Settings(data_dir="unused"), store=store)
    access = {"basis": "AKUTT", "reason": "bevisstløs pasient", "purpose": "ETREAT"}
    with Client(WithPrincipal(app, doctor, access)) as client:
        declared = {"nhn-access-basis": "AKUTT", "nhn-access-reason": quote("bevisstløs pasient")}
        assert client.get(f"Patient/{pid}", headers=declared).status_code == 200
        review = client.get("AuditEvent/$review", params={"org": ORG}).json()
        log = client.get(f"Patient/{pid}/$access-log").json()
        assert client.get("AuditEvent/$review", params={"org": "974760673"}).status_code == 403
    flagged = [p for p in review["parameter"] if p["name"] == "access"]
    assert flagged, review
    parts = {p["name"]: p for p in flagged[-1]["part"]}
    assert parts["who"]["valueString"] == "Kari Lege"
    assert parts["hpr"]["valueIdentifier"]["value"] == HPR_GP
    assert parts["organization"]["valueString"] == "Helsesenteret"
    assert parts["basis"]["valueCoding"]["code"] == "AKUTT"
    assert parts["reason"]["valueString"] == "bevisstløs pasient"
    assert parts["followUp"]["valueString"] == "emergency access"
    assert not any(p["name"] == "note" for p in log["parameter"])  # authenticated: no open-mode note
    whos = [next(x for x in p["part"] if x["name"] == "who")["valueString"] for p in log["parameter"]]
    assert "Kari Lege" in whos


def test_patient_reads_only_their_own_access_log(make_client: Callable[..., Client], store: Store) -> None:
    from helseflyt.app import create_app
    from helseflyt.settings import Settings

    open_client = make_client()
    mine, theirs = patient(open_client, FNR_A), patient(open_client, FNR_B)
    open_log = open_client.get(f"Patient/{mine}/$access-log").json()
    assert open_log["parameter"][0]["name"] == "note"  # open development mode says so
    citizen = Actor(role="patient", pid=FNR_A, grants=("*",))
    with Client(WithPrincipal(create_app(Settings(data_dir="unused"), store=store), citizen)) as client:
        r = client.get(f"Patient/{mine}/$access-log")
        assert r.status_code == 200
        entries = [p for p in r.json()["parameter"] if p["name"] == "access"]
        assert entries  # the create and the open-mode access log read
        assert client.get(f"Patient/{theirs}/$access-log").status_code == 403
        assert client.get("AuditEvent", params={"patient": theirs}).status_code == 403
        assert client.get("AuditEvent/$review").status_code == 403


def test_shutdown_flushes_every_event(make_client: Callable[..., Client], store: Store) -> None:
    from helseflyt.app import create_app
    from helseflyt.settings import Settings

    audit = SQLAuditStore(store)
    before = audit.count()
    with Client(create_app(Settings(data_dir="unused"), store=store)) as client:
        for _ in range(300):
            client.get("metadata")
    assert audit.count() == before + 300  # written by close() at shutdown, none lost
    assert verify(audit).intact


def test_verify_detects_tampering(store: Store, store_url: str) -> None:
    from helseflyt.app import create_app
    from helseflyt.settings import Settings

    app = create_app(Settings(data_dir="unused"), store=store)
    client = Client(app)
    pid = patient(client)
    for _ in range(5):
        client.get(f"Patient/{pid}")
    client.close()  # the shutdown flush writes everything
    audit = SQLAuditStore(store)
    n = audit.count()
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify", "--database", store_url])
    assert ok.exit_code == 0, ok.output
    assert f"intact ({n} records" in ok.output

    records = audit.records()
    third = records[2]
    postgres = store_url.startswith("postgres")
    with store.transaction() as tx:
        conn: Any = tx.conn  # type: ignore[attr-defined]
        with pytest.raises(Exception, match="append-only"):  # the database refuses it
            conn.query("UPDATE audit_event SET hash = ? WHERE seq = ?", ("00", third.seq))
    _disable_triggers(store, postgres)

    def broken() -> str:
        result = runner.invoke(cli, ["audit", "verify", "--database", store_url])
        assert result.exit_code == 1, result.output
        return result.output

    # 1. an edited body
    tampered = third.body.replace(b'"action":"', b'"action":"X')
    _run(store, "UPDATE audit_event SET body = ? WHERE seq = ?", (tampered, third.seq))
    out = broken()
    assert f"seq {third.seq} (id {third.id})" in out and "hash mismatch" in out
    _run(store, "UPDATE audit_event SET body = ? WHERE seq = ?", (third.body, third.seq))
    assert verify(audit).intact
    # 2. an edited hash
    _run(store, "UPDATE audit_event SET hash = ? WHERE seq = ?", ("0" * 64, third.seq))
    assert f"seq {third.seq}" in broken()
    _run(store, "UPDATE audit_event SET hash = ? WHERE seq = ?", (third.hash, third.seq))
    # 3. two records swapped (reordered)
    fourth = records[3]
    _run(
        store,
        "UPDATE audit_event SET id = ?, body = ?, hash = ? WHERE seq = ?",
        ("tmp", fourth.body, fourth.hash, third.seq),
    )
    _run(
        store,
        "UPDATE audit_event SET id = ?, body = ?, hash = ? WHERE seq = ?",
        (third.id, third.body, third.hash, fourth.seq),
    )
    _run(store, "UPDATE audit_event SET id = ? WHERE seq = ?", (fourth.id, third.seq))
    out = broken()
    assert f"seq {third.seq} (id {fourth.id})" in out
    # 4. a deleted row (after restoring the order)
    _run(
        store,
        "UPDATE audit_event SET id = ?, body = ?, hash = ? WHERE seq = ?",
        ("tmp", third.body, third.hash, third.seq),
    )
    _run(
        store,
        "UPDATE audit_event SET id = ?, body = ?, hash = ? WHERE seq = ?",
        (fourth.id, fourth.body, fourth.hash, fourth.seq),
    )
    _run(store, "UPDATE audit_event SET id = ? WHERE seq = ?", (third.id, third.seq))
    assert verify(audit).intact
    _run(store, "DELETE FROM audit_event WHERE seq = ?", (third.seq,))
    out = broken()
    assert f"seq {fourth.seq} (id {fourth.id})" in out and "missing" in out


def _run(store: Store, sql: str, args: tuple[Any, ...]) -> None:
    with store.transaction() as tx:
        tx.conn.executemany(sql, [args])  # type: ignore[attr-defined]


def _disable_triggers(store: Store, postgres: bool) -> None:
    """What an attacker with direct database access would do first."""
    with store.transaction() as tx:
        conn: Any = tx.conn  # type: ignore[attr-defined]
        if postgres:
            conn.executemany("ALTER TABLE audit_event DISABLE TRIGGER USER", [()])
        else:
            conn.executemany("DROP TRIGGER audit_event_no_update", [()])
            conn.executemany("DROP TRIGGER audit_event_no_delete", [()])
