"""Reading an IG package: an npm-style ``.tgz`` (``package/package.json`` and
``package/*.json``) or a folder of conformance resources in FHIR JSON or XML.

Only the conformance resources Helseflyt uses are kept (``CONFORMANCE_TYPES``);
everything else (examples, ImplementationGuide, ConceptMap, ``.index.json``...) is
counted as skipped. Files are read in sorted order, so installing is deterministic.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from helseflyt.fhir import json as fjson
from helseflyt.fhir.xml import XmlError
from helseflyt.fhir.xml import parse as parse_xml
from helseflyt.packages.registry import CONFORMANCE_TYPES

__all__ = ["Package", "PackageError", "read_package"]


class PackageError(ValueError):
    """The path is not a readable package; the message says why."""


@dataclass(slots=True)
class Package:
    id: str  # npm name, e.g. hl7.fhir.no.basis
    version: str
    title: str
    canonical: str | None
    resources: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # resourceType or reason -> count
    errors: list[str] = field(default_factory=list)  # unreadable files

    def skip(self, what: str) -> None:
        self.skipped[what] = self.skipped.get(what, 0) + 1


def read_package(path: Path) -> Package:
    """Read a ``.tgz``/``.tar.gz`` package or a folder (recursively)."""
    if path.is_dir():
        return _read_folder(path)
    if path.is_file() and path.name.endswith((".tgz", ".tar.gz")):
        return _read_tgz(path)
    if not path.exists():
        raise PackageError(f"{path}: no such file or folder")
    raise PackageError(f"{path}: expected an npm package (.tgz) or a folder of JSON/XML resources")


def _package(manifest: dict[str, Any] | None, default_id: str) -> Package:
    m = manifest or {}
    return Package(
        id=str(m.get("name") or default_id),
        version=str(m.get("version") or "0.0.0"),
        title=str(m.get("title") or m.get("description") or m.get("name") or default_id),
        canonical=m.get("canonical"),
    )


def _read_tgz(path: Path) -> Package:
    try:
        tar = tarfile.open(path, "r:gz")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError) as exc:
        raise PackageError(f"{path}: not a readable .tgz package: {exc}") from exc
    with tar:
        members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)
        manifest = None
        for m in members:
            if PurePosixPath(m.name).as_posix() == "package/package.json":
                manifest = _manifest(tar.extractfile(m).read(), f"{path}:{m.name}")  # type: ignore[union-attr]
        pkg = _package(manifest, path.name.removesuffix(".tgz").removesuffix(".tar.gz"))
        for m in members:
            p = PurePosixPath(m.name)
            if p.parent.as_posix() != "package" or p.name == "package.json" or p.name.startswith("."):
                continue  # examples/, other/, openapi/ and the index are not conformance content
            if p.suffix not in (".json", ".xml"):
                continue
            _add(pkg, tar.extractfile(m).read(), p.suffix, f"{path.name}:{m.name}")  # type: ignore[union-attr]
    return pkg


def _read_folder(path: Path) -> Package:
    manifest_path = path / "package.json"
    if not manifest_path.is_file() and (path / "package" / "package.json").is_file():
        path = path / "package"
        manifest_path = path / "package.json"
    manifest = _manifest(manifest_path.read_bytes(), str(manifest_path)) if manifest_path.is_file() else None
    pkg = _package(manifest, path.resolve().name)
    for f in sorted(path.rglob("*")):
        if not f.is_file() or f.suffix not in (".json", ".xml") or f.name == "package.json":
            continue
        if f.name.startswith("."):
            continue
        _add(pkg, f.read_bytes(), f.suffix, str(f.relative_to(path)))
    return pkg


def _manifest(data: bytes, where: str) -> dict[str, Any]:
    try:
        m = json.loads(data)
    except ValueError as exc:
        raise PackageError(f"{where}: package.json is not JSON: {exc}") from exc
    if not isinstance(m, dict):
        raise PackageError(f"{where}: package.json is not an object")
    return m


def _add(pkg: Package, data: bytes, suffix: str, where: str) -> None:
    try:
        resource = parse_xml(data) if suffix == ".xml" else fjson.loads(data)
    except (XmlError, *fjson.JSONDecodeError) as exc:
        pkg.errors.append(f"{where}: {exc}")
        return
    rt = resource.get("resourceType") if isinstance(resource, dict) else None
    if rt in CONFORMANCE_TYPES:
        pkg.resources.append(resource)
    else:
        pkg.skip(str(rt or "not a resource"))
