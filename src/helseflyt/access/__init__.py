"""Access control: authentication (bearer JWTs, HelseID claims, SMART scopes) at the edge.

:func:`configure` turns the settings into an :class:`Access`: the token validator for
the middleware, the documents under ``/.well-known/`` and the CapabilityStatement's
``rest.security``. Modes (``--auth``):

* ``none`` (default): open development mode, loopback only (enforced by ``serve``);
* ``local``: a local issuer whose key lives in the data folder (``helseflyt token``);
* ``jwks``: an external issuer (HelseID): ``--auth-jwks``, ``--auth-issuer`` and
  ``--auth-audience`` are all required.

See ``docs/access.md``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from helseflyt.access.jwks import KeysUnavailable, key_source
from helseflyt.access.local_issuer import LocalIssuer, LocalIssuerError
from helseflyt.access.principal import Principal
from helseflyt.access.smart import capability_security, smart_configuration
from helseflyt.access.tokens import TokenValidator
from helseflyt.settings import Settings

__all__ = [
    "MODES",
    "Access",
    "AccessConfigError",
    "Principal",
    "configure",
    "default_audience",
    "local_issuer",
    "local_issuer_url",
]

log = logging.getLogger("helseflyt.access")

MODES = ("none", "local", "jwks")


class AccessConfigError(ValueError):
    """The access settings do not make sense; the message names the option."""


@dataclass(slots=True)
class Access:
    mode: str
    validator: TokenValidator | None = None
    issuer: str | None = None
    audience: str | None = None
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> JSON

    @property
    def enabled(self) -> bool:
        return self.validator is not None

    def capability_security(self) -> dict[str, Any] | None:
        if not self.enabled:
            return None
        assert self.issuer is not None and self.audience is not None
        return capability_security(self.mode, self.issuer, self.audience)


def _root_url(settings: Settings) -> str:
    if settings.base_url:
        base = settings.base_url.rstrip("/")
        return base[: -len("/fhir")] if base.endswith("/fhir") else base
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


def default_audience(settings: Settings) -> str:
    """The configured audience, or the FHIR base URL."""
    if settings.auth_audience:
        return settings.auth_audience
    return (settings.base_url or f"{_root_url(settings)}/fhir").rstrip("/")


def local_issuer_url(settings: Settings) -> str:
    """The configured issuer, or the server's root URL."""
    return settings.auth_issuer or _root_url(settings)


def local_issuer(settings: Settings) -> LocalIssuer:
    """The local issuer of ``settings`` (its key is created on first use)."""
    try:
        return LocalIssuer(
            settings.data_dir, issuer=local_issuer_url(settings), audience=default_audience(settings)
        )
    except LocalIssuerError as exc:
        raise AccessConfigError(str(exc)) from None


def configure(settings: Settings) -> Access:
    mode = (settings.auth or "none").strip().lower()
    if mode not in MODES:
        raise AccessConfigError(f"--auth {settings.auth!r} is not one of {', '.join(MODES)}")
    if mode == "none":
        given = [o for o, v in (("--auth-jwks", settings.auth_jwks),) if v]
        if given:
            raise AccessConfigError(f"{', '.join(given)} is set but --auth is none; add --auth jwks")
        return Access("none")
    if mode == "local":
        if settings.auth_jwks:
            raise AccessConfigError("--auth local signs its own tokens; --auth-jwks is for --auth jwks")
        issuer = local_issuer(settings)
        validator = TokenValidator(issuer.key_source(), issuer.issuer, issuer.audience)
        jwks_uri = f"{issuer.issuer.rstrip('/')}/.well-known/jwks.json"
        documents = {
            "/.well-known/jwks.json": issuer.jwks(),
            "/.well-known/smart-configuration": smart_configuration(issuer.issuer, jwks_uri),
        }
        return Access("local", validator, issuer.issuer, issuer.audience, at_fhir_base_too(documents))
    missing = [
        option
        for option, value in (
            ("--auth-jwks (HELSEFLYT_AUTH_JWKS)", settings.auth_jwks),
            ("--auth-issuer (HELSEFLYT_AUTH_ISSUER)", settings.auth_issuer),
            ("--auth-audience (HELSEFLYT_AUTH_AUDIENCE)", settings.auth_audience),
        )
        if not value
    ]
    if missing:
        raise AccessConfigError(f"--auth jwks needs {' and '.join(missing)}")
    assert settings.auth_jwks and settings.auth_issuer and settings.auth_audience
    try:
        keys = key_source(settings.auth_jwks)
    except ValueError as exc:
        raise AccessConfigError(f"--auth-jwks: {exc}") from None
    try:
        keys.check()
    except KeysUnavailable as exc:
        if not keys.may_block:
            raise AccessConfigError(f"--auth-jwks: {exc}") from None
        log.warning("%s; requests get 503 until the key set can be fetched", exc)
    validator = TokenValidator(keys, settings.auth_issuer, settings.auth_audience)
    jwks_uri = settings.auth_jwks if "://" in settings.auth_jwks else None
    documents = {"/.well-known/smart-configuration": smart_configuration(settings.auth_issuer, jwks_uri)}
    return Access(
        "jwks", validator, settings.auth_issuer, settings.auth_audience, at_fhir_base_too(documents)
    )


def at_fhir_base_too(documents: dict[str, Any]) -> dict[str, Any]:
    """SMART App Launch puts discovery at ``[FHIR base]/.well-known/smart-configuration``;
    serve it there as well as at the server root, where many clients also look."""
    return {**documents, **{f"/fhir{path}": doc for path, doc in documents.items() if "smart" in path}}
