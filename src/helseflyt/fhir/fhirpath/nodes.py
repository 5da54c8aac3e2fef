"""Items of a FHIRPath collection: resource tree nodes and System values.

A collection is a Python list. Its items are either a :class:`Node` (an element of the
input resource, which knows its parent, JSON key and list index, so FHIRPath Patch can
change it in place) or a System value: ``bool``, ``int``, ``Decimal``, ``str``,
:class:`~.dates.FPDateTime` or :class:`~.quantities.Quantity`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .dates import FPDateTime, parse_date_time, parse_time
from .quantities import Quantity
from .typeinfo import PRIMITIVE_SYSTEM, info

__all__ = ["FHIRPathError", "Node", "system_value", "type_of"]


class FHIRPathError(ValueError):
    """A syntax, semantic or execution error in a FHIRPath expression."""

    def __init__(self, message: str, kind: str = "execution") -> None:
        super().__init__(message)
        self.kind = kind


class Node:
    """An element of the input: ``parent[key][index]`` (``index`` None if not a list).

    ``ext`` is the primitive's ``_key`` companion (its id and extensions).
    """

    __slots__ = ("_type", "ext", "index", "key", "parent", "value")

    def __init__(
        self,
        value: Any,
        parent: Node | None,
        key: str | None,
        index: int | None,
        ext: Any = None,
        type_: str | None = None,
    ) -> None:
        self.value = value
        self.parent = parent
        self.key = key
        self.index = index
        self.ext = ext
        self._type = type_

    @property
    def type(self) -> str | None:
        """FHIR type name (``HumanName``, ``date``, ``Observation.component``)."""
        t = self._type
        if t is None:
            v = self.value
            if self.parent is None:
                t = v.get("resourceType") if isinstance(v, dict) else None
            else:
                t = info().child_type(self.parent.type, self.key)  # type: ignore[arg-type]
                if (t == "Resource" or t == "DomainResource" or t is None) and isinstance(v, dict):
                    t = v.get("resourceType", t)
            self._type = t or ""
            return t
        return t or None

    @property
    def container(self) -> Any:
        """The JSON dict that holds this element (None for the root)."""
        return None if self.parent is None else self.parent.value

    def __repr__(self) -> str:
        return f"Node({self.path()}={self.value!r})"

    def path(self) -> str:
        if self.parent is None:
            return str(self.type or "$")
        suffix = "" if self.index is None else f"[{self.index}]"
        return f"{self.parent.path()}.{self.key}{suffix}"


_CONVERT_CACHE: dict[str, Any] = {}


def system_value(item: Any) -> Any:
    """The System value of an item: primitives of nodes become bool/int/Decimal/str/date."""
    if item.__class__ is not Node:
        return item
    v = item.value
    cls = v.__class__
    if cls is str:
        if not v[:1].isdigit():  # cannot be a date or time
            return v
        return primitive_value(v, item.type)
    if cls is float:
        return Decimal(repr(v))
    if cls is int:
        return primitive_value(v, item.type)
    if cls is dict:
        if item.type == "Quantity" or (item.type and info().is_subtype(item.type, "Quantity")):
            return quantity_of(v) or item
        return item
    return v


def primitive_value(v: Any, fhir_type: str | None) -> Any:
    """The System value of JSON primitive ``v`` of FHIR type ``fhir_type``."""
    cls = v.__class__
    if cls is str:
        if v[:1].isdigit():
            if fhir_type in ("date", "dateTime", "instant"):
                return parse_date_time(v, "date" if fhir_type == "date" else "dateTime") or v
            if fhir_type == "time":
                return parse_time(v) or v
        return v
    if cls is float:
        return Decimal(repr(v))
    if cls is int:
        return Decimal(v) if fhir_type == "decimal" else v
    return v


def quantity_of(v: dict[str, Any]) -> Quantity | None:
    value = v.get("value")
    if value is None:
        return None
    if isinstance(value, float):
        value = Decimal(repr(value))
    unit = v.get("code") or v.get("unit") or "1"
    if v.get("system") not in (None, "http://unitsofmeasure.org") and "code" in v:
        return None
    return Quantity(Decimal(value), _calendar_code(unit))


def _calendar_code(unit: str) -> str:
    return unit


SYSTEM_TYPE_OF = {bool: "Boolean", int: "Integer", Decimal: "Decimal", str: "String", Quantity: "Quantity"}


def type_of(item: Any) -> tuple[str, str]:
    """(namespace, name) of an item."""
    if item.__class__ is Node:
        t = item.type
        if t is None:
            v = item.value
            if isinstance(v, dict):
                return "FHIR", "Element"
            return "System", SYSTEM_TYPE_OF.get(v.__class__, "Any")
        return "FHIR", t
    if isinstance(item, FPDateTime):
        return "System", {"date": "Date", "dateTime": "DateTime", "time": "Time"}[item.kind]
    return "System", SYSTEM_TYPE_OF.get(item.__class__, "Any")


def is_primitive_node(item: Node) -> bool:
    return not isinstance(item.value, dict)


def primitive_system_type(fhir_type: str) -> str | None:
    return PRIMITIVE_SYSTEM.get(fhir_type)
