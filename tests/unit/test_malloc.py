"""`helseflyt serve` caps glibc's malloc arenas for itself and its worker processes."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import os
    from helseflyt.http.malloc import ARENAS, limit_arenas
    took = limit_arenas()
    print(took, os.environ.get("MALLOC_ARENA_MAX"), ARENAS)
    """
)


def run(env: dict[str, str]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_caps_arenas_and_passes_the_cap_to_children() -> None:
    took, value, arenas = run({k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"})
    assert value == arenas == "2"  # inherited by uvicorn's worker processes
    if platform.libc_ver()[0] == "glibc":
        assert took == "True"  # mallopt accepted the cap in this process


def test_an_explicit_setting_wins() -> None:
    took, value, _ = run({**os.environ, "MALLOC_ARENA_MAX": "4"})
    assert (took, value) == ("False", "4")
