"""Which resource types this server serves: every concrete R4 resource type.

The list comes from the official definitions through ``helseflyt.fhir.model``; until
that module exists the generated ``types.json.gz`` is read directly.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from importlib import resources

_ABSTRACT = frozenset({"Resource", "DomainResource"})


@cache
def resource_types() -> frozenset[str]:
    try:
        from helseflyt.fhir.model import resource_types as from_model
    except ImportError:
        return _from_definitions()
    return frozenset(from_model()) - _ABSTRACT


def _from_definitions() -> frozenset[str]:
    data = resources.files("helseflyt.fhir").joinpath("definitions/types.json.gz").read_bytes()
    types = json.loads(gzip.decompress(data))["types"]
    return (
        frozenset(name for name, info in types.items() if info.get("kind") == "resource" and "." not in name)
        - _ABSTRACT
    )


def is_resource_type(name: str) -> bool:
    return name in resource_types()
