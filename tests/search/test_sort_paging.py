"""``_sort`` with keyset paging (next and previous links), on every backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from helseflyt.http.testing import Client

Put = Callable[[dict[str, Any]], dict[str, Any]]


def page(client: Client, url: str) -> tuple[list[str], dict[str, str]]:
    r = client.get(url)
    assert r.status_code == 200, r.text
    b = r.json()
    links = {link["relation"]: link["url"] for link in b["link"]}
    return [e["resource"]["id"] for e in b.get("entry", [])], links


def walk(client: Client, url: str, during: Callable[[int], None] = lambda n: None) -> list[str]:
    seen: list[str] = []
    next_url: str | None = url
    n = 0
    while next_url:
        got, links = page(client, next_url)
        seen += got
        next_url = links.get("next")
        during(n)
        n += 1
    return seen


@pytest.fixture
def basics(put: Put) -> None:
    # created: b0..b5 on days 1..6, b6 and b7 share day 3, b8 has none
    days = {"b0": 1, "b1": 2, "b2": 3, "b3": 4, "b4": 5, "b5": 6, "b6": 3, "b7": 3, "b8": None}
    for i, (rid, day) in enumerate(days.items()):
        res: dict[str, Any] = {
            "resourceType": "Basic",
            "id": rid,
            "code": {"coding": [{"code": f"k{i % 3}"}]},
        }
        if day is not None:
            res["created"] = f"2020-01-0{day}"
        put(res)


EXPECTED_DESC = ["b5", "b4", "b3", "b2", "b6", "b7", "b1", "b0", "b8"]


@pytest.mark.usefixtures("basics")
@pytest.mark.parametrize("count", [1, 2, 3, 4, 9, 20])
def test_sorted_walk_forward_and_back(client: Client, count: int) -> None:
    assert walk(client, f"Basic?_sort=-created&_count={count}") == EXPECTED_DESC
    asc = ["b0", "b1", "b2", "b6", "b7", "b3", "b4", "b5", "b8"]  # no value: last either way
    assert walk(client, f"Basic?_sort=created&_count={count}") == asc
    # to the last page, then back with previous links
    pages: list[list[str]] = []
    url: str | None = f"Basic?_sort=-created&_count={count}"
    links: dict[str, str] = {}
    while url:
        got, links = page(client, url)
        pages.append(got)
        url = links.get("next")
    back: list[list[str]] = []
    while "previous" in links:
        got, links = page(client, links["previous"])
        back.append(got)
    assert [x for p in reversed(back) for x in p] + pages[-1] == EXPECTED_DESC or len(pages) == 1
    assert "previous" not in page(client, f"Basic?_sort=-created&_count={count}")[1]


@pytest.mark.usefixtures("basics")
def test_several_keys_mixed_directions(client: Client) -> None:
    # code k0: b0 b3 b6; k1: b1 b4 b7; k2: b2 b5 b8
    expected = ["b3", "b6", "b0", "b4", "b7", "b1", "b5", "b2", "b8"]
    for count in (1, 2, 4, 50):
        assert walk(client, f"Basic?_sort=code,-created&_count={count}") == expected
    expected = ["b2", "b5", "b8", "b1", "b7", "b4", "b0", "b6", "b3"]
    for count in (1, 3, 50):
        assert walk(client, f"Basic?_sort=-code,created&_count={count}") == expected


@pytest.mark.usefixtures("basics")
def test_walk_while_others_write(client: Client, put: Put) -> None:
    def write(n: int) -> None:
        if n == 0:  # a new version of an unseen match, a new match before the cursor, a deletion
            put(
                {
                    "resourceType": "Basic",
                    "id": "b1",
                    "code": {"coding": [{"code": "z"}]},
                    "created": "2020-01-02",
                }
            )
            put({"resourceType": "Basic", "id": "b9", "code": {"text": "x"}, "created": "2030-01-01"})
            assert client.delete("Basic/b7").status_code in (200, 204)

    seen = walk(client, "Basic?_sort=-created&_count=2", write)
    assert seen == ["b5", "b4", "b3", "b2", "b6", "b1", "b0", "b8"]


@pytest.mark.usefixtures("basics")
def test_sort_by_id_and_last_updated(client: Client) -> None:
    assert walk(client, "Basic?_sort=-_id&_count=4") == [f"b{i}" for i in range(8, -1, -1)]
    assert walk(client, "Basic?_sort=_lastUpdated,_id&_count=4") == [f"b{i}" for i in range(9)]


def test_bad_cursor(client: Client) -> None:
    assert client.get("Basic?_cursor=nonsense").status_code == 400
