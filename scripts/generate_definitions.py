#!/usr/bin/env python3
"""Generate ``src/helseflyt/fhir/definitions/`` from the official R4 package.

Source: ``hl7.fhir.r4.examples@4.0.1`` (CC0), the package HL7 publishes with every
StructureDefinition, SearchParameter, ValueSet and CodeSystem of FHIR R4. Nothing in
the output is written by hand: re-run this script and review the diff.

    python scripts/generate_definitions.py [--package PATH.tgz]

Without ``--package`` the tarball is read from ``.cache/`` in the repository root and
fetched there with ``npm pack`` when absent. Output files are gzip (mtime 0) JSON with
sorted keys, so that the same package always yields byte-identical files:

- ``types.json.gz``: every resource, complex and primitive type (kind, base, URL,
  primitive regex) and the element model of each type and backbone element;
- ``search-parameters.json.gz``: the 1,400 SearchParameter resources without narrative;
- ``value-sets.json.gz``: the codes of every ValueSet bound ``required`` in a core
  type, or the reason it cannot be enumerated and the rule applied instead;
- ``compartments.json.gz``: the CompartmentDefinitions (Patient, Encounter,
  RelatedPerson, Practitioner, Device): for each compartment, each resource type's
  search parameters that link a resource to the compartment;
- ``summary.json.gz``: for each type and backbone element, the names of its children
  marked ``isSummary`` (what ``_summary=true`` keeps).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "helseflyt" / "fhir" / "definitions"
PACKAGE = "hl7.fhir.r4.examples@4.0.1"
TARBALL = "hl7.fhir.r4.examples-4.0.1.tgz"
SD = "http://hl7.org/fhir/StructureDefinition/"
FHIR_TYPE_EXT = SD + "structuredefinition-fhir-type"
REGEX_EXT = SD + "regex"

# Value sets whose code systems are defined outside FHIR (and outside the package):
# the rule the validator applies instead of a code list.
NOT_ENUMERABLE_RULES = {
    "urn:ietf:bcp:13": "mime-type",  # type/subtype[;parameters]
    "urn:ietf:bcp:47": "language",  # BCP-47 tag syntax
    "urn:iso:std:iso:4217": "currency",  # three upper-case letters
    "http://unitsofmeasure.org": "ucum",  # UCUM grammar not checked: any code
}

SEARCH_PARAMETER_KEYS = (
    "base", "chain", "code", "comparator", "component", "derivedFrom", "description",
    "expression", "id", "modifier", "multipleAnd", "multipleOr", "name", "status",
    "target", "type", "url", "version", "xpath", "xpathUsage",
)  # fmt: skip


def fetch_package(path: Path | None) -> Path:
    if path is not None:
        return path
    cached = ROOT / ".cache" / TARBALL
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", PACKAGE, "--pack-destination", str(cached.parent)], check=True)
    return cached


def read_package(tgz: Path) -> dict[str, list[dict[str, Any]]]:
    """The package's conformance resources, grouped by resourceType."""
    wanted = ("StructureDefinition", "SearchParameter", "ValueSet", "CodeSystem", "CompartmentDefinition")
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in wanted}
    with tarfile.open(tgz) as tar:
        for member in tar:
            name = member.name.rsplit("/", 1)[-1]
            if not member.isfile() or not name.endswith(".json"):
                continue
            if name.split("-", 1)[0] not in wanted:
                continue
            data = json.load(tar.extractfile(member))  # type: ignore[arg-type]
            if data.get("resourceType") in out:
                out[data["resourceType"]].append(data)
    for items in out.values():
        items.sort(key=lambda r: r.get("url", r.get("id", "")))
    return out


# --- element model -------------------------------------------------------------------


def is_core_type(sd: dict[str, Any]) -> bool:
    return sd["kind"] in ("resource", "complex-type", "primitive-type") and (
        sd.get("derivation") != "constraint"
    )


def type_codes(element: dict[str, Any], root: str) -> list[str]:
    path = element["path"]
    if "contentReference" in element:
        return [element["contentReference"].lstrip("#")]
    codes = []
    for t in element.get("type", []):
        code = t["code"]
        if code.startswith("http://hl7.org/fhirpath/System."):
            code = next(
                (e["valueUrl"] for e in t.get("extension", []) if e["url"] == FHIR_TYPE_EXT),
                "string",
            )
            if path == f"{root}.id" and root in RESOURCE_ROOTS:
                code = "id"  # Resource.id is of type id (the snapshot says System.String)
        if code in ("BackboneElement", "Element") and path.count(".") >= 1:
            code = path
        if code not in codes:
            codes.append(code)
    return codes


