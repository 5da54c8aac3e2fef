"""FHIR R4 model: JSON handling, official definitions, validation, FHIRPath."""
