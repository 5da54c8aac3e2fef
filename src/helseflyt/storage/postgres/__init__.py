"""The PostgreSQL backend (production): ``postgresql://user@host:port/db?schema=name``."""

from helseflyt.storage.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
