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
        "workers",
        "HELSEFLYT_WORKERS",
        1,
        "Server processes sharing the port (1-64): more serve more concurrent clients,"
        " each with its own memory.",
    ),
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
    Setting(
        "access_care_days",
        "HELSEFLYT_ACCESS_CARE_DAYS",
        90,
        "Days after an Encounter/EpisodeOfCare ended that it still gives its organisation's"
        " practitioners a care relationship (0: only active ones).",
    ),
    Setting(
        "access_emergency_hours",
        "HELSEFLYT_ACCESS_EMERGENCY_HOURS",
        4.0,
        "Hours an emergency grant (nhn-access-basis AKUTT/FORHOYET_AKUTT) lasts.",
    ),
    Setting(
        "access_care_cache_seconds",
        "HELSEFLYT_ACCESS_CARE_CACHE_SECONDS",
        60.0,
        "Seconds a practitioner's care-relationship patients are reused (0: computed per request).",
    ),
)

# name -> (smallest, largest, what a valid value looks like)
_LIMITS: dict[str, tuple[float, float, str]] = {
    "workers": (1, 64, "a whole number of processes from 1 to 64, e.g. 2"),
    "access_care_days": (0, 36500, "a whole number of days from 0 to 36500, e.g. 90"),
    "access_emergency_hours": (0.01, 72, "a number of hours above 0 and at most 72, e.g. 4"),
    "access_care_cache_seconds": (0, 3600, "a number of seconds from 0 to 3600, e.g. 60"),
}


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names it and what to use."""


def _setting(name: str) -> Setting:
    return next(s for s in SETTINGS if s.name == name)


def _number(name: str, raw: Any, kind: str) -> int | float:
    """``raw`` (a str from the environment or a number) as ``kind``, within its limits."""
    s = _setting(name)
    low, high, looks = _LIMITS[name]
    where = f"--{name.replace('_', '-')} (or {s.env})"
    try:
        value: int | float = int(raw) if kind == "int" else float(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"{where}: {raw!r} is not valid; use {looks}") from None
    if isinstance(raw, float) and kind == "int" and raw != int(raw):
        raise SettingsError(f"{where}: {raw!r} is not valid; use {looks}")
    if not low <= value <= high or value != value:
        raise SettingsError(f"{where}: {raw!r} is out of range; use {looks}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    data_dir: str = DEFAULT_DATA_DIR
    database: str | None = None
    max_body_bytes: int = 64 * 1024 * 1024
    base_url: str | None = None
    auth: str = "none"
    auth_jwks: str | None = None
    auth_issuer: str | None = None
    auth_audience: str | None = None
    access_care_days: int = 90
    access_emergency_hours: float = 4.0
    access_care_cache_seconds: float = 60.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        types = {f.name: f.type for f in fields(self)}
        for name in _LIMITS:
            object.__setattr__(self, name, _number(name, getattr(self, name), types[name]))

    @property
    def database_url(self) -> str:
        if self.database:
            return self.database
        return f"sqlite:///{Path(self.data_dir) / 'helseflyt.db'}"

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Defaults, then environment variables, then explicit (non-None) overrides; a value
        that cannot be used raises :class:`SettingsError` naming the flag, variable and fix."""
        values: dict[str, Any] = {}
        types = {f.name: f.type for f in fields(cls)}
        for s in SETTINGS:
            raw = os.environ.get(s.env)
            if raw is not None and raw.strip() != "":
                values[s.name] = int(raw) if types[s.name] == "int" and s.name not in _LIMITS else raw.strip()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
