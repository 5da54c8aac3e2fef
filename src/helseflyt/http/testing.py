"""An in-process, synchronous client for the ASGI app (tests and benchmarks).

It runs the app's lifespan (so the store is opened and closed as in production) and
sends requests through httpx's ``ASGITransport`` from a portal thread. Needs the
``dev`` extra (httpx).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import partial
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

BASE = "http://testserver/fhir"


class Client:
    def __init__(self, app: Any, base_url: str = BASE) -> None:
        self._portal_cm = start_blocking_portal()
        self.portal: BlockingPortal = self._portal_cm.__enter__()
        self._lifespan: AbstractContextManager[Any] = self.portal.wrap_async_context_manager(
            app.router.lifespan_context(app)
        )
        self._lifespan.__enter__()
        transport = httpx.ASGITransport(app=app)
        self.http = httpx.AsyncClient(transport=transport, base_url=base_url.rstrip("/") + "/")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.portal.call(partial(self.http.request, method, url, **kwargs))

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", url, **kw)

    def patch(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", url, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", url, **kw)

    def close(self) -> None:
        self.portal.call(self.http.aclose)
        self._lifespan.__exit__(None, None, None)
        self._portal_cm.__exit__(None, None, None)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
