"""The embedded SQLite backend (default)."""

from helseflyt.storage.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
