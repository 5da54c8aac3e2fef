"""Fewer glibc malloc arenas for the server process.

glibc gives each thread that allocates concurrently an arena of its own, up to eight
per core; the request thread pool (``http/offload.py``) then spreads short-lived
response buffers over many arenas whose freed pages are rarely returned. Two arenas
keep a server at 1M resources ~60 MB smaller with the same latency (docs/search.md,
"Memory"). An explicit ``MALLOC_ARENA_MAX`` in the environment wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["ARENAS", "limit_arenas"]

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def limit_arenas() -> bool:
    """Cap this process's malloc arenas (and its children's, through the environment).

    Returns whether this process's allocator took the cap (False off glibc or when
    ``MALLOC_ARENA_MAX`` was set by the caller, whose value glibc already applies)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    os.environ["MALLOC_ARENA_MAX"] = str(ARENAS)  # uvicorn workers are new processes
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl, macOS): nothing to cap
    return bool(mallopt(_M_ARENA_MAX, ARENAS))
