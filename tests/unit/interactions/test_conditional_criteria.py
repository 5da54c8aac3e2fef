"""Criteria parsing for conditional interactions (``helseflyt.search.conditional``)."""

from __future__ import annotations

import pytest

from helseflyt.errors import InvalidRequest
from helseflyt.search.conditional import parse_criteria, split_escaped, unescape
from helseflyt.storage import TokenCriterion


def test_identifier_forms() -> None:
    c = parse_criteria("identifier=http://s|1&identifier=2,|3&identifier=http://t|")
    assert c.ids is None
    assert c.tokens == (
        (TokenCriterion("identifier", "http://s", "1"),),
        (TokenCriterion("identifier", None, "2"), TokenCriterion("identifier", "", "3")),
        (TokenCriterion("identifier", "http://t", None),),
    )


def test_ids_are_intersected_and_format_params_skipped() -> None:
    c = parse_criteria([("_id", "a,b"), ("_id", "b,c"), ("_format", "json"), ("_pretty", "true")])
    assert c.ids == frozenset({"b"}) and c.tokens == ()


def test_escapes() -> None:
    assert split_escaped(r"a\,b,c", ",") == [r"a\,b", "c"]
    assert unescape(r"a\|b\\") == "a|b\\"
    c = parse_criteria(r"identifier=s\|x|v\,1")
    assert c.tokens == ((TokenCriterion("identifier", "s|x", "v,1"),),)


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("name=Ola", "not supported yet"),
        ("identifier:text=x", "not supported yet"),
        ("", "needs search criteria"),
        ("_format=json", "needs search criteria"),
        ("identifier=", "empty value"),
        ("identifier=a,", "empty value"),
        ("identifier=|", "give a system"),
        ("identifier=a|b|c", "expected [system|]value"),
    ],
)
def test_refused(query: str, needle: str) -> None:
    with pytest.raises(InvalidRequest, match=needle.replace("[", r"\[").replace("|", r"\|")):
        parse_criteria(query)
