"""FHIRPath speed and conformance: Helseflyt's engine against fhirpathpy.

    .venv/bin/python bench/fhirpath_bench.py [--patients N] [--seconds S] [--no-suite]

Reads the Synthea sample from ``$HELSEFLYT_SHARED/data`` (default ``../shared`` next to
the repository) and evaluates each expression over the matching resources with both
engines, compiled once (``helseflyt.fhir.fhirpath.compile`` / ``fhirpathpy.compile``
with the R4 model). Prints evaluations per second and the speed-up. Then runs the
official FHIRPath R4 suite through fhirpathpy with the harness of
``tests/conformance/test_fhirpath_suite.py`` and prints both pass counts.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helseflyt.fhir import fhirpath
from helseflyt.fhir import json as fhir_json

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HELSEFLYT_SHARED", ROOT.parent / "shared"))

# (resource type the expression runs on, expression)
EXPRESSIONS = [
    ("Observation", "Observation.code.coding.where(system='http://loinc.org').code"),
    ("Observation", "Observation.subject"),
    ("Observation", "(Observation.effective as dateTime)"),
    ("Observation", "Observation.value.ofType(Quantity).value > 5"),
    ("Patient", "Patient.name"),
    ("Patient", "Patient.name.where(use='official').family.first()"),
    ("Patient", "Patient.birthDate <= @2000-01-01"),
    ("Condition", "Condition.code | Condition.category"),
    ("Encounter", "Encounter.period.start"),
    ("Bundle", "Bundle.entry.resource.where(resourceType='Patient')"),
]


def load_bundles(patients: int) -> list[dict[str, Any]]:
    path = SHARED / "data" / "synthea-r4-sample.tar.gz"
    bundles = []
    with tarfile.open(path) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".json"):
                data = tar.extractfile(member)
                assert data is not None
                bundles.append(fhir_json.loads(data.read()))
                if len(bundles) >= patients:
                    break
    return bundles


def rate(fn: Callable[[Any], Any], resources: list[Any], seconds: float) -> float:
    """Evaluations per second over ``resources``, repeated for at least ``seconds``."""
    count = 0
    start = time.perf_counter()
    while True:
        for r in resources:
            fn(r)
        count += len(resources)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def bench(patients: int, seconds: float) -> None:
    import fhirpathpy
    from fhirpathpy.models import models

    bundles = load_bundles(patients)
    by_type: dict[str, list[dict[str, Any]]] = {"Bundle": bundles}
    for b in bundles:
        for e in b.get("entry", []):
            r = e["resource"]
            by_type.setdefault(r["resourceType"], []).append(r)
    print(f"{len(bundles)} bundles, {sum(len(v) for k, v in by_type.items() if k != 'Bundle')} resources")
    print(f"{'expression':62} {'n':>6} {'helseflyt/s':>12} {'fhirpathpy/s':>12} {'speed-up':>8}")
    ratios = []
    for rtype, text in EXPRESSIONS:
        resources = by_type.get(rtype, [])
        if rtype == "Bundle":
            resources = resources[:10]
        ours = fhirpath.compile(text)
        theirs = fhirpathpy.compile(text, models["r4"])
        for r in resources[:50]:  # the engines must agree before we time them
            a, b = ours.evaluate(r), theirs(r)
            assert len(a) == len(b), (text, a, b)
        mine = other = 0.0
        for _ in range(3):  # interleaved rounds, best of each: fairer on a busy machine
            mine = max(mine, rate(ours.evaluate, resources, seconds / 3))
            other = max(other, rate(theirs, resources, seconds / 3))
        ratios.append(mine / other)
        print(f"{text[:62]:62} {len(resources):>6} {mine:>12,.0f} {other:>12,.0f} {mine / other:>7.1f}x")
    geo = 1.0
    for r in ratios:
        geo *= r
    print(f"geometric mean speed-up: {geo ** (1 / len(ratios)):.1f}x (min {min(ratios):.1f}x)")


def suite() -> None:
    """Pass counts of both engines on the official suite, same harness."""
    import fhirpathpy
    from fhirpathpy.models import models

    spec = importlib.util.spec_from_file_location(
        "fhirpath_suite", ROOT / "tests" / "conformance" / "test_fhirpath_suite.py"
    )
    assert spec is not None and spec.loader is not None
    harness = importlib.util.module_from_spec(spec)
    sys.modules["fhirpath_suite"] = harness
    spec.loader.exec_module(harness)
    input_dir = SHARED / harness.SUITE.parent / "input"
    cases = harness.CASES

    ours = sum(harness.run_case(c, input_dir)[0] for c in cases)

    def run_fhirpathpy(case: Any) -> bool:
        resource = harness.load_input(input_dir, case.inputfile) if case.inputfile else {}
        try:
            result = fhirpathpy.evaluate(resource, case.expression, {}, models["r4"])
        except Exception:  # noqa: BLE001 - any error counts as "raised"
            return bool(case.invalid)
        if case.invalid:
            return False
        if case.predicate:
            actual = [("boolean", "true" if result else "false")]
        else:
            actual = [(None, _text(v)) for v in result]
        if len(actual) != len(case.outputs):
            return False
        if case.ordered:
            return all(harness.same((None, e[1]), a) for e, a in zip(case.outputs, actual, strict=True))
        remaining = list(actual)
        for e in case.outputs:
            hit = next((a for a in remaining if harness.same((None, e[1]), a)), None)
            if hit is None:
                return False
            remaining.remove(hit)
        return True

    theirs = sum(run_fhirpathpy(c) for c in cases)
    print(
        f"official FHIRPath R4 suite: helseflyt {ours}/{len(cases)}, fhirpathpy {theirs}/{len(cases)}"
        " (fhirpathpy compared on output text only, i.e. leniently)"
    )


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    text = str(v)
    cls = type(v).__name__
    if cls in ("FP_DateTime", "FP_Time") or "Date" in cls or "Time" in cls:
        return "@" + text if not text.startswith("@") else text
    return text


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--no-suite", action="store_true")
    args = parser.parse_args()
    bench(args.patients, args.seconds)
    if not args.no_suite:
        suite()


if __name__ == "__main__":
    main()
