"""The server's validator: base R4 plus the installed profiles a resource claims."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from helseflyt.errors import Issue
from helseflyt.fhir.validation.profiles import check_profiles
from helseflyt.packages.registry import LiveRegistry

Validator = Callable[[Any, str | None], list[Issue]]


def claims_profile(resource: Any) -> bool:
    meta = resource.get("meta") if type(resource) is dict else None
    return type(meta) is dict and bool(meta.get("profile"))


def profile_aware(base: Validator, live: LiveRegistry) -> Validator:
    """``base`` then, for a resource with ``meta.profile``, its profiles (registry reloaded
    when conformance resources changed)."""

    def run(resource: Any, expected_type: str | None) -> list[Issue]:
        issues = base(resource, expected_type)
        if claims_profile(resource):
            issues = [*issues, *check_profiles(resource, live.current())]
        return issues

    run.profile_aware = True  # type: ignore[attr-defined]
    return run
