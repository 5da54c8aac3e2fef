"""Framing an interaction's :class:`~helseflyt.interactions.context.Result` (or an error)
as an HTTP response: status, versioning headers, ``Prefer`` and ``_pretty``."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from starlette.responses import Response

from helseflyt.errors import FhirError, Issue, operation_outcome
from helseflyt.fhir import json as fjson
from helseflyt.http.media import FHIR_JSON, Format
from helseflyt.interactions.context import Result

CONTENT_TYPE = f"{FHIR_JSON}; charset=utf-8"


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP-date header value; an invalid one is ignored (RFC 9110 §13.1.3)."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def prefer_return(header: str | None) -> str:
    """``representation`` (default), ``minimal`` or ``OperationOutcome``."""
    for part in (header or "").replace(";", ",").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "return":
            value = value.strip().strip('"')
            if value in ("minimal", "representation", "OperationOutcome"):
                return value
    return "representation"


def json_bytes(body: dict[str, Any] | bytes, fmt: Format) -> bytes:
    if isinstance(body, bytes):
        return fjson.dumps(fjson.loads(body), pretty=True) if fmt.pretty else body
    if fmt.pretty:
        return fjson.dumps(fjson.loads(fjson.dumps(body)), pretty=True)  # expand embedded fragments
    return fjson.dumps(body)


def render(result: Result, fmt: Format, *, prefer: str = "representation") -> Response:
    headers = dict(result.headers)
    version = result.version
    if version is not None:
        headers["ETag"] = version.etag
        if not version.deleted:
            headers["Last-Modified"] = http_date(version.last_updated)
    status = result.status
    body: dict[str, Any] | bytes | None = None
    if status not in (204, 304):
        body = result.body
        if prefer == "minimal" and result.outcome is not None:
            body = None
        elif prefer == "OperationOutcome" and result.outcome is not None:
            body = result.outcome
    elif status == 204 and prefer == "OperationOutcome" and result.outcome is not None:
        status, body = 200, result.outcome
    if body is None:
        return Response(status_code=status, headers=headers)
    return Response(json_bytes(body, fmt), status_code=status, headers=headers, media_type=CONTENT_TYPE)


def error_response(exc: FhirError, fmt: Format | None = None) -> Response:
    return Response(
        json_bytes(exc.outcome(), fmt or Format()),
        status_code=exc.status,
        headers=exc.headers,
        media_type=CONTENT_TYPE,
    )


def outcome_response(status: int, text: str, code: str, headers: dict[str, str] | None = None) -> Response:
    body = operation_outcome([Issue(text, code=code)])
    return Response(fjson.dumps(body), status_code=status, headers=headers, media_type=CONTENT_TYPE)
