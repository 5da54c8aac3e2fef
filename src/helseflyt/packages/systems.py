"""Code systems Helseflyt knows by canonical URI (NORWAY.md, "Terminology").

Only names and URIs: no code lists are bundled (ICPC-2, ICD-10, ATC, NLK and SNOMED CT
have licences or distribution terms that do not allow it here). A user loads a code
list as a CodeSystem (``helseflyt ig install`` or a CodeSystem upload); ``$lookup`` and
``$validate-code`` then answer from it, and before that they say what to load.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KnownSystem", "VOLVEN_PREFIX", "known_system"]

VOLVEN_PREFIX = "urn:oid:2.16.578.1.12.4.1.1."


@dataclass(frozen=True, slots=True)
class KnownSystem:
    uri: str
    name: str
    publisher: str


KNOWN: dict[str, KnownSystem] = {
    s.uri: s
    for s in (
        KnownSystem("http://hl7.org/fhir/sid/icpc-2", "ICPC-2", "WONCA / Direktoratet for e-helse"),
        KnownSystem("urn:oid:2.16.578.1.12.4.1.1.7110", "ICD-10 (Norwegian)", "Direktoratet for e-helse"),
        KnownSystem("http://www.whocc.no/atc", "ATC", "WHO Collaborating Centre"),
        KnownSystem("urn:oid:2.16.578.1.12.4.1.1.7280", "NLK (lab codes, NPU)", "Direktoratet for e-helse"),
        KnownSystem("http://snomed.info/sct", "SNOMED CT", "SNOMED International"),
    )
}


def known_system(uri: str) -> KnownSystem | None:
    """The known system with this URI; any Volven list (``urn:oid:2.16.578.1.12.4.1.1.N``)."""
    found = KNOWN.get(uri)
    if found is not None:
        return found
    if uri.startswith(VOLVEN_PREFIX) and uri[len(VOLVEN_PREFIX) :].isdigit():
        return KnownSystem(uri, f"Volven code list {uri[len(VOLVEN_PREFIX) :]}", "Direktoratet for e-helse")
    return None
