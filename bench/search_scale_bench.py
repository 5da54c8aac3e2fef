"""Search latency at scale (≥ 1 million resources), SQLite and PostgreSQL, over HTTP.

    python bench/search_scale_bench.py --data-dir DIR [--sizes 100000,1000000]
        [--backends sqlite,postgres] [--postgres URL] [--reuse] [--load-only]
        [--clients 1,16] [--workers 1] [--requests 400] [--patients 100] [--queries SUBSTR,...]
        [--client raw|httpx]

1. Databases: per backend and size, ``DIR/sqlite-<size>.db`` or the PostgreSQL schema
   ``hf_scale_<size>`` of ``--postgres``, filled with copies of the Synthea sample
   through the bulk loader with every search parameter indexed (``scale_data.py``);
   prints the ingest rate. PostgreSQL is ANALYZEd after loading (autovacuum would do it
   later). With ``--reuse`` a database already holding ``size`` resources is used as
   is; without it, it is emptied first. Keep ``DIR`` outside the repository.
2. Serving: ``helseflyt serve`` in a subprocess (open mode, loopback, a free port,
   ``--workers`` processes).
3. Driving: a separate client process (``scale_client.py``; ``--client raw``, the
   default, a lean asyncio HTTP/1.1 client, or ``httpx``) picks the
   queries' parameters from ``--patients`` patients of the database, warms up, then
   runs each query ``--requests`` times with 1 and 16 concurrent clients, every
   request with another patient's parameters. Prints p50/p99 latency, requests/s and
   the mean result count (a query finding nothing is a bench bug: it stops).
   With the server's pid it also reports the CPU time per request of the server process
   and of the client process (``CPU ms/request server + client``).
4. The server's resident memory (VmRSS, its workers included) after the run.

Prints a table with the sizes side by side and writes JSON to ``--out`` if given.
Targets (PRODUCT.md): p50 ≤ 5 ms, p99 ≤ 25 ms, a small result's latency independent of
the database size, ≤ 300 MB resident serving a million resources.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from ingest_bench import free_port
from scale_data import counts, fill

from helseflyt.search.index import index
from helseflyt.storage import open_store
from helseflyt.storage.testing import drop_schema, with_schema

HERE = Path(__file__).resolve().parent
POSTGRES = os.environ.get("HELSEFLYT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def database_url(backend: str, size: int, data_dir: Path, pg: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{data_dir / f'sqlite-{size}.db'}"
    return with_schema(pg, f"hf_scale_{size}")


def drop(backend: str, size: int, data_dir: Path, pg: str) -> None:
    if backend == "postgres":
        drop_schema(pg, f"hf_scale_{size}")
        return
    for suffix in ("", "-wal", "-shm"):
        (data_dir / f"sqlite-{size}.db{suffix}").unlink(missing_ok=True)


def analyze(url: str) -> None:
    import psycopg

    schema = url.rsplit("schema=", 1)[1]
    base = url.split("?", 1)[0]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute("ANALYZE")


def prepare(backend: str, size: int, args: argparse.Namespace) -> dict[str, Any]:
    """Fill (or reuse) the database; returns its size and the ingest figures."""
    url = database_url(backend, size, args.data_dir, args.postgres)
    store = open_store(url, indexer=index)
    try:
        have, _ = counts(store)
        if have and not args.reuse:
            store.close()
            drop(backend, size, args.data_dir, args.postgres)
            store = open_store(url, indexer=index)
        if backend == "sqlite" and args.load_cache_mb:  # the writer's page cache, this load only
            store._writer.execute(f"PRAGMA cache_size = -{args.load_cache_mb * 1024}")  # type: ignore[attr-defined]
        stage = args.data_dir / f"staging-{backend}-{size}"
        loaded, seconds = fill(store, size, stage)
        total, patients = counts(store)
    finally:
        store.close()
    if backend == "postgres" and loaded:
        started = time.perf_counter()
        analyze(url)
        print(f"ANALYZE {time.perf_counter() - started:.1f} s")
    rate = loaded / seconds if seconds else None
    return {"url": url, "resources": total, "patients": patients, "loaded": loaded, "ingest_rate": rate}


def rss_mb(pid: int) -> float:
    """Resident memory of the server and its workers (``--workers``)."""
    total = 0.0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if (int(status.parent.name) == pid or int(lines["PPid"]) == pid) and "VmRSS" in lines:
            total += int(lines["VmRSS"].split()[0]) / 1024
    return total


def serve_and_drive(url: str, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    env = {**os.environ, "HELSEFLYT_DATA_DIR": str(args.data_dir / "serve")}
    cmd = [sys.executable, "-m", "helseflyt.cli", "serve", "--database", url, "--port", str(port),
           "--workers", str(args.workers)]  # fmt: skip
    server = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 1800  # the first start migrates a large database
        while True:
            try:
                if httpx.get(f"{base}/metadata", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start: {cmd}")
            time.sleep(0.3)
        rss_start = rss_mb(server.pid)
        client = [
            sys.executable, str(HERE / "scale_client.py"), base,
            "--clients", args.clients, "--requests", str(args.requests),
            "--patients", str(args.patients), "--seconds", str(args.seconds),
            "--queries", args.queries, "--server-pid", str(server.pid), "--client", args.client,
        ]  # fmt: skip
        out = subprocess.run(client, capture_output=True, text=True)
        sys.stderr.write(out.stderr)
        if out.returncode:
            raise SystemExit(f"the client failed ({out.returncode})")
        result: dict[str, Any] = json.loads(out.stdout)
        result["rss_start_mb"] = rss_start
        result["rss_mb"] = rss_mb(server.pid)
        return result
    finally:
        server.terminate()
        server.wait(30)


def table(runs: list[dict[str, Any]]) -> str:
    """One row per (backend, query, clients); sizes side by side."""
    sizes = sorted({r["size"] for r in runs})
    by = {(r["backend"], r["size"]): r for r in runs}
    cell = "p50 / p99 ms, req/s, hits, CPU ms/request server + client"
    head = "| backend | query | clients | " + " | ".join(f"{s:,}: {cell}" for s in sizes)
    lines = [head + " |", "|" + "---|" * (3 + len(sizes))]
    for backend in dict.fromkeys(r["backend"] for r in runs):
        first = by.get((backend, sizes[0])) or next(r for r in runs if r["backend"] == backend)
        for q in first["queries"]:
            for c in sorted(q["runs"], key=int):
                cells = []
                for s in sizes:
                    run = by.get((backend, s))
                    m = run and next((x for x in run["queries"] if x["name"] == q["name"]), None)
                    if not m:
                        cells.append("")
                        continue
                    x = m["runs"][c]
                    err = f", {x['errors']} errors" if x.get("errors") else ""
                    cpu = ""
                    if x.get("server_cpu_ms") is not None:
                        cpu = f", {x['server_cpu_ms']:.2f} + {x['client_cpu_ms']:.2f}"
                    cells.append(
                        f"{x['p50']:.1f} / {x['p99']:.1f}, {x['rps']:.0f}, {x['hits']:.1f}{cpu}{err}"
                    )
                lines.append(f"| {backend} | {q['name']} | {c} | " + " | ".join(cells) + " |")
    for backend in dict.fromkeys(r["backend"] for r in runs):
        for s in sizes:
            r = by.get((backend, s))
            if r:
                rate = f"{r['ingest_rate']:,.0f} res/s" if r.get("ingest_rate") else "reused"
                lines.append(
                    f"\n{backend} {s:,}: {r['resources']:,} resources, {r['patients']:,} patients, "
                    f"ingest {rate}, server RSS {r.get('rss_start_mb', 0):.0f} MB at start, "
                    f"{r.get('rss_mb', 0):.0f} MB after the run"
                )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True, help="where the databases are kept")
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--postgres", default=POSTGRES)
    ap.add_argument("--reuse", action="store_true", help="keep a database already of the size")
    ap.add_argument("--load-only", action="store_true")
    ap.add_argument("--load-cache-mb", type=int, default=0, help="SQLite: the loading writer's page cache")
    ap.add_argument("--clients", default="1,16")
    ap.add_argument("--workers", type=int, default=1, help="server processes (helseflyt serve --workers)")
    ap.add_argument("--requests", type=int, default=400, help="per query and client count")
    ap.add_argument("--patients", type=int, default=100, help="patients to draw parameters from")
    ap.add_argument("--seconds", type=float, default=60, help="at most, per query and client count")
    ap.add_argument("--queries", default="", help="only queries whose name contains one of these (commas)")
    ap.add_argument(
        "--client", choices=("raw", "httpx"), default="raw", help="the load generator (scale_client.py)"
    )
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args()
    args.data_dir = args.data_dir.resolve()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for backend in args.backends.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            print(f"== {backend} {size:,}", flush=True)
            run = {"backend": backend, "size": size, **prepare(backend, size, args)}
            if not args.load_only:
                run.update(serve_and_drive(run["url"], args))
            runs.append(run)
            if args.out:
                args.out.write_text(json.dumps(runs, indent=1))
    if not args.load_only:
        print(table(runs))


if __name__ == "__main__":
    main()
