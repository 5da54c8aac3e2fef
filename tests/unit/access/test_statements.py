"""The access statements built once per filter: the same text and arguments as a fresh
build, with each request's own times, and a new entry whenever any set changes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from helseflyt.storage.access import queries
from helseflyt.storage.access.filter import AccessFilter
from helseflyt.storage.access.predicate import _practitioner_sets, _predicate_sql, predicate
from helseflyt.storage.access.statements import Statements

NOW = 1_700_000_000_000_000
BASE = AccessFilter(
    role="practitioner",
    hpr="565501879",
    orgnrs=("974703475",),
    actor="hpr:565501879",
    now=NOW,
    care_since=NOW - 10**12,
)
KNOWN = replace(
    BASE,
    care_ids=("p1", "p2", "p3"),
    gp_ids=("p4",),
    grant_ids=(),
    grant_open_ids=(),
    reserved_ids=("p2",),
    locking_ids=("p3",),
    blocking_ids=(),
)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []

    def query(self, sql: str, args: list[Any]) -> list[Any]:
        self.calls.append((sql, list(args)))
        return []


def fresh_predicate(f: AccessFilter, types: tuple[str, ...] | None, drive: bool) -> tuple[str, list[Any]]:
    return _predicate_sql(f, "c", types, drive, None)


def cached_predicate(f: AccessFilter, types: tuple[str, ...] | None, drive: bool) -> tuple[str, list[Any]]:
    args: list[Any] = []
    return predicate(f, "c", types, args, drive=drive), args


@pytest.mark.parametrize("role", ["practitioner", "patient", "system"])
@pytest.mark.parametrize("types", [("Patient",), ("Observation",), None])
@pytest.mark.parametrize("known", [True, False])
def test_predicate_equals_a_fresh_build_at_every_time(role: str, types: Any, known: bool) -> None:
    f = replace(KNOWN if known else BASE, role=role, pid="13116900216" if role == "patient" else None)
    for step in range(3):  # first a miss, then hits, each with its own times
        g = replace(f, now=NOW + step, care_since=NOW - 10**12 + step)
        for drive in (False, True):
            assert cached_predicate(g, types, drive) == fresh_predicate(g, types, drive)


def test_the_times_are_arguments_of_each_request() -> None:
    # without known sets the practitioner's predicate reads now (grants) and care_since
    sql, first = cached_predicate(BASE, ("Observation",), False)
    later = replace(BASE, now=NOW + 5, care_since=BASE.care_since + 7)
    sql2, second = cached_predicate(later, ("Observation",), False)
    assert sql == sql2
    assert NOW in first and NOW + 5 in second and NOW not in second
    assert BASE.care_since in first and BASE.care_since + 7 in second


def test_a_changed_set_gives_a_new_statement() -> None:
    before = cached_predicate(KNOWN, ("Observation",), True)
    blocked = replace(KNOWN, blocking_ids=("p1",))
    after = cached_predicate(blocked, ("Observation",), True)
    assert after == fresh_predicate(blocked, ("Observation",), True)
    assert after != before
    assert _practitioner_sets(blocked) == (("p3", "p4"), frozenset())  # p1 blocked, p2 reserved


def test_request_sets_runs_the_statement_of_its_own_times() -> None:
    conns = [Recorder(), Recorder(), Recorder()]
    for step, conn in enumerate(conns):
        queries.request_sets(conn, replace(BASE, now=NOW + step), bases=True)
    queries._SET_STATEMENTS.clear()
    fresh = Recorder()
    queries.request_sets(fresh, replace(BASE, now=NOW + 2), bases=True)
    assert conns[2].calls == fresh.calls
    assert conns[0].calls[0][0] == conns[1].calls[0][0]  # the same text
    assert NOW in conns[0].calls[0][1] and NOW not in conns[1].calls[0][1]


def test_least_recently_used_entries_go_first() -> None:
    kept = Statements(size=2)
    built: list[str] = []

    def build(name: str) -> Any:
        def run(g: AccessFilter) -> tuple[str, list[Any]]:
            built.append(name)
            return name, [g.now]

        return run

    for name in ("a", "b", "a", "c", "a", "b"):
        assert kept.get(BASE, name, build(name)) == (name, [NOW])
    assert built == ["a", "b", "c", "b"]  # "b" was evicted by "c" ("a" used since)
