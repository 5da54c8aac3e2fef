"""Helpers shared by the SQL backends: time, meta stamping, migrations discovery."""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from helseflyt.fhir import json as fjson
from helseflyt.storage.base import IndexEntry, Indexer, IndexRow, Serialized

log = logging.getLogger("helseflyt.storage")

Clock = Callable[[], datetime]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_micros(moment: datetime) -> int:
    """Epoch microseconds, truncated to the millisecond that ``meta.lastUpdated`` shows.

    Integer arithmetic (not ``timestamp()``, a float) so that no millisecond is lost to
    rounding; a naive datetime is taken as UTC.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    micros = (moment - _EPOCH) // _MICRO
    return micros - micros % 1000


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def instant(micros: int) -> str:
    """FHIR ``instant`` text of an epoch-microsecond value, millisecond precision, UTC."""
    return from_micros(micros).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stamp(
    res_id: str, resource: dict[str, Any], version: int, micros: int, *, when: str | None = None
) -> bytes:
    """The stored body: the resource with its id and server-assigned meta.

    ``when`` is ``instant(micros)`` when the caller has it already (a bulk load stamps
    thousands of resources with the same instant).
    """
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = when or instant(micros)
    # resourceType, id, meta first; dict.update keeps their places and copies the rest in C.
    body = {"resourceType": resource["resourceType"], "id": res_id, "meta": meta}
    body.update(resource)
    body["id"] = res_id
    body["meta"] = meta
    return fjson.dumps(body)


def serialize(
    res_type: str, res_id: str, resource: dict[str, Any], indexer: Indexer | None
) -> Serialized | None:
    """``resource`` as :class:`Serialized` (``indexer`` must be the store's), or None if
    its meta already holds ``versionId``/``lastUpdated`` (store the dict instead).

    ``splice(serialize(...), version, when)`` equals ``stamp(...)`` byte for byte:
    orjson's compact output of an object is the concatenation of its members.
    """
    meta = resource.get("meta") or {}
    if "versionId" in meta or "lastUpdated" in meta:
        return None
    head = b'{"resourceType":' + fjson.dumps(resource["resourceType"]) + b',"id":' + fjson.dumps(res_id)
    head += b',"meta":' + (fjson.dumps(meta)[:-1] + b"," if meta else b"{")
    rest = {k: v for k, v in resource.items() if k not in _FIRST}
    tail = b"}," + fjson.dumps(rest)[1:] if rest else b"}}"
    index = tuple(index_rows(indexer, res_type, resource)) if indexer else ()
    return Serialized(head, tail, index)


_FIRST = frozenset(("resourceType", "id", "meta"))


def index_rows(indexer: Indexer, res_type: str, resource: dict[str, Any]) -> list[IndexRow]:
    """The indexer's rows as :data:`~helseflyt.storage.base.IndexRow` tuples."""
    return [
        ("token", e.param, e.system, e.value) if type(e) is IndexEntry else e  # type: ignore[union-attr]
        for e in indexer(res_type, resource)
    ]


def splice(item: Serialized, version: int, when: bytes) -> bytes:
    """The stored body of a :class:`Serialized` resource; ``when`` is ``instant()`` bytes."""
    return b"".join(
        (item.head, b'"versionId":"', str(version).encode(), b'","lastUpdated":"', when, b'"', item.tail)
    )


def migrations(package: str) -> list[tuple[int, str]]:
    """``(version, sql)`` for every ``NNN_name.sql`` file in a backend package, in order."""
    out = []
    for entry in resources.files(package).iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            out.append((int(name[:3]), entry.read_text(encoding="utf-8")))
    return sorted(out)


def announce(version: int, sql: str, upgrading: bool) -> None:
    """Warn before a migration that rebuilds indexes of an existing database: it runs
    on start and takes about a minute per million resources (docs/search.md)."""
    if upgrading and "CREATE INDEX" in sql:
        log.warning(
            "upgrading the database: migration %03d rebuilds search indexes"
            " (about a minute per million resources stored); please wait",
            version,
        )


def statements(sql: str) -> list[str]:
    """Split a migration script into statements (``--`` comments removed first); a
    ``CREATE TRIGGER ... BEGIN ...; END`` stays one statement."""
    text = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
    out: list[str] = []
    pending = ""
    for part in text.split(";"):
        pending = f"{pending};{part}" if pending else part
        statement = pending.strip()
        if statement.upper().startswith("CREATE TRIGGER") and not statement.upper().endswith("END"):
            continue
        if statement:
            out.append(statement)
        pending = ""
    return out


class TextArray:
    """Strings sent to PostgreSQL as one ``text[]`` parameter, encoded once.

    psycopg encodes a Python list on every execution (~0.6 µs per element: 0.34 ms of
    CPU for 600 ids); the access filter's id sets (a practitioner's care set, the
    citizen controls) are kept per filter (``storage/access/statements.py``) and sent
    with every statement of every request, so they carry their encoding, built on first
    use in PostgreSQL's binary array format (the store registers the dumper)."""

    __slots__ = ("_binary", "items")

    def __init__(self, items: Iterable[str]) -> None:
        self.items = tuple(items)
        self._binary: bytes | None = None

    def binary(self) -> bytes:
        """``text[]`` in binary COPY/bind format: one dimension, no NULLs, element OID 25."""
        if self._binary is None:
            encoded = [item.encode() for item in self.items]
            # ndim, has NULLs, element OID, then (length, lower bound) of the one dimension
            if encoded:
                head = struct.pack("!iiiii", 1, 0, 25, len(encoded), 1)
            else:  # no dimensions
                head = struct.pack("!iii", 0, 0, 25)
            self._binary = head + b"".join(struct.pack("!i", len(e)) + e for e in encoded)
        return self._binary

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextArray) and other.items == self.items

    def __hash__(self) -> int:
        return hash(self.items)

    def __repr__(self) -> str:
        return f"TextArray({list(self.items)!r})"
