"""The FHIR R4 type model, read from the generated official definitions.

The data files in ``definitions/`` are produced by ``scripts/generate_definitions.py``
from the official ``hl7.fhir.r4.examples@4.0.1`` package; nothing here is hand-copied.
Everything is loaded lazily on first use, once per process (``functools.cache`` makes
the first load thread-safe enough: a concurrent first call may load twice, but every
caller sees a complete, immutable result).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import orjson

__all__ = [
    "Element",
    "base_type",
    "compartment",
    "elements",
    "primitive_regex",
    "primitive_types",
    "resource_types",
    "search_parameters",
    "structure_definition_url",
    "summary_elements",
    "type_kind",
    "value_set_codes",
    "value_set_rule",
]

_SD = "http://hl7.org/fhir/StructureDefinition/"


@dataclass(frozen=True, slots=True)
class Element:
    """One child element of a resource, data type or backbone element."""

    name: str  # JSON name without [x], e.g. "value" for Observation.value[x]
    path: str  # e.g. "Observation.value[x]"
    min: int
    max: int | None  # None = unbounded ('*')
    types: tuple[str, ...]  # type codes; a backbone child's type is its path
    choice: bool  # value[x]
    binding: str | None  # ValueSet URL (no |version) of a required binding
    target_profiles: tuple[str, ...] = ()  # Reference targets (type names)


def _load(name: str) -> Any:
    data = resources.files("helseflyt.fhir").joinpath("definitions", name).read_bytes()
    return orjson.loads(gzip.decompress(data))


@cache
def _types() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Element]]]:
    raw = _load("types.json.gz")
    model: dict[str, dict[str, Element]] = {}
    for parent, items in raw["elements"].items():
        model[parent] = {
            name: Element(name, path, lo, hi, tuple(types), choice, binding, tuple(targets))
            for name, path, lo, hi, types, choice, binding, targets in items
        }
    return raw["types"], model


@cache
def resource_types() -> frozenset[str]:
    """The concrete (non-abstract) resource types of R4."""
    types, _ = _types()
    return frozenset(n for n, t in types.items() if t["kind"] == "resource" and not t.get("abstract"))


@cache
def primitive_types() -> frozenset[str]:
    types, _ = _types()
    return frozenset(n for n, t in types.items() if t["kind"] == "primitive-type")


def type_kind(type_name: str) -> str | None:
    """``resource``, ``complex-type``, ``primitive-type``, ``backbone`` or None."""
    info = _types()[0].get(type_name)
    return info["kind"] if info else None


def elements(type_name: str) -> dict[str, Element] | None:
    """Children of a resource, complex data type or backbone path; None if unknown."""
    return _types()[1].get(type_name)


def base_type(type_name: str) -> str | None:
    """The type a type or backbone element specialises, e.g. ``Patient`` -> ``DomainResource``."""
    info = _types()[0].get(type_name)
    return info.get("base") if info else None


def primitive_regex(type_name: str) -> str | None:
    """The official regex of a primitive type's value (None for boolean-free types like xhtml)."""
    info = _types()[0].get(type_name)
    return info.get("regex") if info else None


def structure_definition_url(type_name: str) -> str:
    info = _types()[0].get(type_name)
    if info is None or "url" not in info:
        raise KeyError(f"unknown FHIR type {type_name!r}")
    return info["url"]


@cache
def search_parameters() -> list[dict[str, Any]]:
    """The official SearchParameter resources (without narrative). Do not mutate."""
    return _load("search-parameters.json.gz")


@cache
def _value_sets() -> tuple[dict[str, frozenset[tuple[str, str]]], dict[str, dict[str, str]]]:
    raw = _load("value-sets.json.gz")
    enumerable = {
        url: frozenset((system, code) for system, codes in by_system.items() for code in codes)
        for url, by_system in raw["enumerable"].items()
    }
    return enumerable, raw["not_enumerable"]


def value_set_codes(url: str) -> frozenset[tuple[str, str]] | None:
    """The (system, code) pairs of a required-bound value set; None if not enumerable."""
    return _value_sets()[0].get(url.split("|", 1)[0])


def value_set_rule(url: str) -> str | None:
    """For a value set that is not enumerable, the syntax rule applied instead.

    One of ``mime-type``, ``language``, ``currency``, ``ucum``, ``none``; None when the
    value set is enumerable or unknown.
    """
    entry = _value_sets()[1].get(url.split("|", 1)[0])
    return entry["rule"] if entry else None


@cache
def _compartments() -> dict[str, dict[str, tuple[str, ...]]]:
    raw = _load("compartments.json.gz")
    return {code: {t: tuple(params) for t, params in types.items()} for code, types in raw.items()}


def compartment(code: str) -> dict[str, tuple[str, ...]]:
    """For the official compartment ``code`` (``Patient``, ``Encounter``, ``RelatedPerson``,
    ``Practitioner``, ``Device``): each member resource type and the search parameters
    that link it to the compartment's focal resource. ``KeyError`` if unknown."""
    return _compartments()[code]


@cache
def _summary() -> dict[str, frozenset[str]]:
    return {parent: frozenset(names) for parent, names in _load("summary.json.gz").items()}


def summary_elements(type_name: str) -> frozenset[str]:
    """Children (names without ``[x]``) of a type or backbone path marked ``isSummary``."""
    return _summary().get(type_name, frozenset())
