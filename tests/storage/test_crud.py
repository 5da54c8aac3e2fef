"""put / read / vread / delete / put_many, identical on every backend."""

from __future__ import annotations

from helseflyt.fhir import json as fjson
from helseflyt.storage import Store, TokenCriterion
from helseflyt.storage.testing import FixedClock


def patient(**fields: object) -> dict[str, object]:
    return {"resourceType": "Patient", **fields}


def test_put_then_read_and_vread(store: Store) -> None:
    with store.transaction() as tx:
        first = tx.put("Patient", "p1", patient(gender="male"))
        second = tx.put("Patient", "p1", patient(gender="female"))
    assert (first.version, second.version) == (1, 2)
    assert second.seq > first.seq
    assert second.etag == 'W/"2"'
    with store.reader() as r:
        now = r.read("Patient", "p1")
        old = r.vread("Patient", "p1", 1)
        assert r.vread("Patient", "p1", 3) is None
        assert r.read("Patient", "missing") is None
        assert r.read("Observation", "p1") is None
    assert now == second
    assert old == first
    assert fjson.loads(now.body)["gender"] == "female"
    assert fjson.loads(old.body)["gender"] == "male"


def test_read_inside_transaction_sees_own_writes(store: Store) -> None:
    with store.transaction() as tx:
        tx.put("Patient", "p1", patient())
        found = tx.current("Patient", "p1")
        assert found is not None and found.version == 1
        assert tx.read("Patient", "p1") == found


def test_versions_increment_per_resource(store: Store) -> None:
    for n in range(1, 6):
        with store.transaction() as tx:
            assert tx.put("Patient", "a", patient()).version == n
    with store.transaction() as tx:
        assert tx.put("Patient", "b", patient()).version == 1


def test_delete_writes_a_marker(store: Store, clock: FixedClock) -> None:
    with store.transaction() as tx:
        tx.put("Patient", "p1", patient(identifier=[{"system": "s", "value": "1"}]))
    clock.advance(1)
    with store.transaction() as tx:
        marker = tx.delete("Patient", "p1")
    assert marker is not None
    assert (marker.version, marker.deleted, marker.body) == (2, True, None)
    assert marker.last_updated == clock.now.replace(microsecond=clock.now.microsecond // 1000 * 1000)
    with store.reader() as r:
        assert r.read("Patient", "p1") == marker
        assert r.vread("Patient", "p1", 2) == marker
        old = r.vread("Patient", "p1", 1)
        assert old is not None and not old.deleted and old.body is not None
        assert r.find("Patient") == []
        assert r.find("Patient", tokens=[[TokenCriterion("identifier", "s", "1")]]) == []


def test_delete_of_absent_or_deleted_returns_none(store: Store) -> None:
    with store.transaction() as tx:
        assert tx.delete("Patient", "never") is None
        tx.put("Patient", "p1", patient())
        assert tx.delete("Patient", "p1") is not None
        assert tx.delete("Patient", "p1") is None
    with store.reader() as r:
        found = r.read("Patient", "p1")
        assert found is not None and found.version == 2  # no second marker


def test_put_after_delete_revives_with_next_version(store: Store) -> None:
    with store.transaction() as tx:
        tx.put("Patient", "p1", patient())
        tx.delete("Patient", "p1")
        revived = tx.put("Patient", "p1", patient(active=True))
    assert (revived.version, revived.deleted) == (3, False)
    with store.reader() as r:
        assert r.find("Patient") == ["p1"]


def test_put_many_numbers_repeated_ids_consecutively(store: Store) -> None:
    with store.transaction() as tx:
        tx.put("Patient", "x", patient(identifier=[{"value": "old"}]))
    with store.transaction() as tx:
        out = tx.put_many(
            [
                ("Patient", "x", patient(identifier=[{"value": "a"}])),
                ("Patient", "y", patient()),
                ("Patient", "x", patient(identifier=[{"value": "b"}])),
                ("Observation", "x", {"resourceType": "Observation", "status": "final"}),
            ]
        )
    assert [(v.type, v.id, v.version) for v in out] == [
        ("Patient", "x", 2),
        ("Patient", "y", 1),
        ("Patient", "x", 3),
        ("Observation", "x", 1),
    ]
    assert [v.seq for v in out] == sorted(v.seq for v in out)
    assert len({v.seq for v in out}) == 4
    with store.reader() as r:
        assert r.read("Patient", "x") == out[2]
        assert r.vread("Patient", "x", 2) == out[0]
        assert r.read("Observation", "x") == out[3]
        ident = TokenCriterion("identifier", None, None)
        assert r.find("Patient", tokens=[[TokenCriterion("identifier", None, "b")]]) == ["x"]
        assert r.find("Patient", tokens=[[TokenCriterion("identifier", None, "a")]]) == []
        assert r.find("Patient", tokens=[[TokenCriterion("identifier", None, "old")]]) == []
        assert r.find("Patient", tokens=[[ident]]) == ["x"]


def test_put_many_bulk(store: Store) -> None:
    items = [
        ("Patient", f"p{n:05}", patient(identifier=[{"system": "urn:bulk", "value": str(n)}]))
        for n in range(2500)
    ]
    with store.transaction() as tx:
        assert tx.put_many([]) == []
        out = tx.put_many(items)
    assert len(out) == 2500 and {v.version for v in out} == {1}
    with store.transaction() as tx:
        again = tx.put_many(items[:1000])
    assert {v.version for v in again} == {2}
    with store.reader() as r:
        assert len(r.find("Patient")) == 2500
        hit = r.find("Patient", tokens=[[TokenCriterion("identifier", "urn:bulk", "1234")]])
        assert hit == ["p01234"]
        assert len(r.find("Patient", tokens=[[TokenCriterion("identifier", "urn:bulk", None)]])) == 2500
        found = r.read("Patient", "p00999")
        assert found == again[999]


def test_put_many_of_same_new_id_many_times(store: Store) -> None:
    with store.transaction() as tx:
        out = tx.put_many([("Patient", "z", patient(active=n % 2 == 0)) for n in range(40)])
    assert [v.version for v in out] == list(range(1, 41))
    with store.reader() as r:
        found = r.read("Patient", "z")
        assert found is not None and found.version == 40
        assert fjson.loads(found.body)["active"] is False
