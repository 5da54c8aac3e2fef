"""Start-up time of ``helseflyt serve`` to its first answer (target: <= 2 s).

Starts the real command in a subprocess with a fresh data folder, polls
``GET /fhir/metadata`` until it answers 200, and reports the time from process start.
Usage: python bench/startup_bench.py [--runs 5] [--database URL]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run(database: str | None) -> float:
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        cmd = [sys.executable, "-m", "helseflyt.cli", "serve", "--port", str(port), "--data-dir", data]
        if database:
            cmd += ["--database", database]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            url = f"http://127.0.0.1:{port}/fhir/metadata"
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
                try:
                    with urllib.request.urlopen(url, timeout=1) as resp:
                        if resp.status == 200:
                            return time.perf_counter() - start
                except OSError:
                    time.sleep(0.01)
                if time.perf_counter() - start > 30:
                    raise SystemExit("no answer within 30 s")
        finally:
            proc.terminate()
            proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    times = [one_run(args.database) for _ in range(args.runs)]
    result = {
        "runs": args.runs,
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
        "target_s": 2.0,
    }
    print(json.dumps(result))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "startup.json").write_text(json.dumps(result, indent=2))
    sys.exit(0 if result["median_s"] <= 2.0 else 1)


if __name__ == "__main__":
    main()
