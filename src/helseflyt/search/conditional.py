"""Search criteria of conditional create/update/delete and conditional references.

Until the search engine lands only two parameters are supported, and any other one is
refused with a 400 OperationOutcome (never silently ignored, which could make a
conditional delete remove far too much):

* ``identifier=[system|]value``, ``identifier=|value`` (no system),
  ``identifier=system|`` (any value in the system); comma-separated values are ORed,
  repeated parameters are ANDed;
* ``_id=id[,id...]``.

``_format`` and ``_pretty`` shape the response, not the match, and are skipped.
Escapes follow https://hl7.org/fhir/R4/search.html#escaping (``\\,``, ``\\|``, ``\\$``,
``\\\\``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from helseflyt.errors import InvalidRequest
from helseflyt.storage.base import Reader, TokenCriterion

SUPPORTED = ("identifier", "_id")
_IGNORED = frozenset({"_format", "_pretty"})


@dataclass(frozen=True, slots=True)
class Criteria:
    ids: frozenset[str] | None  # None = any id
    tokens: tuple[tuple[TokenCriterion, ...], ...]

    def find(self, reader: Reader, res_type: str, *, limit: int | None = None) -> list[str]:
        """Ids of current, non-deleted resources of ``res_type`` matching every criterion."""
        ids = None if self.ids is None else sorted(self.ids)
        return reader.find(res_type, ids=ids, tokens=self.tokens, limit=limit)


def split_escaped(text: str, sep: str) -> list[str]:
    """Split on ``sep`` unless escaped with a backslash; escapes are kept."""
    parts, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _token(value: str) -> TokenCriterion:
    pieces = split_escaped(value, "|")
    if len(pieces) == 1:
        return TokenCriterion("identifier", None, unescape(pieces[0]))
    if len(pieces) != 2:
        raise InvalidRequest(f"invalid identifier criterion {value!r}: expected [system|]value")
    system, code = unescape(pieces[0]), unescape(pieces[1])
    if not system and not code:
        raise InvalidRequest("invalid identifier criterion '|': give a system, a value or both")
    return TokenCriterion("identifier", system, code or None)


def parse_criteria(query: str | Sequence[tuple[str, str]], *, what: str = "conditional request") -> Criteria:
    """Parse a query string (``identifier=a|b&_id=x``) or decoded pairs into criteria."""
    if isinstance(query, str):
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False)
        except ValueError as exc:
            raise InvalidRequest(f"invalid search criteria {query!r}: {exc}") from exc
    else:
        pairs = list(query)
    ids: frozenset[str] | None = None
    tokens: list[tuple[TokenCriterion, ...]] = []
    used = 0
    for name, value in pairs:
        if name in _IGNORED:
            continue
        if name not in SUPPORTED:
            raise InvalidRequest(
                f"search parameter {name!r} is not supported yet in a {what}: "
                f"only {' and '.join(SUPPORTED)} are (until the search engine lands)",
                status=400,
            )
        if value == "":
            raise InvalidRequest(f"search parameter {name!r} has an empty value")
        values = [v for v in split_escaped(value, ",")]
        if any(v == "" for v in values):
            raise InvalidRequest(f"search parameter {name!r} has an empty value in {value!r}")
        used += 1
        if name == "_id":
            these = frozenset(unescape(v) for v in values)
            ids = these if ids is None else ids & these
        else:
            tokens.append(tuple(_token(v) for v in values))
    if not used:
        raise InvalidRequest(f"a {what} needs search criteria (supported: {', '.join(SUPPORTED)})")
    return Criteria(ids, tuple(tokens))
