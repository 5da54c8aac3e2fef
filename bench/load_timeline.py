#!/usr/bin/env python3
"""Timeline of one bulk load of the Synthea sample: where the wall time goes.

    python bench/load_timeline.py [--backend sqlite|postgres] [--workers N]

Wraps the loader's stages (each worker's ``prepare`` calls, the writer's group writes,
the final index build) with timestamps on one monotonic clock and prints, relative to
the start of ``load``: the first document prepared, the first group written, the last
document prepared, the index build, the end; per worker its busy CPU/wall and idle
time; the writer's busy time (writing groups) and its waits for the workers.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HELSEFLYT_SHARED", ROOT.parent / "shared"))
SAMPLE = SHARED / "data" / "synthea-r4-sample.tar.gz"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"

from helseflyt.ingest import loader  # noqa: E402
from helseflyt.ingest import prepare as prep  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="sqlite")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--postgres", default=PG_DEFAULT)
    args = ap.parse_args()
    from helseflyt.search.index import index
    from helseflyt.storage import open_store

    trace = Path(tempfile.mkdtemp(prefix="timeline-"))
    inner = prep.prepare

    @functools.wraps(inner)
    def traced(*a, **k):  # type: ignore[no-untyped-def]
        t0, c0 = time.perf_counter(), time.process_time()
        out = inner(*a, **k)
        with open(trace / str(os.getpid()), "a") as f:
            f.write(f"{t0} {time.perf_counter()} {time.process_time() - c0} {a[0].source}\n")
        return out

    from multiprocessing import queues, reduction

    def put(self, obj):  # type: ignore[no-untyped-def]  # a worker's result: pickle, then send
        t0 = time.perf_counter()
        data = reduction.ForkingPickler.dumps(obj)
        t1 = time.perf_counter()
        with self._wlock:
            self._writer.send_bytes(data)
        with open(trace / f"send-{os.getpid()}", "a") as f:
            f.write(f"{t1 - t0} {time.perf_counter() - t1} {len(data)}\n")

    queues.SimpleQueue.put = put  # type: ignore[method-assign]
    prep.prepare = traced  # type: ignore[assignment]  # found by name when unpickled
    loader.prepare = traced  # type: ignore[assignment]
    events: list[tuple[str, float, float]] = []

    def wrap(obj: object, name: str, label: str) -> None:
        fn = getattr(obj, name)

        @functools.wraps(fn)
        def w(*a, **k):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                events.append((label, t0, time.perf_counter()))

        setattr(obj, name, w)

    wrap(loader._Group, "flush", "group")
    read: dict[str, float] = {}
    docs = loader.iter_documents

    def reading(paths):  # type: ignore[no-untyped-def]
        for d in docs(paths):
            read[getattr(d, "source", "")] = time.perf_counter()
            yield d

    loader.iter_documents = reading  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        schema = f"timeline_{os.getpid()}" if args.backend == "postgres" else None
        url = f"{args.postgres}?schema={schema}" if schema else f"sqlite:///{Path(tmp) / 't.db'}"
        store = open_store(url, indexer=index)
        wrap(store, "rebuild_deferred", "index build")
        try:
            start = time.perf_counter()
            c0 = time.process_time()
            report = loader.load(store, [SAMPLE], progress=False, workers=args.workers)
            end = time.perf_counter()
            writer_cpu = time.process_time() - c0
        finally:
            store.close()
            if schema:
                import psycopg

                with psycopg.connect(args.postgres, autocommit=True) as c:
                    c.execute(f"DROP SCHEMA {schema} CASCADE")
    sends, spans = _read_trace(trace)

    def at(t: float) -> str:
        return f"{t - start:6.3f}"

    rate = report.resources / (end - start)
    print(f"{args.backend}: {report.resources:,} resources in {end - start:.3f} s = {rate:,.0f}/s;")
    print(f"writer process CPU {writer_cpu:.2f} s")
    ends = [e for v in spans.values() for _, e, _, _ in v]
    print(f"first document prepared at {at(min(ends))}, last at {at(max(ends))}")
    for pid, ss in sorted(spans.items()):
        busy = sum(e - b for b, e, _, _ in ss)
        cpu = sum(c for _, _, c, _ in ss)
        print(
            f"  worker {pid}: {len(ss)} docs, first start {at(ss[0][0])}, last end {at(ss[-1][1])},"
            f" busy wall {busy:.3f} s, CPU {cpu:.3f} s, between documents {ss[-1][1] - ss[0][0] - busy:.3f} s"
        )
        print("    first: " + ", ".join(f"{at(b)}..{at(e)} ({c:.3f} CPU)" for b, e, c, _ in ss[:3]))
    pickling, sending, size = (sum(s[k] for s in sends) for k in range(3))
    print(
        f"worker results: {len(sends)} (the last may be lost at the pool's end),"
        f" pickling {pickling:.3f} s, sending {sending:.3f} s, {size / 1e6:.1f} MB"
    )
    print(f"last document read at {at(max(read.values()))}")
    groups = [(b, e) for n, b, e in events if n == "group"]
    busy = sum(e - b for b, e in groups)
    print(
        f"writer: {len(groups)} flushes, first start {at(groups[0][0])}, busy {busy:.3f} s,"
        f" last ends {at(groups[-1][1])}"
    )
    for n, b, e in events:
        if n != "group":
            print(f"{n}: {at(b)} .. {at(e)} ({e - b:.3f} s)")
    print(f"end of load at {at(end)}")


Span = tuple[float, float, float, str]


def _read_trace(trace: Path) -> tuple[list[tuple[float, ...]], dict[int, list[Span]]]:
    """The workers' records (and remove them): sends, and ``prepare`` spans per pid."""
    sends: list[tuple[float, ...]] = []
    spans: dict[int, list[Span]] = {}
    for p in trace.iterdir():
        lines = [line.split() for line in p.read_text().splitlines()]
        if p.name.startswith("send-"):
            sends += [tuple(map(float, f)) for f in lines]
        else:
            spans[int(p.name)] = [(float(f[0]), float(f[1]), float(f[2]), f[3]) for f in lines]
        p.unlink()
    trace.rmdir()
    return sends, spans


if __name__ == "__main__":
    sys.exit(main())
