"""Storage micro-benchmark: bulk ``put_many`` and single-resource reads, per backend.

    .venv/bin/python bench/storage_bench.py [--limit N] [--batch B] [--reads R]
                                            [--backends sqlite,postgres] [--postgres URL]

Reads every resource of the Synthea sample (``$HELSEFLYT_SHARED/data``, default
``../shared`` next to the repository; a tar of transaction Bundles), parses them first
(not timed), then for each backend, into a fresh store with the identifier indexer:

* bulk load: ``put_many`` in transactions of ``--batch`` resources → resources/s;
* read: ``--reads`` random ``read`` calls, each in its own reader → p50/p99 latency;
* update: ``--reads // 4`` single-resource ``put`` transactions → p50/p99 latency.

PostgreSQL runs in a fresh schema of ``--postgres`` (default ``$HELSEFLYT_TEST_POSTGRES``
or the test server), dropped afterwards; SQLite in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from helseflyt.fhir import json as fjson
from helseflyt.search.identifier_index import index_identifiers
from helseflyt.storage import Store, open_store
from helseflyt.storage.testing import drop_schema, with_schema

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HELSEFLYT_SHARED", ROOT.parent / "shared"))
POSTGRES = os.environ.get("HELSEFLYT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

Item = tuple[str, str, dict[str, Any]]


def synthea_resources(limit: int | None) -> list[Item]:
    path = SHARED / "data" / "synthea-r4-sample.tar.gz"
    out: list[Item] = []
    with tarfile.open(path) as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".json"):
                continue
            data = tar.extractfile(member)
            assert data is not None
            bundle = fjson.loads(data.read())
            for entry in bundle.get("entry", ()):
                res = entry.get("resource")
                if isinstance(res, dict) and "id" in res:
                    out.append((res["resourceType"], res["id"], res))
                    if limit is not None and len(out) >= limit:
                        return out
    return out


@contextmanager
def sqlite_store() -> Iterator[Store]:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.db", indexer=index_identifiers)
        try:
            yield store
        finally:
            store.close()


@contextmanager
def postgres_store(url: str) -> Iterator[Store]:
    schema = f"hf_bench_{uuid.uuid4().hex[:12]}"
    store = open_store(with_schema(url, schema), indexer=index_identifiers)
    try:
        yield store
    finally:
        store.close()
        drop_schema(url, schema)


def percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return f"p50 {cuts[49] * 1000:.3f} ms  p99 {cuts[98] * 1000:.3f} ms"


def timed(calls: list[Callable[[], object]]) -> list[float]:
    out = []
    for call in calls:
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def bench(name: str, store: Store, items: list[Item], batch: int, reads: int) -> None:
    start = time.perf_counter()
    for at in range(0, len(items), batch):
        with store.transaction() as tx:
            tx.put_many(items[at : at + batch])
    took = time.perf_counter() - start
    rate = len(items) / took
    print(f"{name:9} bulk load  {len(items):>7} resources in {took:6.2f} s = {rate:>9,.0f} resources/s")

    rng = random.Random(42)
    picks = [items[rng.randrange(len(items))] for _ in range(reads)]

    def read(t: str, i: str) -> None:
        with store.reader() as r:
            assert r.read(t, i) is not None

    def update(t: str, i: str, res: dict[str, Any]) -> None:
        with store.transaction() as tx:
            tx.current(t, i, for_update=True)
            tx.put(t, i, res)

    samples = timed([lambda p=p: read(p[0], p[1]) for p in picks])
    print(f"{name:9} read       {reads:>7} calls      {percentiles(samples)}")
    updates = picks[: max(reads // 4, 2)]
    samples = timed([lambda p=p: update(*p) for p in updates])
    print(f"{name:9} update     {len(updates):>7} calls      {percentiles(samples)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=None, help="resources to load (default: all)")
    parser.add_argument("--batch", type=int, default=1000, help="resources per transaction")
    parser.add_argument("--reads", type=int, default=4000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres", default=POSTGRES)
    args = parser.parse_args()

    start = time.perf_counter()
    items = synthea_resources(args.limit)
    print(f"parsed {len(items)} Synthea resources in {time.perf_counter() - start:.2f} s (not timed below)")
    for name in args.backends.split(","):
        opener = sqlite_store() if name == "sqlite" else postgres_store(args.postgres)
        with opener as store:
            bench(name, store, items, args.batch, args.reads)


if __name__ == "__main__":
    main()
