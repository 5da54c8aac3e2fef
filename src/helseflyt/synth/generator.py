"""``generate`` yields the population; ``write`` streams it to disk.

Determinism: the care structure comes from ``Random(f"{seed}:structure")`` and patient
``i`` from ``Random(f"{seed}:patient:{i}")`` (string seeds are hashed with SHA-512, not
with Python's randomised ``hash``), dates from the fixed ``as_of``, and JSON keys in
insertion order. The only state shared between patients is the set of fødselsnummer
already handed out (kept unique; about 100 bytes per patient).
"""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

import orjson

from helseflyt.synth import structure as care
from helseflyt.synth.patient import Patient

AS_OF = date(2025, 1, 1)
FORMATS = ("bundle", "ndjson")
STRUCTURE_FILE = "0-care-structure.json"
PATIENTS_PER_FOLDER = 1000


def generate(patients: int, seed: int, *, as_of: date = AS_OF) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(name, resources): first the care structure, then one item per patient."""
    shared = care.build(patients, random.Random(f"helseflyt-synth:{seed}:structure"))
    yield "care-structure", shared.resources
    muni_cum = list(itertools.accumulate(shared.weights))
    used: set[str] = set()
    for i in range(1, patients + 1):
        p = Patient(i, random.Random(f"helseflyt-synth:{seed}:patient:{i}"), shared, muni_cum, as_of)
        p.person(used)
        p.care()
        yield p.id, p.out


def transaction(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A transaction Bundle that PUTs each resource under its own id (idempotent)."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ],
    }


@dataclass
class Summary:
    patients: int = 0
    resources: int = 0
    files: int = 0
    seconds: float = 0.0
    by_type: Counter[str] = field(default_factory=Counter)

    def text(self) -> str:
        rate = self.resources / self.seconds if self.seconds else 0.0
        return (
            f"{self.patients:,} patients, {self.resources:,} resources in {self.files:,} files, "
            f"{self.seconds:.1f} s ({rate:,.0f} resources/s)"
        )


def write(out: Path | str, patients: int, seed: int, *, fmt: str = "bundle", as_of: date = AS_OF) -> Summary:
    """Write the population into folder ``out`` as transaction Bundles or NDJSON per type.

    ``bundle``: ``0-care-structure.json`` and ``patients/NNNN/pasient-XXXXXXX.json``;
    ``ndjson``: ``<Type>.ndjson``. Memory stays bounded: one patient at a time.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (use one of {', '.join(FORMATS)})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = Summary()
    started = time.perf_counter()
    files: dict[str, IO[bytes]] = {}
    try:
        for n, (name, resources) in enumerate(generate(patients, seed, as_of=as_of)):
            for r in resources:
                summary.by_type[r["resourceType"]] += 1
            summary.resources += len(resources)
            if n > 0:
                summary.patients += 1
            if fmt == "bundle":
                if n == 0:
                    path = out / STRUCTURE_FILE
                else:
                    path = out / "patients" / f"{(n - 1) // PATIENTS_PER_FOLDER:04d}" / f"{name}.json"
                    path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(orjson.dumps(transaction(resources)))
                summary.files += 1
            else:
                for r in resources:
                    f = files.get(r["resourceType"])
                    if f is None:
                        f = files[r["resourceType"]] = (out / f"{r['resourceType']}.ndjson").open("wb")
                    f.write(orjson.dumps(r))
                    f.write(b"\n")
    finally:
        for f in files.values():
            f.close()
    summary.files += len(files)
    summary.seconds = time.perf_counter() - started
    return summary
