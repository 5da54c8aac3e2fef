"""All settings in one table: it feeds the CLI flags, the environment variables and the docs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = "./helseflyt-data"


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    env: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "host",
        "HELSEFLYT_HOST",
        "127.0.0.1",
        "Address to listen on (loopback only until access control is configured).",
    ),
    Setting("port", "HELSEFLYT_PORT", 8080, "TCP port to listen on."),
    Setting(
        "data_dir",
        "HELSEFLYT_DATA_DIR",
        DEFAULT_DATA_DIR,
        "Folder for the embedded database and local state.",
    ),
    Setting(
        "database",
        "HELSEFLYT_DATABASE",
        None,
        "Database URL: sqlite:///path.db or postgresql://user@host:port/db"
        " (default: SQLite in the data folder).",
    ),
    Setting(
        "max_body_bytes",
        "HELSEFLYT_MAX_BODY_BYTES",
        64 * 1024 * 1024,
        "Largest request body accepted, in bytes (larger bodies get 413).",
    ),
    Setting(
        "base_url",
        "HELSEFLYT_BASE_URL",
        None,
        "Public base URL of the FHIR endpoint, if behind a proxy (default: from the request).",
    ),
    Setting(
        "auth",
        "HELSEFLYT_AUTH",
        "none",
        "Authentication: none (open development mode, loopback only), local (a development"
        " issuer in the data folder; tokens from `helseflyt token`) or jwks (an external issuer).",
    ),
    Setting(
        "auth_jwks", "HELSEFLYT_AUTH_JWKS", None, "The issuer's JSON Web Key Set: a file or an https URL."
    ),
    Setting("auth_issuer", "HELSEFLYT_AUTH_ISSUER", None, "The trusted token issuer (the iss claim)."),
    Setting(
        "auth_audience",
        "HELSEFLYT_AUTH_AUDIENCE",
        None,
        "This server's audience (the aud claim; default for local: the FHIR base URL).",
    ),
)


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = DEFAULT_DATA_DIR
    database: str | None = None
    max_body_bytes: int = 64 * 1024 * 1024
    base_url: str | None = None
    auth: str = "none"
    auth_jwks: str | None = None
    auth_issuer: str | None = None
    auth_audience: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        if self.database:
            return self.database
        return f"sqlite:///{Path(self.data_dir) / 'helseflyt.db'}"

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Defaults, then environment variables, then explicit (non-None) overrides."""
        values: dict[str, Any] = {}
        types = {f.name: f.type for f in fields(cls)}
        for s in SETTINGS:
            raw = os.environ.get(s.env)
            if raw is not None and raw != "":
                values[s.name] = int(raw) if types[s.name] == "int" else raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
