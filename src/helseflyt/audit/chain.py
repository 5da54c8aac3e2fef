"""The hash chain: canonical bytes and the link of each record to the one before.

``hash(n) = SHA-256(hash(n-1) || canonical_bytes(n))`` as lowercase hex, with
``hash(0)`` = :data:`GENESIS` (64 zeros). Canonical bytes are compact JSON with sorted
keys in UTF-8 (audit records hold only strings, integers, booleans, lists and objects,
so the bytes are unambiguous). A record's body *is* its canonical bytes: the API serves
them verbatim and ``helseflyt audit verify`` rehashes exactly what is stored.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

__all__ = ["GENESIS", "canonical", "link"]

GENESIS = "0" * 64


def canonical(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def link(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()
