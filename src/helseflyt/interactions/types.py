"""Which resource types this server serves: every concrete R4 resource type, from the
official definitions (:func:`helseflyt.fhir.model.resource_types`)."""

from __future__ import annotations

from functools import cache

from helseflyt.fhir.model import resource_types as _model_types

_ABSTRACT = frozenset({"Resource", "DomainResource"})


@cache
def resource_types() -> frozenset[str]:
    return frozenset(_model_types()) - _ABSTRACT


def is_resource_type(name: str) -> bool:
    return name in resource_types()
