"""Bulk load on every backend: Synthea totals, NDJSON, folders, invalid input."""

from __future__ import annotations

import io
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from helseflyt.ingest import load
from helseflyt.ingest.verify import current_totals, unresolved_references
from helseflyt.search.identifier_index import index_identifiers
from helseflyt.storage import HistoryQuery, Store, open_store
from helseflyt.storage.testing import drop_schema, with_schema

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


SYNTHEA_TOTALS = {
    "Observation": 12066, "Claim": 3104, "Procedure": 2634, "Encounter": 2554,
    "ExplanationOfBenefit": 2554, "Immunization": 1234, "DiagnosticReport": 804, "Condition": 656,
    "MedicationRequest": 550, "CarePlan": 261, "Goal": 182, "Organization": 150, "Practitioner": 150,
    "Patient": 102, "AllergyIntolerance": 38, "ImagingStudy": 36,
}  # fmt: skip


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = open_store(f"sqlite:///{tmp_path / 'load.db'}", indexer=index_identifiers)
        yield opened
        opened.close()
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"hf_load_{uuid.uuid4().hex[:16]}"
    opened = open_store(with_schema(base, schema), indexer=index_identifiers)
    yield opened
    opened.close()
    drop_schema(base, schema)


def total(store: Store, res_type: str | None = None) -> int:
    with store.reader() as r:
        return r.history_count(HistoryQuery(type=res_type))


@pytest.mark.slow
def test_synthea_loads_completely(store: Store, synthea_tgz: Path) -> None:
    report = load(store, [synthea_tgz], progress=False)
    assert report.errors == []
    assert report.resources == 27_075
    assert report.skipped and report.skipped[0].endswith("LICENSE")
    assert current_totals(store) == SYNTHEA_TOTALS
    assert unresolved_references(store) == []


def test_ndjson_collection_folder_and_errors(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "in" / "sub"
    folder.mkdir(parents=True)
    lines = [
        orjson.dumps({"resourceType": "Patient", "id": f"p{i}", "birthDate": "1970-01-01"}) for i in range(5)
    ]
    lines.insert(2, b'{"resourceType": "Patient", "id": "bad", "birthDate": "1970-13-01"}')
    lines.insert(4, b"{not json")
    (folder / "patients.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    collection = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Organization", "id": "o1", "name": "Sykehuset"}},
            {"resource": {"resourceType": "Organization", "id": "o2", "unknownElement": 1}},
        ],
    }
    (tmp_path / "in" / "orgs.json").write_bytes(orjson.dumps(collection))
    (tmp_path / "in" / "README.txt").write_text("not FHIR")
    report = load(store, [tmp_path / "in"], progress=False, workers=0)
    assert report.resources == 6
    assert report.by_type == {"Patient": 5, "Organization": 1}
    where = sorted((Path(e.source).name, e.line, e.entry) for e in report.errors)
    assert where == [("orgs.json", None, 1), ("patients.ndjson", 3, None), ("patients.ndjson", 5, None)]
    assert total(store, "Patient") == 5
    with store.reader() as r:
        assert r.read("Patient", "bad") is None
    assert "README.txt" in report.skipped[0]
    assert "resources/s" in report.summary()


def test_transaction_bundle_in_archive_is_atomic(store: Store, tmp_path: Path) -> None:
    good = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:1",
                "resource": {"resourceType": "Patient"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:2",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "x"},
                    "subject": {"reference": "urn:uuid:1"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    bad = orjson.loads(orjson.dumps(good))
    bad["entry"][1]["resource"]["status"] = "no-such-status"
    archive = tmp_path / "in.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, doc in (("a/good.json", good), ("a/bad.json", bad)):
            data = orjson.dumps(doc)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    switch = sys.getswitchinterval()
    report = load(store, [archive], progress=False, workers=2)
    assert sys.getswitchinterval() == switch  # shortened during the load only
    assert report.resources == 2
    assert len(report.errors) == 1 and report.errors[0].entry == 1
    assert report.errors[0].source.endswith("in.tgz:a/bad.json")
    assert total(store) == 2
    with store.reader() as r:
        obs = r.read("Observation", r.find("Observation")[0])
        pat_id = r.find("Patient")[0]
    assert obs is not None and orjson.loads(obs.body)["subject"]["reference"] == f"Patient/{pat_id}"


def test_explicit_file_of_unknown_kind_is_refused(store: Store, tmp_path: Path) -> None:
    odd = tmp_path / "x.xml"
    odd.write_text("<Patient/>")
    with pytest.raises(ValueError, match="not a .json"):
        load(store, [odd], progress=False, workers=0)
