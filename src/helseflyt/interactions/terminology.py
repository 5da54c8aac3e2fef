"""Terminology operations: ``CodeSystem/$lookup``
(https://hl7.org/fhir/R4/codesystem-operation-lookup.html), ``CodeSystem/$validate-code``
(https://hl7.org/fhir/R4/codesystem-operation-validate-code.html) and
``ValueSet/$validate-code`` (https://hl7.org/fhir/R4/valueset-operation-validate-code.html).

They answer from the installed CodeSystems and ValueSets (the registry) and from the
core R4 value sets (codes only: the generated definitions carry no display texts). A
code system Helseflyt knows by URI but whose codes are not loaded (ICPC-2, ICD-10,
ATC, NLK, Volven...) answers 404 with an OperationOutcome saying what to load.

``params`` is a list of (name, value) pairs: query parameters (strings) or the
parameters of a POSTed Parameters resource (``valueX`` or complex values).
"""

from __future__ import annotations

from typing import Any

from helseflyt.errors import InvalidRequest, NotFound
from helseflyt.packages.registry import Registry, _core_systems
from helseflyt.packages.systems import known_system

__all__ = ["lookup", "parameters_from_body", "validate_code"]

Params = list[tuple[str, Any]]


def parameters_from_body(body: Any) -> Params:
    """(name, value) pairs of a Parameters resource."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise InvalidRequest("the body must be a Parameters resource")
    out: Params = []
    for p in body.get("parameter") or []:
        if not isinstance(p, dict) or "name" not in p:
            continue
        value = next((v for k, v in p.items() if k.startswith("value")), p.get("resource"))
        out.append((p["name"], value))
    return out


def _get(params: Params, name: str) -> Any:
    return next((v for k, v in params if k == name), None)


def _not_loaded(system: str) -> NotFound:
    known = known_system(system)
    if known is not None:
        return NotFound(
            f"{known.name} ({system}) is known, but its codes are not loaded on this server: load the "
            f"{known.name} code list as a CodeSystem with url {system} "
            "(helseflyt ig install PATH, or PUT it to CodeSystem/[id])"
        )
    return NotFound(f"unknown code system {system!r}: no CodeSystem with this url is installed")


def _coding(params: Params) -> tuple[str, str, str | None]:
    coding = _get(params, "coding")
    if isinstance(coding, dict):
        system, code, display = coding.get("system"), coding.get("code"), coding.get("display")
    else:
        system, code, display = _get(params, "system"), _get(params, "code"), _get(params, "display")
    if not isinstance(code, str) or not code:
        raise InvalidRequest("the code parameter (or coding) is required")
    if not isinstance(system, str) or not system:
        raise InvalidRequest("the system parameter (or coding.system) is required")
    return system, code, display if isinstance(display, str) else None


def _concept(reg: Registry, system: str, code: str) -> tuple[bool, dict[str, Any] | None]:
    """(found, concept) from an installed CodeSystem or the core value sets."""
    concepts = reg.concepts(system)
    if concepts is not None:
        c = concepts.get(code)
        return c is not None, c
    core = _core_systems().get(system)
    if core is not None:
        return (system, code) in core, None
    raise _not_loaded(system)


def lookup(reg: Registry, params: Params) -> dict[str, Any]:
    system, code, _ = _coding(params)
    found, concept = _concept(reg, system, code)
    if not found:
        raise NotFound(f"code {code!r} is not in code system {system}")
    cs = reg.code_system(system) or {}
    known = known_system(system)
    out: list[dict[str, Any]] = [
        {"name": "name", "valueString": cs.get("name") or (known.name if known else system)}
    ]
    if cs.get("version"):
        out.append({"name": "version", "valueString": cs["version"]})
    if concept and concept.get("display"):
        out.append({"name": "display", "valueString": concept["display"]})
    for d in (concept or {}).get("designation") or []:
        parts = [{"name": "value", "valueString": d.get("value", "")}]
        if d.get("language"):
            parts.insert(0, {"name": "language", "valueCode": d["language"]})
        out.append({"name": "designation", "part": parts})
    return {"resourceType": "Parameters", "parameter": out}


def _result(ok: bool, message: str | None, display: str | None) -> dict[str, Any]:
    out: list[dict[str, Any]] = [{"name": "result", "valueBoolean": ok}]
    if message:
        out.append({"name": "message", "valueString": message})
    if display:
        out.append({"name": "display", "valueString": display})
    return {"resourceType": "Parameters", "parameter": out}


def validate_code(reg: Registry, params: Params, *, level: str, url: str | None = None) -> dict[str, Any]:
    """``level`` is ``CodeSystem`` or ``ValueSet``; ``url`` the instance's canonical URL."""
    if level == "CodeSystem":
        if url is not None and _get(params, "system") is None and _get(params, "coding") is None:
            params = [*params, ("system", url)]
        elif _get(params, "url") and _get(params, "system") is None:
            params = [*params, ("system", _get(params, "url"))]
        system, code, display = _coding(params)
        found, concept = _concept(reg, system, code)
        if not found:
            return _result(False, f"code {code!r} is not in code system {system}", None)
        return _display_result(code, concept, display)
    vs_url = url or _get(params, "url")
    if not isinstance(vs_url, str):
        raise InvalidRequest("the url parameter (the value set's canonical URL) is required")
    codes = reg.value_set_codes(vs_url)
    if codes is None:
        vs = reg.value_set(vs_url)
        if vs is None:
            raise NotFound(f"unknown value set {vs_url!r}: no ValueSet with this url is installed")
        for inc in (vs.get("compose") or {}).get("include") or []:
            system = inc.get("system")
            if isinstance(system, str) and not inc.get("concept") and reg.concepts(system) is None:
                raise _not_loaded(system)
        raise NotFound(f"value set {vs_url} cannot be expanded here (filters or value sets not loaded)")
    concept_param = _get(params, "codeableConcept")
    if isinstance(concept_param, dict):
        codings = [c for c in concept_param.get("coding") or [] if isinstance(c, dict)]
        for c in codings:
            if (c.get("system"), c.get("code")) in codes:
                return _display_result(
                    c["code"], _maybe_concept(reg, c["system"], c["code"]), c.get("display")
                )
        return _result(False, f"none of the codings is in the value set {vs_url}", None)
    system_param = _get(params, "system")
    coding_param = _get(params, "coding")
    if system_param is None and not isinstance(coding_param, dict):
        code = _get(params, "code")
        if not isinstance(code, str):
            raise InvalidRequest("the code parameter (or coding, or codeableConcept) is required")
        matches = [(s, c) for s, c in codes if c == code]
        if not matches:
            return _result(False, f"code {code!r} is not in the value set {vs_url}", None)
        return _display_result(code, _maybe_concept(reg, matches[0][0], code), _get(params, "display"))
    system, code, display = _coding(params)
    if (system, code) not in codes:
        return _result(False, f"{system}|{code} is not in the value set {vs_url}", None)
    return _display_result(code, _maybe_concept(reg, system, code), display)


def _maybe_concept(reg: Registry, system: str, code: str) -> dict[str, Any] | None:
    concepts = reg.concepts(system)
    return concepts.get(code) if concepts else None


def _display_result(code: str, concept: dict[str, Any] | None, display: str | None) -> dict[str, Any]:
    expected = concept.get("display") if concept else None
    if display and expected and display != expected:
        return _result(False, f"the display for {code!r} should be {expected!r}, not {display!r}", expected)
    return _result(True, None, expected)
