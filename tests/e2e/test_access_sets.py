"""The practitioner's precomputed patient sets (``sql_access._by_sets``) decide exactly as
the per-row predicate they replace, for every resource, on every backend."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from helseflyt.search.index import index
from helseflyt.storage import Store, open_store
from helseflyt.storage.sql_access import (
    AccessFilter,
    _practitioner_sets,
    care_patients,
    insert_grants,
    predicate,
    request_sets,
)
from helseflyt.storage.testing import FixedClock

from .test_access_matrix import (
    FNR,
    GP_OFFICE,
    HOSPITAL,
    HPR_BLOCKED,
    HPR_GP,
    HPR_HOSP,
    HPR_OTHER_GP,
    OTHER_HOSPITAL,
    _consent,
    _pract,
    _seed,
)

LABEL = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSY"}


def _more() -> list[tuple[str, str, dict[str, Any]]]:
    """Bases and controls the matrix does not have: a care team, a GP by role, a resource
    of two patients, sperring by label and by instance, blokkering by reference."""
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    return [
        ("Practitioner", "hosp", _pract(HPR_HOSP)),
        ("Practitioner", "blocked", _pract(HPR_BLOCKED)),
        ("PractitionerRole", "gp-role", {"resourceType": "PractitionerRole",
                                         "practitioner": {"reference": "Practitioner/other-gp"}}),
        ("Patient", "px", {"resourceType": "Patient",
                           "generalPractitioner": [{"reference": "PractitionerRole/gp-role"}]}),
        ("Patient", "pt", {"resourceType": "Patient"}),
        ("CareTeam", "team", {"resourceType": "CareTeam", "status": "active",
                              "subject": {"reference": "Patient/pt"},
                              "participant": [{"member": {"reference": "Practitioner/hosp"}}]}),
        ("Observation", "obs-both", {**obs, "subject": {"reference": "Patient/pn"},
                                     "performer": [{"reference": "Patient/px"}]}),
        ("Observation", "obs-psy", {**obs, "subject": {"reference": "Patient/px"},
                                    "meta": {"security": [LABEL]}}),
        ("Observation", "obs-px", {**obs, "subject": {"reference": "Patient/px"}}),
        ("Observation", "obs-pt", {**obs, "subject": {"reference": "Patient/pt"}}),
        ("Condition", "cond-pt", {"resourceType": "Condition", "subject": {"reference": "Patient/pt"}}),
        ("Consent", "con-psy", _consent("px", "sperring", {"type": "deny", "securityLabel": [LABEL]})),
        ("Consent", "con-inst", _consent("pt", "sperring", {"type": "deny", "data": [
            {"meaning": "instance", "reference": {"reference": "Condition/cond-pt"}}]})),
        ("Consent", "con-ref", _consent("pt", "blokkering", {"type": "deny", "actor": [
            {"role": {"text": "blocked"}, "reference": {"reference": "Practitioner/blocked"}}]})),
    ]  # fmt: skip


@pytest.fixture
def store(store_url: str, clock: FixedClock) -> Iterator[Store]:
    opened = open_store(store_url, indexer=index, clock=clock)
    with opened.transaction() as tx:
        tx.put_many([(r.type, r.id, body) for r, body in _seed()])
        tx.put_many(_more())
        now = int(time.time() * 1_000_000)  # the matrix's encounters are dated from today
        hour = 3_600_000_000
        insert_grants(
            tx.conn,  # type: ignore[attr-defined]
            [
                (f"hpr:{HPR_OTHER_GP}", "pl", "FORHOYET_AKUTT", "r", now, now + hour),
                (f"hpr:{HPR_OTHER_GP}", "pt", "AKUTT", "r", now, now + hour),
                (f"hpr:{HPR_OTHER_GP}", "pn", "AKUTT", "r", now - 2 * hour, now - hour),  # expired
            ],
        )
    yield opened
    opened.close()


DOCTORS = [
    (HPR_GP, (GP_OFFICE,)),
    (HPR_OTHER_GP, ("974760673",)),
    (HPR_HOSP, (HOSPITAL,)),
    (HPR_BLOCKED, (HOSPITAL,)),
    (None, (OTHER_HOSPITAL,)),
]
BASES: list[dict[str, Any]] = [
    {},
    {"basis": "SAMTYKKE", "declared_ids": ("px",)},
    {"basis": "FORHOYET_SAMTYKKE", "opens_locked": True, "declared_nin": FNR["pl"]},
    {"basis": "FORHOYET_AKUTT", "opens_locked": True, "declared_ids": ("pt", "pn")},
]


def _visible(conn: Any, f: AccessFilter, types: tuple[str, ...] | None) -> set[tuple[str, str]]:
    args: list[Any] = []
    where = "NOT c.deleted"
    if types is not None:
        where += f" AND c.res_type IN ({', '.join('?' * len(types))})"
        args += list(types)
    cond = predicate(f, "c", types, args)
    rows = conn.query(f"SELECT c.res_type, c.res_id FROM resource_current c WHERE {where} AND {cond}", args)
    return {(r[0], r[1]) for r in rows}


def test_sets_decide_as_the_row_predicate(store: Store) -> None:
    now = int(time.time() * 1_000_000)
    postgres = store.url.startswith("postgresql")
    with store.reader() as r:
        conn = r.conn  # type: ignore[attr-defined]
        everything = {(t, i) for t, i in conn.query("SELECT res_type, res_id FROM resource_current")}
        types = sorted({t for t, _ in everything})
        checked = 0
        for (hpr, orgs), extra in itertools.product(DOCTORS, BASES):
            plain = AccessFilter(
                role="practitioner", hpr=hpr, orgnrs=orgs, actor=f"hpr:{hpr}" if hpr else None,
                now=now, care_since=now - 90 * 86_400_000_000, postgres=postgres, **extra,
            )  # fmt: skip
            care = care_patients(conn, plain, 1000)
            full = replace(request_sets(conn, plain, bases=True)[0], care_ids=tuple(care or ()))
            assert _practitioner_sets(full) is not None and _practitioner_sets(plain) is None
            expected = _visible(conn, plain, None)
            assert _visible(conn, full, None) == expected, (hpr, orgs, extra)
            for t in types:  # one type at a time: the compartment-first form
                assert _visible(conn, full, (t,)) == {x for x in expected if x[0] == t}, (hpr, t, extra)
            checked += len(expected)
        assert checked > 50  # the cases see data, not just nothing
        assert ("Observation", "obs-both") in everything
