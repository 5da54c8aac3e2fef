"""What a request needs, from method, path and query (and a Bundle's entries)."""

from __future__ import annotations

import pytest

from helseflyt.access.edge import Need, bundle_needs, needs, search_needs


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "Patient", [], [Need("Patient", "search")]),
        ("POST", "Patient", [], [Need("Patient", "create")]),
        ("PUT", "Patient", [("identifier", "x")], [Need("Patient", "update")]),
        ("DELETE", "Patient", [("identifier", "x")], [Need("Patient", "delete")]),
        ("GET", "Patient/1", [], [Need("Patient", "read")]),
        ("HEAD", "Patient/1", [], [Need("Patient", "read")]),
        ("PUT", "Patient/1", [], [Need("Patient", "update")]),
        ("PATCH", "Patient/1", [], [Need("Patient", "patch")]),
        ("DELETE", "Patient/1", [], [Need("Patient", "delete")]),
        ("GET", "Patient/1/_history", [], [Need("Patient", "history-instance")]),
        ("GET", "Patient/1/_history/2", [], [Need("Patient", "vread")]),
        ("GET", "Patient/_history", [], [Need("Patient", "history-type")]),
        ("GET", "_history", [], [Need("*", "history-system")]),
        ("POST", "Patient/_search", [], [Need("Patient", "search")]),
        ("POST", "Patient/$validate", [], [Need("Patient", "operation")]),
        ("GET", "Patient/1/$everything", [], [Need("Patient", "operation")]),
        ("POST", "$export", [], [Need("*", "operation")]),
        (
            "GET",
            "",
            [("_type", "Patient,Observation")],
            [Need("Patient", "search"), Need("Observation", "search")],
        ),
        ("GET", "", [], [Need("*", "search")]),
        ("GET", "Patient/1/Observation", [], [Need("Patient", "read"), Need("Observation", "search")]),
        ("GET", "Patient/1/a/b/c", [], [Need("*", "read")]),
        ("GET", "Nonsense", [], [Need("*", "search")]),
    ],
)
def test_needs(method: str, path: str, query: list[tuple[str, str]], expected: list[Need]) -> None:
    segments = path.split("/") if path else []
    assert needs(method, segments, query) == expected


def test_post_to_base_reads_the_bundle() -> None:
    assert needs("POST", [], []) is None


def test_search_reaches_included_and_chained_types() -> None:
    got = search_needs(
        ["Observation"],
        [
            ("_include", "Observation:subject:Patient"),
            ("_include:iterate", "Observation:performer"),
            ("_revinclude", "Provenance:target"),
            ("subject:Patient.name", "x"),
            ("_has:Encounter:patient:_has:Condition:encounter:code", "y"),
            ("code", "1234"),
        ],
    )
    assert got == [
        Need("Observation", "search"),
        Need("Patient", "search"),
        Need("*", "search"),
        Need("Provenance", "search"),
        Need("Encounter", "search"),
        Need("Condition", "search"),
    ]


def test_bundle_needs() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"request": {"method": "POST", "url": "Patient"}, "resource": {"resourceType": "Patient"}},
            {
                "request": {"method": "PUT", "url": "Observation/1"},
                "resource": {
                    "resourceType": "Observation",
                    "subject": {"reference": "Patient?identifier=a|b"},
                },
            },
            {"request": {"method": "GET", "url": "http://testserver/fhir/Encounter/9"}},
            {"request": {"method": "DELETE", "url": "Condition?code=x"}},
            {"request": {"method": "POST", "url": ""}},
            "garbage",
            {"request": "garbage"},
        ],
    }
    assert bundle_needs(bundle) == [
        Need("Patient", "create"),
        Need("Observation", "update"),
        Need("Patient", "search"),
        Need("Encounter", "read"),
        Need("Condition", "delete"),
        Need("*", "create"),
    ]
    assert bundle_needs("not a bundle") == []
    assert bundle_needs({"entry": "x"}) == []
