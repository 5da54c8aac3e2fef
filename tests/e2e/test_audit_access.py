"""Who reads which audit records, and paging through AuditEvent search (every backend)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from helseflyt.http.testing import Client
from helseflyt.storage import Store

from .test_audit import FNR_A, FNR_B, Actor, WithPrincipal, patient

ORG_A, ORG_B = "983658725", "974760673"


def as_actor(store: Store, actor: Actor) -> Client:
    from helseflyt.app import create_app
    from helseflyt.settings import Settings

    return Client(WithPrincipal(create_app(Settings(data_dir="unused"), store=store), actor))


def ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "AuditEvent"]


def test_search_pages_with_next_links(make_client: Callable[..., Client]) -> None:
    client = make_client()
    pid = patient(client)
    for _ in range(6):
        assert client.get(f"Patient/{pid}").status_code == 200
    first = client.get("AuditEvent", params={"patient": pid, "_count": "3"}).json()
    assert first["total"] == 7  # the create and six reads
    seen = ids(first)
    assert len(seen) == 3
    url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    while url:
        assert "_cursor=" in url and f"patient={pid}" in url
        more = client.get(url.split("/fhir/", 1)[1]).json()
        assert more["total"] > 7  # the searches are audited too (newer: not on the later pages)
        seen += ids(more)
        url = next((link["url"] for link in more["link"] if link["relation"] == "next"), "")
    assert len(seen) == len(set(seen)) == 7  # every record once, none skipped, no newer one
    bad = client.get("AuditEvent", params={"_cursor": "yesterday"})
    assert bad.status_code == 400 and "_cursor" in bad.text


def test_practitioners_read_their_own_organisation_only(
    make_client: Callable[..., Client], store: Store
) -> None:
    pid = patient(make_client())
    grants = ("*",)
    with as_actor(store, Actor("practitioner", hpr="565501879", orgnr_parent=ORG_A, grants=grants)) as a:
        assert a.get(f"Patient/{pid}", headers={"nhn-access-basis": "SAMTYKKE"}).status_code == 200
    with as_actor(store, Actor("practitioner", hpr="100002", orgnr_parent=ORG_B, grants=grants)) as b:
        assert b.get(f"Patient/{pid}", headers={"nhn-access-basis": "SAMTYKKE"}).status_code == 200
        mine = b.get("AuditEvent", params={"patient": pid}).json()
        theirs_too = make_client().get("AuditEvent", params={"patient": pid}).json()  # open mode: all
        assert 0 < mine["total"] < theirs_too["total"]
        other_org = [i for i in ids(theirs_too) if i not in ids(mine)]
        assert other_org
        for record in mine["entry"]:
            orgs = [
                a["who"]["identifier"]["value"] for a in record["resource"]["agent"] if not a["requestor"]
            ]
            assert orgs[0] == ORG_B
        assert b.get(f"AuditEvent/{other_org[0]}").status_code == 404  # not revealed
        assert b.get(f"AuditEvent/{ids(mine)[0]}").status_code == 200
    no_scope = Actor("practitioner", hpr="100002", orgnr_parent=ORG_B, grants=("Patient",))
    with as_actor(store, no_scope) as c:
        for path in (
            "AuditEvent",
            f"AuditEvent/{ids(mine)[0]}",
            "AuditEvent/$review",
            f"Patient/{pid}/$access-log",
        ):
            r = c.get(path, headers={"nhn-access-basis": "SAMTYKKE"})
            assert r.status_code == 403 and "AuditEvent" in r.text, (path, r.text)


def test_patients_see_records_about_themselves_only(make_client: Callable[..., Client], store: Store) -> None:
    open_client = make_client()
    mine, theirs = patient(open_client, FNR_A), patient(open_client, FNR_B)
    both = open_client.get("Patient", params={"_id": f"{mine},{theirs}"})  # one record names both
    assert both.status_code == 200
    everything = open_client.get("AuditEvent", params={"patient": mine}).json()
    shared = [
        e["resource"]["id"]
        for e in everything["entry"]
        if {"Patient/" + mine, "Patient/" + theirs}
        <= {x.get("what", {}).get("reference") for x in e["resource"].get("entity", ())}
    ]
    assert shared
    citizen = Actor("patient", pid=FNR_A, grants=("*",))
    with as_actor(store, citizen) as client:
        found = client.get("AuditEvent").json()
        assert found["total"] == len(ids(found)) > 0
        assert not set(shared) & set(ids(found))  # a record that names another patient is not shown
        for record in found["entry"]:
            refs = {x.get("what", {}).get("reference") for x in record["resource"].get("entity", ())}
            assert f"Patient/{theirs}" not in refs
        assert client.get(f"AuditEvent/{shared[0]}").status_code == 404
        assert client.get("AuditEvent", params={"patient": theirs}).status_code == 403
        log = client.get(f"Patient/{mine}/$access-log")  # the citizen's own log needs no AuditEvent scope
        assert log.status_code == 200
    with as_actor(store, Actor("patient", pid=FNR_A, grants=("Patient",))) as client:
        assert client.get(f"Patient/{mine}/$access-log").status_code == 200
        assert client.get("AuditEvent").status_code == 403


def test_capability_statement_says_what_the_audit_routes_do(make_client: Callable[..., Client]) -> None:
    rest = make_client().get("metadata").json()["rest"][0]
    by_type = {r["type"]: r for r in rest["resource"]}
    audit = by_type["AuditEvent"]
    assert [i["code"] for i in audit["interaction"]] == ["read", "search-type"]
    assert {p["name"] for p in audit["searchParam"]} == {"patient", "date"}
    assert [o["name"] for o in audit["operation"]] == ["review"]
    assert "access-log" in [o["name"] for o in by_type["Patient"]["operation"]]
