"""Bearer JWT validation (RFC 7519, RFC 9068), HelseID-style.

A token is accepted only if every one of these holds, in this order (the first that
fails is named in the 401):

1. a compact JWS of three base64url parts, at most 16 KiB, with a signature;
2. header ``alg`` RS256 or ES256 (never ``none``, never HS*: a public key is not a
   shared secret), no ``crit``, ``typ`` absent, ``JWT`` or ``at+jwt``;
3. a key of the key set with that ``kid`` *and* that algorithm (without ``kid``: the
   only key for the algorithm) verifies the signature;
4. ``iss`` is the configured issuer; ``aud`` is exactly one audience (a string or a
   one-element list, as HelseID issues them) and it is the configured one;
5. ``exp`` and ``iat`` present and numeric, ``nbf`` numeric if present; not expired,
   not before ``nbf``, not issued in the future (``leeway`` seconds of clock skew each
   way), and living at most ``max_lifetime`` seconds (24 h) from ``iat`` to ``exp``;
6. ``sub`` or ``client_id`` names someone; the HelseID claims, where present, are
   strings of the right form: ``pid`` a fødselsnummer or D-nummer, ``hpr_number``
   digits, ``orgnr_parent``/``orgnr_child`` organisasjonsnumre, ``security_level`` a
   digit; ``scope`` a space-separated string or a list of strings.

Anything unexpected while decoding becomes a 401 too: a token never causes a 500.

The signature is checked with ``cryptography`` directly (RFC 7518 §3.3/§3.4; the JOSE
header and claims parsed once, with orjson): about 0.1 ms CPU for a new ES256 token. A
verified token is remembered by its exact text (bounded, :data:`CACHE_SIZE`): a client
reusing its token skips the signature, never the time checks or the key-set lookup.
"""

from __future__ import annotations

import base64
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from helseflyt.access import scopes as smart
from helseflyt.access.errors import Unauthenticated
from helseflyt.access.jwks import ALGORITHMS, KeySource, KeysUnavailable, VerificationKey
from helseflyt.access.principal import (
    CLAIM_HPR,
    CLAIM_ORGNR_CHILD,
    CLAIM_ORGNR_PARENT,
    CLAIM_PID,
    CLAIM_SECURITY_LEVEL,
    Principal,
    role_of,
)
from helseflyt.norway.identifiers import check_d_nummer, check_fodselsnummer, check_organisasjonsnummer

__all__ = ["MAX_TOKEN_BYTES", "TokenValidator"]

log = logging.getLogger("helseflyt.access")

MAX_TOKEN_BYTES = 16 * 1024
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_TYPES = {None, "JWT", "at+jwt", "application/at+jwt"}
CACHE_SIZE = 4096  # verified tokens kept (by their exact text) until they expire


def _segment(part: str) -> Any:
    """A base64url JSON segment (the caller checked the alphabet); ValueError if not."""
    return orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _verify(key: VerificationKey, signing_input: bytes, signature: bytes) -> bool:
    """RFC 7518 §3.3 (RS256: RSASSA-PKCS1-v1_5 with SHA-256) and §3.4 (ES256: ECDSA P-256
    with SHA-256, the signature as R || S of 32 bytes each)."""
    try:
        if key.algorithm == "ES256":
            if len(signature) != 64:
                return False
            der = encode_dss_signature(int.from_bytes(signature[:32]), int.from_bytes(signature[32:]))
            key.key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            key.key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise Unauthenticated(f"the token has no {name} claim")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Unauthenticated(f"the {name} claim is not a number of seconds")
    return float(value)


