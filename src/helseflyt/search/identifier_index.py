"""The index the core needs before full search exists: ``identifier`` tokens.

Conditional create/update/delete and conditional references search by ``identifier``
and ``_id``. The full search engine replaces this indexer with one compiled from the
official SearchParameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from helseflyt.storage.base import IndexEntry


def index_identifiers(res_type: str, resource: dict[str, Any]) -> Iterator[IndexEntry]:
    found = resource.get("identifier")
    if isinstance(found, dict):
        found = [found]
    for ident in found or ():
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            yield IndexEntry("identifier", ident.get("system"), ident["value"])
