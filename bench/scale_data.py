"""Benchmark databases of any size, made of copies of the Synthea sample.

Each copy is the sample's 102 transaction Bundles loaded through the real bulk loader
(:func:`helseflyt.ingest.load`, every resource validated and indexed by the production
search indexer, as ``helseflyt load`` does). Every entry is a POST, so the loader gives
each copy fresh server ids and rewrites its ``urn:uuid:`` references to them. The copy
varies what identifies a patient, so that identifier and name searches keep a small
result however many copies there are:

* every ``Patient.name.family`` gets a three-letter prefix unique to the copy
  (``Witting`` in copy 30 -> ``Bewwitting``);
* every ``Patient.identifier.value`` gets the suffix ``-c<copy>``.

Copies are written as Bundle files into a staging folder inside the data folder (a few
copies at a time, deleted after loading), because the loader reads files.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any

from ingest_bench import bundles as sample_bundles

from helseflyt.fhir import json as fjson
from helseflyt.storage import Store
from helseflyt.storage.base import HistoryQuery

STAGE_COPIES = 3  # copies written to the staging folder per load() call


def tag(copy: int) -> str:
    """Three letters unique to a copy (26**3 copies): 0 -> 'baa'."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    n = copy + 26 * 26  # never starts with 'a'
    return letters[n // 676 % 26] + letters[n // 26 % 26] + letters[n % 26]


def rewrite_patient(patient: dict[str, Any], copy: int) -> None:
    prefix = tag(copy).capitalize()
    for name in patient.get("name", ()):
        if "family" in name:
            name["family"] = prefix + name["family"].lower()
    for ident in patient.get("identifier", ()):
        if "value" in ident:
            ident["value"] = f"{ident['value']}-c{copy}"


def copy_of(bundle: dict[str, Any], copy: int) -> bytes:
    for entry in bundle.get("entry", ()):
        res = entry.get("resource", {})
        if res.get("resourceType") == "Patient":
            rewrite_patient(res, copy)
    return fjson.dumps(bundle)


def counts(store: Store) -> tuple[int, int]:
    """(resources, patients) stored: versions in the history (a load writes each once)."""
    with store.reader() as r:
        return r.history_count(HistoryQuery()), r.history_count(HistoryQuery(type="Patient"))


def fill(store: Store, size: int, stage: Path) -> tuple[int, float]:
    """Load copies of the sample until ``store`` holds at least ``size`` resources;
    copies already loaded (an interrupted run) are kept. Returns (resources loaded,
    seconds spent in the loader)."""
    from helseflyt.ingest import load

    bundles = sample_bundles()
    per_copy = sum(len(fjson.loads(b).get("entry", ())) for b in bundles)
    patients_per_copy = len(bundles)
    have, patients = counts(store)
    first = math.ceil(patients / patients_per_copy)  # a copy cut short keeps its tag
    copies = max(0, math.ceil((size - have) / per_copy))
    loaded, seconds = 0, 0.0
    print(f"{have:,} resources stored; loading {copies} copies of {per_copy:,} resources")
    for at in range(first, first + copies, STAGE_COPIES):
        batch = range(at, min(at + STAGE_COPIES, first + copies))
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
        for c in batch:
            for i, raw in enumerate(bundles):
                (stage / f"c{c:05}-{i:04}.json").write_bytes(copy_of(fjson.loads(raw), c))
        report = load(store, [stage], progress=True)
        if report.errors:
            raise SystemExit(f"load errors: {report.summary()}")
        loaded += report.resources
        seconds += report.seconds
        done = have + loaded
        print(
            f"copies {batch.start}-{batch.stop - 1}: {done:,}/{size:,} resources, "
            f"{report.rate:,.0f} res/s (overall {loaded / seconds:,.0f} res/s), "
            f"{time.strftime('%H:%M:%S')}",
            flush=True,
        )
    shutil.rmtree(stage, ignore_errors=True)
    return loaded, seconds
