"""Required-binding checks: a code must come from its (enumerable) value set.

Value sets that cannot be enumerated from the R4 package get a syntax rule instead
(``model.value_set_rule``): mime types, BCP-47 language tags, ISO 4217 currency codes.
UCUM and external lists (e.g. a LOINC answer list) are not checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from helseflyt.fhir import model

_RULES: dict[str, Callable[[str], Any]] = {
    "mime-type": re.compile(
        r"[A-Za-z0-9][\w!#$&^.+-]*/[A-Za-z0-9*][\w!#$&^.+*-]*(\s*;\s*[^;]+)*", re.ASCII
    ).fullmatch,
    "language": re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*", re.ASCII).fullmatch,
    "currency": re.compile(r"[A-Z]{3}", re.ASCII).fullmatch,
}

RULE_NAMES = {
    "mime-type": "a MIME type (type/subtype[;parameters])",
    "language": "a BCP-47 language tag",
    "currency": "an ISO 4217 currency code (three upper-case letters)",
}


@dataclass(frozen=True, slots=True)
class Binding:
    """A compiled required binding."""

    url: str
    codes: frozenset[str] | None  # bare codes (for the ``code`` type); None = by rule
    pairs: frozenset[tuple[str, str]] | None  # (system, code) for Coding
    systems: frozenset[str]
    rule: Callable[[str], Any] | None
    rule_name: str

    def code_ok(self, code: str) -> bool:
        if self.codes is not None:
            return code in self.codes
        return self.rule is None or self.rule(code) is not None

    def coding_ok(self, coding: Any) -> bool:
        """Whether one Coding (a dict, already structurally checked) is in the value set."""
        code = coding.get("code")
        if type(code) is not str:
            return False
        system = coding.get("system")
        if self.pairs is None:
            return self.code_ok(code)
        if type(system) is not str:  # absent, or already reported (e.g. an object: unhashable)
            return False
        return (system, code) in self.pairs

    def describe(self) -> str:
        if self.codes is not None:
            return f"the required value set {self.url}"
        return f"{self.rule_name} (required value set {self.url})"


# Upstream patches, one entry per element whose definition text widens its binding.
# CapabilityStatement.format: '"xml", "json" and "ttl" are allowed [...] Otherwise, mime
# types are legal here' (R4 element comment).
EXTRA_CODES: dict[str, frozenset[str]] = {
    "CapabilityStatement.format": frozenset({"xml", "json", "ttl"}),
}


def element_binding(path: str, url: str) -> Binding | None:
    """The compiled required binding of the element at ``path``."""
    return binding(url, EXTRA_CODES.get(path, frozenset()))


@cache
def binding(url: str, extra: frozenset[str] = frozenset()) -> Binding | None:
    """The compiled binding, or None when nothing can be checked (e.g. UCUM)."""
    pairs = model.value_set_codes(url)
    if pairs is not None:
        return Binding(
            url,
            frozenset(code for _, code in pairs),
            pairs,
            frozenset(system for system, _ in pairs),
            None,
            "",
        )
    rule = model.value_set_rule(url)
    if rule not in _RULES:
        return None
    match = _RULES[rule]
    if extra:

        def match(code: str, _m: Callable[[str], Any] = _RULES[rule]) -> Any:
            return code in extra or _m(code)

    return Binding(url, None, None, frozenset(), match, RULE_NAMES[rule])
