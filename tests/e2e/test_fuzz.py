"""Property: no request, however malformed, makes the server answer 500.

Hypothesis builds requests from FHIR-shaped pieces (real and bogus types, ids,
``_history`` segments, query parameters, conditional headers, content types) and from
arbitrary bytes and JSON; every answer must be a deliberate status below 500 (or 501
for a documented gap) carrying an OperationOutcome when it is an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helseflyt.app import create_app
from helseflyt.http.testing import Client
from helseflyt.settings import Settings

ASCII = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=8)
TYPES = st.sampled_from(["Patient", "Observation", "Bundle", "Parameters", "patient", "Foo", "", "$validate"])
IDS = st.one_of(
    st.sampled_from(["1", "p-1", "a.b", "x" * 70, "_history", "%00", "..", "$everything"]),
    st.text(max_size=8),
)
SEGMENT = st.one_of(TYPES, IDS, st.sampled_from(["_history", "metadata", "1", "-1", "999999999999999999999"]))
QUERY_KEYS = st.sampled_from(
    ["_format", "_pretty", "_count", "_since", "_at", "_cursor", "identifier", "_id", "name", "_sort", ""]
)
QUERY_VALUES = st.one_of(
    st.sampled_from(
        ["json", "xml", "true", "0", "-5", "2024", "2024-13-01", "s|v", "|", "\\|", ",", "9" * 30]
    ),
    st.text(max_size=12),
)
HEADER_VALUES = {
    "content-type": st.sampled_from(
        [
            "application/fhir+json",
            "application/json",
            "application/json-patch+json",
            "application/fhir+xml",
            "text/plain",
            "",
            "multipart/form-data; boundary=x",
            "application/fhir+json; charset=latin-1",
        ]
    ),
    "accept": st.sampled_from(
        ["application/fhir+json", "*/*", "application/xml", "text/html;q=0", "", ";;;"]
    ),
    "if-match": st.one_of(st.sampled_from(['W/"1"', '"2"', "*", "W/", ""]), ASCII),
    "if-none-match": st.one_of(st.sampled_from(['W/"1"', "*", ""]), ASCII),
    "if-none-exist": st.one_of(
        st.sampled_from(["identifier=a|b", "_id=1", "name=x", "", "&&", "identifier="]), ASCII
    ),
    "if-modified-since": st.sampled_from(["Tue, 01 Jan 2030 00:00:00 GMT", "yesterday", ""]),
    "prefer": st.sampled_from(["return=minimal", "return=OperationOutcome", "return=", "handling=strict"]),
}
JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
RESOURCE = st.fixed_dictionaries(
    {"resourceType": TYPES},
    optional={
        "id": IDS,
        "type": st.sampled_from(["transaction", "batch", "collection", "x"]),
        "entry": st.lists(JSON_VALUE, max_size=2),
        "birthDate": st.sampled_from(["1970-01-01", "1970-13-01", "", "x"]),
        "identifier": JSON_VALUE,
        "meta": JSON_VALUE,
        "active": JSON_VALUE,
    },
)
BODY = st.one_of(
    st.binary(max_size=64),
    RESOURCE.map(lambda r: json.dumps(r).encode()),
    JSON_VALUE.map(lambda v: json.dumps(v).encode()),
    st.lists(JSON_VALUE, max_size=3).map(lambda v: json.dumps(v).encode()),
)


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    data = Path(tmp_path_factory.mktemp("fuzz"))
    app = create_app(Settings(data_dir=str(data), max_body_bytes=4096))
    client = Client(app)
    client.put(
        "Patient/1",
        json={"resourceType": "Patient", "id": "1", "identifier": [{"system": "a", "value": "b"}]},
    )
    yield client
    client.close()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
    segments=st.lists(SEGMENT, max_size=4),
    query=st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES), max_size=3),
    headers=st.fixed_dictionaries({}, optional=HEADER_VALUES),
    body=BODY,
)
def test_no_request_makes_a_500(
    fuzz_client: Client,
    method: str,
    segments: list[str],
    query: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
) -> None:
    path = "/".join(quote(s, safe="$._-") for s in segments)
    kwargs: dict[str, Any] = {"params": query, "headers": headers}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["content"] = body
    r = fuzz_client.request(method, path, **kwargs)
    assert r.status_code < 500 or r.status_code == 501, (r.status_code, r.text)
    if r.status_code >= 400 and method != "HEAD":
        assert r.json()["resourceType"] == "OperationOutcome"
