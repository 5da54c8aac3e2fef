"""Observations with several components are found by their component values, on every backend.

R4's ``(Observation.component.value as Quantity)`` gives nothing for a blood pressure
(two components): ``as`` fails on more than one item. The registry reads it as
``ofType(Quantity)`` (see ``patch_expression``), so each component value is indexed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import synthea_resources
from helseflyt.http.testing import Client

UCUM = "http://unitsofmeasure.org"


def _blood_pressures(synthea_tgz: Path) -> list[dict[str, Any]]:
    found = []
    for r in synthea_resources(synthea_tgz, 3000):
        if r["resourceType"] == "Observation" and len(r.get("component") or ()) == 2:
            r = {k: v for k, v in r.items() if k != "encounter"}
            found.append(r | {"subject": {"reference": "Patient/bp"}})
    return found[:40]


def _threshold(values: list[float]) -> int:
    """A whole number above the diastolic values, with no value within 1 of it."""
    for t in range(130, 200):
        if all(abs(v - t) > 1 for v in values) and min(values) < t < max(values):
            return t
    raise AssertionError("no threshold in the sample")


def _total(client: Client, query: str) -> int:
    r = client.get(f"Observation?{query}&_summary=count")
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


def test_blood_pressure_by_component_value(
    client: Client, put: Callable[[dict[str, Any]], dict[str, Any]], synthea_tgz: Path
) -> None:
    observations = _blood_pressures(synthea_tgz)
    assert len(observations) == 40
    for r in observations:
        put(r)
    values = [c["valueQuantity"]["value"] for r in observations for c in r["component"]]
    high = _threshold(values)
    above = sum(any(c["valueQuantity"]["value"] > high for c in r["component"]) for r in observations)
    below = sum(any(c["valueQuantity"]["value"] < high for c in r["component"]) for r in observations)
    assert 0 < above < 40 and below == 40  # the diastolic value is always the lower one

    assert _total(client, f"component-value-quantity=gt{high}") == above
    assert _total(client, f"component-value-quantity=gt{high}|{UCUM}|mm[Hg]") == above
    assert _total(client, f"component-value-quantity=lt{high}") == below
    assert _total(client, f"combo-value-quantity=gt{high}") == above
    assert _total(client, f"component-value-quantity=gt{high}|{UCUM}|kg") == 0
