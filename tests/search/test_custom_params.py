"""Custom SearchParameters: installed from an IG (no-basis ``middlename``) or written
through the API apply to new writes and queries; resources stored before are found
after ``$reindex`` / ``helseflyt reindex``. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from helseflyt.cli import app as cli
from helseflyt.http.testing import Client
from helseflyt.packages import install, read_package
from helseflyt.search import registry
from helseflyt.storage import Store

STRICT = {"Prefer": "handling=strict"}
MIDDLENAME = "http://hl7.no/fhir/StructureDefinition/no-basis-middlename"


@pytest.fixture(autouse=True)
def _reset_custom() -> Iterator[None]:
    yield
    registry.set_custom([])  # the registry is process-wide: leave no custom parameters behind


def patient(pid: str, middle: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [
            {
                "family": "Nordmann",
                "given": ["Ola"],
                "extension": [{"url": MIDDLENAME, "valueString": middle}],
            }
        ],
    }


def ids(client: Client, query: str) -> list[str]:
    r = client.get(query)
    assert r.status_code == 200, r.text
    return sorted(e["resource"]["id"] for e in r.json().get("entry", ()))


def put(client: Client, resource: dict[str, Any]) -> None:
    r = client.put(f"{resource['resourceType']}/{resource['id']}", json=resource)
    assert r.status_code in (200, 201), r.text


def install_no_basis(store: Store, shared_dir: Path) -> None:
    report = install(store, read_package(shared_dir / "profiles" / "no-basis"))
    assert "SearchParameter" in report.summary()


def test_installed_parameter_new_writes_and_reindex(client: Client, store: Store, shared_dir: Path) -> None:
    put(client, patient("before", "Kristoffer"))
    assert client.get("Patient?middlename=krist", headers=STRICT).status_code == 400  # unknown before install
    install_no_basis(store, shared_dir)
    put(client, patient("after", "Kristian"))
    put(client, patient("other", "Anders"))
    assert ids(client, "Patient?middlename=krist") == ["after"]  # stored before: not indexed yet
    assert ids(client, "Patient?middlename:exact=Anders") == ["other"]

    r = client.post("Patient/$reindex")
    assert r.status_code == 200, r.text
    params = {p["name"]: p for p in r.json()["parameter"]}
    assert params["total"]["valueInteger"] == 3
    assert ids(client, "Patient?middlename=krist") == ["after", "before"]

    r = client.post("$reindex")
    assert r.status_code == 200, r.text
    assert r.json()["parameter"][0]["valueInteger"] >= 3
    assert ids(client, "Patient?middlename=krist") == ["after", "before"]


def test_cli_reindex(client: Client, store: Store, store_url: str, shared_dir: Path) -> None:
    put(client, patient("early", "Kristoffer"))
    install_no_basis(store, shared_dir)
    put(client, patient("late", "Kristine"))
    assert ids(client, "Patient?middlename=krist") == ["late"]
    result = CliRunner().invoke(
        cli, ["reindex", "--database", store_url, "--type", "Patient", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "re-indexed 2 resources (2 Patient)" in result.output
    assert ids(client, "Patient?middlename=krist") == ["early", "late"]
    result = CliRunner().invoke(cli, ["reindex", "--database", store_url])  # with the progress bar
    assert result.exit_code == 0, result.output
    assert "re-indexed" in result.output


def test_parameter_created_through_the_api(client: Client, birth_order: dict[str, Any]) -> None:
    put(client, {"resourceType": "Patient", "id": "p1", "gender": "female", "multipleBirthInteger": 2})
    sp = birth_order
    put(client, sp)
    put(client, {"resourceType": "Patient", "id": "p2", "multipleBirthInteger": 2})
    put(client, {"resourceType": "Patient", "id": "p3", "multipleBirthInteger": 1})
    assert ids(client, "Patient?birth-order=2") == ["p2"]
    assert ids(client, "Patient?birth-order=ge1") == ["p2", "p3"]
    assert client.post("$reindex").status_code == 200
    assert ids(client, "Patient?birth-order=2") == ["p1", "p2"]

    put(client, {**sp, "status": "retired"})  # retired: no longer applies
    put(client, {"resourceType": "Patient", "id": "p4"})
    assert client.get("Patient?birth-order=2", headers=STRICT).status_code == 400


def test_unsupported_custom_type_is_listed() -> None:
    registry.set_custom(
        [
            {
                "resourceType": "SearchParameter",
                "url": "http://example.org/fhir/SearchParameter/combo",
                "status": "active",
                "code": "combo",
                "base": ["Patient"],
                "type": "composite",
                "expression": "Patient",
            }
        ]
    )
    assert registry.param("Patient", "combo") is None
    reason = registry.unsupported()[("Patient", "combo")]
    assert "custom http://example.org/fhir/SearchParameter/combo" in reason
    assert "composite" in reason
