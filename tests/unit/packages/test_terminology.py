"""$lookup and $validate-code (helseflyt.interactions.terminology) and the known systems."""

from __future__ import annotations

import pytest

from helseflyt.errors import NotFound
from helseflyt.interactions.terminology import lookup, parameters_from_body, validate_code
from helseflyt.packages import Registry
from helseflyt.packages.systems import known_system

ICPC = "http://hl7.org/fhir/sid/icpc-2"
CS = {
    "resourceType": "CodeSystem",
    "url": ICPC,
    "name": "ICPC2",
    "version": "2024",
    "status": "active",
    "content": "fragment",
    "concept": [{"code": "T90", "display": "Diabetes type 2"}, {"code": "K86", "display": "Hypertensjon"}],
}
VS = {
    "resourceType": "ValueSet",
    "url": "http://example.org/vs/diabetes",
    "status": "active",
    "compose": {"include": [{"system": ICPC, "concept": [{"code": "T90"}]}]},
}


def values(params: dict) -> dict:
    return {p["name"]: next(v for k, v in p.items() if k != "name") for p in params["parameter"]}


def test_lookup_from_an_installed_code_system() -> None:
    out = values(lookup(Registry([CS]), [("system", ICPC), ("code", "T90")]))
    assert out == {"name": "ICPC2", "version": "2024", "display": "Diabetes type 2"}
    with pytest.raises(NotFound, match="not in code system"):
        lookup(Registry([CS]), [("system", ICPC), ("code", "X99")])


def test_known_system_without_codes_says_what_to_load() -> None:
    with pytest.raises(NotFound) as exc:
        lookup(Registry(), [("system", ICPC), ("code", "T90")])
    assert "ICPC-2" in str(exc.value) and "helseflyt ig install" in str(exc.value)
    with pytest.raises(NotFound, match="Volven code list 3402"):
        validate_code(
            Registry(), [("system", "urn:oid:2.16.578.1.12.4.1.1.3402"), ("code", "0301")], level="CodeSystem"
        )
    with pytest.raises(NotFound, match="unknown code system"):
        lookup(Registry(), [("system", "http://example.org/x"), ("code", "a")])


def test_core_code_systems_are_known() -> None:
    out = lookup(Registry(), [("system", "http://hl7.org/fhir/administrative-gender"), ("code", "female")])
    assert values(out)["name"] == "http://hl7.org/fhir/administrative-gender"
    r = validate_code(
        Registry(),
        [("url", "http://hl7.org/fhir/ValueSet/administrative-gender"), ("code", "x")],
        level="ValueSet",
    )
    assert values(r)["result"] is False


def test_validate_code_code_system_and_value_set() -> None:
    reg = Registry([CS, VS])
    ok = values(validate_code(reg, [("system", ICPC), ("code", "K86")], level="CodeSystem"))
    assert ok == {"result": True, "display": "Hypertensjon"}
    wrong = values(
        validate_code(reg, [("system", ICPC), ("code", "K86"), ("display", "x")], level="CodeSystem")
    )
    assert wrong["result"] is False and "Hypertensjon" in wrong["message"]
    url = VS["url"]
    assert values(validate_code(reg, [("url", url), ("system", ICPC), ("code", "T90")], level="ValueSet"))[
        "result"
    ]
    assert not values(
        validate_code(reg, [("url", url), ("system", ICPC), ("code", "K86")], level="ValueSet")
    )["result"]
    concept = {"coding": [{"system": "http://x", "code": "1"}, {"system": ICPC, "code": "T90"}]}
    assert values(validate_code(reg, [("url", url), ("codeableConcept", concept)], level="ValueSet"))[
        "result"
    ]
    whole = {**VS, "url": "http://example.org/vs/all", "compose": {"include": [{"system": ICPC}]}}
    assert values(
        validate_code(Registry([CS, whole]), [("url", whole["url"]), ("code", "K86")], level="ValueSet")
    )["result"]
    with pytest.raises(NotFound, match="ICPC-2"):
        validate_code(Registry([whole]), [("url", whole["url"]), ("code", "K86")], level="ValueSet")


def test_parameters_body() -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "system", "valueUri": ICPC}, {"name": "code", "valueCode": "T90"}],
    }
    assert parameters_from_body(body) == [("system", ICPC), ("code", "T90")]


def test_known_systems() -> None:
    assert known_system("urn:oid:2.16.578.1.12.4.1.1.7110").name.startswith("ICD-10")
    assert known_system("http://www.whocc.no/atc").name == "ATC"
    assert known_system("urn:oid:2.16.578.1.12.4.1.1.9603").name == "Volven code list 9603"
    assert known_system("http://example.org") is None


def test_value_set_filters_over_a_stored_hierarchy() -> None:
    tree = "http://example.org/cs/tree"
    cs = {
        "resourceType": "CodeSystem",
        "url": tree,
        "status": "active",
        "content": "complete",
        "concept": [
            {"code": "a", "concept": [{"code": "a1", "concept": [{"code": "a1x"}]}, {"code": "a2"}]},
            {"code": "b"},
            {"code": "c", "property": [{"code": "parent", "valueCode": "b"}]},
        ],
    }

    def vs(*filters: dict) -> dict:
        return {
            "resourceType": "ValueSet",
            "url": f"http://example.org/vs/{len(filters)}-{filters[0]['op']}",
            "status": "active",
            "compose": {
                "include": [{"system": tree, "filter": [{"property": "concept", **f} for f in filters]}]
            },
        }

    def codes(*filters: dict) -> set[str] | None:
        v = vs(*filters)
        found = Registry([cs, v]).value_set_codes(v["url"])
        return None if found is None else {c for _, c in found}

    assert codes({"op": "is-a", "value": "a"}) == {"a", "a1", "a1x", "a2"}
    assert codes({"op": "descendent-of", "value": "a"}) == {"a1", "a1x", "a2"}
    assert codes({"op": "is-a", "value": "b"}) == {"b", "c"}  # a parent property
    assert codes({"op": "is-not-a", "value": "a"}) == {"b", "c"}
    assert codes({"op": "=", "value": "a1"}) == {"a1"}
    assert codes({"op": "is-a", "value": "a"}, {"op": "is-not-a", "value": "a1"}) == {"a", "a2"}
    assert codes({"op": "regex", "value": "a.*"}) is None  # not evaluated: the value set cannot be expanded
    fragment = Registry([{**cs, "content": "fragment"}, vs({"op": "is-a", "value": "a"})])
    assert fragment.value_set_codes(vs({"op": "is-a", "value": "a"})["url"]) is None
    assert fragment.hierarchy(tree) == "the installed CodeSystem has content 'fragment', not complete"
