"""Norwegian identifiers of the HL7 Norway no-basis profiles and their check digits.

Usable on its own::

    >>> from helseflyt.norway.identifiers import check, FNR
    >>> check(FNR, "13116900216") is None
    True
    >>> check(FNR, "13057444850")
    'check digit k1 does not match (neither the current nor the 2032 rule)'

Every ``check_*`` function returns ``None`` for a valid value, otherwise one precise
reason. Nothing here derives sex or birth date from a number: the date digits are only
checked for being a possible date.

Rules (sources in ``docs/norway.md``):

* **Fødselsnummer** ``d d m m y y i i i k1 k2``: k1 weights ``3 7 6 1 8 9 4 5 2``, k2
  weights ``5 4 3 2 7 6 5 4 3 2`` over the first ten digits; ``k = 11 - (sum mod 11)``,
  11 becomes 0, 10 is invalid (Skatteetaten). From 2032 new numbers may have any k1 with
  ``(sum + k1) mod 11`` in 0..3; both rules are accepted, k2 is unchanged.
  Synthetic test numbers (Tenor) have month + 80; other offsets are configurable.
* **D-nummer**: as a fødselsnummer with day + 40.
* **Felles hjelpenummer** (NHN): 11 digits, first digit 8 or 9, the fødselsnummer check
  digits.
* **HPR-nummer**: up to 9 digits, last digit mod 11 with weights 2, 3, 4, 5, 6, 7 from
  the right (repeating). The weights are *inferred* from published HPR numbers, not
  from an official text: ``check_hpr(..., check_digit=False)`` turns the check off.
* **Organisasjonsnummer** (Brønnøysund): 9 digits, mod 11 with weights
  ``3 2 7 6 5 4 3 2``.
* **DUF-nummer** (UDI): 12 digits; the last two are the sum of the first ten with
  weights ``4 6 3 2 4 6 3 2 7 5``, mod 11 (third-party description; uncertain).
* **HER-id**, **RESH-id**: positive integers (no check digit).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

__all__ = [
    "DNR",
    "DUF",
    "FHN",
    "FNR",
    "HER",
    "HPR",
    "NAMES",
    "ORGNR",
    "RESH",
    "SYSTEMS",
    "SYNTHETIC_MONTH_OFFSET",
    "check",
    "check_d_nummer",
    "check_duf",
    "check_felles_hjelpenummer",
    "check_fodselsnummer",
    "check_her_id",
    "check_hpr",
    "check_organisasjonsnummer",
    "check_resh_id",
    "fnr_check_digits",
    "hpr_check_digit",
    "is_valid",
    "make_fodselsnummer",
    "orgnr_check_digit",
]

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR = "urn:oid:2.16.578.1.12.4.1.4.2"
FHN = "urn:oid:2.16.578.1.12.4.1.4.3"
HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
DUF = "urn:oid:2.16.578.1.12.4.1.4.5"
ORGNR = "urn:oid:2.16.578.1.12.4.1.4.101"
RESH = "urn:oid:2.16.578.1.12.4.1.4.102"
HER = "urn:oid:2.16.578.1.12.4.1.2"

SYNTHETIC_MONTH_OFFSET = 80  # Skatteetaten's Tenor test numbers

_K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_ORG = (3, 2, 7, 6, 5, 4, 3, 2)
_DUF = (4, 6, 3, 2, 4, 6, 3, 2, 7, 5)
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _digits(value: object, length: int | None, what: str) -> str | None:
    """A reason if ``value`` is not a string of ``length`` ASCII digits."""
    if not isinstance(value, str):
        return f"{what} must be a string"
    if not value.isascii() or not value.isdigit():
        return f"{what} must contain digits only"
    if length is not None and len(value) != length:
        return f"{what} must have {length} digits, found {len(value)}"
    return None


def _mod11(digits: str, weights: tuple[int, ...]) -> int:
    """``11 - (weighted sum mod 11)`` with 11 → 0; 10 means no valid check digit."""
    k = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if k == 11 else k


def fnr_check_digits(first9: str) -> str | None:
    """The two check digits (current rule) for nine digits, or None if k1 or k2 would be 10."""
    k1 = _mod11(first9, _K1)
    if k1 == 10:
        return None
    k2 = _mod11(first9 + str(k1), _K2)
    if k2 == 10:
        return None
    return f"{k1}{k2}"


def _check_digits(value: str, rule_2032: bool = True) -> str | None:
    s1 = sum(int(d) * w for d, w in zip(value[:9], _K1, strict=True))
    k1 = int(value[9])
    if (11 - s1 % 11) % 11 != k1:
        if not rule_2032:
            return "check digit k1 does not match"
        if (s1 + k1) % 11 > 3:
            return "check digit k1 does not match (neither the current nor the 2032 rule)"
    if _mod11(value[:10], _K2) != int(value[10]):
        return "check digit k2 does not match"
    return None


def _date(day: int, month: int, yy: int) -> str | None:
    if not 1 <= month <= 12:
        return None  # reported by the caller, who knows the offsets
    if not 1 <= day <= _DAYS[month - 1]:
        return f"day {day} does not exist in month {month}"
    if month == 2 and day == 29 and yy % 4 != 0:
        return f"29 February does not exist in a year ending in {yy:02d}"
    return None


def _person_number(
    value: object, what: str, day_offset: int, month_offsets: tuple[int, ...], rule_2032: bool
) -> str | None:
    bad = _digits(value, 11, what)
    if bad is not None:
        return bad
    assert isinstance(value, str)
    raw_day, raw_month, yy = int(value[0:2]), int(value[2:4]), int(value[4:6])
    day = raw_day - day_offset
    if not 1 <= day <= 31:
        if day_offset:
            return f"day {raw_day} is not valid: a {what} has day + {day_offset} (41-71)"
        if 41 <= raw_day <= 71:
            return f"day {raw_day} is not valid: this looks like a D-nummer (day + 40)"
        return f"day {raw_day} is not valid"
    for offset in (0, *month_offsets):
        if 1 <= raw_month - offset <= 12:
            month = raw_month - offset
            break
    else:
        allowed = ", ".join(f"+{o}" for o in month_offsets)
        extra = f" (synthetic numbers: month {allowed})" if month_offsets else ""
        return f"month {raw_month} is not valid{extra}"
    bad = _date(day, month, yy)
    if bad is not None:
        return bad
    return _check_digits(value, rule_2032)


def check_fodselsnummer(
    value: object,
    *,
    synthetic: bool = True,
    month_offsets: tuple[int, ...] = (SYNTHETIC_MONTH_OFFSET,),
    rule_2032: bool = True,
) -> str | None:
    """Reason why ``value`` is not a fødselsnummer, or None.

    With ``synthetic`` (the default) test numbers with month + 80 (``month_offsets``)
    are accepted too; with ``rule_2032`` (the default) also k1 of the 2032 rule.
    """
    return _person_number(value, "fødselsnummer", 0, month_offsets if synthetic else (), rule_2032)


def check_d_nummer(
    value: object,
    *,
    synthetic: bool = True,
    month_offsets: tuple[int, ...] = (SYNTHETIC_MONTH_OFFSET,),
    rule_2032: bool = True,
) -> str | None:
    """Reason why ``value`` is not a D-nummer (day + 40), or None."""
    return _person_number(value, "D-nummer", 40, month_offsets if synthetic else (), rule_2032)


def check_felles_hjelpenummer(value: object) -> str | None:
    """Reason why ``value`` is not a felles hjelpenummer (first digit 8 or 9), or None."""
    bad = _digits(value, 11, "felles hjelpenummer")
    if bad is not None:
        return bad
    assert isinstance(value, str)
    if value[0] not in "89":
        return f"first digit {value[0]} is not valid: a felles hjelpenummer starts with 8 or 9"
    return _check_digits(value)


def hpr_check_digit(body: str) -> int:
    """The HPR check digit of ``body`` (10 = none possible)."""
    total = sum(int(d) * (2 + i % 6) for i, d in enumerate(reversed(body)))
    return (11 - total % 11) % 11


def check_hpr(value: object, *, check_digit: bool = True) -> str | None:
    """Reason why ``value`` is not an HPR-nummer, or None."""
    bad = _digits(value, None, "HPR-nummer")
    if bad is not None:
        return bad
    assert isinstance(value, str)
    if not 1 <= len(value) <= 9:
        return f"an HPR-nummer has at most 9 digits, found {len(value)}"
    if value[0] == "0":
        return "an HPR-nummer must not start with 0"
    if check_digit and len(value) > 1 and hpr_check_digit(value[:-1]) != int(value[-1]):
        return "check digit (mod 11, weights 2-7 from the right) does not match"
    return None


def orgnr_check_digit(first8: str) -> int:
    """The organisasjonsnummer check digit of eight digits (10 = none possible)."""
    return _mod11(first8, _ORG)


def check_organisasjonsnummer(value: object) -> str | None:
    """Reason why ``value`` is not an organisasjonsnummer, or None."""
    bad = _digits(value, 9, "organisasjonsnummer")
    if bad is not None:
        return bad
    assert isinstance(value, str)
    if orgnr_check_digit(value[:8]) != int(value[8]):
        return "check digit (mod 11, weights 3 2 7 6 5 4 3 2) does not match"
    return None


def check_duf(value: object) -> str | None:
    """Reason why ``value`` is not a DUF-nummer, or None."""
    bad = _digits(value, 12, "DUF-nummer")
    if bad is not None:
        return bad
    assert isinstance(value, str)
    if sum(int(d) * w for d, w in zip(value[:10], _DUF, strict=True)) % 11 != int(value[10:]):
        return "check digits (weighted sum mod 11) do not match"
    return None


def _positive_integer(what: str) -> Callable[[object], str | None]:
    def check_number(value: object) -> str | None:
        bad = _digits(value, None, what)
        if bad is not None:
            return bad
        assert isinstance(value, str)
        if value[0] == "0":
            return f"{what} must be a positive integer without leading zeros"
        if len(value) > 9:
            return f"{what} has at most 9 digits, found {len(value)}"
        return None

    check_number.__name__ = f"check_{what.lower().replace('-', '_')}"
    check_number.__doc__ = f"Reason why ``value`` is not a {what} (a positive integer), or None."
    return check_number


check_her_id = _positive_integer("HER-id")
check_resh_id = _positive_integer("RESH-id")

SYSTEMS: Mapping[str, Callable[[object], str | None]] = MappingProxyType(
    {
        FNR: check_fodselsnummer,
        DNR: check_d_nummer,
        FHN: check_felles_hjelpenummer,
        HPR: check_hpr,
        DUF: check_duf,
        ORGNR: check_organisasjonsnummer,
        RESH: check_resh_id,
        HER: check_her_id,
    }
)
NAMES: Mapping[str, str] = MappingProxyType(
    {
        FNR: "fødselsnummer",
        DNR: "D-nummer",
        FHN: "felles hjelpenummer",
        HPR: "HPR-nummer",
        DUF: "DUF-nummer",
        ORGNR: "organisasjonsnummer",
        RESH: "RESH-id",
        HER: "HER-id",
    }
)


def check(system: str, value: object) -> str | None:
    """Reason why ``value`` is not valid in the no-basis identifier ``system``.

    None if it is valid, or if ``system`` is not one of :data:`SYSTEMS`.
    """
    checker = SYSTEMS.get(system)
    return None if checker is None else checker(value)


def is_valid(system: str, value: object) -> bool:
    return check(system, value) is None


def make_fodselsnummer(
    day: int, month: int, year: int, individual: int, *, d_nummer: bool = False, synthetic: bool = False
) -> str | None:
    """A number for the given parts (current check-digit rule), or None if k1/k2 would be 10."""
    first9 = (
        f"{day + (40 if d_nummer else 0):02d}"
        f"{month + (SYNTHETIC_MONTH_OFFSET if synthetic else 0):02d}"
        f"{year % 100:02d}{individual:03d}"
    )
    k = fnr_check_digits(first9)
    return None if k is None else first9 + k
