"""The no-basis identifier rules (NORWAY.md fixtures) and their use in validation."""

from __future__ import annotations

import pytest

from helseflyt.fhir.validation import validate
from helseflyt.norway import identifiers as ids
from helseflyt.norway.identifiers import (
    DNR,
    DUF,
    FHN,
    FNR,
    HER,
    HPR,
    ORGNR,
    RESH,
    check,
    check_d_nummer,
    check_fodselsnummer,
    make_fodselsnummer,
)


@pytest.mark.parametrize("value", ["13116900216", "05898597468", "02013299997"])
def test_norway_md_valid_fixtures(value: str) -> None:
    assert check(FNR, value) is None


def test_2032_rule_only() -> None:
    assert check_fodselsnummer("30108299939") is None
    assert check_fodselsnummer("30108299939", rule_2032=False) == "check digit k1 does not match"


@pytest.mark.parametrize("value", ["13057444850", "05076600324"])
def test_spec_examples_fail_mod11(value: str) -> None:
    reason = check(FNR, value)
    assert reason is not None and "check digit" in reason


def test_synthetic_month_plus_80() -> None:
    assert check_fodselsnummer("05898597468") is None
    assert check_fodselsnummer("05898597468", synthetic=False) == "month 89 is not valid"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1311690021", "fødselsnummer must have 11 digits, found 10"),
        ("1311690021x", "fødselsnummer must contain digits only"),
        ("13136900216", "month 13 is not valid (synthetic numbers: month +80)"),
        ("32016900216", "day 32 is not valid"),
        ("31046900216", "day 31 does not exist in month 4"),
        ("29027100216", "29 February does not exist in a year ending in 71"),
        ("53116900216", "day 53 is not valid: this looks like a D-nummer (day + 40)"),
        ("13116900217", "check digit k2 does not match"),
    ],
)
def test_fnr_reasons(value: str, reason: str) -> None:
    assert check(FNR, value) == reason


def test_d_nummer() -> None:
    d = make_fodselsnummer(13, 11, 1969, 2, d_nummer=True) or make_fodselsnummer(
        13, 11, 1969, 3, d_nummer=True
    )
    assert d is not None and d.startswith("53")
    assert check(DNR, d) is None
    assert check(FNR, d) is not None
    assert check_d_nummer("13116900216") == "day 13 is not valid: a D-nummer has day + 40 (41-71)"
    synthetic = make_fodselsnummer(1, 2, 1990, 100, d_nummer=True, synthetic=True) or make_fodselsnummer(
        1, 2, 1990, 101, d_nummer=True, synthetic=True
    )
    assert synthetic is not None and check(DNR, synthetic) is None


def test_make_fodselsnummer_roundtrip() -> None:
    made = [make_fodselsnummer(d, 5, 1984, i) for d in range(1, 29) for i in range(0, 50)]
    assert all(check(FNR, v) is None for v in made if v is not None)
    assert sum(v is None for v in made) > 0  # some individual numbers have no check digits


def test_felles_hjelpenummer() -> None:
    first9 = "812345678"
    k = ids.fnr_check_digits(first9) or ""
    value = first9 + k if k else "80000000000"
    assert check(FHN, value) is None
    assert "starts with 8 or 9" in (check(FHN, "13116900216") or "")


def test_hpr_published_numbers() -> None:
    for value in ["9144889", "9144900", "9144897", "9111492"]:
        assert check(HPR, value) is None
    assert check(HPR, "9144888") == "check digit (mod 11, weights 2-7 from the right) does not match"
    assert ids.check_hpr("9144888", check_digit=False) is None
    assert check(HPR, "0123") is not None


def test_organisasjonsnummer() -> None:
    assert check(ORGNR, "915933149") is None  # no-basis Organization example
    assert check(ORGNR, "974760673") is None  # Brønnøysundregistrene
    assert check(ORGNR, "915933148") is not None
    assert check(ORGNR, "91593314") == "organisasjonsnummer must have 9 digits, found 8"


def test_numeric_her_resh_duf() -> None:
    assert check(HER, "720") is None and check(RESH, "4001031") is None
    assert check(HER, "abc") == "HER-id must contain digits only"
    assert check(RESH, "0123") is not None
    body = "2021123456"
    weights = (4, 6, 3, 2, 4, 6, 3, 2, 7, 5)
    duf = body + f"{sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11:02d}"
    assert check(DUF, duf) is None
    assert check(DUF, body + "99") is not None


def test_unknown_system_is_not_checked() -> None:
    assert check("http://example.org/mrn", "anything") is None


def test_validator_names_the_element_and_rule() -> None:
    patient = {
        "resourceType": "Patient",
        "identifier": [
            {"system": "http://example.org", "value": "x"},
            {"system": FNR, "value": "13057444850"},
        ],
        "managingOrganization": {"identifier": {"system": ORGNR, "value": "123456789"}},
    }
    issues = validate(patient)
    where = {i.expression[0]: i.diagnostics for i in issues}
    assert set(where) == {"Patient.identifier[1].value", "Patient.managingOrganization.identifier.value"}
    assert "check digit k2 does not match" in where["Patient.identifier[1].value"]
    assert "fødselsnummer" in where["Patient.identifier[1].value"]


def test_public_api() -> None:
    assert set(ids.__all__) <= set(dir(ids))
