"""Synthetic population benchmark: generation speed and peak memory.

    python bench/synth_bench.py [--patients N] [--seed S] [--format bundle|ndjson] [--out DIR]

Writes the population into a temporary folder (or --out), then prints patients,
resources, seconds, resources/s (wall and CPU) and the peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from helseflyt.synth import write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=("bundle", "ndjson"), default="ndjson")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="helseflyt-synth-bench-") as tmp:
        out = args.out or Path(tmp) / "population"
        cpu = time.process_time()
        summary = write(out, args.patients, args.seed, fmt=args.format)
        cpu = time.process_time() - cpu
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if sys.platform == "darwin":
        peak_mb /= 1024
    print(f"format={args.format} seed={args.seed}")
    print(summary.text())
    print(f"CPU {cpu:.1f} s ({summary.resources / cpu:,.0f} resources/s per core)")
    print(f"output {size / 1e6:,.0f} MB, peak RSS {peak_mb:,.0f} MB")
    for t, n in sorted(summary.by_type.items()):
        print(f"  {t:22} {n:>10,}")


if __name__ == "__main__":
    main()
