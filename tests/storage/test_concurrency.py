"""No lost update, no silent double create, readers alongside writers."""

from __future__ import annotations

import threading
from collections.abc import Callable

from helseflyt.fhir import json as fjson
from helseflyt.storage import HistoryQuery, Store, VersionConflict

THREADS = 8
ROUNDS = 15


def run_threads(target: Callable[[int], None], n: int = THREADS) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def wrapped(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_if_match_put_never_loses_an_update(store: Store) -> None:
    with store.transaction() as tx:
        tx.put("Basic", "counter", {"resourceType": "Basic", "count": 0})
    lock = threading.Lock()
    results = {"ok": 0, "precondition_failed": 0}

    def worker(_: int) -> None:
        for _ in range(ROUNDS):
            with store.reader() as r:
                seen = r.read("Basic", "counter")
            assert seen is not None
            with store.transaction() as tx:
                cur = tx.current("Basic", "counter", for_update=True)
                assert cur is not None and cur.body is not None
                if cur.version != seen.version:  # If-Match: W/"<seen.version>"
                    outcome = "precondition_failed"
                else:
                    body = fjson.loads(cur.body)
                    body["count"] += 1
                    tx.put("Basic", "counter", body)
                    outcome = "ok"
            with lock:
                results[outcome] += 1

    assert run_threads(worker) == []
    assert results["ok"] + results["precondition_failed"] == THREADS * ROUNDS
    assert results["ok"] >= ROUNDS
    with store.reader() as r:
        final = r.read("Basic", "counter")
    assert final is not None and final.body is not None
    assert final.version == 1 + results["ok"]
    assert fjson.loads(final.body)["count"] == results["ok"]


def test_read_modify_write_under_lock_counts_every_increment(store: Store) -> None:
    with store.transaction() as tx:
        tx.put("Basic", "counter", {"resourceType": "Basic", "count": 0})

    def worker(_: int) -> None:
        for _ in range(ROUNDS):
            with store.transaction() as tx:
                cur = tx.current("Basic", "counter", for_update=True)
                assert cur is not None and cur.body is not None
                body = fjson.loads(cur.body)
                body["count"] += 1
                tx.put("Basic", "counter", body)

    assert run_threads(worker) == []
    with store.reader() as r:
        final = r.read("Basic", "counter")
    assert final is not None and final.body is not None
    assert final.version == 1 + THREADS * ROUNDS
    assert fjson.loads(final.body)["count"] == THREADS * ROUNDS


def test_create_if_absent_creates_once(store: Store) -> None:
    created: list[int] = []

    def worker(i: int) -> None:
        with store.transaction() as tx:
            if tx.current("Patient", "new", for_update=True) is None:
                tx.put("Patient", "new", {"resourceType": "Patient", "gender": str(i)})
                created.append(i)

    assert run_threads(worker) == []
    assert len(created) == 1
    with store.reader() as r:
        found = r.read("Patient", "new")
    assert found is not None and found.version == 1


def test_blind_puts_of_a_new_id_never_both_succeed_silently(store: Store) -> None:
    ok: list[int] = []
    conflicts: list[int] = []

    def worker(i: int) -> None:
        try:
            with store.transaction() as tx:
                tx.put("Patient", "blind", {"resourceType": "Patient", "gender": str(i)})
            ok.append(i)
        except VersionConflict:
            conflicts.append(i)

    assert run_threads(worker) == []
    assert len(ok) + len(conflicts) == THREADS and ok
    with store.reader() as r:
        found = r.read("Patient", "blind")
        assert found is not None and found.version == len(ok)
        assert [v.version for v in r.history(HistoryQuery())] == list(range(len(ok), 0, -1))


def test_readers_run_alongside_a_writer(store: Store) -> None:
    with store.transaction() as tx:
        tx.put("Basic", "b", {"resourceType": "Basic", "n": 0})
    writes = 150
    done = threading.Event()

    def writer() -> None:
        try:
            for n in range(1, writes + 1):
                with store.transaction() as tx:
                    tx.put("Basic", "b", {"resourceType": "Basic", "n": n})
        finally:
            done.set()

    def reader() -> None:
        last = 0
        reads = 0
        while not done.is_set() or reads < 5:
            with store.reader() as r:
                found = r.read("Basic", "b")
                assert found is not None and found.body is not None
                body = fjson.loads(found.body)
                assert body["meta"]["versionId"] == str(found.version)
                assert body["n"] == found.version - 1
                assert found.version >= last
                last = found.version
                reads += 1

    def worker(i: int) -> None:
        (writer if i == 0 else reader)()

    assert run_threads(worker, n=5) == []
    with store.reader() as r:
        found = r.read("Basic", "b")
    assert found is not None and found.version == writes + 1


def test_more_readers_than_read_connections(store: Store) -> None:
    """More threads than the store keeps read connections (SQLite: 4, PostgreSQL: the
    pool): each read waits for a free connection, none fails or sees another's state."""
    with store.transaction() as tx:
        for i in range(24):
            tx.put("Basic", f"b{i}", {"resourceType": "Basic", "n": i})

    def reader(i: int) -> None:
        for round_ in range(10):
            with store.reader() as r:
                found = r.read("Basic", f"b{(i + round_) % 24}")
                assert found is not None and found.body is not None
                assert fjson.loads(found.body)["n"] == (i + round_) % 24

    assert run_threads(reader, n=24) == []


def test_create_racing_an_uncommitted_create(store: Store, backend: str) -> None:
    """T2 puts an id that T1 has created but not committed yet: T2 must wait, then
    either conflict (PostgreSQL: unique key) or write version 2 (SQLite: serialised)."""
    t1_wrote = threading.Event()
    outcome: list[object] = []

    def first() -> None:
        with store.transaction() as tx:
            tx.put("Patient", "race", {"resourceType": "Patient", "gender": "male"})
            t1_wrote.set()
            threading.Event().wait(0.3)  # hold the uncommitted row while T2 tries

    def second() -> None:
        t1_wrote.wait()
        try:
            with store.transaction() as tx:
                outcome.append(tx.put("Patient", "race", {"resourceType": "Patient"}).version)
        except VersionConflict as exc:
            outcome.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    with store.reader() as r:
        found = r.read("Patient", "race")
    assert found is not None
    if backend == "postgres":
        assert isinstance(outcome[0], VersionConflict)
        assert found.version == 1
    else:
        assert outcome == [2]
        assert found.version == 2
