"""A brute-force FHIR R4 search evaluator for the property test (``test_property.py``).

Written from the specification (https://hl7.org/fhir/R4/search.html, §3.1.1) and the
decisions documented in ``docs/search.md``, independently of the engine under test:
it walks the stored JSON of the few resources a test generated and decides, resource
by resource, whether a query matches. Only the parameters the strategies generate
(``tests/search/strategies.py``) are known here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from helseflyt.http.testing import BASE

Res = dict[str, Any]
DAY = timedelta(days=1)
FAR_PAST = datetime(1, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def fold(text: str) -> str:
    """Case- and accent-insensitive form (docs/search.md: NFKD, combining marks dropped)."""
    text = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).split())


# -- values of each parameter, by simple JSON walking ---------------------------------


def _strings_of_names(r: Res, parts: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for name in r.get("name", []):
        for part in parts:
            v = name.get(part)
            out += v if isinstance(v, list) else [v] if v is not None else []
    return out


def _codings(cc: Res | None) -> list[tuple[str | None, str]]:
    return [(c.get("system"), c["code"]) for c in (cc or {}).get("coding", []) if "code" in c]


def _cc_texts(cc: Res | None) -> list[str]:
    cc = cc or {}
    return [c["display"] for c in cc.get("coding", []) if "display" in c] + (
        [cc["text"]] if "text" in cc else []
    )


def _plain(v: Any) -> list[tuple[str | None, str]]:
    if v is None:
        return []
    return [(None, ("true" if v else "false") if isinstance(v, bool) else str(v))]


def _effective(r: Res) -> list[tuple[datetime, datetime]]:
    if "effectiveDateTime" in r or "effectiveInstant" in r:
        return [date_range(r.get("effectiveDateTime") or r["effectiveInstant"])]
    p = r.get("effectivePeriod")
    if not p:
        return []
    low = date_range(p["start"])[0] if "start" in p else FAR_PAST
    high = date_range(p["end"])[1] if "end" in p else FAR_FUTURE
    return [(low, high)]


def _subject(r: Res, only: str | None = None) -> list[str]:
    ref = (r.get("subject") or {}).get("reference")
    if ref is None or (only and not ref.startswith(only + "/")):
        return []
    return [ref.split("/_history/")[0]]  # a version-specific reference: its resource


@dataclass(frozen=True)
class Param:
    kind: str  # token, string, date, number, quantity, reference
    values: Callable[[Res], list[Any]]
    texts: Callable[[Res], list[str]] = lambda r: []  # token :text


PARAMS: dict[str, dict[str, Param]] = {
    "Patient": {
        "name": Param(
            "string", lambda r: _strings_of_names(r, ("family", "given", "prefix", "suffix", "text"))
        ),
        "family": Param("string", lambda r: _strings_of_names(r, ("family",))),
        "given": Param("string", lambda r: _strings_of_names(r, ("given",))),
        "birthdate": Param("date", lambda r: [date_range(r["birthDate"])] if "birthDate" in r else []),
        "gender": Param("token", lambda r: _plain(r.get("gender"))),
        "active": Param("token", lambda r: _plain(r.get("active"))),
        "identifier": Param(
            "token",
            lambda r: [(i.get("system"), i["value"]) for i in r.get("identifier", [])],
            lambda r: [i["type"]["text"] for i in r.get("identifier", []) if "text" in i.get("type", {})],
        ),
    },
    "Observation": {
        "code": Param("token", lambda r: _codings(r.get("code")), lambda r: _cc_texts(r.get("code"))),
        "status": Param("token", lambda r: _plain(r.get("status"))),
        "subject": Param("reference", _subject),
        "patient": Param("reference", lambda r: _subject(r, "Patient")),
        "date": Param("date", _effective),
        "value-quantity": Param("quantity", lambda r: [r["valueQuantity"]] if "valueQuantity" in r else []),
        "value-string": Param(
            "string",
            lambda r: [v for v in (r.get("valueString"), r.get("valueCodeableConcept", {}).get("text")) if v],
        ),
    },
    "RiskAssessment": {
        "probability": Param(
            "number",
            lambda r: [
                Decimal(str(p["probabilityDecimal"]))
                for p in r.get("prediction", [])
                if "probabilityDecimal" in p
            ],
        ),
        "risk": Param(
            "token",
            lambda r: [c for p in r.get("prediction", []) for c in _codings(p.get("qualitativeRisk"))],
            lambda r: [t for p in r.get("prediction", []) for t in _cc_texts(p.get("qualitativeRisk"))],
        ),
        "subject": Param("reference", _subject),
        "patient": Param("reference", lambda r: _subject(r, "Patient")),
    },
}


# -- dates: [start, end) ranges of a precision ----------------------------------------

_DATE = re.compile(
    r"(\d{4})(?:-(\d\d)(?:-(\d\d)(?:T(\d\d):(\d\d)(?::(\d\d)(\.\d+)?)?(Z|[+-]\d\d:\d\d)?)?)?)?"
)


def date_range(text: str) -> tuple[datetime, datetime]:
    """The instants a date/dateTime covers, as ``[start, end)`` in UTC (no zone = UTC)."""
    m = _DATE.fullmatch(text)
    assert m, text
    y, mo, d, hh, mm, ss, frac, tz = m.groups()
    if mo is None:
        start = datetime(int(y), 1, 1, tzinfo=UTC)
        return start, start.replace(year=start.year + 1)
    if d is None:
        start = datetime(int(y), int(mo), 1, tzinfo=UTC)
        nxt = (start + timedelta(days=31)).replace(day=1)
        return start, nxt
    if hh is None:
        start = datetime(int(y), int(mo), int(d), tzinfo=UTC)
        return start, start + DAY
    zone: timezone = UTC
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        zone = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    local = datetime(int(y), int(mo), int(d), int(hh), int(mm), int(ss or 0), micro, tzinfo=zone)
    if frac:
        step = timedelta(microseconds=10 ** (6 - min(len(frac) - 1, 6)))
    else:
        step = timedelta(seconds=1) if ss is not None else timedelta(minutes=1)
    start = local.astimezone(UTC)
    return start, start + step


PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


def split_prefix(value: str) -> tuple[str, str]:
    if value[:2] in PREFIXES and not value[2:3].isalpha():
        return value[:2], value[2:]
    return "eq", value


def date_matches(prefix: str, text: str, target: tuple[datetime, datetime], now: datetime) -> bool:
    """§3.1.1.4.5 (prefixes on ranges): ``ne`` is handled by the caller as not-``eq``."""
    lo, hi = date_range(text)
    tl, th = target
    eq = lo <= tl and th <= hi
    if prefix == "eq":
        return eq
    if prefix in ("gt", "ge"):
        return th > hi or (prefix == "ge" and eq)
    if prefix in ("lt", "le"):
        return tl < lo or (prefix == "le" and eq)
    if prefix == "sa":
        return tl >= hi
    if prefix == "eb":
        return th <= lo
    assert prefix == "ap", prefix
    gap = max(abs(now - lo) / 10, DAY)  # docs/search.md: 10 % of the distance to now, >= 1 day
    return tl <= hi - timedelta(microseconds=1) + gap and th - timedelta(microseconds=1) >= lo - gap


def number_matches(prefix: str, text: str, value: Decimal) -> bool:
    """§3.1.1.4.2: ``eq`` is the range the search value's precision implies."""
    v = Decimal(text)
    exponent = v.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal(5).scaleb(exponent - 1)
    if prefix == "eq":
        return v - half <= value < v + half
    if prefix in ("gt", "sa"):
        return value > v
    if prefix in ("lt", "eb"):
        return value < v
    if prefix == "ge":
        return value >= v
    if prefix == "le":
        return value <= v
    assert prefix == "ap", prefix
    return abs(value - v) <= abs(v) / 10


