"""Load the Synthea sample into each backend and check exact totals (as Blaze's CI does)."""

from __future__ import annotations

import tarfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from helseflyt.fhir import json as fjson
from helseflyt.storage import HistoryQuery, Store

TOTAL = 27075  # resources with an id in synthea-r4-sample.tar.gz (104 transaction Bundles)


def synthea(path: Path) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    with tarfile.open(path) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".json"):
                data = tar.extractfile(member)
                assert data is not None
                for entry in fjson.loads(data.read()).get("entry", ()):
                    res = entry["resource"]
                    out.append((res["resourceType"], res["id"], res))
    return out


def without_meta(resource: dict[str, Any]) -> bytes:
    """The JSON text without ``meta`` (text, because one parse may give a Decimal where
    another gives a float for the same number)."""
    return fjson.dumps({k: v for k, v in resource.items() if k != "meta"})


@pytest.mark.slow
def test_synthea_sample_loads_with_exact_totals(store: Store, synthea_tgz: Path) -> None:
    items = synthea(synthea_tgz)
    assert len(items) == TOTAL
    per_type = Counter(t for t, _, _ in items)
    for at in range(0, len(items), 2000):
        with store.transaction() as tx:
            tx.put_many(items[at : at + 2000])
    with store.reader() as r:
        assert r.history_count(HistoryQuery()) == TOTAL
        for res_type, n in per_type.items():
            assert r.history_count(HistoryQuery(type=res_type)) == n, res_type
            assert len(r.find(res_type)) == len({i for t, i, _ in items if t == res_type}), res_type
        for res_type, res_id, resource in items[::97]:
            found = r.read(res_type, res_id)
            assert found is not None and found.body is not None
            assert without_meta(fjson.loads(found.body)) == without_meta(resource)
