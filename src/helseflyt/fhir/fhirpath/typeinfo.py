"""FHIR type information for the engine, behind one small adapter.

The element definitions come from :mod:`helseflyt.fhir.model` (built from the official
R4 StructureDefinitions). When that module is unavailable the engine still runs, with
only what the JSON itself tells: ``resourceType``, and choice elements found by their
``name`` + ``Type`` key. Every lookup is cached: the model is read once per type.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

__all__ = ["TypeInfo", "info"]

_SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
# FHIR primitive type -> FHIRPath System type of its value
PRIMITIVE_SYSTEM = {
    "boolean": "Boolean",
    "string": "String",
    "code": "String",
    "id": "String",
    "uri": "String",
    "url": "String",
    "canonical": "String",
    "oid": "String",
    "uuid": "String",
    "markdown": "String",
    "base64Binary": "String",
    "xhtml": "String",
    "integer": "Integer",
    "positiveInt": "Integer",
    "unsignedInt": "Integer",
    "decimal": "Decimal",
    "date": "Date",
    "dateTime": "DateTime",
    "instant": "DateTime",
    "time": "Time",
}
PRIMITIVE_BASE = {
    "code": "string",
    "id": "string",
    "markdown": "string",
    "url": "uri",
    "canonical": "uri",
    "oid": "uri",
    "uuid": "uri",
    "positiveInt": "integer",
    "unsignedInt": "integer",
}


class TypeInfo:
    """Answers the engine's questions about FHIR types; ``model`` may be None."""

    def __init__(self, model: Any | None) -> None:
        self.model = model
        self._children: dict[str, dict[str, str]] = {}
        self._choices: dict[str, dict[str, tuple[str, ...]]] = {}
        self.resource_types: frozenset[str] = model.resource_types() if model else frozenset()
        self.primitive_types: frozenset[str] = (
            model.primitive_types() if model else frozenset(PRIMITIVE_SYSTEM)
        )

    def _load(self, type_name: str) -> None:
        children: dict[str, str] = {}
        choices: dict[str, tuple[str, ...]] = {}
        elements = self.model.elements(type_name) if self.model else None
        for name, element in (elements or {}).items():
            name = name.removesuffix("[x]")
            types = tuple(_code(t) for t in element.types)
            if element.choice or len(types) > 1:
                keys = []
                for t in types:
                    key = name + t[0].upper() + t[1:]
                    children[key] = t
                    keys.append(key)
                choices[name] = tuple(keys)
            elif types:
                children[name] = types[0]
        self._children[type_name] = children
        self._choices[type_name] = choices

    def child_type(self, type_name: str | None, key: str) -> str | None:
        """Type of the element stored under JSON ``key`` in an element of ``type_name``."""
        if type_name is None:
            return None
        children = self._children.get(type_name)
        if children is None:
            self._load(type_name)
            children = self._children[type_name]
        if key in children:
            return children[key]
        base = self.base_type(type_name)
        found = self.child_type(base, key) if base is not None else None
        children[key] = found  # type: ignore[assignment]
        return found

    def choice_keys(self, type_name: str | None, name: str) -> tuple[str, ...] | None:
        """JSON keys of choice element ``name`` (``value`` -> ``valueQuantity``...)."""
        if type_name is None or self.model is None:
            return None
        choices = self._choices.get(type_name)
        if choices is None:
            self._load(type_name)
            choices = self._choices[type_name]
        if name in choices:
            return choices[name]
        base = self.base_type(type_name)
        return self.choice_keys(base, name) if base else ()

    def has_element(self, type_name: str, name: str) -> bool | None:
        """Whether ``name`` is an element of ``type_name``; None when unknown."""
        if self.model is None or self.model.elements(type_name) is None and "." not in type_name:
            return None
        return self.child_type(type_name, name) is not None or bool(self.choice_keys(type_name, name))

    @cache  # noqa: B019 - one instance per process
    def base_type(self, type_name: str) -> str | None:
        if type_name in PRIMITIVE_BASE:
            return PRIMITIVE_BASE[type_name]
        if self.model is None:
            return None
        if "." in type_name:
            return "BackboneElement"
        return self.model.base_type(type_name)

    def is_subtype(self, type_name: str, ancestor: str) -> bool:
        seen = type_name
        while seen is not None:
            if seen == ancestor:
                return True
            seen = self.base_type(seen)  # type: ignore[assignment]
        return False

    def is_known_type(self, type_name: str) -> bool:
        if type_name in PRIMITIVE_SYSTEM:
            return True
        if self.model is None:
            return True
        return self.model.elements(type_name) is not None or type_name in self.resource_types


def _code(code: str) -> str:
    if code.startswith(_SYSTEM_PREFIX):
        return "string"
    return code


@cache
def info() -> TypeInfo:
    try:
        model = importlib.import_module("helseflyt.fhir.model")
    except ImportError:
        model = None
    return TypeInfo(model)
