"""Every non-definitional official R4 example is accepted by create and read back equal.

Each example goes through the REST API in-process: ``PUT [type]/[id]`` with its own id
(``POST [type]`` when it has none), then ``GET``; the resource read back must equal the
example except ``meta`` (and the id after a POST). Numbers are compared exactly (the
FHIR JSON loader keeps decimals as written). The exclusions mirror
``test_r4_examples_valid.py``: definitional resource types (``DEFINITIONAL``) and the
examples with real errors (``KNOWN_INVALID``), which must be refused with 400 and leave
nothing stored. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_r4_examples_valid import DEFINITIONAL, KNOWN_INVALID

from helseflyt.app import create_app
from helseflyt.fhir.json import loads
from helseflyt.http.testing import Client
from helseflyt.search.identifier_index import index_identifiers
from helseflyt.settings import Settings
from helseflyt.storage import HistoryQuery, open_store

EXAMPLES = 719  # non-definitional examples in hl7.fhir.r4.examples@4.0.1
READ_ONLY = {"AuditEvent"}  # written by the server only: PUT/POST answer 405 (docs/audit.md)
READ_ONLY_EXAMPLES = 9  # AuditEvent examples
ACCEPTED = EXAMPLES - len(KNOWN_INVALID) - READ_ONLY_EXAMPLES


def _examples(directory: Path) -> dict[str, Any]:
    out = {}
    for path in sorted(directory.glob("*.json")):
        if path.name in ("package.json", "ig-r4.json") or path.name.startswith("."):
            continue
        resource = loads(path.read_bytes())
        if resource.get("resourceType") not in DEFINITIONAL:
            out[path.name] = resource
    return out


def _without(resource: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k not in keys}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'examples.db'}"
        return
    import psycopg
    from psycopg import sql

    base = request.getfixturevalue("postgres_url")
    schema = f"hf_examples_{uuid.uuid4().hex[:12]}"
    yield f"{base}{'&' if '?' in base else '?'}schema={schema}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.mark.slow
def test_r4_examples_roundtrip(r4_examples_dir: Path, store_url: str, tmp_path: Path) -> None:
    examples = _examples(r4_examples_dir)
    assert len(examples) == EXAMPLES
    store = open_store(store_url, indexer=index_identifiers)
    failures: dict[str, str] = {}
    accepted = refused = read_only = 0
    try:
        with Client(create_app(Settings(data_dir=str(tmp_path)), store=store)) as client:
            for name, example in examples.items():
                res_type, res_id = example["resourceType"], example.get("id")
                raw = (r4_examples_dir / name).read_bytes()
                headers = {"Content-Type": "application/fhir+json"}
                if res_id is None:
                    r = client.post(res_type, content=raw, headers=headers)
                else:
                    r = client.put(f"{res_type}/{res_id}", content=raw, headers=headers)
                if res_type in READ_ONLY:
                    if r.status_code != 405:
                        failures[name] = f"read-only type but answered {r.status_code}"
                    read_only += 1
                    continue
                if name in KNOWN_INVALID:
                    if r.status_code != 400:
                        failures[name] = f"known invalid but answered {r.status_code}"
                    refused += 1
                    continue
                if r.status_code not in (200, 201):
                    failures[name] = f"{r.status_code}: {r.text[:300]}"
                    continue
                stored_id = r.json()["id"]
                back = loads(client.get(f"{res_type}/{stored_id}").content)
                if _without(back, "meta", "id") != _without(example, "meta", "id"):
                    failures[name] = "read back differs"
                elif res_id is not None and back["id"] != res_id:
                    failures[name] = f"id changed to {back['id']}"
                else:
                    accepted += 1
        with store.reader() as reader:
            for name in KNOWN_INVALID:
                example = examples[name]
                if example.get("id") and reader.read(example["resourceType"], example["id"]) is not None:
                    failures[name] = "refused but something was stored"
            stored = reader.history_count(HistoryQuery())
    finally:
        store.close()
    assert failures == {}
    assert (accepted, refused, read_only) == (ACCEPTED, len(KNOWN_INVALID), READ_ONLY_EXAMPLES)
    assert stored == ACCEPTED
