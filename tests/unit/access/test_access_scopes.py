"""SMART scopes: parsing (v1 and v2) and which interaction each permits."""

from __future__ import annotations

import pytest

from helseflyt.access.scopes import INTERACTIONS, allows, parse, parse_one


def test_v2_scope() -> None:
    s = parse_one("patient/Observation.rs")
    assert s is not None
    assert (s.context, s.resource_type, s.permissions) == ("patient", "Observation", frozenset("rs"))


@pytest.mark.parametrize(
    ("text", "perms"),
    [
        ("user/*.read", "rs"),
        ("user/*.write", "cud"),
        ("system/Patient.*", "cruds"),
        ("user/*.cruds", "cruds"),
    ],
)
def test_v1_and_wildcards(text: str, perms: str) -> None:
    s = parse_one(text)
    assert s is not None and s.permissions == frozenset(perms)


@pytest.mark.parametrize(
    "text",
    [
        "openid",
        "fhirUser",
        "launch/patient",
        "patient/Observation.sr",
        "patient/Observation.rr",
        "patient/obs.r",
        "admin/*.r",
        "patient/*.",
        "patient/*.x",
        "helseid://scopes/identity/pid",
        "patient/Observation",
    ],
)
def test_not_resource_scopes(text: str) -> None:
    assert parse_one(text) is None


def test_parse_string_and_list() -> None:
    assert [str(s) for s in parse("openid patient/*.rs  user/Observation.cruds")] == [
        "patient/*.rs",
        "user/Observation.cruds",
    ]
    assert len(parse(["patient/*.rs", "system/*.rs user/*.r"])) == 3
    assert parse(None) == ()


@pytest.mark.parametrize(
    ("scope", "rtype", "interaction", "expected"),
    [
        ("patient/*.rs", "Observation", "read", True),
        ("patient/*.rs", "Observation", "vread", True),
        ("patient/*.rs", "Observation", "search", True),
        ("patient/*.rs", "Observation", "history", True),
        ("patient/*.rs", "Observation", "history-type", True),
        ("patient/*.rs", "Observation", "create", False),
        ("patient/*.rs", "Observation", "update", False),
        ("patient/*.rs", "Observation", "patch", False),
        ("patient/*.rs", "Observation", "delete", False),
        ("patient/*.r", "Observation", "search", False),
        ("patient/*.s", "Observation", "read", False),
        ("user/Observation.cruds", "Observation", "delete", True),
        ("user/Observation.cruds", "Patient", "read", False),
        ("user/Observation.cruds", "*", "read", False),
        ("user/*.cruds", "*", "read", True),
        ("user/Observation.u", "Observation", "patch", True),
        ("user/Observation.c", "Observation", "create", True),
        ("system/*.read", "Patient", "search", True),
        ("system/*.write", "Patient", "read", False),
        ("system/*.write", "Patient", "update", True),
        ("patient/Observation.rs?category=laboratory", "Observation", "read", False),  # granular: not yet
        ("user/Patient.r", "Patient", "operation", True),
    ],
)
def test_allows(scope: str, rtype: str, interaction: str, expected: bool) -> None:
    assert allows(parse(scope), rtype, interaction) is expected


def test_allows_by_context() -> None:
    scopes = parse("system/*.cruds")
    assert allows(scopes, "Patient", "read")
    assert not allows(scopes, "Patient", "read", contexts=("user", "patient"))


def test_unknown_interaction() -> None:
    with pytest.raises(ValueError, match="unknown interaction"):
        allows(parse("user/*.cruds"), "Patient", "frobnicate")
    assert set(INTERACTIONS) >= {
        "read",
        "vread",
        "search",
        "create",
        "update",
        "patch",
        "delete",
        "history",
        "operation",
    }
