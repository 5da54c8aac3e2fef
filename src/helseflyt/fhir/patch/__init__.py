"""Patch formats applied to FHIR resources (FHIRPath Patch; JSON Patch lives in interactions)."""

from __future__ import annotations

from .fhirpath_patch import apply as apply_fhirpath_patch

__all__ = ["apply_fhirpath_patch"]
