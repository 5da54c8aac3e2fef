"""Informational OperationOutcomes and ``Location`` values for write results."""

from __future__ import annotations

from typing import Any

from helseflyt.errors import Issue, operation_outcome
from helseflyt.storage.base import ResourceVersion


def location(base_url: str, version: ResourceVersion) -> str:
    """``[base]/[type]/[id]/_history/[vid]``."""
    return f"{base_url}/{version.type}/{version.id}/_history/{version.version}"


def information(text: str) -> dict[str, Any]:
    return operation_outcome([Issue(text, code="informational", severity="information")])
