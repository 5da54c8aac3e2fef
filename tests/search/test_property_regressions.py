"""Search bugs the property test (``test_property.py``) found, pinned down on every backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from helseflyt.http.testing import Client

Put = Callable[[dict[str, Any]], dict[str, Any]]
UCUM = "http://unitsofmeasure.org"


def ids(client: Client, url: str) -> list[str]:
    r = client.get(url)
    assert r.status_code == 200, r.text
    return sorted(e["resource"]["id"] for e in r.json().get("entry", []))


def observation(rid: str, quantity: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"text": "x"},
        "valueQuantity": quantity,
    }


def test_quantity_without_system_matches_the_unit_as_well_as_the_code(client: Client, put: Put) -> None:
    # https://hl7.org/fhir/R4/search.html#quantity: `5.4||mg` matches a quantity whose
    # code or unit is mg; the unit used to be indexed only when there was no code.
    put(observation("coded", {"value": 0, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}))
    put(observation("plain", {"value": 0, "unit": "mmHg"}))
    assert ids(client, "Observation?value-quantity=0||mmHg") == ["coded", "plain"]
    assert ids(client, "Observation?value-quantity=0||mm[Hg]") == ["coded"]
    # with a system, the code must match: the unit does not stand in for it
    assert ids(client, f"Observation?value-quantity=0|{UCUM}|mmHg") == []
    assert ids(client, f"Observation?value-quantity=0|{UCUM}|mm[Hg]") == ["coded"]


@pytest.mark.parametrize(
    ("search", "edges"),
    [("0.01", ("0.009", "0.011")), ("0.005", ("0.0045", "0.0055")), ("0.3", ("0.27", "0.33"))],
)
def test_approximate_number_includes_both_ends(
    client: Client, put: Put, search: str, edges: tuple[str, str]
) -> None:
    # `ap` is ±10 % inclusive; the ends used to be computed in binary floating point,
    # which put e.g. 0.009 outside ap0.01.
    low, high = edges
    for rid, value in (("low", low), ("high", high)):
        put(observation(rid, {"value": float(value), "unit": "mg"}))
    assert ids(client, f"Observation?value-quantity=ap{search}") == ["high", "low"]