RESOURCE_ROOTS: set[str] = set()


def summary_elements(sds: list[dict[str, Any]]) -> dict[str, list[str]]:
    """``{type or backbone path: [child names (without [x]) marked isSummary]}``."""
    out: dict[str, list[str]] = {}
    for sd in sds:
        name = sd["type"] if sd.get("derivation") != "specialization" else sd["name"]
        if not is_core_type(sd) or sd["url"] != SD + name:
            continue
        for element in sd["snapshot"]["element"]:
            path = element["path"]
            if "." in path and element.get("isSummary"):
                parent, leaf = path.rsplit(".", 1)
                out.setdefault(parent, []).append(leaf.removesuffix("[x]"))
    return out


def element_model(sds: list[dict[str, Any]]) -> dict[str, Any]:
    types: dict[str, Any] = {}
    elements: dict[str, list[list[Any]]] = {}
    for sd in sds:
        if sd["kind"] == "resource" and is_core_type(sd):
            RESOURCE_ROOTS.add(sd["type"])
    for sd in sds:
        if not is_core_type(sd):
            continue
        name = sd["type"] if sd.get("derivation") != "specialization" else sd["name"]
        if sd["url"] != SD + name:
            continue
        base = sd.get("baseDefinition", "").rsplit("/", 1)[-1] or None
        info: dict[str, Any] = {"kind": sd["kind"], "url": sd["url"], "base": base}
        if sd.get("abstract"):
            info["abstract"] = True
        for element in sd["snapshot"]["element"]:
            path = element["path"]
            if "." not in path:
                continue
            parent, leaf = path.rsplit(".", 1)
            if sd["kind"] == "primitive-type" and leaf == "value":
                for t in element.get("type", []):
                    for ext in t.get("extension", []):
                        if ext["url"] == REGEX_EXT:
                            info["regex"] = ext["valueString"]
                continue
            choice = leaf.endswith("[x]")
            codes = type_codes(element, name)
            if codes and codes[0] == path:
                types[path] = {"kind": "backbone", "base": element["type"][0]["code"]}
            binding = element.get("binding") or {}
            bound = None
            if binding.get("strength") == "required" and binding.get("valueSet"):
                bound = binding["valueSet"].split("|", 1)[0]
            targets = sorted(
                {p.rsplit("/", 1)[-1] for t in element.get("type", []) for p in t.get("targetProfile", [])}
            )
            maximum = element["max"]
            elements.setdefault(parent, []).append(
                [
                    leaf[:-3] if choice else leaf,
                    path,
                    element["min"],
                    None if maximum == "*" else int(maximum),
                    codes,
                    choice,
                    bound,
                    targets,
                ]
            )
        types[name] = info
    return {"types": types, "elements": elements}


# --- value sets ----------------------------------------------------------------------


class NotEnumerable(Exception):
    pass


def flatten(concepts: list[dict[str, Any]], parent: str | None, out: dict[str, str | None]):
    for c in concepts:
        out.setdefault(c["code"], parent)
        flatten(c.get("concept", []), c["code"], out)


