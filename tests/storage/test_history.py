"""history (instance, type, system), since/at/count, cursor paging, history_count."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from helseflyt.storage import HistoryQuery, ResourceVersion, Store
from helseflyt.storage.testing import FixedClock

from .conftest import START


def key(v: ResourceVersion) -> tuple[str, str, int]:
    return (v.type, v.id, v.version)


@pytest.fixture
def times(store: Store, clock: FixedClock) -> list[datetime]:
    """t0: Patient a, b; t1: a v2, Observation o; t2: delete a; t3: Patient c."""
    at = [clock.now]
    with store.transaction() as tx:
        tx.put("Patient", "a", {"resourceType": "Patient"})
        tx.put("Patient", "b", {"resourceType": "Patient"})
    at.append(clock.advance(10))
    with store.transaction() as tx:
        tx.put("Patient", "a", {"resourceType": "Patient", "active": True})
        tx.put("Observation", "o", {"resourceType": "Observation", "status": "final"})
    at.append(clock.advance(10))
    with store.transaction() as tx:
        tx.delete("Patient", "a")
    at.append(clock.advance(10))
    with store.transaction() as tx:
        tx.put("Patient", "c", {"resourceType": "Patient"})
    return at


def history(store: Store, **kw: object) -> list[tuple[str, str, int]]:
    with store.reader() as r:
        return [key(v) for v in r.history(HistoryQuery(**kw))]  # type: ignore[arg-type]


def count(store: Store, **kw: object) -> int:
    with store.reader() as r:
        return r.history_count(HistoryQuery(**kw))  # type: ignore[arg-type]


def test_instance_history_newest_first(store: Store, times: list[datetime]) -> None:
    assert history(store, type="Patient", id="a") == [
        ("Patient", "a", 3),
        ("Patient", "a", 2),
        ("Patient", "a", 1),
    ]
    with store.reader() as r:
        marker = r.history(HistoryQuery(type="Patient", id="a"))[0]
    assert marker.deleted and marker.body is None
    assert count(store, type="Patient", id="a") == 3
    assert history(store, type="Patient", id="nobody") == []


def test_type_and_system_history(store: Store, times: list[datetime]) -> None:
    assert history(store, type="Patient") == [
        ("Patient", "c", 1),
        ("Patient", "a", 3),
        ("Patient", "a", 2),
        ("Patient", "b", 1),
        ("Patient", "a", 1),
    ]
    everything = history(store)
    assert len(everything) == 6 and everything[2] == ("Observation", "o", 1)
    assert count(store, type="Patient") == 5
    assert count(store) == 6
    with store.reader() as r:
        seqs = [v.seq for v in r.history(HistoryQuery())]
    assert seqs == sorted(seqs, reverse=True)


def test_since(store: Store, times: list[datetime]) -> None:
    assert history(store, since=times[1]) == [
        ("Patient", "c", 1),
        ("Patient", "a", 3),
        ("Observation", "o", 1),
        ("Patient", "a", 2),
    ]
    assert history(store, type="Patient", since=times[3] + timedelta(milliseconds=1)) == []
    assert count(store, since=times[2]) == 2


def test_at_returns_the_version_current_then(store: Store, times: list[datetime]) -> None:
    between = times[1] + timedelta(seconds=5)
    assert history(store, type="Patient", at=between) == [("Patient", "a", 2), ("Patient", "b", 1)]
    assert history(store, type="Patient", at=times[2]) == [("Patient", "a", 3), ("Patient", "b", 1)]
    assert history(store, at=START - timedelta(seconds=1)) == []
    assert count(store, type="Patient", at=between) == 2


def test_count_limits(store: Store, times: list[datetime]) -> None:
    assert history(store, count=2) == [("Patient", "c", 1), ("Patient", "a", 3)]
    assert count(store, count=2) == 6  # count and cursor do not change the total


def test_cursor_paging_returns_each_version_once(store: Store, clock: FixedClock) -> None:
    with store.transaction() as tx:
        tx.put_many([("Patient", f"p{n % 7}", {"resourceType": "Patient"}) for n in range(53)])
    expected = history(store, count=1000)
    assert len(expected) == 53
    pages: list[tuple[str, str, int]] = []
    cursor = None
    while True:
        with store.reader() as r:
            page = r.history(HistoryQuery(count=10, before_seq=cursor))
        if not page:
            break
        assert len(page) <= 10
        pages += [key(v) for v in page]
        cursor = page[-1].seq
    assert pages == expected
    assert len(set(pages)) == 53


def test_paging_within_type_and_since(store: Store, times: list[datetime]) -> None:
    with store.reader() as r:
        first = r.history(HistoryQuery(type="Patient", since=times[1], count=1))
        rest = r.history(HistoryQuery(type="Patient", since=times[1], count=10, before_seq=first[0].seq))
    assert [key(v) for v in first + rest] == [("Patient", "c", 1), ("Patient", "a", 3), ("Patient", "a", 2)]
