"""A child process that dies inside a transaction (crash tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest


def die_inside(code: str, *args: str, kill: bool = True) -> int:
    """Run ``code`` in a child Python; once it prints ``inside``, SIGKILL it (or with
    ``kill=False`` wait for it to exit on its own). Returns its exit status."""
    with subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None and child.stderr is not None
            if child.stdout.readline().strip() != "inside":
                child.wait(timeout=30)
                pytest.fail(f"child did not reach its transaction: {child.stderr.read()}")
            if kill:
                os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    return child.returncode
