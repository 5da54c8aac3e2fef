"""The two access errors, rendered like every other :class:`~helseflyt.errors.FhirError`.

* :class:`Unauthenticated`: 401, OperationOutcome code ``login``, and a
  ``WWW-Authenticate: Bearer`` challenge (RFC 6750 §3): without ``error`` when the
  request carried no bearer token at all, with ``error="invalid_token"`` and a
  description otherwise.
* :class:`Forbidden`: 403, code ``forbidden``, ``error="insufficient_scope"``.

The description goes into a quoted header parameter, so it is cut down to the
characters RFC 6750 allows there (no quote, no backslash, printable ASCII).
"""

from __future__ import annotations

import re

from helseflyt.errors import FhirError

__all__ = ["REALM", "Forbidden", "Unauthenticated", "challenge"]

REALM = "helseflyt"
_UNSAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def _quoted(text: str, limit: int = 200) -> str:
    return _UNSAFE.sub("?", text)[:limit]


def challenge(error: str | None = None, description: str | None = None, scope: str | None = None) -> str:
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{_quoted(description)}"')
    if scope:
        parts.append(f'scope="{_quoted(scope, 400)}"')
    return "Bearer " + ", ".join(parts)


class Unauthenticated(FhirError):
    status, code = 401, "login"

    def __init__(self, message: str, *, error: str | None = "invalid_token") -> None:
        super().__init__(message, headers={"WWW-Authenticate": challenge(error, message if error else None)})


class Forbidden(FhirError):
    status, code = 403, "forbidden"

    def __init__(self, message: str, *, scope: str | None = None) -> None:
        super().__init__(
            message, headers={"WWW-Authenticate": challenge("insufficient_scope", message, scope)}
        )
