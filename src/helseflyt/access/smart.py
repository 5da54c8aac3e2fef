"""What the server says about its authorisation: ``/.well-known/smart-configuration``
(SMART App Launch 2, https://hl7.org/fhir/smart-app-launch/conformance.html) and the
CapabilityStatement's ``rest.security``.

Only fields the server can stand behind are written. Helseflyt is a resource server:
it validates tokens, it does not issue them through OAuth. So there is no
``authorization_endpoint``, and ``token_endpoint`` is left out too (the SMART
specification requires it, but inventing one would be worse): with ``--auth local``
tokens come from ``helseflyt token``; with ``--auth jwks`` from the configured issuer
(e.g. HelseID), whose own discovery document names its endpoints. For the same reason
``code_challenge_methods_supported`` and ``grant_types_supported`` are absent: they
describe an authorisation server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from helseflyt.fhir import json as fjson

__all__ = ["JsonDocument", "capability_security", "smart_configuration"]

SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
SCOPES_SUPPORTED = [
    "patient/*.cruds",
    "user/*.cruds",
    "system/*.cruds",
    "patient/*.read",
    "patient/*.write",
    "user/*.read",
    "user/*.write",
    "system/*.read",
    "system/*.write",
]
CAPABILITIES = ["permission-v1", "permission-v2", "permission-patient", "permission-user"]


def smart_configuration(issuer: str, jwks_uri: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"issuer": issuer}
    if jwks_uri:
        doc["jwks_uri"] = jwks_uri
    doc["scopes_supported"] = SCOPES_SUPPORTED
    doc["capabilities"] = CAPABILITIES
    return doc


def capability_security(mode: str, issuer: str, audience: str) -> dict[str, Any]:
    how = (
        "a local development issuer (tokens from `helseflyt token`; not for real patient data)"
        if mode == "local"
        else f"the issuer {issuer}"
    )
    description = (
        f"Every request but metadata needs a bearer token (JWT, RS256 or ES256) from {how}, "
        f"for the audience {audience}, with SMART on FHIR scopes (v1 and v2) and HelseID claims. "
        "Scopes are checked per resource type and interaction; persons need security level 4. "
        "See /.well-known/smart-configuration."
    )
    return {
        "cors": False,
        "service": [
            {
                "coding": [{"system": SECURITY_SERVICE, "code": "SMART-on-FHIR", "display": "SMART-on-FHIR"}],
                "text": "OAuth2 bearer tokens with SMART on FHIR scopes (HelseID-style)",
            }
        ],
        "description": description,
    }


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class JsonDocument:
    """A fixed JSON document as an ASGI app (mounted by ``app.py``)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.body = fjson.dumps(document)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
            (b"cache-control", b"public, max-age=300"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        body = b"" if scope.get("method") == "HEAD" else self.body
        await send({"type": "http.response.body", "body": body})