class Terminology:
    def __init__(self, value_sets: list[dict[str, Any]], code_systems: list[dict[str, Any]]):
        self.value_sets = {vs["url"]: vs for vs in value_sets}
        self.systems: dict[str, dict[str, list[str]]] = {}  # system -> code -> parents
        self.content: dict[str, str] = {}
        for cs in code_systems:
            parents: dict[str, str | None] = {}
            flatten(cs.get("concept", []), None, parents)
            graph: dict[str, list[str]] = {code: [] for code in parents}
            for code, parent in parents.items():
                if parent is not None:
                    graph[code].append(parent)
            for concept in _all_concepts(cs.get("concept", [])):
                for prop in concept.get("property", []):
                    if prop.get("code") in ("subsumedBy", "parent") and "valueCode" in prop:
                        graph[concept["code"]].append(prop["valueCode"])
            self.systems[cs["url"]] = graph
            self.content[cs["url"]] = cs.get("content", "complete")

    def system_codes(self, system: str) -> set[str]:
        if system not in self.systems or self.content[system] != "complete":
            raise NotEnumerable(system)
        return set(self.systems[system])

    def descendants(self, system: str, code: str, include_self: bool) -> set[str]:
        graph = self.systems[system]
        found = {code} if include_self else set()
        changed = True
        while changed:
            changed = False
            for c, parents in graph.items():
                if c not in found and c != code and any(p == code or p in found for p in parents):
                    found.add(c)
                    changed = True
        return found

    def expand(self, url: str, stack: tuple[str, ...] = ()) -> set[tuple[str, str]]:
        if url in stack:
            raise NotEnumerable(f"circular {url}")
        vs = self.value_sets.get(url)
        if vs is None:
            raise NotEnumerable(url)
        compose = vs.get("compose")
        if compose is None:
            raise NotEnumerable(url)
        codes: set[tuple[str, str]] = set()
        for inc in compose.get("include", []):
            codes |= self.part(inc, stack + (url,))
        for exc in compose.get("exclude", []):
            codes -= self.part(exc, stack + (url,))
        return codes

    def part(self, inc: dict[str, Any], stack: tuple[str, ...]) -> set[tuple[str, str]]:
        system = inc.get("system")
        result: set[tuple[str, str]] | None = None
        if system:
            if "concept" in inc:
                local = {c["code"] for c in inc["concept"]}
            else:
                local = self.system_codes(system)
                for f in inc.get("filter", []):
                    if f.get("property") != "concept" or f["op"] not in (
                        "is-a", "descendent-of", "=",
                    ):  # fmt: skip
                        raise NotEnumerable(f"filter {f}")
                    if f["op"] == "=":
                        local &= {f["value"]}
                    else:
                        local &= self.descendants(system, f["value"], f["op"] == "is-a")
            result = {(system, c) for c in local}
        for ref in inc.get("valueSet", []):
            codes = self.expand(ref.split("|", 1)[0], stack)
            result = codes if result is None else result & codes
        return result or set()


def _all_concepts(concepts: list[dict[str, Any]]):
    for c in concepts:
        yield c
        yield from _all_concepts(c.get("concept", []))


def required_value_sets(model: dict[str, Any]) -> set[str]:
    return {e[6] for items in model["elements"].values() for e in items if e[6]}


def value_sets(urls: set[str], term: Terminology) -> dict[str, Any]:
    enumerable: dict[str, dict[str, list[str]]] = {}
    not_enumerable: dict[str, dict[str, str]] = {}
    for url in sorted(urls):
        try:
            codes = term.expand(url)
        except NotEnumerable as exc:
            vs = term.value_sets.get(url, {})
            systems = [i.get("system") for i in vs.get("compose", {}).get("include", [])]
            rule = next((NOT_ENUMERABLE_RULES[s] for s in systems if s in NOT_ENUMERABLE_RULES), "")
            not_enumerable[url] = {"reason": f"not enumerable from the package: {exc}",
                                   "rule": rule or "none"}  # fmt: skip
            continue
        by_system: dict[str, list[str]] = {}
        for system, code in sorted(codes):
            by_system.setdefault(system, []).append(code)
        enumerable[url] = by_system
    return {"enumerable": enumerable, "not_enumerable": not_enumerable}


# --- output --------------------------------------------------------------------------


def search_parameters(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: sp[k] for k in SEARCH_PARAMETER_KEYS if k in sp} for sp in items]


def compartments(items: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """``{compartment: {resource type: [param, ...]}}``; types with no param are omitted."""
    return {
        cd["code"]: {r["code"]: r["param"] for r in cd.get("resource", ()) if r.get("param")} for cd in items
    }


def write(name: str, data: Any, out: Path = OUT) -> int:
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    (out / name).write_bytes(buf.getvalue())
    return len(buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", type=Path, help="path to hl7.fhir.r4.examples-4.0.1.tgz")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (default: the package's)")
    args = parser.parse_args(argv)
    package = read_package(fetch_package(args.package))
    model = element_model(package["StructureDefinition"])
    term = Terminology(package["ValueSet"], package["CodeSystem"])
    vsets = value_sets(required_value_sets(model), term)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "types.json.gz": model,
        "search-parameters.json.gz": search_parameters(package["SearchParameter"]),
        "value-sets.json.gz": vsets,
        "compartments.json.gz": compartments(package["CompartmentDefinition"]),
        "summary.json.gz": summary_elements(package["StructureDefinition"]),
    }
    sizes = {name: write(name, content, out) for name, content in data.items()}
    for name, size in sizes.items():
        print(f"{name}: {size:,} bytes", file=sys.stderr)
    print(
        f"{sum(1 for t in model['types'].values() if t['kind'] == 'resource')} resource types, "
        f"{len(package['SearchParameter'])} search parameters, "
        f"{len(vsets['enumerable'])} enumerated value sets, "
        f"{len(vsets['not_enumerable'])} not enumerable: {sorted(vsets['not_enumerable'])}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
