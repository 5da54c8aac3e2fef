"""find: ids, token groups (AND of groups, OR within), system/value wildcards."""

from __future__ import annotations

import pytest

from helseflyt.storage import Store, TokenCriterion

A, B = "urn:a", "urn:b"


def with_ids(*idents: tuple[str | None, str]) -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "identifier": [{"value": v} if s is None else {"system": s, "value": v} for s, v in idents],
    }


@pytest.fixture
def filled(store: Store) -> Store:
    with store.transaction() as tx:
        tx.put("Patient", "p1", with_ids((A, "1")))
        tx.put("Patient", "p2", with_ids((B, "1")))
        tx.put("Patient", "p3", with_ids((None, "1")))
        tx.put("Patient", "p4", with_ids((A, "2")))
        tx.put("Patient", "p5", {"resourceType": "Patient"})
        tx.put("Patient", "p6", with_ids((A, "1"), (B, "9")))
        tx.put("Group", "g1", {"resourceType": "Group", "identifier": [{"system": A, "value": "1"}]})
    return store


def find(store: Store, *groups: list[TokenCriterion], **kw: object) -> list[str]:
    with store.reader() as r:
        return r.find("Patient", tokens=list(groups), **kw)  # type: ignore[arg-type]


def ident(system: str | None, value: str | None) -> TokenCriterion:
    return TokenCriterion("identifier", system, value)


def test_all_of_a_type(filled: Store) -> None:
    assert find(filled) == ["p1", "p2", "p3", "p4", "p5", "p6"]
    with filled.reader() as r:
        assert r.find("Group") == ["g1"]
        assert r.find("Encounter") == []


def test_system_semantics(filled: Store) -> None:
    assert find(filled, [ident(None, "1")]) == ["p1", "p2", "p3", "p6"]  # any system
    assert find(filled, [ident("", "1")]) == ["p3"]  # no system
    assert find(filled, [ident(A, "1")]) == ["p1", "p6"]
    assert find(filled, [ident(A, None)]) == ["p1", "p4", "p6"]  # any value in A
    assert find(filled, [ident(None, None)]) == ["p1", "p2", "p3", "p4", "p6"]
    assert find(filled, [ident(A, "9")]) == []
    assert find(filled, [TokenCriterion("other", None, "1")]) == []


def test_or_within_and_across_groups(filled: Store) -> None:
    assert find(filled, [ident(A, "2"), ident(B, "1")]) == ["p2", "p4"]
    assert find(filled, [ident(A, "1")], [ident(B, "9")]) == ["p6"]
    assert find(filled, [ident(A, "1")], [ident(B, "1")]) == []
    assert find(filled, [ident(A, "1"), ident(B, "1")], [ident(None, "9"), ident("", "1")]) == ["p6"]


def test_ids_and_limit(filled: Store) -> None:
    assert find(filled, ids=["p2", "p1", "nope"]) == ["p1", "p2"]
    assert find(filled, ids=[]) == []
    assert find(filled, [ident(None, "1")], ids=["p1", "p2", "p5"]) == ["p1", "p2"]
    assert find(filled, limit=2) == ["p1", "p2"]
    with filled.reader() as r:
        assert r.find("Group", ids=["p1"]) == []


def test_index_rows_replaced_on_update(filled: Store) -> None:
    with filled.transaction() as tx:
        tx.put("Patient", "p1", with_ids((A, "7")))
    assert find(filled, [ident(A, "1")]) == ["p6"]
    assert find(filled, [ident(A, "7")]) == ["p1"]


def test_index_rows_removed_on_delete(filled: Store) -> None:
    with filled.transaction() as tx:
        tx.delete("Patient", "p6")
    assert find(filled, [ident(B, "9")]) == []
    # Revive without identifiers: no row of the deleted version may come back.
    with filled.transaction() as tx:
        tx.put("Patient", "p6", {"resourceType": "Patient"})
    assert find(filled, [ident(B, "9")]) == []
    assert find(filled, [ident(A, "1")]) == ["p1"]
    assert "p6" in find(filled)


def test_ids_beyond_any_parameter_limit(store: Store) -> None:
    with store.transaction() as tx:
        tx.put_many([("Patient", f"p{n}", {"resourceType": "Patient"}) for n in range(0, 70_000, 7)])
    wanted = [f"p{n}" for n in range(70_000)]  # more than SQLite's and PostgreSQL's limits
    with store.reader() as r:
        assert len(r.find("Patient", ids=wanted)) == 10_000