def _string(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and name == CLAIM_SECURITY_LEVEL:
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise Unauthenticated(f"the {name} claim is not a non-empty string")
    return value


def _pid(value: str | None) -> str | None:
    if value is not None and check_fodselsnummer(value) and check_d_nummer(value):
        raise Unauthenticated(f"the {CLAIM_PID} claim is not a fødselsnummer or D-nummer")
    return value


def _digits(value: str | None, name: str, check: Callable[[str], str | None] | None = None) -> str | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit():
        raise Unauthenticated(f"the {name} claim is not a number")
    if check is not None and (reason := check(value)):
        raise Unauthenticated(f"the {name} claim is not valid: {reason}")
    return value


def _scope_items(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(s for v in value for s in v.split())
    raise Unauthenticated("the scope claim is not a space-separated string or a list of strings")


@dataclass(slots=True)
class TokenValidator:
    keys: KeySource
    issuer: str
    audience: str
    leeway: float = 60
    max_lifetime: float = 24 * 3600
    clock: Callable[[], float] = time.time
    cache_size: int = CACHE_SIZE
    # token text -> (the key that verified it, its claims, the principal). A hit still runs
    # the time checks and needs the same key object in the current key set, so expiry,
    # nbf and key rotation (a key dropped from the JWKS) hold as for a new token.
    _verified: OrderedDict[str, tuple[VerificationKey, Mapping[str, Any], Principal]] = field(
        default_factory=OrderedDict
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def may_block(self) -> bool:
        return self.keys.may_block

    def validate(self, token: str) -> Principal:
        """The principal of a valid ``token``; :class:`Unauthenticated` otherwise
        (:class:`~helseflyt.access.jwks.KeysUnavailable` if no key set can be had)."""
        try:
            return self._cached(token) or self._validate(token)
        except (Unauthenticated, KeysUnavailable):
            raise
        except Exception as exc:  # a malformed token must never become a 500
            log.info("token rejected by an unexpected error: %s", type(exc).__name__)
            raise Unauthenticated("the token cannot be decoded") from None

    def _cached(self, token: str) -> Principal | None:
        with self._lock:
            found = self._verified.get(token)
            if found is not None:
                self._verified.move_to_end(token)  # least recently used goes first
        if found is None:
            return None
        key, claims, principal = found
        if self.keys.find(key.kid, key.algorithm) is not key:
            with self._lock:
                self._verified.pop(token, None)
            return None
        self._check_times(claims)
        return principal

    def _remember(self, token: str, key: VerificationKey, claims: Mapping[str, Any], who: Principal) -> None:
        if self.cache_size <= 0:
            return
        with self._lock:
            self._verified[token] = (key, claims, who)
            while len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)

    def _validate(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthenticated(f"the token is longer than {MAX_TOKEN_BYTES} bytes")
        if not _COMPACT.fullmatch(token):
            raise Unauthenticated("the token is not a signed JWT (three base64url parts)")
        head, body, sig = token.split(".")
        try:
            header = _segment(head)
        except ValueError:
            raise Unauthenticated("the token cannot be decoded (not base64url-encoded JSON)") from None
        if not isinstance(header, dict):
            raise Unauthenticated("the token cannot be decoded (the header is not a JSON object)")
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise Unauthenticated(f"algorithm {_short(alg)} is not accepted (only {', '.join(ALGORITHMS)})")
        if "crit" in header:
            raise Unauthenticated("the token header has critical extensions (crit), which are not supported")
        if header.get("typ") not in _TYPES:
            raise Unauthenticated(f"token type {_short(header.get('typ'))} is not an access token")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated("the kid header is not a string")
        key = self.keys.find(kid, alg)
        if key is None:
            which = f"kid {_short(kid)}" if kid is not None else "no kid"
            raise Unauthenticated(f"no {alg} key of the issuer matches the token ({which})")
        try:
            signature = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
        except ValueError:
            raise Unauthenticated("the token cannot be decoded") from None
        if not _verify(key, f"{head}.{body}".encode("ascii"), signature):
            raise Unauthenticated("the token signature does not verify")
        try:
            claims = _segment(body)
        except ValueError:
            raise Unauthenticated("the token cannot be decoded") from None
        if not isinstance(claims, dict):
            raise Unauthenticated("the token payload is not a JSON object")
        self._check_issuer_audience(claims)
        expires = self._check_times(claims)
        principal = self._principal(claims, expires)
        self._remember(token, key, claims, principal)
        return principal

    def _check_issuer_audience(self, claims: Mapping[str, Any]) -> None:
        iss = claims.get("iss")
        if iss is None:
            raise Unauthenticated("the token has no iss claim")
        if iss != self.issuer:
            raise Unauthenticated(f"issuer {_short(iss)} is not the trusted issuer")
        aud = claims.get("aud")
        if aud is None:
            raise Unauthenticated("the token has no aud claim")
        if isinstance(aud, list):
            if len(aud) != 1:
                raise Unauthenticated(f"the token has {len(aud)} audiences; exactly one is accepted")
            aud = aud[0]
        if aud != self.audience:
            raise Unauthenticated(f"audience {_short(aud)} is not this server")

    def _check_times(self, claims: Mapping[str, Any]) -> float:
        now = self.clock()
        exp = _number(claims, "exp", required=True)
        iat = _number(claims, "iat", required=True)
        nbf = _number(claims, "nbf", required=False)
        assert exp is not None and iat is not None
        if now >= exp + self.leeway:
            raise Unauthenticated("the token has expired")
        if nbf is not None and now + self.leeway < nbf:
            raise Unauthenticated("the token is not valid yet (nbf)")
        if now + self.leeway < iat:
            raise Unauthenticated("the token was issued in the future (iat)")
        if exp - iat > self.max_lifetime:
            raise Unauthenticated(f"the token lives longer than {int(self.max_lifetime)} seconds")
        if exp <= iat:
            raise Unauthenticated("the token expires before it was issued")
        return exp

    def _principal(self, claims: Mapping[str, Any], exp: float) -> Principal:
        subject = _string(claims, "sub")
        client_id = _string(claims, "client_id")
        if subject is None and client_id is None:
            raise Unauthenticated("the token names nobody (no sub or client_id claim)")
        pid = _pid(_string(claims, CLAIM_PID))
        hpr = _digits(_string(claims, CLAIM_HPR), CLAIM_HPR)
        parent = _digits(_string(claims, CLAIM_ORGNR_PARENT), CLAIM_ORGNR_PARENT, check_organisasjonsnummer)
        child = _digits(_string(claims, CLAIM_ORGNR_CHILD), CLAIM_ORGNR_CHILD, check_organisasjonsnummer)
        level = _digits(_string(claims, CLAIM_SECURITY_LEVEL), CLAIM_SECURITY_LEVEL)
        items = _scope_items(claims.get("scope"))
        granted = smart.parse(items)
        jti = claims.get("jti")
        return Principal(
            role=role_of(pid, hpr, granted),
            subject=subject,
            client_id=client_id,
            pid=pid,
            hpr=hpr,
            orgnr_parent=parent,
            orgnr_child=child,
            security_level=level,
            scopes=granted,
            scope_text=items,
            token_id=jti if isinstance(jti, str) else None,
            issuer=self.issuer,
            expires_at=datetime.fromtimestamp(exp, UTC),
            claims=MappingProxyType(dict(claims)),
        )
