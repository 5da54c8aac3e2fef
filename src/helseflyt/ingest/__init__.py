"""Bulk load: ``load(store, paths)`` reads Bundles, NDJSON, folders and ``.tar.gz``.

See :mod:`helseflyt.ingest.loader` for the pipeline and ``docs/transactions.md`` for
how transaction and batch Bundles are processed (the same rules as over REST).
"""

from __future__ import annotations

from helseflyt.ingest.loader import load
from helseflyt.ingest.report import LoadError, LoadReport

__all__ = ["LoadError", "LoadReport", "load"]
