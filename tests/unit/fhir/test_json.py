"""FHIR JSON keeps every decimal's text: what is parsed is written back unchanged."""

from __future__ import annotations

from decimal import Decimal

import pytest

from helseflyt.fhir import json as fjson

EXACT = [
    "1.50",
    "-0.0",
    "0.6860801344174664",
    "28.104000000000003",
    "0.0000001",
    "-0.0000010",
    "0.000001234",
    "123456789012345678.5",
    "1234567890.1234567",
    "12345678901234567890",
    "1.5",
    "0.00001",
    "7",
]


@pytest.mark.parametrize("text", EXACT)
def test_number_text_round_trips(text: str) -> None:
    body = f'{{"a":{text},"b":[{text},{text}]}}'.encode()
    assert fjson.dumps(fjson.loads(body)) == body


def test_exponents_keep_value_and_precision() -> None:
    assert fjson.loads(b'{"a":1e5}')["a"] == Decimal("1E+5")
    assert fjson.dumps(fjson.loads(b'{"a":1.2e-7}')) == b'{"a":0.00000012}'


def test_integers_stay_int() -> None:
    value = fjson.loads(b'{"a":1.50,"n":3}')
    assert type(value["n"]) is int and value["a"] == Decimal("1.50")
