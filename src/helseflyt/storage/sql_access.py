"""Access control in SQL: the former single module, now the package
:mod:`helseflyt.storage.access` (rules in :mod:`helseflyt.storage.access.predicate`).
Kept as the import path the policy, the audit middleware, the bench and the tests use."""

from __future__ import annotations

from helseflyt.storage.access import *  # noqa: F403
from helseflyt.storage.access import __all__ as __all__
from helseflyt.storage.access import _practitioner_sets as _practitioner_sets
