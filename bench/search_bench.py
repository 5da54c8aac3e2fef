"""Search index cost and query latency, per backend.

    .venv/bin/python bench/search_bench.py [--limit N] [--batch B] [--queries Q]
                                           [--backends sqlite,postgres] [--postgres URL]

Loads the Synthea sample (parsed first, not timed) with ``put_many`` in transactions of
``--batch`` resources twice per backend, into fresh stores: once with the
identifier-only indexer and once with the full search indexer
(:func:`helseflyt.search.index.index`), and prints resources/s for both (the writer
indexes in the write transaction, single-threaded). Then it runs typical queries
against the fully indexed store through ``Reader.search`` (with the searches of
``_include``) and prints p50/p99.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from storage_bench import POSTGRES, percentiles, synthea_resources, timed

from helseflyt.search.identifier_index import index_identifiers
from helseflyt.search.index import index
from helseflyt.search.parse import parse
from helseflyt.search.plan import build_query, include_queries
from helseflyt.storage import Store, open_store
from helseflyt.storage.testing import drop_schema, with_schema

QUERIES = [
    ("Observation", [("code", "http://loinc.org|8302-2"), ("_sort", "-date"), ("_count", "10")]),
    ("Condition", [("clinical-status", "active")]),
    ("Patient", [("name", "a")]),
    ("Encounter", [("date", "ge2015-01-01"), ("date", "lt2016-01-01")]),
    ("Observation", [("value-quantity", "gt100")]),
    ("Observation", [("patient.gender", "female"), ("code", "http://loinc.org|8302-2")]),
    ("Observation", [("subject:Patient.name", "bruen"), ("_sort", "-date")]),
    ("Patient", [("_has:Condition:subject:clinical-status", "active")]),
    ("Encounter", [("date", "ge2015-01-01"), ("date", "lt2016-01-01"), ("_include", "Encounter:subject")]),
    ("Observation", [("component-code-value-quantity", "http://loinc.org|8480-6$gt140")]),
    ("Observation", [("combo-code-value-quantity", "http://loinc.org|8480-6$gt140"), ("_count", "10")]),
    ("Condition", [("clinical-status:in", "http://hl7.org/fhir/ValueSet/condition-clinical")]),
    ("ServiceRequest", [("status", "completed"), ("_contained", "true"), ("_count", "10")]),
    ("Coverage", [("_contained", "true"), ("_containedType", "contained"), ("_count", "10")]),
]


@contextmanager
def store_for(backend: str, indexer: Any, pg: str) -> Iterator[Store]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(f"sqlite:///{tmp}/bench.db", indexer=indexer)
            try:
                yield store
            finally:
                store.close()
        return
    schema = f"hf_sbench_{uuid.uuid4().hex[:12]}"
    store = open_store(with_schema(pg, schema), indexer=indexer)
    try:
        yield store
    finally:
        store.close()
        drop_schema(pg, schema)


def load(store: Store, items: list[Any], batch: int) -> float:
    start = time.perf_counter()
    for at in range(0, len(items), batch):
        with store.transaction() as tx:
            tx.put_many(items[at : at + batch])
    return len(items) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--postgres", default=POSTGRES)
    args = ap.parse_args()
    items = synthea_resources(args.limit)
    print(f"{len(items)} resources")
    for backend in args.backends.split(","):
        with store_for(backend, index_identifiers, args.postgres) as store:
            ident = load(store, items, args.batch)
        with store_for(backend, index, args.postgres) as store:
            full = load(store, items, args.batch)
            print(
                f"{backend:9} bulk identifier-only {ident:>8,.0f} res/s  all parameters {full:>8,.0f} res/s"
            )
            for res_type, pairs in QUERIES:
                parsed = parse(pairs, [res_type])
                query = build_query(parsed, [res_type], total=False)

                def run(q: Any = query, includes: Any = parsed.includes) -> None:
                    with store.reader() as r:
                        page = r.search(q).versions
                        for inc in includes:  # _include: one search per include, as the API does
                            for iq in include_queries(inc, page, 1000):
                                r.search(iq)

                with store.reader() as r:
                    n = len(r.search(query).versions)
                samples = timed([run] * args.queries)
                text = "&".join(f"{k}={v}" for k, v in pairs)
                print(f"{backend:9} {res_type}?{text:60} {n:>3} hits  {percentiles(samples)}")


if __name__ == "__main__":
    main()
