"""Ingest benchmark on the Synthea sample: REST transactions and bulk ``load``.

    python bench/ingest_bench.py [--backends sqlite,postgres] [--clients 1,4] [--postgres URL]

* REST: a real ``uvicorn`` server (``helseflyt.app.create_app``) in a subprocess on a
  free port; 1 and 4 concurrent httpx clients POST the Synthea transaction Bundles
  (each Bundle once in total). Resources/s = resources stored / wall time.
* bulk: ``helseflyt.ingest.load`` on the archive, every resource validated and indexed
  by the store's search indexer, as ``helseflyt load`` does.

Besides wall time, each run reports the CPU seconds it used (server process, or loader
and its workers; PostgreSQL's own processes not included): on a shared, busy machine
``resources / CPU s`` is the steadier figure to compare.

Each run gets an empty database: a fresh SQLite file, or a PostgreSQL schema of its
own (``?schema=``) dropped afterwards. Prints a table and writes JSON to
``bench/results/ingest-<time>.json``. Targets: >= 2,000/s REST, >= 10,000/s bulk.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HELSEFLYT_SHARED", ROOT.parent / "shared"))
SYNTHEA = SHARED / "data" / "synthea-r4-sample.tar.gz"
PG_DEFAULT = os.environ.get("HELSEFLYT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

SERVER = """
import sys, uvicorn
from helseflyt.app import create_app
from helseflyt.settings import Settings
settings = Settings(database=sys.argv[1], max_body_bytes=256 * 1024 * 1024)
app = create_app(settings)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""


def members() -> list[tuple[str, bytes]]:
    """``(name, bytes)`` of each Bundle file of the Synthea sample archive."""
    out = []
    with tarfile.open(SYNTHEA, "r|gz") as tar:
        for m in tar:
            if m.isfile() and m.name.endswith(".json"):
                f = tar.extractfile(m)
                assert f is not None
                out.append((m.name, f.read()))
    return out


def bundles() -> list[bytes]:
    return [data for _, data in members()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Database:
    """An empty database for one run: a SQLite file or a PostgreSQL schema."""

    def __init__(self, backend: str, pg_url: str, tmp: Path) -> None:
        self.backend, self.pg_url = backend, pg_url
        if backend == "sqlite":
            self.url = f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        else:
            self.schema = f"hf_bench_{uuid.uuid4().hex[:12]}"
            # application_name tags the load's server backends (backend_cpu)
            options = f"schema={self.schema}&application_name={self.schema}"
            self.url = f"{pg_url}{'&' if '?' in pg_url else '?'}{options}"

    def backend_cpu(self) -> float:
        """CPU seconds of this database's PostgreSQL backends still connected (0 for
        SQLite, or if the server's processes are not readable here: another machine)."""
        if self.backend != "postgres":
            return 0.0
        import psycopg

        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            pids = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (self.schema,)
            ).fetchall()
        total = 0.0
        for (pid,) in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return 0.0
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def drop(self) -> None:
        if self.backend == "postgres":
            import psycopg
            from psycopg import sql

            with psycopg.connect(self.pg_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))


def children_cpu() -> float:
    """CPU seconds of the finished (waited-for) child processes so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_rest(db: Database, docs: list[bytes], clients: int) -> dict[str, object]:
    cpu_before = children_cpu()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, db.url, str(port)])
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        deadline = time.time() + 30
        while True:
            try:
                if httpx.get(f"{base}/metadata", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("server did not start")
            time.sleep(0.1)
        stored, failures = [0], []
        lock = threading.Lock()
        work = list(enumerate(docs))

        def client() -> None:
            with httpx.Client(timeout=600) as http:
                while True:
                    with lock:
                        if not work:
                            return
                        _, body = work.pop()
                    r = http.post(base, content=body, headers={"Content-Type": "application/fhir+json"})
                    with lock:
                        if r.status_code == 200:
                            stored[0] += len(r.json()["entry"])
                        else:
                            failures.append(r.text[:300])

        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {
        "resources": stored[0],
        "seconds": seconds,
        "cpu": children_cpu() - cpu_before,  # the server, start-up included
        "errors": len(failures),
        "first_error": failures[:1],
    }


def run_bulk(db: Database, workers: int | None) -> dict[str, object]:
    from helseflyt.ingest import load
    from helseflyt.search.index import index  # the indexer of `helseflyt load` and serve
    from helseflyt.storage import open_store

    store = open_store(db.url, indexer=index)
    own_before = time.process_time()
    cpu_before = own_before + children_cpu()
    try:
        report = load(store, [SYNTHEA], progress=False, workers=workers)
        cpu_writer = time.process_time() - own_before  # this process: reading, writing
        backend = db.backend_cpu()  # PostgreSQL's backends: COPY, index inserts and builds
    finally:
        store.close()
    cpu = time.process_time() + children_cpu() - cpu_before  # this process and the workers
    return {
        "resources": report.resources,
        "seconds": report.seconds,
        "cpu": cpu,
        "cpu_writer": cpu_writer,
        "cpu_backend": backend,
        "errors": len(report.errors),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--clients", default="1,4")
    ap.add_argument("--workers", type=int, default=None, help="bulk load worker processes (default: CPUs)")
    ap.add_argument("--postgres", default=PG_DEFAULT)
    ap.add_argument("--skip-rest", action="store_true")
    ap.add_argument("--skip-bulk", action="store_true")
    args = ap.parse_args()
    docs = bundles()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            runs: list[tuple[str, object]] = []
            if not args.skip_rest:
                runs += [
                    (f"REST, {n} client{'s' if n > 1 else ''}", n) for n in map(int, args.clients.split(","))
                ]
            if not args.skip_bulk:
                runs.append(("bulk load", None))
            for name, clients in runs:
                db = Database(backend, args.postgres, Path(tmp))
                try:
                    res = (
                        run_rest(db, docs, clients)
                        if isinstance(clients, int)
                        else run_bulk(db, args.workers)
                    )
                finally:
                    db.drop()
                rate = res["resources"] / res["seconds"]  # type: ignore[operator]
                target = 10_000 if clients is None else 2_000
                rows.append({"backend": backend, "mode": name, **res, "rate": rate, "target": target})
                print(
                    f"{backend:9} {name:16} {res['resources']:>7,} resources {res['seconds']:7.2f} s "
                    f"{rate:>9,.0f}/s  target {target:,}/s {'ok' if rate >= target else 'MISSED'}"
                    f"  | CPU {res['cpu']:6.2f} s = {res['resources'] / res['cpu']:>7,.0f} resources/CPU-s"  # type: ignore[operator]
                    + (
                        f" (writer {res['cpu_writer']:.2f}, PostgreSQL backends {res['cpu_backend']:.2f})"
                        if "cpu_writer" in res
                        else ""
                    )
                    + (f"  errors {res['errors']}" if res["errors"] else ""),
                    flush=True,
                )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"ingest-{time.strftime('%Y%m%d-%H%M%S')}.json"
    meta = {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine()}
    path.write_text(json.dumps({"meta": meta, "runs": rows}, indent=2))
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
