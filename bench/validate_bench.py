#!/usr/bin/env python3
"""Validate every resource of the shared Synthea sample and print resources/s.

    python bench/validate_bench.py [--repeat N]

The sample (a tar.gz of transaction Bundles) is read where it lives: in
``$HELSEFLYT_SHARED/data`` or ``../shared/data`` next to the repository. Exits 1 if any
resource has a validation issue.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from helseflyt.fhir.json import loads  # noqa: E402
from helseflyt.fhir.validation import validate  # noqa: E402


def sample_path() -> Path:
    shared = Path(os.environ.get("HELSEFLYT_SHARED", ROOT.parent / "shared"))
    return shared / "data" / "synthea-r4-sample.tar.gz"


def synthea_resources(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with tarfile.open(path) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".json"):
                bundle = loads(tar.extractfile(member).read())  # type: ignore[union-attr]
                out.extend(entry["resource"] for entry in bundle.get("entry", []))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (best is reported)")
    args = parser.parse_args()
    resources = synthea_resources(sample_path())
    t0 = time.perf_counter()
    issues = [(r, validate(r)) for r in resources[:1]]  # first call compiles the model
    first = time.perf_counter() - t0
    invalid: Counter[str] = Counter()
    best = best_cpu = float("inf")
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        issues = [(r, validate(r)) for r in resources]
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    for resource, found in issues:
        for issue in found:
            invalid[f"{resource['resourceType']} {issue.expression} {issue.diagnostics}"] += 1
    bad = sum(1 for _, found in issues if found)
    print(f"first call (loads definitions, compiles types): {first * 1000:.0f} ms")
    print(
        f"{len(resources):,} resources, {bad} invalid, best of {args.repeat}: "
        f"{best:.2f} s = {len(resources) / best:,.0f} resources/s "
        f"(CPU time: {len(resources) / best_cpu:,.0f} resources/s)"
    )
    for text, n in invalid.most_common(20):
        print(f"  {n} x {text}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
