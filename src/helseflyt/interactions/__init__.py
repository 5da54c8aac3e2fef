"""FHIR interactions, one module each; no HTTP here (see ``helseflyt.http``)."""
