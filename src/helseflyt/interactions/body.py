"""Turning a request body into a resource, and checking it before it is written.

Every write interaction runs the same checks, in this order, so that a transaction
Bundle entry and a single REST request answer the same way:

1. the body is JSON (``parse_json``: a malformed body answers 400 with the position);
2. it is an object whose ``resourceType`` names the URL's type;
3. its ``id`` follows the R4 id rule and, on update, equals the URL's id;
4. the validator (``ctx.validate``) finds no error; every issue is reported at once.

See https://hl7.org/fhir/R4/http.html#create and #update.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from helseflyt.errors import InvalidRequest, InvalidResource, Issue
from helseflyt.fhir import json as fjson
from helseflyt.interactions.context import Context

ID_RE = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def parse_json(raw: bytes) -> Any:
    """Parse a FHIR JSON body once; malformed JSON → 400 saying where."""
    if not raw.strip():
        raise InvalidRequest("the request body is empty: a FHIR JSON resource was expected")
    try:
        return fjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"malformed JSON at line {exc.lineno}, column {exc.colno} (char {exc.pos}): {exc.msg}"
        ) from exc
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"malformed JSON at line {exc.lineno}, column {exc.colno} (char {exc.pos}): {exc.msg}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"the request body is not UTF-8 (byte {exc.start})") from exc
    except (ValueError, RecursionError) as exc:  # e.g. nesting too deep
        raise InvalidRequest(f"malformed JSON: {exc}") from exc


def valid_id(value: Any) -> bool:
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None


def require_id(value: Any) -> str:
    """A logical id from a URL: 1-64 of ``[A-Za-z0-9-.]``, else 400."""
    if not valid_id(value):
        raise InvalidRequest(f"invalid resource id {value!r}: 1-64 characters of A-Z a-z 0-9 - .")
    return value


def require_resource(resource: Any, res_type: str) -> dict[str, Any]:
    """The body is a JSON object of the URL's resource type."""
    if not isinstance(resource, dict):
        raise InvalidRequest(f"the body must be a JSON object (a {res_type} resource)")
    found = resource.get("resourceType")
    if found is None:
        raise InvalidResource(
            "the resource has no resourceType",
            issues=[Issue("resourceType is missing", "required", expression=("resourceType",))],
        )
    if found != res_type:
        raise InvalidResource(
            f"resourceType {found!r} does not match the URL's type {res_type}",
            issues=[
                Issue(
                    f"resourceType {found!r} does not match the URL's type {res_type}",
                    "invalid",
                    expression=("resourceType",),
                )
            ],
        )
    return resource


def check_for_write(ctx: Context, res_type: str, resource: dict[str, Any]) -> None:
    """Run the validator; any ``error``/``fatal`` issue → 400 listing every issue."""
    issues = ctx.validate(resource, res_type)
    if any(i.severity in ("error", "fatal") for i in issues):
        errors = sum(1 for i in issues if i.severity in ("error", "fatal"))
        raise InvalidResource(f"the {res_type} resource is invalid ({errors} errors)", issues=list(issues))
