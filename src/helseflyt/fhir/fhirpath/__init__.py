"""FHIRPath N1 for FHIR R4: ``compile(text).evaluate(resource)``.

>>> from helseflyt.fhir import fhirpath
>>> fhirpath.compile("Patient.name.given").evaluate({"resourceType": "Patient",
...     "name": [{"given": ["Kari"]}]})
['Kari']

See ``docs/fhirpath.md`` for the design, the conformance figures and the limits.
"""

from __future__ import annotations

from typing import Any

from .compiler import Expression, compile
from .dates import FPDateTime
from .nodes import FHIRPathError, Node
from .quantities import Quantity

__all__ = ["Expression", "FHIRPathError", "FPDateTime", "Node", "Quantity", "compile", "evaluate"]


def evaluate(resource: Any, expression: str, variables: dict[str, Any] | None = None) -> list[Any]:
    """One-off evaluation; the compiled expression is cached by its text."""
    return compile(expression).evaluate(resource, variables=variables)
