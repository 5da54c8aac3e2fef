"""Shared fixtures: paths to ../shared data, the official R4 package, PostgreSQL.

Things a newcomer's machine may lack (PostgreSQL, npm for the official examples) make
their tests skip with a reason, which ``pytest -ra`` prints in the summary. CI sets
``HELSEFLYT_TEST_REQUIRE_ALL=1`` so that the same tests fail instead of skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HELSEFLYT_SHARED", ROOT.parent / "shared"))
CACHE = Path(os.environ.get("HELSEFLYT_CACHE", ROOT / ".cache"))
R4_EXAMPLES = "hl7.fhir.r4.examples-4.0.1.tgz"
POSTGRES_URL = os.environ.get("HELSEFLYT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def require_all() -> bool:
    return os.environ.get("HELSEFLYT_TEST_REQUIRE_ALL") == "1"


def missing(reason: str) -> None:
    """Skip on a newcomer's machine; fail in CI, where everything must run."""
    if require_all():
        pytest.fail(f"required in CI but unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        missing(f"shared test data not found at {SHARED} (set HELSEFLYT_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def synthea_tgz(shared_dir: Path) -> Path:
    path = shared_dir / "data" / "synthea-r4-sample.tar.gz"
    if not path.is_file():
        missing(f"Synthea sample not found at {path}")
    return path


def r4_examples_package() -> Path | None:
    """The official ``hl7.fhir.r4.examples@4.0.1`` tarball, fetched with npm if needed."""
    path = Path(os.environ.get("HELSEFLYT_R4_EXAMPLES", CACHE / R4_EXAMPLES))
    if path.is_file():
        return path
    if shutil.which("npm") is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "pack", "hl7.fhir.r4.examples@4.0.1", "--pack-destination", str(path.parent)],
        check=False,
        capture_output=True,
        timeout=300,
    )
    return path if path.is_file() else None


@pytest.fixture(scope="session")
def r4_examples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unpacked official R4 package (``package/*.json``)."""
    tgz = r4_examples_package()
    if tgz is None:
        missing("hl7.fhir.r4.examples@4.0.1 unavailable: install npm or set HELSEFLYT_R4_EXAMPLES")
    out = tmp_path_factory.mktemp("r4-examples")
    with tarfile.open(tgz) as tar:
        tar.extractall(out, filter="data")
    return out / "package"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        missing(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")
    return POSTGRES_URL


# Every storage backend; suites that take ``backend`` or ``store_url`` run on each.
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'test.db'}"
        return
    from helseflyt.storage.testing import drop_schema, with_schema

    base = request.getfixturevalue("postgres_url")
    schema = f"hf_test_{uuid.uuid4().hex[:16]}"
    yield with_schema(base, schema)
    drop_schema(base, schema)


@pytest.fixture
def birth_order() -> dict[str, Any]:
    """A custom SearchParameter (number) on Patient, as written through the API."""
    return {
        "resourceType": "SearchParameter",
        "id": "birth-order",
        "url": "http://example.org/fhir/SearchParameter/birth-order",
        "name": "BirthOrder",
        "status": "active",
        "description": "Birth order of a multiple birth",
        "code": "birth-order",
        "base": ["Patient"],
        "type": "number",
        "expression": "Patient.multipleBirth.as(integer)",
    }


def synthea_resources(tgz: Path, limit: int) -> list[dict[str, Any]]:
    """The resources of the first Synthea bundles, at least ``limit`` of them."""
    resources: list[dict[str, Any]] = []
    with tarfile.open(tgz, "r|gz") as tar:
        for m in tar:
            f = tar.extractfile(m) if m.isfile() and m.name.endswith(".json") else None
            if f is not None and len(resources) < limit:
                resources += [e["resource"] for e in json.load(f)["entry"]]
    return resources
