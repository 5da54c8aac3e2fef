"""Sealed page tokens of POST searches: opaque, authenticated, bound to their owner."""

from __future__ import annotations

import pytest

from helseflyt.errors import InvalidRequest
from helseflyt.search.sealed import PageSealer


def test_round_trip_hides_the_parameters() -> None:
    sealer = PageSealer()
    pairs = [("identifier", "urn:oid:2.16.578.1.12.4.1.4.1|13116900216"), ("_count", "10")]
    token = sealer.seal(pairs, owner="kari")
    assert "13116900216" not in token
    assert sealer.unseal(token, owner="kari") == pairs


def test_other_owner_other_key_and_forgery_are_refused() -> None:
    sealer = PageSealer()
    token = sealer.seal([("a", "1")], owner="kari")
    for bad in (lambda: sealer.unseal(token, owner="ola"), lambda: PageSealer().unseal(token, owner="kari")):
        with pytest.raises(InvalidRequest, match="repeat the search"):
            bad()
    with pytest.raises(InvalidRequest):
        sealer.unseal(token[:-4] + "AAAA", owner="kari")
