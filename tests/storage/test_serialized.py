"""``put_many`` of :class:`Serialized` resources (bulk load) equals ``put_many`` of dicts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from helseflyt.search.identifier_index import index_identifiers
from helseflyt.storage import Store, TokenCriterion
from helseflyt.storage.base import Serialized
from helseflyt.storage.common import serialize, splice, stamp

RESOURCES: list[dict[str, Any]] = [
    {"resourceType": "Patient"},
    {"resourceType": "Patient", "id": "old", "active": True},
    {"active": False, "resourceType": "Patient", "meta": {"profile": ["http://x/p"]}, "id": "x"},
    {"resourceType": "Patient", "meta": {"source": "s", "tag": [{"code": "t"}]}, "gender": "other"},
    {"resourceType": "Observation", "status": "final", "valueQuantity": {"value": Decimal("1.50")}},
    {"resourceType": "Patient", "identifier": [{"system": "urn:s", "value": 'ø "1"'}], "meta": {}},
]


def test_splice_equals_stamp() -> None:
    for resource in RESOURCES:
        item = serialize(resource["resourceType"], "new-id", resource, index_identifiers)
        assert item is not None
        for version in (1, 12):
            expected = stamp("new-id", resource, version, 0, when="2024-01-02T03:04:05.678Z")
            assert splice(item, version, b"2024-01-02T03:04:05.678Z") == expected


def test_meta_with_version_is_not_serialized() -> None:
    assert serialize("Patient", "p", {"resourceType": "Patient", "meta": {"versionId": "3"}}, None) is None
    assert serialize("Patient", "p", {"resourceType": "Patient", "meta": {"lastUpdated": "x"}}, None) is None


def test_put_many_serialized_stores_what_dicts_store(make_store: Any) -> None:
    store: Store = make_store()
    items = [
        ("Patient", f"p{n}", {"resourceType": "Patient", "identifier": [{"value": f"v{n}"}]})
        for n in range(40)
    ]
    with store.transaction() as tx:
        tx.put("Patient", "p1", {"resourceType": "Patient", "identifier": [{"value": "gone"}]})
    with store.transaction() as tx:
        plain = tx.put_many(items[:20])
        prepared: list[tuple[str, str, dict[str, Any] | Serialized]] = []
        for t, i, r in items[20:]:
            s = serialize(t, i, r, index_identifiers)
            assert s is not None
            prepared.append((t, i, s))
        prepared.append(("Patient", "p1", serialize("Patient", "p1", items[1][2], index_identifiers)))  # type: ignore[arg-type]
        fast = tx.put_many(prepared)
    assert [v.version for v in fast] == [1] * 20 + [3]
    assert fast[-1].body == plain[1].body.replace(b'"versionId":"2"', b'"versionId":"3"')  # type: ignore[union-attr]
    with store.reader() as r:
        for v in plain + fast:
            assert r.vread(v.type, v.id, v.version) == v
        assert r.find("Patient", tokens=[[TokenCriterion("identifier", None, "v33")]]) == ["p33"]
        assert r.find("Patient", tokens=[[TokenCriterion("identifier", None, "v1")]]) == ["p1"]
        assert r.find("Patient", tokens=[[TokenCriterion("identifier", None, "gone")]]) == []
