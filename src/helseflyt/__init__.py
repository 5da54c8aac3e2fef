"""Helseflyt: a FHIR R4 health-data sharing platform for Norway."""

__version__ = "0.1.0"
__all__ = ["__version__"]
