"""Where bulk-load input comes from: files, folders and archives, streamed as documents.

A *document* is one JSON file (a Bundle or a single resource) or a chunk of at most
``NDJSON_CHUNK`` lines of an NDJSON file. Folders are walked recursively in name order;
``.tar.gz``/``.tgz``/``.tar`` archives are read as a stream (``tarfile`` mode ``r|*``),
never extracted to disk. Files of other kinds inside folders and archives (licences,
READMEs) are counted as skipped; a file named explicitly must be of a known kind.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

NDJSON_CHUNK = 2000
JSON_SUFFIXES = (".json",)
NDJSON_SUFFIXES = (".ndjson", ".jsonl")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


@dataclass(frozen=True, slots=True)
class Document:
    source: str  # file path, or "archive.tar.gz:member/path"
    data: bytes
    ndjson: bool = False
    first_line: int = 1  # line number of the first line of an NDJSON chunk


@dataclass(frozen=True, slots=True)
class Skipped:
    source: str


def kind_of(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(ARCHIVE_SUFFIXES):
        return "archive"
    if lower.endswith(NDJSON_SUFFIXES):
        return "ndjson"
    if lower.endswith(JSON_SUFFIXES):
        return "json"
    return None


def iter_documents(paths: Iterable[Path]) -> Iterator[Document | Skipped]:
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if kind_of(child.name) is None:
                    yield Skipped(str(child))
                else:
                    yield from _file(child)
        elif kind_of(path.name) is None:
            raise ValueError(f"{path}: not a .json, .ndjson, .tar.gz or .tgz file, nor a folder")
        else:
            yield from _file(path)


def _file(path: Path) -> Iterator[Document | Skipped]:
    kind = kind_of(path.name)
    if kind == "archive":
        yield from _archive(path)
        return
    with path.open("rb") as f:
        yield from _stream(str(path), f, kind == "ndjson")


def _stream(source: str, f: IO[bytes], ndjson: bool) -> Iterator[Document]:
    if not ndjson:
        yield Document(source, f.read())
        return
    chunk: list[bytes] = []
    first = 1
    for n, line in enumerate(f, start=1):
        chunk.append(line)
        if len(chunk) >= NDJSON_CHUNK:
            yield Document(source, b"".join(chunk), True, first)
            chunk, first = [], n + 1
    if chunk:
        yield Document(source, b"".join(chunk), True, first)


def _archive(path: Path) -> Iterator[Document | Skipped]:
    with tarfile.open(path, mode="r|*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            source = f"{path}:{member.name}"
            kind = kind_of(member.name)
            if kind not in ("json", "ndjson"):
                yield Skipped(source)
                continue
            f = tar.extractfile(member)
            if f is None:
                continue
            with f:
                yield from _stream(source, f, kind == "ndjson")
