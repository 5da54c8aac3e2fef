"""Hypothesis strategies for the search property test: small sets of Patients,
Observations and RiskAssessments, and queries over their parameters (``brute.PARAMS``).

Values come from small pools (names with case and accent variants, a few code systems
and codes, dates of every precision with time zones, decimals of varied precision and
units) so that queries often hit, miss and sit on boundaries. No generated value holds
a comma, pipe or backslash (they would need escaping).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from helseflyt.http.testing import BASE

from .brute import PARAMS, date_range, fold

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
RISK = "http://terminology.hl7.org/CodeSystem/risk-probability"
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
NAMES = ["Østby", "østby", "OSTBY", "Ostby", "Nordmann", "Lærke", "Müller", "Muller", "José", "jose", "Åse",
         "ase", "Kåre", "Kare", "Ole Bjørn", "Ola"]  # fmt: skip
GIVEN = ["Åse", "ase", "Ola", "OLA", "Kari", "Kåre", "Ole Bjørn", "Émile", "Anne_Marie", "Strauß"]
TEXTS = ["Fødselsnummer", "Pass", "Blodtrykk", "blodtrykk systolisk", "Blood Pressure", "Systolic"]
CODINGS = [(LOINC, "8480-6", "Systolic blood pressure"), (LOINC, "8462-4", None),
           ("urn:codes", "8480-6", None), (None, "A", "Åpen"), ("urn:codes", "B", None)]  # fmt: skip
UNITS: list[dict[str, str]] = [
    {"unit": "mg"},
    {"unit": "mg", "system": UCUM, "code": "mg"},
    {"unit": "milligram", "system": UCUM, "code": "mg"},
    {"system": UCUM, "code": "mm[Hg]"},
    {"unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
    {"unit": "kg", "system": "urn:units", "code": "kg"},
]
VALUE_STRINGS = ["Positiv", "positiv", "POSITIV", "Négatif", "negativ", "Ikke påvist", "100% sikker"]
NUMBERS = ["0", "1", "1.0", "1.05", "1.1", "1.15", "5.4", "5.40", "5.35", "5.45", "100", "99.5", "100.5",
           "-3.2", "0.27", "0.3", "0.33", "12.345", "0.1", "0.2", "0.7"]  # fmt: skip
ZONES = ["Z", "+02:00", "-05:00", "+14:00", "-12:00"]


def _maybe(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | s


# -- dates -----------------------------------------------------------------------------

years = st.integers(1979, 1981).map(str)
months = st.sampled_from(["01", "02", "06", "12"])
days = st.sampled_from(["01", "15", "28", "29", "30", "31"])


@st.composite
def partial_date(draw: st.DrawFn) -> str:
    """A valid FHIR date: year, year-month or year-month-day."""
    y = draw(years)
    precision = draw(st.integers(0, 2))
    if precision == 0:
        return y
    m = draw(months)
    if precision == 1:
        return f"{y}-{m}"
    d = draw(days)
    limit = {"02": 29 if int(y) % 4 == 0 else 28, "06": 30}.get(m, 31)
    return f"{y}-{m}-{min(int(d), limit):02d}"


@st.composite
def date_time(draw: st.DrawFn, *, search: bool = False) -> str:
    """A FHIR dateTime of any precision; with a time it has seconds and a zone, except
    as a search value (minutes allowed, the zone may be left out: UTC)."""
    date = draw(partial_date())
    if date.count("-") < 2 or draw(st.booleans()):
        return date
    hh = draw(st.sampled_from(["00", "01", "12", "22", "23"]))
    mm = draw(st.sampled_from(["00", "30", "59"]))
    seconds = "" if search and draw(st.booleans()) else ":" + draw(st.sampled_from(["00", "30", "59"]))
    if seconds and draw(st.booleans()):
        seconds += draw(st.sampled_from([".5", ".250", ".999999"]))
    zone = draw(st.sampled_from(ZONES + ([""] if search else [])))
    return f"{date}T{hh}:{mm}{seconds}{zone}"


# -- resources ---------------------------------------------------------------------------


@st.composite
def patient(draw: st.DrawFn, rid: str) -> dict[str, Any]:
    r: dict[str, Any] = {"resourceType": "Patient", "id": rid}
    names = []
    for _ in range(draw(st.integers(0, 2))):
        name: dict[str, Any] = {}
        if draw(st.booleans()):
            name["family"] = draw(st.sampled_from(NAMES))
        given = draw(st.lists(st.sampled_from(GIVEN), max_size=2))
        if given or not name:
            name["given"] = given or ["Kari"]
        if draw(st.integers(0, 4)) == 0:
            name["text"] = " ".join([*name.get("given", []), name.get("family", "")]).strip()
        names.append(name)
    if names:
        r["name"] = names
    if (birth := draw(_maybe(partial_date()))) is not None:
        r["birthDate"] = birth
    if (gender := draw(_maybe(st.sampled_from(["male", "female", "other", "unknown"])))) is not None:
        r["gender"] = gender
    if (active := draw(_maybe(st.booleans()))) is not None:
        r["active"] = active
    idents = []
    for _ in range(draw(st.integers(0, 2))):
        ident: dict[str, Any] = {"value": draw(st.sampled_from(["17058012345", "1", "12"]))}
        if (system := draw(_maybe(st.sampled_from([FNR, "urn:sys:b"])))) is not None:
            ident["system"] = system
        if draw(st.booleans()):
            ident["type"] = {"text": draw(st.sampled_from(TEXTS[:2]))}
        idents.append(ident)
    if idents:
        r["identifier"] = idents
    return r


def _coding(c: tuple[str | None, str, str | None]) -> dict[str, str]:
    system, code, display = c
    out = {"code": code}
    if system:
        out["system"] = system
    if display:
        out["display"] = display
    return out


decimals = st.one_of(
    st.sampled_from(NUMBERS),
    st.sampled_from(NUMBERS).map(lambda n: str(Decimal(n) * Decimal("0.9"))),  # edges of `ap` ranges
    st.sampled_from(NUMBERS).map(lambda n: str(Decimal(n) * Decimal("1.1"))),
    st.decimals(-200, 200, places=3, allow_nan=False).map(
        lambda d: str(d.normalize() if d == d.to_integral() else d)
    ),
)


@st.composite
def observation(draw: st.DrawFn, rid: str, patients: int) -> dict[str, Any]:
    codings = draw(st.lists(st.sampled_from(CODINGS), min_size=1, max_size=2, unique=True))
    code: dict[str, Any] = {"coding": [_coding(c) for c in codings]}
    if draw(st.booleans()):
        code["text"] = draw(st.sampled_from(TEXTS[2:]))
    r: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        "status": draw(st.sampled_from(["final", "amended", "preliminary"])),
        "code": code,
    }
    subjects = [f"Patient/p{i}" for i in range(patients + 1)] + ["Group/g1", "Patient/p0/_history/1"]
    if (subject := draw(_maybe(st.sampled_from(subjects)))) is not None:
        r["subject"] = {"reference": subject}
    effective = draw(st.integers(0, 3))
    if effective == 1:
        r["effectiveDateTime"] = draw(date_time())
    elif effective == 3:
        r["effectiveInstant"] = draw(date_time().filter(lambda d: "T" in d))
    elif effective == 2:
        period = {k: draw(date_time()) for k in ("start", "end") if draw(st.booleans())}
        if len(period) == 2 and date_range(period["start"])[0] >= date_range(period["end"])[1]:
            period = {"start": period["end"], "end": period["start"]}  # per-1: stored ones are valid
        r["effectivePeriod"] = period or {"start": draw(date_time())}
    value = draw(st.integers(0, 3))
    if value == 1:
        r["valueQuantity"] = {"value": Decimal(draw(decimals)), **draw(st.sampled_from(UNITS))}
    elif value == 2:
        r["valueString"] = draw(st.sampled_from(VALUE_STRINGS))
    elif value == 3:
        r["valueCodeableConcept"] = {"text": draw(st.sampled_from(VALUE_STRINGS))}
    return r


RISKS = [(RISK, "low", "Low likelihood"), (RISK, "high", None), (None, "high", "Høy")]


@st.composite
def risk_assessment(draw: st.DrawFn, rid: str, patients: int) -> dict[str, Any]:
    """Several predictions: a number (``probability``) and a token (``risk``) with many values."""
    r: dict[str, Any] = {"resourceType": "RiskAssessment", "id": rid, "status": "final"}
    r["subject"] = {"reference": f"Patient/p{draw(st.integers(0, patients))}"}
    predictions = []
    for _ in range(draw(st.integers(0, 3))):
        prediction: dict[str, Any] = {}
        if draw(st.booleans()):
            prediction["probabilityDecimal"] = Decimal(draw(decimals))
        if draw(st.booleans()):
            prediction["qualitativeRisk"] = {"coding": [_coding(draw(st.sampled_from(RISKS)))]}
        predictions.append(prediction or {"outcome": {"text": "x"}})
    if predictions:
        r["prediction"] = predictions
    return r


@st.composite
def resources(draw: st.DrawFn) -> dict[str, dict[str, dict[str, Any]]]:
    n = draw(st.integers(1, 4))
    patients = {f"p{i}": draw(patient(f"p{i}")) for i in range(n)}
    m = draw(st.integers(1, 6))
    observations = {f"o{i}": draw(observation(f"o{i}", n)) for i in range(m)}
    k = draw(st.integers(0, 3))
    risks = {f"r{i}": draw(risk_assessment(f"r{i}", n)) for i in range(k)}
    return {"Patient": patients, "Observation": observations, "RiskAssessment": risks}


# -- queries ---------------------------------------------------------------------------
# Values come from the pools or, half of the time, from the generated resources
# themselves (truncated, re-cased, unaccented), so that queries often hit and sit on
# the edges of what is stored.

Stored = dict[str, dict[str, dict[str, Any]]]
STRING_POOLS = {"name": NAMES + GIVEN, "family": NAMES, "given": GIVEN, "value-string": VALUE_STRINGS}
TOKEN_POOLS: dict[str, tuple[list[str], list[str]]] = {
    "gender": ([], ["male", "female", "other"]),
    "active": ([], ["true", "false"]),
    "status": ([], ["final", "amended", "preliminary"]),
    "identifier": ([FNR, "urn:sys:b"], ["17058012345", "1", "12"]),
    "code": ([LOINC, "urn:codes"], ["8480-6", "8462-4", "A", "B"]),
    "risk": ([RISK], ["low", "high", "moderate"]),
}
TEXT_POOLS = {
    "identifier": TEXTS[:2],
    "code": ["Systolic", "Blodtrykk", "Blood", "Åpen"],
    "risk": ["low", "Hoy"],
}


def _dates(r: dict[str, Any]) -> list[str]:
    p = r.get("effectivePeriod", {})
    found = (
        r.get("birthDate"),
        r.get("effectiveDateTime"),
        r.get("effectiveInstant"),
        p.get("start"),
        p.get("end"),
    )
    return [v for v in found if v]


@st.composite
def _pick(draw: st.DrawFn, pool: list[Any], stored: list[Any]) -> Any:
    return draw(st.sampled_from(stored if stored and draw(st.booleans()) else pool))


@st.composite
def _string_value(draw: st.DrawFn, words: list[str], modifier: str) -> str:
    """A prefix, substring (``contains``) or whole word (``exact``), in some case."""
    word = draw(st.sampled_from(words))
    if modifier == "":
        word = word[: draw(st.integers(1, len(word)))]
    elif modifier == "contains":
        start = draw(st.integers(0, len(word) - 1))
        word = word[start : start + draw(st.integers(1, 4))]
    if modifier != "exact":
        word = word.strip() or word.replace(" ", "") or "a"
        if draw(st.booleans()):
            word = fold(word)  # drops accents, keeps æ and ø
        word = draw(st.sampled_from([word, word.upper(), word.lower()]))
    return word


@st.composite
def _token_value(draw: st.DrawFn, systems: list[str], codes: list[str], stored: list[Any]) -> str:
    system, code = draw(
        _pick([(draw(st.sampled_from(systems)) if systems else None, c) for c in codes], stored)
    )
    form = draw(st.integers(0, 3 if system else 1))
    return [code, f"|{code}", f"{system}|{code}", f"{system}|"][form]


@st.composite
def _date_value(draw: st.DrawFn, stored: list[str]) -> str:
    text = draw(_pick([draw(date_time(search=True))], stored))
    cut = draw(st.sampled_from([len(text), len(text), 4, 7, 10, 16]))
    text = text[:cut] if cut < len(text) else text
    return text


def _near(number: str) -> list[str]:
    """Search values whose ``ap`` range (±10 %) ends exactly at ``number``."""
    t = Decimal(number)
    out = []
    for f in (Decimal("0.9"), Decimal("1.1")):
        s = t / f
        if len(s.as_tuple().digits) < 12:  # exact: s * f == t
            out.append(str(s.normalize() if s == s.to_integral() else s))
    return out


@st.composite
def _number_value(draw: st.DrawFn, stored: list[Decimal]) -> str:
    """A stored number (as written, with one more digit, rounded, or at an ``ap`` edge)."""
    number = str(draw(_pick([Decimal(draw(decimals))], stored)))
    if draw(st.booleans()):
        number = draw(
            st.sampled_from([number, number + "0", str(Decimal(number).quantize(Decimal(1))), *_near(number)])
        )
    return number


@st.composite
def _quantity_value(draw: st.DrawFn, stored: list[dict[str, Any]]) -> str:
    q = draw(_pick([{"value": Decimal(draw(decimals)), **draw(st.sampled_from(UNITS))}], stored))
    number = draw(_number_value([q["value"]]))
    form = draw(st.integers(0, 3))
    if form == 0:
        return number
    if form == 1:
        return f"{number}||{draw(st.sampled_from([q.get('unit', ''), q.get('code', ''), 'mg']))}"
    system = draw(st.sampled_from([q.get("system", ""), UCUM, "urn:units", ""]))
    return f"{number}|{system}|{draw(st.sampled_from([q.get('code', ''), 'mg', 'mm[Hg]', 'kg', '']))}"


@st.composite
def _prefixed(draw: st.DrawFn, values: st.SearchStrategy[str]) -> str:
    """One to three values ORed; ``ne`` is never mixed with other prefixes (a 400)."""
    n = draw(st.integers(1, 3))
    if draw(st.integers(0, 5)) == 0:
        return ",".join("ne" + draw(values) for _ in range(n))
    prefixes = st.sampled_from(["", "", "eq", "gt", "lt", "ge", "le", "sa", "eb", "ap"])
    return ",".join(draw(prefixes) + draw(values) for _ in range(n))


def _or(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(values, min_size=1, max_size=3).map(",".join)


@st.composite
def criterion(draw: st.DrawFn, world: Stored, res_type: str, *, chained: bool = True) -> tuple[str, str]:
    """One ``name[:modifier]=value[,value]`` over ``res_type``."""
    if chained and res_type != "Patient" and draw(st.integers(0, 5)) == 0:
        head = draw(st.sampled_from(["subject:Patient.", "patient.", "subject."]))
        name, value = draw(criterion(world, "Patient", chained=False))
        return head + name, value
    if chained and res_type == "Patient" and draw(st.integers(0, 7)) == 0:
        source, ref = draw(
            st.sampled_from(
                [("Observation", "subject"), ("Observation", "patient"), ("RiskAssessment", "subject")]
            )
        )
        name, value = draw(criterion(world, source, chained=False))
        return f"_has:{source}:{ref}:{name}", value
    params = PARAMS[res_type]
    name = draw(st.sampled_from([*sorted(params), "_id"]))
    stored = list(world[res_type].values())
    if name == "_id":
        ids = [*world[res_type], "p9", "o9", "r9"]
        return name, draw(_or(st.sampled_from(ids)))
    p = params[name]
    if draw(st.integers(0, 7)) == 0:
        return f"{name}:missing", draw(st.sampled_from(["true", "false"]))
    if p.kind == "string":
        modifier = draw(st.sampled_from(["", "", "exact", "contains"]))
        words = [s for r in stored for s in p.values(r)] if draw(st.booleans()) else []
        value = draw(_or(_string_value(words or STRING_POOLS[name], modifier)))
        return f"{name}:{modifier}" if modifier else name, value
    if p.kind == "token":
        modifier = draw(st.sampled_from(["", "", "not"] + (["text"] if name in TEXT_POOLS else [])))
        if modifier == "text":
            texts = [t for r in stored for t in p.texts(r)] or TEXT_POOLS[name]
            return f"{name}:text", draw(_string_value(texts, ""))
        systems, codes = TOKEN_POOLS[name]
        value = draw(_or(_token_value(systems, codes, [t for r in stored for t in p.values(r)])))
        return f"{name}:{modifier}" if modifier else name, value
    if p.kind == "reference":
        ids = [*world["Patient"], "p9", "g1"]
        form = draw(st.integers(0, 2))
        if form == 2 and name == "subject":
            return "subject:Patient", draw(
                st.sampled_from(ids[:-1]).flatmap(lambda i: st.sampled_from([i, "Patient/" + i]))
            )
        base = draw(st.sampled_from(["", "", BASE + "/"]))
        refs = st.sampled_from(ids).map(lambda i: base + ("Group/" if i == "g1" else "Patient/") + i)
        return name, draw(_or(refs if form == 0 else st.sampled_from(ids)))
    if p.kind == "date":
        return name, draw(_prefixed(_date_value([d for r in stored for d in _dates(r)])))
    if p.kind == "number":
        return name, draw(_prefixed(_number_value([v for r in stored for v in p.values(r)])))
    return name, draw(
        _prefixed(_quantity_value([r["valueQuantity"] for r in stored if "valueQuantity" in r]))
    )


@st.composite
def queries(draw: st.DrawFn, world: Stored) -> tuple[str, list[tuple[str, str]]]:
    """A resource type and 1-3 criteria (a repeated name ANDs)."""
    res_type = draw(st.sampled_from(["Patient", "Observation", "RiskAssessment"]))
    return res_type, draw(st.lists(criterion(world, res_type), min_size=1, max_size=3))


SORTS = {
    "Patient": ["birthdate", "family", "name", "gender"],
    "Observation": ["date", "value-quantity", "status"],
    "RiskAssessment": ["probability", "risk"],
}


def sorts(res_type: str) -> st.SearchStrategy[str | None]:
    """No ``_sort`` (half the time) or one or two keys, either direction."""
    key = st.tuples(st.sampled_from(["", "-"]), st.sampled_from(SORTS[res_type])).map("".join)
    keys = st.lists(key, min_size=1, max_size=2, unique_by=lambda k: k.lstrip("-"))
    return st.none() | keys.map(",".join)
