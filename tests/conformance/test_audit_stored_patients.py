"""The audit trail reads a search page's patients from the stored bodies by decoding only
``subject``, ``patient`` and ``beneficiary`` (``events.stored_patients``, msgspec): the
same patients, in the same order, as :func:`events.patients_of` of the whole body, for
every official R4 example, the Synthea sample, random mutants of them, and odd bodies."""

from __future__ import annotations

import json
import random
import tarfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_validation_fast import mutants

from helseflyt.audit.events import patients_of, stored_patients
from helseflyt.fhir.json import loads


def whole(body: bytes) -> list[str]:
    try:
        return list(patients_of(orjson.loads(body)))
    except orjson.JSONDecodeError:
        return []


def check(resource: Any) -> int:
    body = orjson.dumps(resource, default=str)
    assert list(stored_patients(body)) == whole(body), body[:300]
    return len(whole(body))


def test_same_patients_as_the_whole_body_on_the_r4_examples(r4_examples_dir: Path) -> None:
    rng = random.Random(7)
    found = checked = 0
    for path in sorted(r4_examples_dir.glob("*.json")):
        resource = json.loads(path.read_bytes())
        if not isinstance(resource, dict) or resource.get("resourceType") in (None, "Patient"):
            continue
        found += check(resource)
        checked += 1
        for mutant in mutants(resource, rng, 3, most=2000):
            check(mutant)
    assert checked > 5000 and found > 300  # the examples do name patients


def test_same_patients_on_the_synthea_sample(synthea_tgz: Path) -> None:
    found = 0
    with tarfile.open(synthea_tgz) as tar:
        for member in tar.getmembers()[:40]:
            data = tar.extractfile(member) if member.isfile() else None
            if data is None or not member.name.endswith(".json"):
                continue
            entries = loads(data.read())["entry"]
            where = {e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in entries}
            for entry in entries:  # references as a transaction stores them (Type/id)
                resource = _resolved(entry["resource"], where)
                if resource["resourceType"] != "Patient":
                    found += check(resource)
    assert found > 1000


def _resolved(value: Any, where: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out = {k: _resolved(v, where) for k, v in value.items()}
        if isinstance(out.get("reference"), str):
            out["reference"] = where.get(out["reference"], out["reference"])
        return out
    return [_resolved(v, where) for v in value] if isinstance(value, list) else value


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'"text"',
        b'{"subject": {"reference": 12}}',
        b'{"subject": [{"reference": "Patient/a"}, {"reference": "Group/g"}, "x",'
        b' {"reference": "Patient/b"}]}',
        b'{"patient": {"reference": "http://x.org/fhir/Patient/p/_history/2"}, "subject": null}',
        b'{"beneficiary": {"reference": "Patient/"}, "n": 123456789012345678901234567890}',
        b'{"subject": {"reference": "Patient/a"}, "subject": {"reference": "Patient/b"}}',
        b'{"contained": [{"subject": {"reference": "Patient/c"}}], "note": "\\ud800"}',
        b'{"subject": {"reference": "Patient/a"}',
    ],
)
def test_odd_bodies(body: bytes) -> None:
    assert list(stored_patients(body)) == whole(body)
