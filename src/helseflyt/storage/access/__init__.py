"""Access control in SQL (the rules: :mod:`.predicate`), split by concern:

* :mod:`.filter`: :class:`AccessFilter` (one request's decision inputs) and constants;
* :mod:`.bases`, :mod:`.citizen`: SQL fragments for a practitioner's bases and for
  citizen controls / lock labels;
* :mod:`.predicate`: the one condition every read path ANDs to its SQL;
* :mod:`.queries`: per-request sets, visibility of one resource, grants;
* :mod:`.guard`: the store wrapper that applies it all.
"""

from __future__ import annotations

from helseflyt.storage.access.filter import LINKS, LOCK_OPENING, PUBLIC_TYPES, AccessFilter
from helseflyt.storage.access.guard import Denied, GuardedReader, GuardedStore, GuardedTransaction
from helseflyt.storage.access.predicate import _practitioner_sets, drives, predicate
from helseflyt.storage.access.queries import (
    active_grants,
    care_patients,
    insert_grants,
    own_records,
    patients_of,
    patients_with_identifier,
    purge_grants,
    read_sets,
    request_sets,
    visible,
)

__all__ = [
    "LINKS",
    "LOCK_OPENING",
    "PUBLIC_TYPES",
    "AccessFilter",
    "Denied",
    "GuardedReader",
    "GuardedStore",
    "GuardedTransaction",
    "_practitioner_sets",
    "active_grants",
    "care_patients",
    "drives",
    "insert_grants",
    "own_records",
    "patients_of",
    "patients_with_identifier",
    "predicate",
    "purge_grants",
    "read_sets",
    "request_sets",
    "visible",
]