def quantity_matches(prefix: str, text: str, q: Res) -> bool:
    """``number|system|code``; with no system the code matches ``code`` or ``unit``."""
    number, *rest = text.split("|")
    if rest:
        system, code = rest
        if system and q.get("system") != system:
            return False
        if code and code != q.get("code") and (system or code != q.get("unit")):
            return False
    return number_matches(prefix, number, Decimal(str(q["value"])))


# -- one criterion over one resource ------------------------------------------------


def _token_matches(value: str, token: tuple[str | None, str]) -> bool:
    system, code = token
    if "|" not in value:
        return code == value
    want_system, want_code = value.split("|", 1)
    if want_code and want_code != code:
        return False
    return system is None if not want_system else system == want_system


def _reference_matches(value: str, ref: str, modifier: str | None) -> bool:
    value = value.removeprefix(BASE + "/")  # this server's base: a local reference
    if modifier:  # :[type]
        value = f"{modifier}/{value}" if "/" not in value else value
    if "/" in value:
        return ref == value
    return ref.split("/", 1)[1] == value  # a bare id: any type


@dataclass(frozen=True)
class World:
    """The stored resources and the clock: what a criterion is evaluated against."""

    resources: dict[str, dict[str, Res]]  # by type, by id
    now: datetime


def matches(world: World, res_type: str, r: Res, name: str, values: list[str]) -> bool:
    """Whether ``r`` matches ``name=v1,v2,...`` (a comma list ORs its values)."""
    if name.startswith("_has:"):  # _has:Type:reference:param: some Type pointing here matches
        _, source, ref, rest = name.split(":", 3)
        here = f"{res_type}/{r['id']}"
        return any(
            here in PARAMS[source][ref].values(other) and matches(world, source, other, rest, values)
            for other in world.resources.get(source, {}).values()
        )
    head, dot, rest = name.partition(".")
    if dot:  # one chained step: ref[:Type].param
        code, _, target = head.partition(":")
        refs = PARAMS[res_type][code].values(r)
        hits = []
        for ref in refs:
            t, i = ref.split("/", 1)
            other = world.resources.get(t, {}).get(i)
            if other is not None and (not target or t == target):
                hits.append(matches(world, t, other, rest, values))
        return any(hits)
    code, _, modifier = name.partition(":")
    if code == "_id":
        return r["id"] in values
    p = PARAMS[res_type][code]
    found = p.values(r)
    if modifier == "missing":
        return any((not found) == (v == "true") for v in values)
    if p.kind == "token":
        if modifier == "text":
            return any(fold(t).startswith(fold(v)) for t in p.texts(r) for v in values)
        hit = any(_token_matches(v, tok) for tok in found for v in values)
        return not hit if modifier == "not" else hit
    if p.kind == "string":
        if modifier == "exact":
            return any(s == v for s in found for v in values)
        if modifier == "contains":
            return any(fold(v) in fold(s) for s in found for v in values)
        return any(fold(s).startswith(fold(v)) for s in found for v in values)
    if p.kind == "reference":
        return any(_reference_matches(v, ref, modifier or None) for ref in found for v in values)
    return _ranged(world, p.kind, values, found)


