"""The HTTP client of ``search_scale_bench.py``, run in its own process.

    python bench/scale_client.py BASE_URL [--clients 1,16] [--requests 400] [--patients 100]
                                          [--seconds 60] [--queries SUBSTR,...] [--client raw|httpx]

Draws the queries' parameters from ``--patients`` patients of the server (their
identifiers, name prefixes, a LOINC code they have observations of, a condition, an
encounter's day), warms up (each query for 20 patients), then runs each query
``--requests`` times per client count (or for ``--seconds``, whichever ends first),
request i with patient i's parameters. Writes JSON to stdout: per query and client count
p50/p99 ms, requests/s, mean matches, requests and error answers (not timed; each is
printed), and with ``--server-pid`` the CPU time per request of the server process (its
workers included) and of this client process (where the CPU goes when the machine is the limit). Exits
non-zero if a query finds nothing (a bench bug, not a result).

``--client raw`` (the default) sends the timed requests with a lean asyncio HTTP/1.1
client, one keep-alive connection per concurrent client, all in this one process: about
0.05-0.1 ms of CPU per request, so the figures are the server's (as with wrk or hey).
``--client httpx`` uses httpx's async client (1-2 ms of CPU per small search, more than
the server's; with 16 clients it takes most of a 2-core machine). The parameters are
drawn with httpx either way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import httpx

from helseflyt.fhir import json as fjson

SYNTHEA = "https://github.com/synthetichealth/synthea"
LOINC = "http://loinc.org"


@dataclass(frozen=True)
class Subject:
    id: str
    identifier: str  # system|value
    name: str  # a name prefix: the copy's tag and three letters of the family name
    loinc: str  # a LOINC code the patient has observations of
    condition: str  # system|code of one of the patient's conditions
    status: str  # that condition's clinical status
    day: date  # the start of one of the patient's encounters


Request = tuple[str, str, dict[str, str]]  # method, path, parameters
QUERIES: list[tuple[str, Callable[[Subject], Request]]] = [
    ("Observation?patient&code&_sort=-date&_count=10", lambda s: (
        "GET", "Observation",
        {"patient": s.id, "code": f"{LOINC}|{s.loinc}", "_sort": "-date", "_count": "10"})),
    ("Condition?patient&clinical-status", lambda s: (
        "GET", "Condition", {"patient": s.id, "clinical-status": s.status})),
    ("POST Patient/_search identifier", lambda s: (
        "POST", "Patient/_search", {"identifier": s.identifier})),
    ("Patient?name=<prefix>", lambda s: ("GET", "Patient", {"name": s.name})),
    ("Encounter?date=<one day>&_include=Encounter:subject", lambda s: (
        "GET", "Encounter",
        {"date": f"ge{s.day}", "date2": f"lt{s.day + timedelta(days=1)}", "_include": "Encounter:subject"})),
    ("Encounter?patient&date=<that year>&_include=Encounter:subject", lambda s: (
        "GET", "Encounter",
        {"patient": s.id, "date": f"ge{s.day.year}-01-01", "date2": f"lt{s.day.year + 1}-01-01",
         "_include": "Encounter:subject"})),
    ("Observation?subject:Patient.name=<prefix>&code", lambda s: (
        "GET", "Observation", {"subject:Patient.name": s.name, "code": f"{LOINC}|{s.loinc}"})),
    ("Patient?name=<prefix>&_has:Condition:patient:code", lambda s: (
        "GET", "Patient", {"name": s.name, "_has:Condition:patient:code": s.condition})),
]  # fmt: skip


def pairs(params: dict[str, str]) -> list[tuple[str, str]]:
    """Repeated parameters are written ``name2`` in the tables above."""
    return [(k[:-1] if k[-1].isdigit() else k, v) for k, v in params.items()]


def matches(body: bytes) -> int:
    bundle = fjson.loads(body)
    return sum(1 for e in bundle.get("entry", ()) if e.get("search", {}).get("mode") == "match")


async def get(http: httpx.AsyncClient, path: str, **params: str) -> list[dict[str, Any]]:
    r = await http.get(path, params=params)
    r.raise_for_status()
    return [e["resource"] for e in fjson.loads(r.content).get("entry", ()) if "resource" in e]


async def subject(http: httpx.AsyncClient, patient: dict[str, Any]) -> Subject | None:
    pid = patient["id"]
    ident = next((i for i in patient.get("identifier", ()) if i.get("system") == SYNTHEA), None)
    family = next((n["family"] for n in patient.get("name", ()) if n.get("family")), None)
    if ident is None or family is None:
        return None
    obs = await get(http, "Observation", patient=pid, _count="200", _elements="code")
    codes = Counter(
        c["code"] for o in obs for c in o.get("code", {}).get("coding", ()) if c.get("system") == LOINC
    )
    conds = await get(http, "Condition", patient=pid, _elements="code,clinicalStatus")
    encs = await get(http, "Encounter", patient=pid, _count="1", _elements="period")
    cond = next((c for c in conds if c.get("clinicalStatus") and c.get("code", {}).get("coding")), None)
    start = next((e["period"]["start"] for e in encs if e.get("period", {}).get("start")), None)
    if not codes or cond is None or start is None:
        return None
    coding = cond["code"]["coding"][0]
    return Subject(
        id=pid,
        identifier=f"{SYNTHEA}|{ident['value']}",
        name=family[:6].lower(),
        loinc=codes.most_common(1)[0][0],
        condition=f"{coding['system']}|{coding['code']}",
        status=cond["clinicalStatus"]["coding"][0]["code"],
        day=date.fromisoformat(start[:10]),
    )


async def subjects(http: httpx.AsyncClient, n: int) -> list[Subject]:
    patients = await get(http, "Patient", _count=str(n), _elements="identifier,name")
    found = await asyncio.gather(*(subject(http, p) for p in patients))
    out = [s for s in found if s is not None]
    if not out:
        raise SystemExit("no usable patients in the database")
    return out


async def send(http: httpx.AsyncClient, req: Request) -> tuple[float, int]:
    """(seconds, matches); matches -1 for an error answer (reported, not timed)."""
    method, path, params = req
    started = time.perf_counter()
    if method == "POST":
        r = await http.post(path, data=dict(pairs(params)))
    else:
        r = await http.get(path, params=pairs(params))
    elapsed = time.perf_counter() - started
    if r.status_code != 200:
        print(f"{method} {path} {params}: {r.status_code} {r.text[:300]}", file=sys.stderr)
        return elapsed, -1
    return elapsed, matches(r.content)


class Connection(Protocol):
    async def send(self, prepared: Any, check: bool = False) -> tuple[float, int]: ...
    async def close(self) -> None: ...


class HttpxClient:
    """httpx's async client: one pool of keep-alive connections shared by the workers."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    def prepare(self, req: Request) -> Request:
        return req  # httpx encodes per request, as a typical client would

    async def connect(self) -> Connection:
        return self

    async def send(self, prepared: Request, check: bool = False) -> tuple[float, int]:
        return await send(self.http, prepared)

    async def close(self) -> None:
        pass


