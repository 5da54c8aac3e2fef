"""Running a request's synchronous work (parse, plan, SQL, render) off the event loop.

A plain :class:`~concurrent.futures.ThreadPoolExecutor` through
``loop.run_in_executor``: the hop costs about a third of anyio's ``to_thread`` (capacity
limiter, cancel scopes, run-variable lookups) per request — measured 24 µs CPU and
27 µs wall against 33–44 µs CPU and 65–150 µs wall in a loop of empty calls on uvloop.
The context is copied, as anyio does. A cancelled request no longer waits for its
thread: the work runs to its end in the background (its transaction commits or rolls
back as usual), only its answer is dropped.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

WORKERS = 40  # anyio's default thread limit; idle threads are reused, new ones made as needed
_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="helseflyt-request")


async def run_sync(fn: Callable[[], T]) -> T:
    """``fn()`` in a worker thread, awaited from the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_pool, contextvars.copy_context().run, fn)
