"""The authentication middleware: a tiny ASGI class, innermost in the app's list.

For every HTTP request but the public ones (``GET /fhir/metadata`` and the documents
under ``/.well-known/``) it

1. takes exactly one ``Authorization: Bearer <token>`` header (a token in the query,
   ``access_token=``, is refused: URLs end up in logs) and validates the token
   (:mod:`helseflyt.access.tokens`) → 401 with a ``WWW-Authenticate`` challenge;
2. asks a person's token for security level 4 (HelseID's level for clinical data)
   → 403;
3. works out what the request needs (:mod:`helseflyt.access.edge`) and checks it
   against the principal's scopes → 403 naming the first need that is not met. For a
   transaction/batch Bundle and for ``POST [type]/_search`` it reads the body first
   (within the body limit of the outer middleware) and hands it on unchanged; a
   principal whose scopes allow everything skips that read.

It leaves in ``scope["state"]`` (``request.state`` in Starlette) for the layers after
it: ``principal`` (the :class:`~helseflyt.access.principal.Principal`),
``access_needs`` (the list of :class:`~helseflyt.access.edge.Need`) and, when it
refuses a request, ``access_denied`` (the reason, for the audit trail, which sits
outside and sees the same state dict).

Token validation is CPU work of well under a millisecond and runs inline; when the
key set is a URL (which may need a fetch) it runs in a worker thread.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread

from helseflyt.access.edge import Need, bundle_needs, needs, search_needs
from helseflyt.access.errors import Forbidden, Unauthenticated
from helseflyt.access.jwks import KeysUnavailable
from helseflyt.access.principal import Principal
from helseflyt.access.scopes import permission_for
from helseflyt.access.tokens import MAX_TOKEN_BYTES, TokenValidator
from helseflyt.errors import FhirError, InvalidRequest
from helseflyt.fhir import json as fjson

__all__ = ["PUBLIC_PATHS", "Authenticate", "REQUIRED_SECURITY_LEVEL"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("helseflyt.access")

PUBLIC_PATHS = frozenset(
    {
        "/fhir/metadata",
        "/.well-known/smart-configuration",
        "/fhir/.well-known/smart-configuration",
        "/.well-known/jwks.json",
    }
)
REQUIRED_SECURITY_LEVEL = "4"
_SPACE = re.compile(r"\s")  # the characters of str.isspace, found in C (a token is ~500 chars)


class KeySetUnavailable(FhirError):
    status, code = 503, "transient"


def _route_path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str:
    """The token of the one ``Authorization: Bearer`` header, or :class:`Unauthenticated`."""
    values = [v for k, v in headers if k == b"authorization"]
    if not values:
        raise Unauthenticated("this server needs a bearer token (Authorization: Bearer ...)", error=None)
    if len(values) > 1:
        raise Unauthenticated("the request has more than one Authorization header")
    raw = values[0]
    if len(raw) > MAX_TOKEN_BYTES + 16:
        raise Unauthenticated(f"the Authorization header is longer than {MAX_TOKEN_BYTES} bytes")
    value = raw.decode("latin-1").strip()
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthenticated("this server takes only bearer tokens (Authorization: Bearer ...)", error=None)
    token = token.strip(" ")
    if not token:
        raise Unauthenticated("the Authorization header has no token after Bearer")
    if _SPACE.search(token):
        raise Unauthenticated("the Authorization header has more than one token")
    return token


class Authenticate:
    def __init__(self, app: ASGIApp, validator: TokenValidator, fhir_base: str = "/fhir") -> None:
        self.app = app
        self.validator = validator
        self.fhir_base = fhir_base

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # websockets: none yet; refuse until they authenticate
            await send({"type": "websocket.close", "code": 1008})
            return
        state = scope.setdefault("state", {})
        path = _route_path(scope)
        method = scope.get("method", "GET")
        if path in PUBLIC_PATHS and method in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._authenticate(scope)
            state["principal"] = principal
            receive = await self._authorise(scope, state, principal, path, method, receive)
        except (Unauthenticated, Forbidden) as exc:
            state["access_denied"] = str(exc)
            log.info("%s %s refused (%d): %s", method, path, exc.status, exc)
            raise
        await self.app(scope, receive, send)

    async def _authenticate(self, scope: Scope) -> Principal:
        query = scope.get("query_string", b"")
        if b"access_token=" in query:
            raise Unauthenticated("send the token in the Authorization header, not in the URL")
        token = bearer_token(list(scope.get("headers", ())))
        try:
            if self.validator.may_block:
                return await anyio.to_thread.run_sync(self.validator.validate, token)
            return self.validator.validate(token)
        except KeysUnavailable as exc:
            log.error("cannot validate tokens: %s", exc)
            raise KeySetUnavailable("the issuer's keys are unavailable; try again later") from None

    async def _authorise(
        self,
        scope: Scope,
        state: dict[str, Any],
        principal: Principal,
        path: str,
        method: str,
        receive: Receive,
    ) -> Receive:
        if principal.is_person and principal.security_level != REQUIRED_SECURITY_LEVEL:
            raise Forbidden(
                f"a person needs security level {REQUIRED_SECURITY_LEVEL} for health data "
                f"(the token has {principal.security_level or 'none'})"
            )
        base = self.fhir_base
        if path != base and not path.startswith(base + "/"):
            return receive
        rest = path[len(base) + 1 :]
        segments = rest.split("/") if rest else []
        params = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        found = needs(method, segments, params)
        reads_body = method == "POST" and (found is None or segments[-1:] == ["_search"])
        if reads_body and not principal.allows_everything():
            body = await _read_body(receive)
            receive = _replay(body, receive)
            if found is None:
                found = bundle_needs(_json_or_none(body), base)
            else:
                form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
                found = [*found, *search_needs([], form)]
        found = found or []
        state["access_needs"] = found
        for need in found:
            if not principal.allows(need.resource_type, need.interaction):
                raise Forbidden(f"the token's scopes do not allow {need}", scope=_wanted(principal, need))
        return receive


def _wanted(principal: Principal, need: Need) -> str:
    """The scope that would have allowed ``need`` (for the challenge's ``scope``)."""
    context = {"practitioner": "user", "patient": "patient"}.get(principal.role, "system")
    return f"{context}/{need.resource_type}.{permission_for(need.interaction)}"


def _json_or_none(body: bytes) -> Any:
    try:
        return fjson.loads(body)
    except Exception:  # the route answers a malformed body with 400
        return None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidRequest("the client went away while sending the body")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
