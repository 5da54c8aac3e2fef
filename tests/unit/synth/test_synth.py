"""The synthetic population: valid, resolvable, checked identifiers, deterministic, realistic."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from helseflyt.cli import app
from helseflyt.fhir.validation import validate
from helseflyt.norway.identifiers import DNR, FNR, HPR, ORGNR, RESH, SYSTEMS, check
from helseflyt.synth import generate, write


@pytest.fixture(scope="module")
def population() -> list[dict[str, Any]]:
    return [r for _, resources in generate(50, seed=42) for r in resources]


def _references(value: Any) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "reference" and isinstance(v, str):
                found.append(v)
            else:
                found.extend(_references(v))
    elif isinstance(value, list):
        for v in value:
            found.extend(_references(v))
    return found


def _identifiers(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if "system" in value and "value" in value and value.get("system") in SYSTEMS:
            found.append(value)
        for v in value.values():
            found.extend(_identifiers(v))
    elif isinstance(value, list):
        for v in value:
            found.extend(_identifiers(v))
    return found


def test_every_resource_validates(population: list[dict[str, Any]]) -> None:
    problems = [(r["resourceType"], r["id"], i) for r in population for i in validate(r)]
    assert problems == []


def test_every_reference_resolves(population: list[dict[str, Any]]) -> None:
    ids = {f"{r['resourceType']}/{r['id']}" for r in population}
    assert len(ids) == len(population)  # ids are unique
    refs = [x for r in population for x in _references(r)]
    assert refs and [x for x in refs if x not in ids] == []


def test_every_identifier_passes_its_check(population: list[dict[str, Any]]) -> None:
    idents = _identifiers(population)
    systems = Counter(i["system"] for i in idents)
    assert {FNR, HPR, ORGNR, RESH} <= set(systems)
    assert [i for i in idents if check(i["system"], i["value"]) is not None] == []
    fnrs = [i["value"] for i in idents if i["system"] in (FNR, DNR)]
    assert len(fnrs) == len(set(fnrs)) == 50
    assert all(80 < int(v[2:4]) <= 92 for v in fnrs)  # synthetic: month + 80


def test_content_covers_the_care_levels(population: list[dict[str, Any]]) -> None:
    types = Counter(r["resourceType"] for r in population)
    for t in ("Patient", "Organization", "Practitioner", "PractitionerRole", "Encounter", "Observation",
              "Condition", "MedicationRequest", "MedicationStatement", "Immunization"):  # fmt: skip
        assert types[t] > 0, t
    big = [r for _, rs in generate(400, seed=3) for r in rs]
    types = Counter(r["resourceType"] for r in big)
    for t in ("AllergyIntolerance", "EpisodeOfCare", "DocumentReference", "Appointment"):
        assert types[t] > 0, t
    assert any(r.get("criticality") == "high" for r in big if r["resourceType"] == "AllergyIntolerance")
    hba1c = Counter(
        r["subject"]["reference"] for r in big
        if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "NPU27300"
    )  # fmt: skip
    assert hba1c and max(hba1c.values()) >= 4  # a diabetes course over years
    prescribers: dict[tuple[str, str], set[str]] = {}
    for r in big:
        if r["resourceType"] == "MedicationRequest":
            key = (r["subject"]["reference"], r["medicationCodeableConcept"]["coding"][0]["code"])
            prescribers.setdefault(key, set()).add(r["requester"]["reference"])
    assert any(len(p) > 1 for p in prescribers.values())  # overlapping orders, different prescribers


def test_distributions_are_roughly_norwegian() -> None:
    patients = [rs[0] for name, rs in generate(3000, seed=5) if name != "care-structure"]
    female = sum(p["gender"] == "female" for p in patients) / len(patients)
    assert 0.45 < female < 0.56
    years = Counter(int(p["birthDate"][:4]) for p in patients)
    old = sum(n for y, n in years.items() if y <= 1957) / len(patients)  # 67 and older
    assert 0.12 < old < 0.24
    munis = Counter(p["address"][0]["extension"][0]["valueCoding"]["code"] for p in patients)
    assert 0.22 < munis["0301"] / len(patients) < 0.32  # Oslo, about 27% of the embedded table
    districts = {p["address"][0]["extension"][1]["valueCoding"]["code"] for p in patients
                 if p["address"][0]["extension"][0]["valueCoding"]["code"] == "0301"}  # fmt: skip
    assert len(districts) == 15
    d_numbers = sum(p["identifier"][0]["system"] == DNR for p in patients) / len(patients)
    assert 0.005 < d_numbers < 0.04


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(folder)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("fmt", ["bundle", "ndjson"])
def test_same_seed_same_bytes(tmp_path: Path, fmt: str) -> None:
    a = write(tmp_path / "a", 30, seed=9, fmt=fmt)
    write(tmp_path / "b", 30, seed=9, fmt=fmt)
    write(tmp_path / "c", 30, seed=10, fmt=fmt)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")
    assert a.patients == 30 and a.resources == sum(a.by_type.values())


def test_prefix_is_stable() -> None:
    """Patient i does not depend on how many come after it (only the GP count does)."""
    first = [rs for name, rs in generate(10, seed=1)][1:4]
    again = [rs for name, rs in generate(11, seed=1)][1:4]
    assert orjson.dumps(first) == orjson.dumps(again)


def test_cli_writes_and_load_stores_everything(tmp_path: Path) -> None:
    from helseflyt.ingest import load
    from helseflyt.search.identifier_index import index_identifiers
    from helseflyt.storage import open_store

    out = tmp_path / "pop"
    result = CliRunner().invoke(app, ["synth", "--patients", "20", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "0-care-structure.json").is_file()
    expected = sum(len(rs) for _, rs in generate(20, seed=3))
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}", indexer=index_identifiers)
    try:
        report = load(store, [out], progress=False, workers=0)
        assert report.errors == []
        assert report.resources == expected
        with store.reader() as r:
            patient = r.read("Patient", "pasient-0000001")
        assert patient is not None
    finally:
        store.close()


def test_bad_format_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth", "--patients", "1", "--out", str(tmp_path), "--format", "xml"])
    assert result.exit_code == 2