class RawClient:
    """A lean HTTP/1.1 keep-alive client (the role of wrk or hey): one asyncio stream per
    worker, request bytes built before the clock starts, the answer read by its
    Content-Length. Matches are counted in the raw bytes (``MATCH``); the warm-up checks
    that count against a parse of each Bundle (``check``)."""

    def __init__(self, base: str) -> None:
        url = urlsplit(base)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.prefix = url.path.rstrip("/")
        self.head = f"Host: {url.netloc}\r\nAccept: application/fhir+json\r\n".encode()

    def prepare(self, req: Request) -> bytes:
        method, path, params = req
        query = urlencode(pairs(params)).encode()
        if method == "POST":
            return (
                f"POST {self.prefix}/{path} HTTP/1.1\r\n".encode() + self.head
                + b"Content-Type: application/x-www-form-urlencoded\r\n"
                + f"Content-Length: {len(query)}\r\n\r\n".encode() + query
            )  # fmt: skip
        return f"{method} {self.prefix}/{path}?".encode() + query + b" HTTP/1.1\r\n" + self.head + b"\r\n"

    async def connect(self) -> Connection:
        return RawConnection(*await asyncio.open_connection(self.host, self.port))


MATCH = b'"search":{"mode":"match"}'  # the server's compact JSON for a match entry


class RawConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, prepared: bytes, check: bool = False) -> tuple[float, int]:
        started = time.perf_counter()
        self.writer.write(prepared)
        head = await self.reader.readuntil(b"\r\n\r\n")
        at = head.lower().find(b"\r\ncontent-length:")
        if at < 0:
            raise SystemExit(f"an answer without Content-Length: {head[:300]!r}")
        length = int(head[at + 17 : head.index(b"\r\n", at + 2)])
        body = await self.reader.readexactly(length)
        elapsed = time.perf_counter() - started
        if head[9:12] != b"200":
            print(f"{prepared[:200]!r}: {head[9:12].decode()} {body[:300]!r}", file=sys.stderr)
            return elapsed, -1
        hits = body.count(MATCH)
        if check and hits != matches(body):
            raise SystemExit(f"{prepared[:200]!r}: {hits} counted, {matches(body)} parsed")
        return elapsed, hits

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process (all its threads) and of its live children (the
    workers of ``serve --workers``); 0 without a pid."""
    if pid is None:
        return 0.0
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


async def run(client: HttpxClient | RawClient, make: Callable[[Subject], Request], subs: list[Subject],
              clients: int, requests: int, seconds: float,
              server: int | None = None) -> dict[str, float | None]:  # fmt: skip
    """``requests`` requests, or fewer if ``seconds`` run out (a slow query)."""
    samples: list[tuple[float, int]] = []
    empty: list[Request] = []
    reqs = [make(subs[i % len(subs)]) for i in range(requests)]
    prepared = [client.prepare(r) for r in reqs]
    conns = [await client.connect() for _ in range(clients)]
    todo = iter(range(requests))
    server_cpu, client_cpu = cpu_seconds(server), time.process_time()
    started = time.perf_counter()

    async def worker(conn: Connection) -> None:
        for i in todo:
            elapsed, hits = await conn.send(prepared[i])
            samples.append((elapsed, hits))
            if hits == 0:
                empty.append(reqs[i])
            if time.perf_counter() - started > seconds:
                return

    await asyncio.gather(*(worker(c) for c in conns))
    wall = time.perf_counter() - started
    server_cpu, client_cpu = cpu_seconds(server) - server_cpu, time.process_time() - client_cpu
    for conn in conns:
        await conn.close()
    if empty:
        raise SystemExit(f"{len(empty)} requests found nothing, e.g. {empty[0]}")
    ok = [(s, h) for s, h in samples if h >= 0]
    cuts = statistics.quantiles([s for s, _ in ok], n=100, method="inclusive") if len(ok) > 1 else [0.0] * 99
    return {
        "p50": cuts[49] * 1000,
        "p99": cuts[98] * 1000,
        "rps": len(ok) / wall,
        "hits": statistics.fmean(h for _, h in ok) if ok else 0.0,
        "requests": len(samples),
        "errors": len(samples) - len(ok),
        "server_cpu_ms": server_cpu / len(samples) * 1000 if server else None,
        "client_cpu_ms": client_cpu / len(samples) * 1000,
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--clients", default="1,16")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--patients", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=60, help="at most, per query and client count")
    ap.add_argument("--queries", default="", help="only queries whose name contains one of these (commas)")
    ap.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="raw: a lean asyncio HTTP/1.1 client (default); httpx: httpx's async client",
    )
    ap.add_argument("--server-pid", type=int, help="the server process, for its CPU time per request")
    args = ap.parse_args()
    wanted = [w for w in args.queries.split(",") if w]
    queries = [(n, m) for n, m in QUERIES if not wanted or any(w in n for w in wanted)]
    if not queries:
        raise SystemExit(f"no query matches {args.queries!r}")
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=args.base + "/", timeout=120, limits=limits) as http:
        subs = await subjects(http, args.patients)
        print(f"{len(subs)} patients drawn; the {args.client} client", file=sys.stderr)
        client = RawClient(args.base) if args.client == "raw" else HttpxClient(http)
        warm = await client.connect()
        for _, make in queries:  # warm-up; the raw client checks its match count
            for s in subs[:20]:
                await warm.send(client.prepare(make(s)), check=True)
        await warm.close()
        out = []
        for name, make in queries:
            runs = {}
            for c in (int(x) for x in args.clients.split(",")):
                runs[str(c)] = await run(client, make, subs, c, args.requests, args.seconds, args.server_pid)
                r = runs[str(c)]
                print(
                    f"{name:55} {c:>2} clients  p50 {r['p50']:7.2f} ms  p99 {r['p99']:7.2f} ms  "
                    f"{r['rps']:6.0f} req/s  {r['hits']:.1f} hits  {r['requests']} requests"
                    f"  {r['errors']} errors  CPU ms/request: client {r['client_cpu_ms']:.2f}"
                    + (f" server {r['server_cpu_ms']:.2f}" if r["server_cpu_ms"] is not None else ""),
                    file=sys.stderr,
                    flush=True,
                )
            out.append({"name": name, "runs": runs})
        json.dump({"patients_drawn": len(subs), "queries": out}, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