def _ranged(world: World, kind: str, values: list[str], found: list[Any]) -> bool:
    """Prefixed values. docs/search.md: ``ne`` values are each negated and ANDed (a
    resource matches when no value equals any of them, also one without a value)."""
    test: Callable[[str, str, Any], bool]
    if kind == "date":

        def test(prefix: str, text: str, target: Any) -> bool:
            return date_matches(prefix, text, target, world.now)
    elif kind == "number":
        test = number_matches
    else:
        test = quantity_matches
    parsed = [split_prefix(v) for v in values]
    if all(prefix == "ne" for prefix, _ in parsed):
        return not any(test("eq", text, t) for _, text in parsed for t in found)
    return any(test(prefix, text, t) for prefix, text in parsed for t in found)


def evaluate(world: World, res_type: str, query: Iterable[tuple[str, str]]) -> set[str]:
    """Ids of ``res_type`` matching every ``(name, value)`` pair (repeated names AND;
    the strategies never put a comma, pipe or backslash inside a value)."""
    out = set()
    pairs = list(query)
    for rid, r in world.resources.get(res_type, {}).items():
        if all(matches(world, res_type, r, name, value.split(",")) for name, value in pairs):
            out.add(rid)
    return out


def sort_key(res_type: str, r: Res, sort: str) -> tuple[bool, Any, str]:
    """``_sort`` order (docs/search.md): a resource's key is its smallest value ascending
    and its largest descending (a date's start, or its end descending; a string folded),
    resources without one last either way, ties by id."""
    code = sort.lstrip("-")
    desc = sort.startswith("-")
    p = PARAMS[res_type][code]
    found = p.values(r)
    if p.kind == "date":
        keys: list[Any] = [t[1] if desc else t[0] for t in found]
    elif p.kind == "string":
        keys = [fold(v) for v in found]
    elif p.kind == "quantity":
        keys = [Decimal(str(q["value"])) for q in found]
    elif p.kind == "number":
        keys = list(found)
    else:
        keys = [code for _, code in found]
    if not keys:
        return True, None, r["id"]
    return False, max(keys) if desc else min(keys), r["id"]


def ordered(world: World, res_type: str, ids: set[str], sort: str) -> list[str]:
    """``ids`` in ``_sort`` order (keys separated by commas, the first one first): a
    descending key reverses the key order, not the ids that share a key."""
    order = sorted(ids)
    for key in reversed(sort.split(",")):  # stable sorts, the last key first
        keys = {rid: sort_key(res_type, world.resources[res_type][rid], key) for rid in ids}
        present = [rid for rid in order if not keys[rid][0]]
        present.sort(key=lambda rid: keys[rid][1], reverse=key.startswith("-"))
        order = present + [rid for rid in order if keys[rid][0]]
    return order
