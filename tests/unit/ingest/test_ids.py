"""The bulk loader's server ids: random version 4 UUIDs, never repeated by a forked worker."""

from __future__ import annotations

import multiprocessing
import uuid

from helseflyt.ingest.prepare import new_id


def _ids(n: int) -> list[str]:
    return [new_id() for _ in range(n)]


def test_ids_are_uuid4_strings() -> None:
    ids = _ids(3000)  # several batches
    assert len(set(ids)) == len(ids)
    for i in ids:
        u = uuid.UUID(i)
        assert (u.version, u.variant, str(u)) == (4, uuid.RFC_4122, i)


def test_forked_workers_do_not_repeat_the_parents_ids() -> None:
    new_id()  # the parent holds a partly used batch when it forks
    with multiprocessing.get_context("fork").Pool(2) as pool:
        drawn = pool.map(_ids, [100, 100, 100, 100])
    ids = [i for chunk in drawn for i in chunk] + _ids(100)
    assert len(set(ids)) == len(ids)
