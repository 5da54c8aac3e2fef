"""Searches over the Synthea sample with known answers, on every backend.

The answers were counted by brute force over the sample's JSON (independent of the
index); the loader gives resources new ids, so queries start from identifiers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helseflyt.app import create_app
from helseflyt.http.testing import Client
from helseflyt.ingest import load
from helseflyt.search.index import index
from helseflyt.settings import Settings
from helseflyt.storage import open_store
from helseflyt.storage.testing import drop_schema, with_schema

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
SYNTHEA = "https://github.com/synthetichealth/synthea"
BUSY_PATIENT = "1db9cdb2-8a05-4f9c-b382-cc20b3d3cce3"  # 430 observations, 52 encounters


@pytest.fixture(scope="module", params=BACKENDS)
def synthea(
    request: pytest.FixtureRequest, synthea_tgz: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Client]:
    tmp = tmp_path_factory.mktemp("synthea-search")
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'synthea.db'}"
    else:
        base = request.getfixturevalue("postgres_url")
        schema = f"hf_syn_{uuid.uuid4().hex[:16]}"
        url = with_schema(base, schema)
    store = open_store(url, indexer=index)
    try:
        report = load(store, [synthea_tgz], progress=False)
        assert report.resources == 27_075 and not report.errors
        with Client(create_app(Settings.load(data_dir=tmp / "unused"), store=store)) as client:
            yield client
    finally:
        store.close()
        if schema is not None:
            drop_schema(request.getfixturevalue("postgres_url"), schema)


def bundle(client: Client, url: str) -> dict[str, Any]:
    r = client.get(url)
    assert r.status_code == 200, r.text
    return dict(r.json())


def total(client: Client, url: str) -> int:
    sep = "&" if "?" in url else "?"
    return int(bundle(client, f"{url}{sep}_summary=count")["total"])


def patient_id(client: Client, synthea_id: str) -> str:
    b = bundle(client, f"Patient?identifier={SYNTHEA}|{synthea_id}")
    assert b["total"] == 1
    return str(b["entry"][0]["resource"]["id"])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("Patient", 102),
        ("Patient?gender=female", 50),
        ("Patient?birthdate=lt1950", 21),
        ("Observation", 12_066),
        ("Observation?code=http://loinc.org|8302-2", 839),
        ("Condition?clinical-status=active", 292),
        ("Encounter?date=ge2015-01-01&date=lt2016-01-01", 147),
        ("?_type=Patient,Practitioner,Organization", 402),
        # composites: 839 blood pressure panels with a systolic and a diastolic component
        ("Observation?component-code-value-quantity=http://loinc.org|8480-6$gt140", 166),
        ("Observation?combo-code-value-quantity=http://loinc.org|8480-6$gt140", 166),
        ("Observation?component-code-value-quantity=http://loinc.org|8462-4$lt80", 354),
        # no systolic below 80; a systolic code with a diastolic value would give 354
        ("Observation?component-code-value-quantity=http://loinc.org|8480-6$lt80", 0),
        ("Observation?code-value-quantity=http://loinc.org|8302-2$gt180", 110),
    ],
)
def test_counts(synthea: Client, url: str, expected: int) -> None:
    assert total(synthea, url) == expected


def test_a_patients_records(synthea: Client) -> None:
    pid = patient_id(synthea, BUSY_PATIENT)
    assert total(synthea, f"Observation?subject=Patient/{pid}") == 430
    assert total(synthea, f"Encounter?patient={pid}") == 52


def test_latest_first(synthea: Client) -> None:
    b = bundle(synthea, "Observation?code=http://loinc.org|8302-2&_sort=-date&_count=3")
    dates = [e["resource"]["effectiveDateTime"] for e in b["entry"]]
    assert dates == ["2021-03-29T03:39:04+00:00", "2021-03-22T00:48:33+00:00", "2021-03-14T16:39:50+00:00"]


def test_sorted_walk_returns_every_match_once(synthea: Client) -> None:
    url: str | None = "Observation?code=http://loinc.org|8302-2&_sort=-date&_count=200"
    seen: list[str] = []
    dates: list[str] = []
    while url:
        b = bundle(synthea, url)
        seen += [e["resource"]["id"] for e in b["entry"]]
        dates += [e["resource"]["effectiveDateTime"] for e in b["entry"]]
        url = next((link["url"] for link in b["link"] if link["relation"] == "next"), None)
    assert len(seen) == len(set(seen)) == 839
    assert dates == sorted(dates, reverse=True)
