"""The cost of the audit trail on the request path: audit on vs off, in one run.

    .venv/bin/python bench/audit_bench.py [--requests N] [--rounds R] [--database sqlite|postgres]

Two loops through the ASGI app in-process (httpx ``ASGITransport``, one request at a
time), each run with the audit trail off and on, alternating for ``--rounds`` rounds on
fresh stores (the best round of each is reported):

* read-heavy: ``GET Patient/[id]`` and ``GET Observation/[id]`` of stored resources;
* write-heavy: ``POST Observation`` (create, validate, store).

Prints requests/s and p50/p99 latency per loop and setting, the added latency, the CPU
time of the process per request (best round; all threads, so the audit writer's work on
every event, the shutdown flush included), and the number of audit records written
(every request of the "on" runs must be there when the app has shut down).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helseflyt.app import create_app
from helseflyt.audit.store import SQLAuditStore
from helseflyt.http.testing import Client
from helseflyt.search.index import index
from helseflyt.settings import Settings
from helseflyt.storage import open_store
from helseflyt.storage.testing import drop_schema, with_schema

POSTGRES = os.environ.get("HELSEFLYT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
JSON = {"Content-Type": "application/fhir+json"}
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"


def observation(pid: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }


def run(url: str, audit: bool, workload: str, n: int) -> tuple[list[float], int, float]:
    store = open_store(url, indexer=index)
    try:
        app = create_app(Settings(data_dir=tempfile.mkdtemp()), store=store, audit=audit)
        with Client(app) as client:
            pid = client.post(
                "Patient",
                json={"resourceType": "Patient", "identifier": [{"system": FNR, "value": "13031353453"}]},
                headers=JSON,
            ).json()["id"]
            oid = client.post("Observation", json=observation(pid), headers=JSON).json()["id"]
            step: Callable[[int], Any]
            if workload == "read":
                paths = [f"Patient/{pid}", f"Observation/{oid}"]

                def step(i: int) -> Any:
                    return client.get(paths[i % 2])
            else:
                body = observation(pid)

                def step(i: int) -> Any:
                    return client.post("Observation", json=body, headers=JSON)

            for i in range(50):  # warm-up
                step(i)
            if app.state.audit is not None:
                app.state.audit.flush()
            latencies = []
            cpu = time.process_time()
            for i in range(n):
                t0 = time.perf_counter()
                r = step(i)
                latencies.append(time.perf_counter() - t0)
                assert r.status_code in (200, 201), r.text
        cpu = time.process_time() - cpu  # the shutdown flush included: every event's work
        written = SQLAuditStore(store).count()  # after shutdown: everything flushed
        return latencies, written, cpu / n
    finally:
        store.close()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    print(f"audit bench: {args.requests} requests per run, {args.rounds} rounds, {args.database}")
    for workload in ("read", "write"):
        best: dict[bool, list[float]] = {}
        cpus: dict[bool, float] = {}
        records = 0
        for _ in range(args.rounds):
            for audit in (False, True):
                schema = f"hf_bench_{uuid.uuid4().hex[:12]}"
                if args.database == "sqlite":
                    url = f"sqlite:///{folder / f'{uuid.uuid4().hex}.db'}"
                else:
                    url = with_schema(POSTGRES, schema)
                try:
                    latencies, written, cpu = run(url, audit, workload, args.requests)
                finally:
                    if args.database == "postgres":
                        drop_schema(POSTGRES, schema)
                if audit:
                    records = written
                cpus[audit] = min(cpu, cpus.get(audit, cpu))
                if audit not in best or statistics.median(latencies) < statistics.median(best[audit]):
                    best[audit] = latencies
        rows = {}
        for audit in (False, True):
            lat = best[audit]
            rows[audit] = (len(lat) / sum(lat), pct(lat, 0.5), pct(lat, 0.99))
            name = "on " if audit else "off"
            print(
                f"  {workload:5} audit {name}: {rows[audit][0]:8.0f} req/s  "
                f"p50 {rows[audit][1]:6.3f} ms  p99 {rows[audit][2]:6.3f} ms  "
                f"cpu {1000 * cpus[audit]:6.3f} ms/request"
            )
        off, on = rows[False], rows[True]
        print(
            f"  {workload:5} added: throughput {100 * (off[0] - on[0]) / off[0]:+.1f}%  "
            f"p50 {on[1] - off[1]:+.3f} ms  p99 {on[2] - off[2]:+.3f} ms  "
            f"cpu {1000 * (cpus[True] - cpus[False]):+.3f} ms/request  "
            f"(audit records written: {records}, expected {args.requests + 52})"
        )


if __name__ == "__main__":
    main()
