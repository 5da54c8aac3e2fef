"""The citizen's access log and the privacy officer's review list, built from audit records.

Both are ``Parameters`` with one ``access`` parameter per audit record, newest first:
``when``, ``who`` (Practitioner.name if a Practitioner with that HPR-number is stored,
else "HPR <number>"), ``hpr``, ``role``, ``organization`` (Organization.name if known)
and ``orgnr``, ``basis`` (nhn-access-basis), ``reason``, ``purpose``, ``what`` (the
interaction and resource types), ``outcome`` and ``event`` (the AuditEvent).
The review list adds ``followUp`` (why the record needs follow-up).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from helseflyt.audit.events import (
    ACCESS_BASIS_SYSTEM,
    ACT_REASON,
    EMERGENCY_BASES,
    REVIEW_PURPOSES,
)
from helseflyt.norway.identifiers import FNR, HPR, ORGNR

__all__ = ["OPEN_MODE_NOTE", "access_log", "review_list"]

# (identifier system, value) -> display name, or None when not known
Names = Callable[[str, str], str | None]

OPEN_MODE_NOTE = (
    "open development mode: the server runs without authentication, so this log is shown "
    "to anyone who can reach it; with authentication only the patient sees their own log"
)
_OUTCOMES = {"0": "success", "4": "denied or failed (client error)", "8": "failed (server error)"}


def _identifier(who: dict[str, Any], system: str) -> str | None:
    ident = who.get("identifier") or {}
    return ident.get("value") if ident.get("system") == system else None


def _part(name: str, kind: str, value: Any) -> dict[str, Any]:
    return {"name": name, f"value{kind}": value}


def _entry(event: dict[str, Any], names: Names, *, follow_up: bool) -> dict[str, Any]:
    parts = [_part("when", "Instant", event.get("recorded"))]
    agents = event.get("agent") or []
    user = next((a for a in agents if a.get("requestor")), {})
    who = user.get("who") or {}
    hpr = _identifier(who, HPR)
    fnr = _identifier(who, FNR)
    role = ((user.get("role") or [{}])[0]).get("text")
    if hpr:
        parts.append(_part("who", "String", names(HPR, hpr) or f"HPR {hpr}"))
        parts.append(_part("hpr", "Identifier", {"system": HPR, "value": hpr}))
    elif fnr:
        parts.append(
            _part("who", "String", "the patient" if role == "patient" else "a person (no HPR-number)")
        )
    else:
        parts.append(_part("who", "String", who.get("display") or "unknown"))
    if role:
        parts.append(_part("role", "Code", role))
    for org in agents:
        orgnr = _identifier(org.get("who") or {}, ORGNR)
        if orgnr and not org.get("requestor"):
            parts.append(_part("orgnr", "Identifier", {"system": ORGNR, "value": orgnr}))
            org_name = names(ORGNR, orgnr)
            if org_name:
                parts.append(_part("organization", "String", org_name))
    basis = purpose = reason = None
    for concept in event.get("purposeOfEvent") or []:
        for coding in concept.get("coding") or []:
            if coding.get("system") == ACCESS_BASIS_SYSTEM:
                basis, reason = coding.get("code"), concept.get("text")
            elif coding.get("system") == ACT_REASON:
                purpose = coding.get("code")
        if not concept.get("coding") and concept.get("text"):
            reason = concept["text"]
    if basis:
        parts.append(_part("basis", "Coding", {"system": ACCESS_BASIS_SYSTEM, "code": basis}))
    if purpose:
        parts.append(_part("purpose", "Coding", {"system": ACT_REASON, "code": purpose}))
    if reason:
        parts.append(_part("reason", "String", reason))
    parts.append(_part("what", "String", _what(event)))
    parts.append(_part("outcome", "String", _OUTCOMES.get(event.get("outcome", ""), "unknown")))
    if follow_up:
        why = (
            "emergency access"
            if basis in EMERGENCY_BASES or purpose in REVIEW_PURPOSES
            else "self-declared basis"
        )
        parts.append(_part("followUp", "String", why))
    parts.append(_part("event", "Reference", {"reference": f"AuditEvent/{event.get('id')}"}))
    return {"name": "access", "part": parts}


def _what(event: dict[str, Any]) -> str:
    codes = [s.get("code") for s in event.get("subtype") or [] if s.get("code")]
    types: list[str] = []
    for entity in event.get("entity") or []:
        ref = (entity.get("what") or {}).get("reference")
        kind = ref.split("/")[0] if isinstance(ref, str) else entity.get("name")
        if kind and kind not in types:
            types.append(kind)
    return " ".join(codes) + (f": {', '.join(types)}" if types else "")


def access_log(bodies: Iterable[bytes], names: Names, *, open_mode: bool) -> dict[str, Any]:
    params: list[dict[str, Any]] = []
    if open_mode:
        params.append(_part("note", "String", OPEN_MODE_NOTE))
    params.extend(_entry(orjson.loads(b), names, follow_up=False) for b in bodies)
    return {"resourceType": "Parameters", "parameter": params}


def review_list(bodies: Iterable[bytes], names: Names, *, open_mode: bool) -> dict[str, Any]:
    params: list[dict[str, Any]] = []
    if open_mode:
        params.append(_part("note", "String", OPEN_MODE_NOTE.replace("this log", "this review list")))
    params.extend(_entry(orjson.loads(b), names, follow_up=True) for b in bodies)
    return {"resourceType": "Parameters", "parameter": params}
