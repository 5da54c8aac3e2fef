"""Content negotiation (https://hl7.org/fhir/R4/http.html#mime-type).

Responses are FHIR JSON. ``_format`` overrides ``Accept``. XML is not supported yet: an
XML ``Accept``/``_format`` answers 406 and an XML request body 415, each with an
OperationOutcome saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from helseflyt.errors import InvalidRequest, NotAcceptable, UnsupportedMediaType

FHIR_JSON = "application/fhir+json"
JSON_PATCH_TYPE = "application/json-patch+json"
_JSON_TYPES = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})
_JSON_FORMATS = frozenset({"json", *_JSON_TYPES})
_WILDCARDS = frozenset({"*/*", "application/*"})
XML_NOT_SUPPORTED = "XML is not supported yet: use application/fhir+json (or _format=json)"

BodyKind = Literal["fhir-json", "json-patch"]


@dataclass(frozen=True, slots=True)
class Format:
    media_type: str = FHIR_JSON
    pretty: bool = False


def _media(value: str) -> tuple[str, float]:
    parts = [p.strip() for p in value.split(";")]
    q = 1.0
    for param in parts[1:]:
        if param.lower().startswith("q="):
            try:
                q = float(param[2:])
            except ValueError:
                q = 1.0
    return parts[0].lower(), q


def negotiate(fmt: str | None, pretty: str | None, accept: str | None) -> Format:
    """The response format from ``_format``, ``_pretty`` and ``Accept``."""
    if pretty not in (None, "true", "false"):
        raise InvalidRequest(f"_pretty={pretty!r}: expected true or false")
    is_pretty = pretty == "true"
    if fmt is not None:
        wanted = fmt.strip().lower().replace(" ", "+")  # '+' in a query string may arrive as a space
        if wanted in _JSON_FORMATS:
            return Format(pretty=is_pretty)
        if "xml" in wanted:
            raise NotAcceptable(XML_NOT_SUPPORTED)
        raise NotAcceptable(f"_format={fmt!r} is not supported: use json")
    if not accept or not accept.strip():
        return Format(pretty=is_pretty)
    ranges = [_media(part) for part in accept.split(",") if part.strip()]
    if not ranges:
        return Format(pretty=is_pretty)
    for media, q in ranges:
        if q > 0 and (media in _JSON_TYPES or media in _WILDCARDS):
            return Format(pretty=is_pretty)
    if any("xml" in media for media, _ in ranges):
        raise NotAcceptable(XML_NOT_SUPPORTED)
    raise NotAcceptable(f"cannot answer in {accept!r}: this server answers application/fhir+json")


def body_kind(content_type: str | None, *, patch: bool = False) -> BodyKind:
    """What the request body is, from ``Content-Type``; unsupported → 415."""
    media = _media(content_type)[0] if content_type else ""
    if media in ("", *_JSON_TYPES):
        return "fhir-json"
    if patch and media == JSON_PATCH_TYPE:
        return "json-patch"
    if "xml" in media:
        raise UnsupportedMediaType(XML_NOT_SUPPORTED)
    accepted = f"{FHIR_JSON}{' or ' + JSON_PATCH_TYPE if patch else ''}"
    raise UnsupportedMediaType(f"Content-Type {content_type!r} is not supported: send {accepted}")
