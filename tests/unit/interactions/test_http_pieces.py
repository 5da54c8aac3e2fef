"""Content negotiation, Prefer, ETags and history instants: the small pure pieces."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from helseflyt.errors import InvalidRequest, NotAcceptable, UnsupportedMediaType
from helseflyt.http.media import body_kind, negotiate
from helseflyt.http.responses import parse_http_date, prefer_return
from helseflyt.interactions.body import parse_json, valid_id
from helseflyt.interactions.history import parse_instant
from helseflyt.interactions.preconditions import parse_etag


@pytest.mark.parametrize(
    ("fmt", "accept"),
    [
        (None, None),
        ("json", None),
        ("application/fhir json", None),
        (None, "application/json"),
        (None, "*/*"),
    ],
)
def test_json_is_negotiated(fmt: str | None, accept: str | None) -> None:
    assert negotiate(fmt, None, accept).media_type == "application/fhir+json"


@pytest.mark.parametrize(
    ("fmt", "accept"),
    [("xml", None), (None, "application/fhir+xml"), ("ttl", None), (None, "application/json;q=0, text/csv")],
)
def test_other_formats_are_406(fmt: str | None, accept: str | None) -> None:
    with pytest.raises(NotAcceptable):
        negotiate(fmt, None, accept)


def test_body_kinds() -> None:
    assert body_kind(None) == "fhir-json"
    assert body_kind("application/fhir+json; charset=utf-8") == "fhir-json"
    assert body_kind("application/json-patch+json", patch=True) == "json-patch"
    with pytest.raises(UnsupportedMediaType, match="XML is not supported yet"):
        body_kind("application/fhir+xml")
    with pytest.raises(UnsupportedMediaType):
        body_kind("application/json-patch+json")


def test_prefer() -> None:
    assert prefer_return("return=minimal") == "minimal"
    assert prefer_return('handling=strict, return="OperationOutcome"') == "OperationOutcome"
    assert prefer_return("return=bogus") == "representation"
    assert prefer_return(None) == "representation"


def test_etags_and_dates() -> None:
    assert parse_etag('W/"12"') == 12 and parse_etag('"3"') == 3 and parse_etag("4") == 4
    with pytest.raises(InvalidRequest):
        parse_etag('W/"x"')
    assert parse_http_date("Tue, 02 Jan 2024 03:04:05 GMT") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_http_date("soon") is None


def test_history_instants() -> None:
    assert parse_instant("2024", "_since") == datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_instant("2024-02", "_at", end=True) == datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=UTC)
    assert parse_instant("2024-12", "_at", end=True).month == 12
    assert parse_instant("2024-01-02T03:04:05+01:00", "_since") == datetime(2024, 1, 2, 2, 4, 5, tzinfo=UTC)
    for bad in ("2024-13", "yesterday", "2024-01-02 03:04"):
        with pytest.raises(InvalidRequest):
            parse_instant(bad, "_since")


def test_json_and_ids() -> None:
    assert parse_json(b'{"a": 1.50}')["a"].as_tuple().exponent == -2
    with pytest.raises(InvalidRequest, match="line 2, column"):
        parse_json(b'{"a":\n ]')
    with pytest.raises(InvalidRequest):
        parse_json(b"[" * 100_000)
    assert valid_id("a-b.C9") and not valid_id("a_b") and not valid_id("") and not valid_id(1)
