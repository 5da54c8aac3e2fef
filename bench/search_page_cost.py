"""The cost of a big search page, in-process: date-range Encounter searches with their patients.

    python bench/search_page_cost.py DATABASE_URL [--span day|month] [--count 50]
        [--requests 300] [--rounds 2] [--no-audit] [--phases] [--dump FILE]

For A/B of a change (run it from each tree, ``PYTHONPATH=<tree>/src``, alternately).
The searches are ``Encounter?date=ge<start>&date=lt<end>&_include=Encounter:subject``
over days (or months) drawn evenly from the encounter dates of a database made by
``search_scale_bench.py``: the one-day page of the scale bench, or (``--span month``)
a page of ``--count`` encounters with their patients from a small database.

* Default: the ASGI app is called directly (no HTTP client, no socket): per round the
  p50 of the requests and the CPU of the whole process per request (the request
  threads and the audit writer; ``--no-audit`` without the audit trail).
* ``--phases``: the search interaction alone (no HTTP, no audit), per request the
  median over the requests of each SQL statement's time (the page, the count query
  when one runs, the include), of all SQL, of the interaction's CPU and of rendering.
* ``--dump FILE``: no timing; each search and its next pages (up to 3) with status,
  size and SHA-256 of the whole response, one line each: compare two trees' files.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from helseflyt.app import create_app
from helseflyt.settings import Settings
from helseflyt.storage import open_store

BASE = "http://testserver/fhir"


def searches(url: str, span: str, count: int, n: int) -> list[str]:
    """``n`` query strings: the days (months) of encounters taken evenly from all of them
    in id order, so a busy day comes up as often as its encounters do."""
    store = open_store(url)
    try:
        with store.reader() as r:
            rows = r.conn.query(  # type: ignore[attr-defined]
                "SELECT low FROM date_index WHERE res_type = 'Encounter' AND param = 'date' AND span = 0"
                " ORDER BY res_id"
            )
    finally:
        store.close()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n if rows else 0):
        (low,) = rows[i * len(rows) // n]
        start = (epoch + timedelta(microseconds=low)).replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)
        extra = ""
        if span == "month":
            start = start.replace(day=1)
            end = (start + timedelta(days=32)).replace(day=1)
            extra = f"&_count={count}"
        out.append(f"date=ge{start.date()}&date=lt{end.date()}&_include=Encounter:subject{extra}")
    return out


def scope(path: str, query: str) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "headers": [(b"host", b"testserver"), (b"accept", b"application/fhir+json")],
        "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }  # fmt: skip


async def call(app: Any, path: str, query: str) -> tuple[int, bytes]:
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope(path, query), receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def served(args: argparse.Namespace, queries: list[str]) -> None:
    app = create_app(Settings(database=args.url), audit=not args.no_audit)
    async with app.router.lifespan_context(app):
        if args.dump:
            with open(args.dump, "w") as out:
                for query in queries:
                    todo = [("/fhir/Encounter", query)]
                    for _ in range(3):
                        if not todo:
                            break
                        path, q = todo.pop()
                        status, body = await call(app, path, q)
                        out.write(f"{path}?{q}\t{status}\t{len(body)}\t{hashlib.sha256(body).hexdigest()}\n")
                        links = orjson.loads(body).get("link", []) if status == 200 else []
                        for link in links:
                            if link["relation"] == "next":
                                parts = urlsplit(link["url"])
                                todo.append((parts.path, parts.query))
            return
        for query in queries[:30]:  # warm-up
            await call(app, "/fhir/Encounter", query)
        for rnd in range(args.rounds):
            times, size = [], 0
            cpu = time.process_time()
            for query in queries:
                started = time.perf_counter()
                status, body = await call(app, "/fhir/Encounter", query)
                times.append(time.perf_counter() - started)
                size += len(body)
                if status != 200:
                    raise SystemExit(f"{query}: {status} {body[:200]!r}")
            cpu = (time.process_time() - cpu) / len(queries) * 1000
            print(
                f"round {rnd}: p50 {statistics.median(times) * 1000:.2f} ms, CPU {cpu:.2f} ms/request,"
                f" {size / len(queries) / 1024:.0f} KB/response",
                flush=True,
            )


def phases(args: argparse.Namespace, queries: list[str]) -> None:
    from helseflyt.http.media import Format
    from helseflyt.http.responses import render
    from helseflyt.interactions.context import Context
    from helseflyt.interactions.search import search
    from helseflyt.storage.sql import SQLReader

    store = open_store(args.url)
    ctx = Context(store=store, base_url=BASE, validate=None)  # type: ignore[arg-type]
    ran: list[tuple[str, float]] = []
    plain = SQLReader.search

    def timed(reader: SQLReader, query: Any) -> Any:
        conn = reader.conn
        inner = conn.query

        def query_timed(text: str, params: Any = (), **kw: Any) -> Any:
            started = time.perf_counter()
            rows = inner(text, params, **kw)
            ran.append((text, time.perf_counter() - started))
            return rows

        conn.query = query_timed  # type: ignore[method-assign]
        try:
            return plain(reader, query)
        finally:
            conn.query = inner  # type: ignore[method-assign]

    SQLReader.search = timed  # type: ignore[method-assign]
    pairs = [parse_qsl(q) for q in queries]
    for rnd in range(args.rounds + 1):  # round 0: warm-up
        per: dict[str, list[float]] = defaultdict(list)
        for p in pairs:
            ran.clear()
            cpu, started = time.thread_time(), time.perf_counter()
            result = search(ctx, ["Encounter"], p, self_base=f"{BASE}/Encounter")
            per["search"].append(time.perf_counter() - started)
            per["search CPU"].append(time.thread_time() - cpu)
            started = time.perf_counter()
            render(result, Format())
            per["render"].append(time.perf_counter() - started)
            for i, (text, took) in enumerate(ran):
                kind = "page" if i == 0 else "count" if text.startswith("SELECT count") else "include"
                per[kind].append(took)
            per["all SQL"].append(sum(took for _, took in ran))
        if rnd:
            cells = ", ".join(f"{k} {statistics.median(v) * 1000:.3f}" for k, v in per.items())
            counted = f"count: {len(per['count'])} of {len(pairs)}"
            print(f"round {rnd} (ms, medians; {counted}): {cells}", flush=True)
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url", help="database URL")
    ap.add_argument("--span", choices=("day", "month"), default="day")
    ap.add_argument("--count", type=int, default=50, help="_count of the month searches")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-audit", action="store_true")
    ap.add_argument("--phases", action="store_true")
    ap.add_argument("--dump")
    args = ap.parse_args()
    queries = searches(args.url, args.span, args.count, args.requests)
    if not queries:
        sys.exit("no encounter dates in this database")
    if args.phases:
        phases(args, queries)
    else:
        asyncio.run(served(args, queries))


if __name__ == "__main__":
    main()
