"""Date interval searches on an existing database, in process (no HTTP, no server).

    python bench/date_range_bench.py --database URL [--requests 40] [--subjects 60]

Reads nothing but searches (the store's migrations do run on open: use a copy of a
database that others use). Picks ``--subjects`` encounters through the API (their
patient and first day), then times ``--requests`` requests each of the scale bench's
two encounter queries (``scale_client.py``): one day over the whole database
(``date=ge<day>&date=lt<next day>&_include=Encounter:subject``) and a patient's
encounters of that year. Prints p50/p90 ms and the mean ``total``. Compare trees by
running it alternately with each tree's sources first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from helseflyt.app import create_app
from helseflyt.http.testing import Client
from helseflyt.search.index import index
from helseflyt.settings import Settings
from helseflyt.storage import open_store


def queries(patient: str, day: date) -> dict[str, str]:
    inc = "&_include=Encounter:subject"
    return {
        "one day": f"Encounter?date=ge{day}&date=lt{day + timedelta(days=1)}{inc}",
        "patient, year": (
            f"Encounter?patient={patient}&date=ge{day.year}-01-01&date=lt{day.year + 1}-01-01{inc}"
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database", required=True)
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--subjects", type=int, default=60)
    args = ap.parse_args()
    store = open_store(args.database, indexer=index)
    settings = Settings.load(data_dir=Path(tempfile.mkdtemp()))
    with Client(create_app(settings, store=store)) as c:
        found = c.get(f"Encounter?_count={args.subjects}&_elements=period,subject&_total=none").json()
        subjects = [
            (e["resource"]["subject"]["reference"].split("/")[-1], date.fromisoformat(start[:10]))
            for e in found.get("entry", ())
            if (start := e["resource"].get("period", {}).get("start")) and "subject" in e["resource"]
        ]
        for name in ("one day", "patient, year"):
            for s in subjects[:5]:  # warm up
                c.get(queries(*s)[name])
            times, totals = [], []
            for i in range(args.requests):
                url = queries(*subjects[i % len(subjects)])[name]
                started = time.perf_counter()
                r = c.get(url)
                times.append((time.perf_counter() - started) * 1000)
                if r.status_code != 200:
                    raise SystemExit(f"{url}: {r.status_code} {r.text}")
                totals.append(r.json().get("total", 0))
            p90 = sorted(times)[int(len(times) * 0.9)]
            mean = statistics.mean(totals)
            print(f"{name}: p50 {statistics.median(times):.1f} ms, p90 {p90:.1f} ms, mean total {mean:.1f}")
    store.close()


if __name__ == "__main__":
    main()
