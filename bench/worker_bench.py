#!/usr/bin/env python3
"""The bulk-load workers' output and CPU on the Synthea sample, in one process.

    python bench/worker_bench.py [--rounds N] [--digest] [--profile]

Runs :func:`helseflyt.ingest.prepare.prepare` (parse, plan, rewrite, validate,
serialise, index with the stores' indexer) on every document of the sample, with
server ids drawn from a counter instead of ``uuid4`` so that the output is
reproducible, and prints the worker CPU per resource (best of ``--rounds``).

``--digest`` prints SHA-256 digests of everything the workers hand the writer: the
stored bytes (head and tail) and the index rows of each resource, in order (and the
size of the pickled units). Two trees that print the same digests give the writer
equal input, so they store identical bodies and index rows. ``--profile`` prints a
cProfile; ``--stages`` the CPU of each stage run alone.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import pickle
import pstats
import sys
import time
import uuid

from ingest_bench import members  # noqa: E402

from helseflyt.ingest import prepare as prep  # noqa: E402
from helseflyt.ingest.sources import Document  # noqa: E402
from helseflyt.search.index import index  # noqa: E402


def documents() -> list[Document]:
    return [Document(name, data) for name, data in members()]


def run(docs: list[Document]) -> list[prep.Prepared]:
    counter = iter(range(1, 1 << 62))
    prep.new_id = lambda: str(uuid.UUID(int=next(counter)))  # type: ignore[assignment]
    return [prep.prepare(d, indexer=index) for d in docs]


def digests(units: list[prep.Prepared]) -> dict[str, str]:
    body, rows = hashlib.sha256(), hashlib.sha256()
    n = pickled = 0
    for u in units:
        assert not u.errors and u.items is not None, (u.source, u.errors)
        pickled += len(pickle.dumps(u, protocol=pickle.HIGHEST_PROTOCOL))
        for t, i, s in u.items:
            n += 1
            body.update(repr((t, i, s.head, s.tail)).encode())  # type: ignore[union-attr]
            rows.update(repr((t, i, s.index)).encode())  # type: ignore[union-attr]
    return {
        "resources": str(n),
        "bodies": body.hexdigest(),
        "rows": rows.hexdigest(),
        "pickled bytes": str(pickled),
    }


def stages(docs: list[Document], rounds: int) -> tuple[int, dict[str, float]]:
    """CPU seconds of each stage alone (best of ``rounds``), on the same input."""
    from helseflyt.fhir import json as fjson
    from helseflyt.fhir.validation import validate
    from helseflyt.interactions.transaction import check_identities, plan_bundle
    from helseflyt.interactions.transaction import prepare as prepare_plan
    from helseflyt.storage.common import serialize

    resources = [
        (e["resource"]["resourceType"], e["resource"]) for d in docs for e in fjson.loads(d.data)["entry"]
    ]
    units = run(docs)

    def planned(rewrite: bool) -> None:
        for d in docs:
            plan = plan_bundle(fjson.loads(d.data), base_url="", new_id=prep.new_id)
            if rewrite:
                check_identities(plan)
                prepare_plan(plan, lambda r, t: [])

    blobs = [pickle.dumps(u, protocol=pickle.HIGHEST_PROTOCOL) for u in units]
    work = {
        "JSON parsing": lambda: [fjson.loads(d.data) for d in docs],
        "parsing + planning": lambda: planned(False),
        "parsing + planning + rewriting": lambda: planned(True),
        "validation": lambda: [validate(r, expected_type=t) for t, r in resources],
        "search index rows": lambda: [index(t, r) for t, r in resources],
        "serialising (no index)": lambda: [serialize(t, "x", r, None) for t, r in resources],
        "pickling units": lambda: [pickle.dumps(u, protocol=pickle.HIGHEST_PROTOCOL) for u in units],
        "unpickling units (writer)": lambda: [pickle.loads(b) for b in blobs],
    }
    out = {}
    for name, f in work.items():
        best = float("inf")
        for _ in range(rounds):
            t0 = time.process_time()
            f()
            best = min(best, time.process_time() - t0)
        out[name] = best
    return len(resources), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--digest", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--stages", action="store_true", help="CPU of each stage alone")
    args = ap.parse_args()
    docs = documents()
    if args.stages:
        gc.disable()  # as prepare() does
        n, times = stages(docs, args.rounds)
        for name, seconds in times.items():
            print(f"{name:32} {seconds:6.3f} s  {seconds / n * 1e6:5.1f} us/resource")
        return
    units = run(docs)  # warm-up: packages, compiled plans
    n = sum(u.count for u in units)
    if args.digest:
        for k, v in digests(units).items():
            print(f"{k}: {v}")
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(run, docs)
        pstats.Stats(prof).sort_stats("tottime").print_stats(35)
        return
    best = float("inf")
    for _ in range(args.rounds):
        t0 = time.process_time()
        run(docs)
        best = min(best, time.process_time() - t0)
    print(f"worker CPU: {best:.2f} s for {n} resources = {best / n * 1e6:.0f} us/resource")


if __name__ == "__main__":
    sys.exit(main())
