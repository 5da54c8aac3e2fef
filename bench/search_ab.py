"""Server CPU and latency per request of two source trees, alternately, over HTTP.

    python bench/search_ab.py DATABASE_URL --trees base=../main/src,new=src
        [--rounds 3] [--requests 300] [--queries SUBSTR,...]

For A/B of a change on a shared, noisy machine: per round and tree it starts
``helseflyt serve`` from that tree (``PYTHONPATH``), then sends each query of
``scale_client.py`` ``--requests`` times, one at a time over one keep-alive connection
(``http.client``: a client far lighter than the scale bench's httpx, so the latency is
mostly the server's), each request with another patient's parameters. Prints per round
p50/p99 ms and the server's CPU ms per request (``/proc``, all its threads), then the
medians over the rounds. Use a database made by ``search_scale_bench.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import scale_client as sc  # noqa: E402

Sent = tuple[str, str, bytes | None]  # method, path with query, form body
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(src: str, url: str, data_dir: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": src, "HELSEFLYT_DATA_DIR": data_dir}
    cmd = [sys.executable, "-m", "helseflyt.cli", "serve", "--database", url, "--port", str(port)]
    server = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/fhir/metadata")
            conn.getresponse().read()
            return server, port
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start: {cmd}") from None
            time.sleep(0.3)


def requests_of(subs: list[sc.Subject], make: Any, n: int) -> list[Sent]:
    out: list[Sent] = []
    for i in range(n):
        method, path, params = make(subs[i % len(subs)])
        query = urlencode(sc.pairs(params))
        if method == "POST":
            out.append(("POST", f"/fhir/{path}", query.encode()))
        else:
            out.append(("GET", f"/fhir/{path}?{query}", None))
    return out


def drive(port: int, pid: int, sent: list[Sent]) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, server CPU ms per request) after a warm-up of 30 requests."""
    conn = http.client.HTTPConnection("127.0.0.1", port)

    def one(method: str, path: str, body: bytes | None) -> None:
        conn.request(method, path, body=body, headers=FORM if body else {})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"{method} {path}: {response.status}")

    for req in sent[:30]:
        one(*req)
    times = []
    cpu = sc.cpu_seconds(pid)
    for req in sent:
        started = time.perf_counter()
        one(*req)
        times.append(time.perf_counter() - started)
    cpu = sc.cpu_seconds(pid) - cpu
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000, cpu / len(sent) * 1000


async def draw(port: int, patients: int) -> list[sc.Subject]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/fhir/", timeout=120) as client:
        return await sc.subjects(client, patients)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url", help="database URL")
    ap.add_argument("--trees", required=True, help="label=src,label=src")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=300, help="per query, round and tree")
    ap.add_argument("--patients", type=int, default=100)
    ap.add_argument("--queries", default="", help="only queries whose name contains one of these (commas)")
    args = ap.parse_args()
    trees = [tuple(t.split("=", 1)) for t in args.trees.split(",")]
    wanted = [w for w in args.queries.split(",") if w]
    queries = [(n, m) for n, m in sc.QUERIES if not wanted or any(w in n for w in wanted)]
    subs: list[sc.Subject] = []
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as data_dir:
        for rnd in range(args.rounds):
            for label, src in trees:
                server, port = start(src, args.url, data_dir)
                try:
                    subs = subs or asyncio.run(draw(port, args.patients))
                    for name, make in queries:
                        r = drive(port, server.pid, requests_of(subs, make, args.requests))
                        results.setdefault((name, label), []).append(r)
                        print(f"round {rnd} {label:6} {name[:58]:58} p50 {r[0]:6.2f} p99 {r[1]:6.2f}"
                              f"  server CPU {r[2]:5.2f} ms/request", flush=True)  # fmt: skip
                finally:
                    server.terminate()
                    server.wait(30)
    print("\nmedians over the rounds: p50 / p99 / server CPU ms per request")
    for name, _ in queries:
        cells = []
        for label, _src in trees:
            rs = results[(name, label)]
            med = [statistics.median(x[i] for x in rs) for i in range(3)]
            cells.append(f"{label} {med[0]:.2f} / {med[1]:.2f} / {med[2]:.2f}")
        print(f"{name[:58]:58} " + "   ".join(cells))


if __name__ == "__main__":
    main()
