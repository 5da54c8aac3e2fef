"""Check digits of the Norwegian no-basis identifiers, as part of validation.

An ``Identifier`` (anywhere: ``Patient.identifier``, ``Reference.identifier``...) whose
``system`` is one of :data:`helseflyt.norway.identifiers.SYSTEMS` must have a valid
``value``; otherwise the issue names the element (``Patient.identifier[0].value``), the
identifier and the rule, e.g. "invalid fødselsnummer: check digit k2 does not match".
Identifiers of other systems are not looked at.
"""

from __future__ import annotations

from helseflyt.fhir.validation.context import Ctx
from helseflyt.norway.identifiers import NAMES, SYSTEMS


def identifier_problem(obj: dict) -> str | None:
    """The diagnostics if ``obj`` is a no-basis identifier with an invalid value, else None."""
    system = obj.get("system")
    if type(system) is not str:
        return None
    checker = SYSTEMS.get(system)
    if checker is None:
        return None
    value = obj.get("value")
    if type(value) is not str:
        return None  # a missing value is allowed (e.g. only an extension); bad types are reported already
    reason = checker(value)
    if reason is not None:
        return f"invalid {NAMES[system]} ({system}): {reason}"
    return None


def check_identifier(obj: dict, path: str, ctx: Ctx) -> None:
    problem = identifier_problem(obj)
    if problem is not None:
        ctx.add("value", problem, f"{path}.value")
