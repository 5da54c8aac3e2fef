"""The official FHIRPath R4 test suite (``conformance/fhirpath/tests-fhir-r4.xml``).

Each ``<test>`` becomes one case, named ``group/name``. ``invalid`` expects an error,
``predicate="true"`` turns the result into "exists", ``mode="strict"`` compiles in
strict mode and ``ordered="false"`` compares without order. XML inputs are read from
their JSON rendering next to them. Cases we fail are listed in :data:`KNOWN_FAILURES`
(strict xfail, so one that starts passing shows up), and the total pass count is held
above :data:`PASS_FLOOR`.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from helseflyt.fhir import fhirpath
from helseflyt.fhir import json as fhir_json
from helseflyt.fhir.fhirpath.conversions import format_value
from helseflyt.fhir.fhirpath.nodes import Node, system_value

SUITE = Path("conformance") / "fhirpath" / "tests-fhir-r4.xml"
TOTAL = 935

# name -> concrete reason we fail it
KNOWN_FAILURES: dict[str, str] = {}

PASS_FLOOR = 935


@dataclass
class Case:
    group: str
    name: str
    expression: str
    inputfile: str | None
    outputs: list[tuple[str | None, str]] = field(default_factory=list)
    invalid: str | None = None
    predicate: bool = False
    strict: bool = False
    ordered: bool = True

    @property
    def id(self) -> str:
        return f"{self.group}/{self.name}"


def load_cases(xml_path: Path) -> list[Case]:
    root = ET.parse(xml_path).getroot()
    cases: list[Case] = []
    for group in root.iter("group"):
        for i, test in enumerate(group.findall("test")):
            expr = test.find("expression")
            assert expr is not None
            mode = test.get("mode") or expr.get("mode")
            cases.append(
                Case(
                    group=group.get("name", ""),
                    name=test.get("name") or f"{group.get('name')}-{i}",
                    expression=expr.text or "",
                    inputfile=test.get("inputfile"),
                    outputs=[(o.get("type"), o.text or "") for o in test.findall("output")],
                    invalid=expr.get("invalid"),
                    predicate=test.get("predicate") == "true",
                    strict=mode == "strict",
                    ordered=test.get("ordered") != "false",
                )
            )
    return cases


@cache
def load_input(input_dir: Path, name: str) -> Any:
    path = input_dir / (name.rsplit(".", 1)[0] + ".json")
    return fhir_json.loads(path.read_bytes())


_SYSTEM_NAMES = {bool: "boolean", int: "integer", Decimal: "decimal", str: "string"}


def describe(item: Any) -> tuple[str | None, str]:
    """(type, text) of a result item in the suite's notation."""
    fhir_type = item.type if isinstance(item, Node) else None
    value = system_value(item)
    if isinstance(value, Node):
        return fhir_type, json.dumps(value.value, sort_keys=True, default=str)
    if isinstance(value, fhirpath.FPDateTime):
        return value.kind, repr(value)
    if isinstance(value, fhirpath.Quantity):
        return "Quantity", format_value(value) or ""
    text = format_value(value) or ""
    return fhir_type or _SYSTEM_NAMES.get(type(value)), text


def same(expected: tuple[str | None, str], actual: tuple[str | None, str]) -> bool:
    etype, etext = expected
    atype, atext = actual
    if etext.strip() != atext:
        try:
            if (
                Decimal(etext) != Decimal(atext)
                or Decimal(etext).as_tuple().exponent != Decimal(atext).as_tuple().exponent
            ):
                return False
        except ArithmeticError:
            return False
    return etype is None or etype == atype or (etype == "Quantity" and atype == "Quantity")


def run_case(case: Case, input_dir: Path) -> tuple[bool, str]:
    """(passed, explanation)."""
    resource = load_input(input_dir, case.inputfile) if case.inputfile else None
    try:
        expr = fhirpath.compile(case.expression, strict=case.strict)
        result = expr.evaluate_nodes(resource) if resource is not None else expr.evaluate_nodes({})
    except fhirpath.FHIRPathError as exc:
        if case.invalid:
            return True, ""
        return False, f"unexpected error: {exc}"
    if case.invalid:
        return False, f"expected an error ({case.invalid}), got {result!r}"
    if case.predicate:
        actual = [("boolean", "true" if result else "false")]
    else:
        actual = [describe(x) for x in result]
    expected = case.outputs
    if len(actual) != len(expected):
        return False, f"expected {expected}, got {actual}"
    if case.ordered:
        ok = all(same(e, a) for e, a in zip(expected, actual, strict=True))
    else:
        remaining = list(actual)
        ok = True
        for e in expected:
            hit = next((a for a in remaining if same(e, a)), None)
            if hit is None:
                ok = False
                break
            remaining.remove(hit)
    return ok, "" if ok else f"expected {expected}, got {actual}"


def _cases() -> list[Case]:
    # the same place as the ``shared_dir`` fixture (tests/conftest.py) looks
    root = Path(__file__).resolve().parents[2]
    path = Path(os.environ.get("HELSEFLYT_SHARED", root.parent / "shared")) / SUITE
    return load_cases(path) if path.is_file() else []


CASES = _cases()


@pytest.fixture(scope="module")
def suite_dir(shared_dir: Path) -> Path:
    path = shared_dir / SUITE
    if not path.is_file():
        from conftest import missing

        missing(f"FHIRPath suite not found at {path}")
    return path.parent / "input"


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, id=c.id, marks=pytest.mark.xfail(reason=KNOWN_FAILURES[c.name], strict=True))
        if c.name in KNOWN_FAILURES
        else pytest.param(c, id=c.id)
        for c in CASES
    ],
)
def test_suite_case(case: Case, suite_dir: Path) -> None:
    passed, why = run_case(case, suite_dir)
    assert passed, f"{case.expression!r}: {why}"


def test_suite_size(suite_dir: Path) -> None:
    assert len(CASES) == TOTAL


def test_pass_count_floor(suite_dir: Path) -> None:
    passed = sum(run_case(c, suite_dir)[0] for c in CASES)
    assert passed >= PASS_FLOOR, f"{passed} of {len(CASES)} pass, floor is {PASS_FLOOR}"
    assert passed + len(KNOWN_FAILURES) >= len(CASES)
