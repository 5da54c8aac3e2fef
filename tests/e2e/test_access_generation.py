"""The per-request access sets kept per access generation (storage/access/sets.py): the
generation moves with every write of access data and only then, kept sets are reused,
and a change by this process, by another one, or by time alone holds from the very next
request, on every backend."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from helseflyt.access import policy
from helseflyt.access.principal import Principal
from helseflyt.access.testing import TestIssuer
from helseflyt.http.testing import Client
from helseflyt.search.index import index
from helseflyt.storage import Store, open_store
from helseflyt.storage.access import sets
from helseflyt.storage.access.sets import GENERATION, SETS

from . import test_access_matrix as matrix
from .test_access_controls import control
from .test_access_matrix import HPR_OTHER_GP, JSON, OTHER_OFFICE
from .test_access_rules import doctor, patient

store, api, issuer = matrix.store, matrix.api, matrix.issuer
OBS = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}


def generation(store: Store) -> tuple[Any, ...]:
    with store.reader() as r:
        return tuple(r.conn.query(GENERATION)[0])  # type: ignore[attr-defined]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The roles whose sets were read from the database (not kept)."""
    calls: list[str] = []
    real = policy.read_sets

    def read_sets(conn: Any, f: Any, **kw: Any) -> Any:
        calls.append(f.role)
        return real(conn, f, **kw)

    monkeypatch.setattr(policy, "read_sets", read_sets)
    yield calls


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What each deferred check of kept sets found (True: they held)."""
    seen: list[bool] = []
    real = sets.Pending.holds

    def holds(self: sets.Pending) -> bool:
        seen.append(real(self))
        return seen[-1]

    monkeypatch.setattr(sets.Pending, "holds", holds)
    return seen


def test_generation_moves_with_access_data_only(store: Store) -> None:
    g0 = generation(store)
    with store.transaction() as tx:
        tx.put("Observation", "g-obs", {**OBS, "subject": {"reference": "Patient/po"}})
    assert generation(store) == g0
    for res_type in ("Patient", "Practitioner", "PractitionerRole", "Organization", "Consent"):
        before = generation(store)
        with store.transaction() as tx:
            tx.put(res_type, "g-1", {"resourceType": res_type})
        assert generation(store) == (before[0], before[1] + 1), res_type
    before = generation(store)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put("Patient", "g-2", {"resourceType": "Patient"})
        raise RuntimeError("rolled back")
    assert generation(store) == before
    with store.transaction() as tx:
        tx.delete("Consent", "g-1")
    assert generation(store) == (before[0], before[1] + 1)
    before = generation(store)
    contained = {**OBS, "contained": [{"resourceType": "Patient", "id": "c"}], "subject": {"reference": "#c"}}
    with store.transaction() as tx:  # a contained Patient is indexed as one
        tx.put("Observation", "g-obs", contained)
    assert generation(store) == (before[0], before[1] + 1)


def test_kept_sets_are_reused_until_a_control_changes(
    api: Client, issuer: TestIssuer, counted: list[str], checks: list[bool]
) -> None:
    SETS.clear()
    gp = doctor(issuer, HPR_OTHER_GP, OTHER_OFFICE)
    assert api.get("Observation/obs-o", headers=gp).status_code == 200
    assert counted == ["practitioner"]
    assert api.get("Observation/obs-o", headers=gp).status_code == 200
    found = api.get("Observation", params={"patient": "Patient/po"}, headers=gp).json()
    assert "obs-o" in {e["resource"]["id"] for e in found.get("entry", ())}
    assert counted == ["practitioner"]  # kept: read once
    assert checks == [True]  # the search used them before its snapshot's generation was read
    writer = patient(issuer, "po", "openid patient/*.cruds")
    made = api.post("Consent", json=control("reservation", "po", None, None), headers={**writer, **JSON})
    assert made.status_code == 201, made.text
    assert api.get("Observation/obs-o", headers=gp).status_code == 404  # from the very next request
    assert counted == ["practitioner", "practitioner"]
    found = api.get("Observation", params={"patient": "Patient/po"}, headers=gp).json()
    assert "obs-o" not in {e["resource"]["id"] for e in found.get("entry", ())}


def test_a_control_written_by_another_process_holds_at_once(
    api: Client, issuer: TestIssuer, store_url: str, checks: list[bool]
) -> None:
    SETS.clear()
    gp = doctor(issuer, HPR_OTHER_GP, OTHER_OFFICE)
    system = {"authorization": f"Bearer {issuer.token(issuer.claims('system', scope='system/*.rs'))}"}
    for headers in (gp, system):
        found = api.get("Observation", params={"patient": "Patient/po"}, headers=headers).json()
        assert "obs-o" in {e["resource"]["id"] for e in found.get("entry", ())}
    other = open_store(store_url, indexer=index)  # another process: none of this one's memory
    try:
        with other.transaction() as tx:
            tx.put("Consent", "elsewhere", control("reservation", "po", None, None))
    finally:
        other.close()
    del checks[:]
    for headers in (gp, system):  # kept sets went out with the search, failed the check: again
        found = api.get("Observation", params={"patient": "Patient/po"}, headers=headers).json()
        assert "obs-o" not in {e["resource"]["id"] for e in found.get("entry", ())}
        assert api.get("Observation/obs-o", headers=headers).status_code == 404
    assert checks == [False, False]


def test_kept_sets_end_at_a_control_period_edge(store: Store, counted: list[str]) -> None:
    """A reservation starting in half a minute: sets read now are kept until then, not after."""
    SETS.clear()
    now = float(int(time.time()))
    consent = control("reservation", "po", None, None)
    consent["provision"]["period"] = {"start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 30))}
    with store.transaction() as tx:
        tx.put("Consent", "later", consent)
    principal = Principal(role="system")

    def reserved(at: float) -> tuple[str, ...]:
        rule = policy.RequestPolicy(principal, store, {}, clock=lambda: at)
        with store.reader() as r:
            rule._with_care(r.conn)
        return rule.base.reserved_ids or ()

    assert "po" not in reserved(now)
    assert "po" not in reserved(now + 29.9)
    assert counted == ["system"]  # kept: the edge is later
    assert "po" in reserved(now + 30)  # in force from its first instant
    assert counted == ["system", "system"]


def test_a_transaction_sees_its_own_controls(store: Store, counted: list[str]) -> None:
    """Within a transaction that wrote access data the sets are read live, never kept."""
    SETS.clear()
    rule = policy.RequestPolicy(Principal(role="system"), store, {})
    with policy.GuardedStore(store, rule).transaction() as tx:
        assert tx.read("Observation", "obs-o") is not None
        tx.put("Consent", "inside", control("reservation", "po", None, None))
        assert tx.read("Observation", "obs-o") is None  # the reservation written just now
    assert counted == ["system", "system"]
    (kept,) = SETS._entries.values()  # only the sets read before the write
    assert "po" not in (kept.value[0].get("reserved_ids") or ())


def test_the_generation_probe_travels_with_the_first_query(store: Store) -> None:
    """On PostgreSQL the probe goes in the pipeline of BEGIN and the first query (its rows
    are there once that query returns); on SQLite it is read at once."""
    with store.reader() as r:
        conn = r.conn  # type: ignore[attr-defined]
        probe = conn.probe(GENERATION)
        pending = getattr(probe, "rows", "read at once")
        assert conn.query("SELECT 1")[0][0] == 1
        if store.url.startswith("postgresql"):
            assert pending is None and probe.rows is not None  # type: ignore[attr-defined]
        assert probe() == [tuple(generation_row) for generation_row in conn.query(GENERATION)]
