"""Installing a package into a store, and listing what is installed.

Installed conformance resources are ordinary FHIR resources in the configured database
(StructureDefinition, ValueSet, CodeSystem, NamingSystem, SearchParameter), written
through the storage boundary in one transaction, so they are versioned, readable over
REST, and backed up with everything else. The record of an installed package is an
``ImplementationGuide`` resource (id ``pkg-<package id>``, ``packageId``, ``version``,
one ``definition.resource`` per installed resource) tagged ``installed-package``:
``helseflyt ig list`` lists those.

Each resource is validated against the base R4 definitions first; invalid ones are not
installed and are reported (with the first problems). A resource without an ``id``
gets one from the last segment of its canonical URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from helseflyt.fhir import json as fjson
from helseflyt.fhir.validation import validate
from helseflyt.packages.registry import CONFORMANCE_TYPES
from helseflyt.packages.source import Package
from helseflyt.storage.base import Store

__all__ = ["InstallReport", "InstalledPackage", "TAG", "install", "installed"]

TAG = {"system": "urn:helseflyt:tag", "code": "installed-package", "display": "Installed IG package"}
_ID_CHARS = re.compile(r"[^A-Za-z0-9\-.]")


@dataclass(slots=True)
class InstallReport:
    package: str
    version: str
    installed: dict[str, int] = field(default_factory=dict)  # resourceType -> count
    rejected: list[str] = field(default_factory=list)  # "Type/id: reason"
    skipped: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = ", ".join(f"{n} {t}" for t, n in sorted(self.installed.items())) or "nothing"
        lines = [f"installed {self.package}#{self.version}: {parts}"]
        if self.skipped:
            lines.append(
                "skipped (not conformance resources): "
                + ", ".join(f"{n} {t}" for t, n in sorted(self.skipped.items()))
            )
        for r in self.rejected:
            lines.append(f"rejected {r}")
        for e in self.errors:
            lines.append(f"unreadable {e}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class InstalledPackage:
    id: str
    version: str
    title: str
    resources: dict[str, int]  # resourceType -> count
    installed_at: str


def resource_id(resource: dict[str, Any]) -> str:
    rid = resource.get("id")
    if type(rid) is str and rid:
        return rid
    url = str(resource.get("url") or resource.get("name") or "resource")
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return _ID_CHARS.sub("-", tail)[:64] or "resource"


def package_record_id(package_id: str) -> str:
    return ("pkg-" + _ID_CHARS.sub("-", package_id))[:64]


def install(store: Store, pkg: Package) -> InstallReport:
    """Validate and store the package's conformance resources and its record, atomically."""
    report = InstallReport(pkg.id, pkg.version, skipped=dict(pkg.skipped), errors=list(pkg.errors))
    accepted: list[tuple[str, str, dict[str, Any]]] = []
    seen: set[tuple[str, str]] = set()
    for resource in pkg.resources:
        rt = resource["resourceType"]
        rid = resource_id(resource)
        resource = {**resource, "id": rid}
        if isinstance(resource.get("meta"), dict):
            resource["meta"] = {
                k: v for k, v in resource["meta"].items() if k not in ("versionId", "lastUpdated")
            }
            if not resource["meta"]:
                del resource["meta"]
        issues = [i for i in validate(resource, expected_type=rt) if i.severity in ("error", "fatal")]
        if issues:
            first = "; ".join(f"{', '.join(i.expression)}: {i.diagnostics}" for i in issues[:3])
            report.rejected.append(f"{rt}/{rid}: {len(issues)} errors: {first}")
            continue
        if (rt, rid) in seen:
            report.rejected.append(f"{rt}/{rid}: the package has two {rt} with this id; the first is kept")
            continue
        seen.add((rt, rid))
        accepted.append((rt, rid, resource))
        report.installed[rt] = report.installed.get(rt, 0) + 1
    record = _record(pkg, accepted)
    with store.transaction() as tx:
        for rt, rid, resource in accepted:
            tx.put(rt, rid, resource)
        tx.put("ImplementationGuide", record["id"], record)
    return report


def _record(pkg: Package, accepted: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    name = re.sub(r"[^A-Za-z0-9_]", "_", pkg.id)
    if not name[:1].isalpha():
        name = "P" + name
    record: dict[str, Any] = {
        "resourceType": "ImplementationGuide",
        "id": package_record_id(pkg.id),
        "meta": {"tag": [TAG]},
        "url": pkg.canonical.rstrip("/") + "/ImplementationGuide/" + pkg.id
        if pkg.canonical
        else f"urn:helseflyt:package:{pkg.id}",
        "version": pkg.version,
        "name": name,
        "title": pkg.title,
        "status": "active",
        "packageId": pkg.id,
        "fhirVersion": ["4.0.1"],
    }
    if accepted:
        record["definition"] = {
            "resource": [{"reference": {"reference": f"{rt}/{rid}"}} for rt, rid, _ in accepted]
        }
    return record


def installed(store: Store) -> list[InstalledPackage]:
    """The installed packages, by package id."""
    out: list[InstalledPackage] = []
    with store.reader() as reader:
        for rid in reader.find("ImplementationGuide"):
            v = reader.read("ImplementationGuide", rid)
            if v is None or v.body is None:
                continue
            ig = fjson.loads(v.body)
            tags = (ig.get("meta") or {}).get("tag") or []
            if not any(t.get("system") == TAG["system"] and t.get("code") == TAG["code"] for t in tags):
                continue
            counts: dict[str, int] = {t: 0 for t in CONFORMANCE_TYPES}
            for r in (ig.get("definition") or {}).get("resource") or []:
                ref = (r.get("reference") or {}).get("reference", "")
                t = ref.split("/", 1)[0]
                counts[t] = counts.get(t, 0) + 1
            out.append(
                InstalledPackage(
                    ig.get("packageId", rid),
                    ig.get("version", ""),
                    ig.get("title", ""),
                    {t: n for t, n in counts.items() if n},
                    v.last_updated.isoformat(timespec="seconds"),
                )
            )
    return sorted(out, key=lambda p: p.id)
