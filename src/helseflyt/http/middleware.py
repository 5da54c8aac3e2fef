"""Tiny typed ASGI middleware; the app is built from a list of them (see ``app.py``).

Order, outermost first: :class:`RequestId` → :class:`ErrorHandler` →
:class:`BodySizeLimit` → router. The error handler sits outside the body limit so that
a 413 raised while the body is read becomes an OperationOutcome too.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from helseflyt.errors import FhirError, PayloadTooLarge
from helseflyt.http.responses import error_response, outcome_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("helseflyt.http")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class BodySizeLimit:
    """413 for a body over ``max_bytes``: at once from ``Content-Length``, else as soon as
    the streamed body passes the limit (it is never read whole)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            raise self._too_large()
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, limited, send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"the request body is larger than the limit of {self.max_bytes} bytes")


class RequestId:
    """Echo a sane ``X-Request-Id`` or make one; kept in ``scope['state']['request_id']``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        raw = request_id.encode()

        async def with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", raw)]
            await send(message)

        await self.app(scope, receive, with_id)


class ErrorHandler:
    """Render errors that escape the routes as OperationOutcomes; unexpected ones as 500
    (logged with the request id), never a bare traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except FhirError as exc:
            if started:
                raise
            await error_response(exc)(scope, receive, send)
        except Exception:
            request_id = scope.get("state", {}).get("request_id", "")
            log.exception("unexpected error (request id %s)", request_id)
            if started:
                raise
            response = outcome_response(500, f"internal server error (request id {request_id})", "exception")
            await response(scope, receive, send)
