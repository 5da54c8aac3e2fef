"""A local token issuer for development, tests and demos (``--auth local``).

It keeps one EC P-256 private key (ES256) in the data folder, in
``local-issuer-key.pem``: created on first use with ``0600`` permissions (atomically:
two processes starting at once cannot both write it), and refused if group or others
may read it. The server publishes the public half at ``/.well-known/jwks.json`` and
validates tokens against it like any other issuer; ``helseflyt token`` signs tokens
with it. Its ``kid`` is the key's RFC 7638 thumbprint.

It is not an OAuth server: there is no token endpoint. Whoever can read the data
folder can mint any token, which is why this mode is for development only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from helseflyt.access.jwks import KeySet, StaticKeys
from helseflyt.access.principal import (
    CLAIM_HPR,
    CLAIM_ORGNR_CHILD,
    CLAIM_ORGNR_PARENT,
    CLAIM_PID,
    CLAIM_SECURITY_LEVEL,
)

__all__ = ["DEFAULT_SCOPES", "KEY_FILE", "LocalIssuer", "LocalIssuerError", "TokenRequest"]

KEY_FILE = "local-issuer-key.pem"
CLIENT_ID = "helseflyt-local"
DEFAULT_SCOPES = {
    "practitioner": ("openid", "fhirUser", "user/*.cruds"),
    "patient": ("openid", "fhirUser", "patient/*.rs"),
    "system": ("system/*.rs",),
}
MAX_MINUTES = 24 * 60


class LocalIssuerError(Exception):
    pass


def _b64(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class TokenRequest:
    role: str
    fnr: str | None = None
    hpr: str | None = None
    org: str | None = None
    child_org: str | None = None
    scopes: tuple[str, ...] = ()
    minutes: int = 60


class LocalIssuer:
    def __init__(self, data_dir: str | Path, *, issuer: str, audience: str) -> None:
        self.path = Path(data_dir) / KEY_FILE
        self.issuer = issuer
        self.audience = audience
        self._key = self._load_or_create()
        numbers = self._key.public_key().public_numbers()
        self._jwk = {"kty": "EC", "crv": "P-256", "x": _b64(numbers.x), "y": _b64(numbers.y)}
        canonical = json.dumps(self._jwk, sort_keys=True, separators=(",", ":")).encode()
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()

    def _load_or_create(self) -> ec.EllipticCurvePrivateKey:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._load()
        except OSError as exc:
            raise LocalIssuerError(
                f"cannot create the local issuer key {self.path}: {exc.strerror}"
            ) from None
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        return key

    def _load(self) -> ec.EllipticCurvePrivateKey:
        try:
            mode = self.path.stat().st_mode
            if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise LocalIssuerError(
                    f"the local issuer key {self.path} may be read by others (mode {stat.filemode(mode)}); "
                    f"run: chmod 600 {self.path}"
                )
            for _ in range(20):  # another process may be writing it right now
                data = self.path.read_bytes()
                if data:
                    break
                time.sleep(0.05)
            key = serialization.load_pem_private_key(data, password=None)
        except OSError as exc:
            raise LocalIssuerError(f"cannot read the local issuer key {self.path}: {exc.strerror}") from None
        except ValueError as exc:
            raise LocalIssuerError(f"the local issuer key {self.path} is not a PEM key: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise LocalIssuerError(f"the local issuer key {self.path} is not an EC P-256 key")
        return key

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**self._jwk, "kid": self.kid, "use": "sig", "alg": "ES256"}]}

    def key_source(self) -> StaticKeys:
        return StaticKeys(KeySet.from_jwks(self.jwks(), origin="local issuer"))

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.kid, "typ": "at+jwt"})

    def issue(self, request: TokenRequest, *, now: float | None = None) -> str:
        """A token for ``request`` (checked with :func:`check_request` first)."""
        problems = check_request(request)
        if problems:
            raise LocalIssuerError("; ".join(problems))
        issued = int(time.time() if now is None else now)
        identity = request.fnr or request.hpr or request.org or CLIENT_ID
        subject = hashlib.sha256(f"{self.issuer}|{request.role}|{identity}".encode()).hexdigest()[:32]
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "client_id": CLIENT_ID,
            "iat": issued,
            "nbf": issued,
            "exp": issued + 60 * request.minutes,
            "jti": uuid.uuid4().hex,
            "scope": " ".join(request.scopes or DEFAULT_SCOPES[request.role]),
        }
        if request.fnr:
            claims[CLAIM_PID] = request.fnr
        if request.hpr:
            claims[CLAIM_HPR] = request.hpr
        if request.role in ("practitioner", "patient"):
            claims[CLAIM_SECURITY_LEVEL] = "4"
        if request.org:
            claims[CLAIM_ORGNR_PARENT] = request.org
        if request.child_org:
            claims[CLAIM_ORGNR_CHILD] = request.child_org
        return self.sign(claims)


def check_request(request: TokenRequest) -> list[str]:
    """Everything wrong with ``request``, in words (empty if nothing)."""
    from helseflyt.access import scopes as smart
    from helseflyt.norway.identifiers import (
        check_d_nummer,
        check_fodselsnummer,
        check_hpr,
        check_organisasjonsnummer,
    )

    problems: list[str] = []
    role = request.role
    if role not in DEFAULT_SCOPES:
        return [f"role {role!r} is not one of {', '.join(DEFAULT_SCOPES)}"]

    def need(value: str | None, option: str) -> None:
        if not value:
            problems.append(f"--role {role} needs {option}")

    if role == "practitioner":
        need(request.hpr, "--hpr")
        need(request.org, "--org")
    elif role == "patient":
        need(request.fnr, "--fnr")
        if request.hpr:
            problems.append("--role patient takes no --hpr")
    else:
        if request.fnr or request.hpr:
            problems.append("--role system names no person (no --fnr or --hpr)")
    if request.fnr and check_fodselsnummer(request.fnr) and check_d_nummer(request.fnr):
        problems.append(f"--fnr {request.fnr}: {check_fodselsnummer(request.fnr)}")
    if request.hpr and (reason := check_hpr(request.hpr)):
        problems.append(f"--hpr {request.hpr}: {reason}")
    for option, value in (("--org", request.org), ("--child-org", request.child_org)):
        if value and (reason := check_organisasjonsnummer(value)):
            problems.append(f"{option} {value}: {reason}")
    if not 1 <= request.minutes <= MAX_MINUTES:
        problems.append(f"--minutes must be between 1 and {MAX_MINUTES}")
    problems.extend(_scope_problems(role, request.scopes, smart.parse_one))
    return problems


def _scope_problems(role: str, scopes: Iterable[str], parse_one: Any) -> list[str]:
    allowed = {"practitioner": ("user", "patient"), "patient": ("patient",), "system": ("system",)}[role]
    problems = []
    for text in scopes:
        parsed = parse_one(text)
        if parsed is None and "/" in text and text.split("/")[0] in ("patient", "user", "system"):
            problems.append(f"scope {text!r} is not a SMART scope (e.g. patient/Observation.rs)")
        elif parsed is not None and parsed.context not in allowed:
            use = " or ".join(c + "/" for c in allowed)
            problems.append(f"scope {text!r} does not count for a {role} (use {use} scopes)")
    return problems
