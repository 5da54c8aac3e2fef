"""Error categories, mapped once to HTTP status and OperationOutcome issue codes.

Every layer raises a :class:`FhirError` subclass; the HTTP edge renders it as an
OperationOutcome (see ``helseflyt.http.responses``). Nothing below the edge knows HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Issue:
    """One OperationOutcome.issue."""

    diagnostics: str
    code: str = "invalid"
    severity: str = "error"
    expression: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code}
        if self.diagnostics:
            out["diagnostics"] = self.diagnostics
        if self.expression:
            out["expression"] = list(self.expression)
        return out


def operation_outcome(issues: list[Issue] | tuple[Issue, ...]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


class FhirError(Exception):
    """Base of all errors that become an OperationOutcome."""

    status: int = 400
    code: str = "invalid"

    def __init__(
        self,
        message: str,
        *,
        issues: list[Issue] | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.issues: list[Issue] = issues or [Issue(message, code=self.code)]
        self.headers = headers or {}

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


class InvalidRequest(FhirError):
    status, code = 400, "invalid"


class InvalidResource(FhirError):
    """The resource does not conform to the R4 definitions (one issue per problem)."""

    status, code = 400, "structure"


class BusinessRuleViolation(FhirError):
    status, code = 422, "business-rule"


class NotFound(FhirError):
    status, code = 404, "not-found"


class Gone(FhirError):
    status, code = 410, "deleted"


class Conflict(FhirError):
    status, code = 409, "conflict"


class PreconditionFailed(FhirError):
    status, code = 412, "conflict"


class MethodNotAllowed(FhirError):
    status, code = 405, "not-supported"


class NotAcceptable(FhirError):
    status, code = 406, "not-supported"


class UnsupportedMediaType(FhirError):
    status, code = 415, "not-supported"


class PayloadTooLarge(FhirError):
    status, code = 413, "too-costly"


class NotSupported(FhirError):
    """A valid request for something this server does not implement (listed in the docs)."""

    status, code = 501, "not-supported"


class StorageUnavailable(FhirError):
    status, code = 503, "transient"
