"""The state of one validation run: the issues found and the local references seen."""

from __future__ import annotations

from helseflyt.errors import Issue


class Ctx:
    """Collects issues; ``local_refs`` holds ``(id, path, is_reference)`` of ``#id``
    references seen in the current resource (swapped per resource, not per contained)."""

    __slots__ = ("issues", "local_refs")

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self.local_refs: list[tuple[str, str, bool]] = []

    def add(self, code: str, diagnostics: str, path: str) -> None:
        self.issues.append(Issue(diagnostics, code=code, expression=(path,)))
