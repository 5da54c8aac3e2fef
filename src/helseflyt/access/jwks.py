"""Verification keys: a JSON Web Key Set (RFC 7517) from a dict, a file or a URL.

Only signature keys for RS256 (RSA, at least 2048 bits) and ES256 (EC P-256) are
kept; others are skipped with a log line, and private members of a key are dropped.

Sources:

* :class:`StaticKeys`: a set given in code (the local issuer, tests);
* :class:`FileKeys`: a file, read again when its modification time changes;
* :class:`RemoteKeys`: an ``https`` URL (``http`` only for a loopback host), fetched at
  most once per ``refresh_seconds`` (default 10 minutes) and, for a ``kid`` it does not
  know (key rotation), at most once per ``min_refetch_seconds`` (default 60 s), so that
  tokens with made-up key ids cannot make the server hammer the issuer. Redirects are
  not followed and a document over 1 MiB is refused. ``find`` may block on the network:
  :attr:`KeySource.may_block` tells the middleware to call it from a worker thread.

Thread safety: sources may be called from several threads; a lock guards each
refresh, and readers see either the old or the new immutable :class:`KeySet`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = [
    "ALGORITHMS",
    "FileKeys",
    "KeySet",
    "KeySource",
    "KeysUnavailable",
    "RemoteKeys",
    "StaticKeys",
    "VerificationKey",
    "key_source",
]

log = logging.getLogger("helseflyt.access")

ALGORITHMS = ("RS256", "ES256")
MAX_DOCUMENT_BYTES = 1024 * 1024
_PUBLIC_MEMBERS = ("kty", "kid", "use", "alg", "crv", "x", "y", "n", "e")


class KeysUnavailable(Exception):
    """The key set could not be loaded (file missing, issuer unreachable, not a JWKS)."""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str | None
    algorithm: str  # RS256 | ES256
    key: Any  # a cryptography public key


@dataclass(frozen=True, slots=True)
class KeySet:
    keys: tuple[VerificationKey, ...]

    def find(self, kid: str | None, algorithm: str) -> VerificationKey | None:
        """The key for ``kid`` and ``algorithm``; without ``kid``, the only key for it."""
        if kid is None:
            candidates = [k for k in self.keys if k.algorithm == algorithm]
            return candidates[0] if len(candidates) == 1 else None
        for k in self.keys:
            if k.kid == kid:
                return k if k.algorithm == algorithm else None
        return None

    def has_kid(self, kid: str) -> bool:
        return any(k.kid == kid for k in self.keys)

    @classmethod
    def from_jwks(cls, document: Any, *, origin: str = "JWKS") -> KeySet:
        if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
            raise KeysUnavailable(f"{origin} is not a JSON Web Key Set (an object with a 'keys' array)")
        keys = []
        for i, jwk in enumerate(document["keys"]):
            try:
                keys.append(_verification_key(jwk))
            except ValueError as exc:
                log.warning("%s: key %d skipped: %s", origin, i, exc)
        if not keys:
            raise KeysUnavailable(f"{origin} has no usable RS256 or ES256 signature key")
        return cls(tuple(keys))


def _verification_key(jwk: Any) -> VerificationKey:
    if not isinstance(jwk, Mapping):
        raise ValueError("not a JSON object")
    if jwk.get("use", "sig") != "sig":
        raise ValueError(f"use {jwk.get('use')!r} is not 'sig'")
    kid = jwk.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise ValueError("kid is not a string")
    kty = jwk.get("kty")
    if kty == "RSA":
        algorithm = "RS256"
    elif kty == "EC" and jwk.get("crv") == "P-256":
        algorithm = "ES256"
    else:
        raise ValueError(f"kty {kty!r} / crv {jwk.get('crv')!r} is not RSA or EC P-256")
    if jwk.get("alg", algorithm) != algorithm:
        raise ValueError(f"alg {jwk.get('alg')!r} is not one of {', '.join(ALGORITHMS)} for kty {kty}")
    public = {k: jwk[k] for k in _PUBLIC_MEMBERS if k in jwk}
    public["alg"] = algorithm
    try:
        key = jwt.PyJWK(public, algorithm).key
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"cannot be loaded ({exc})") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ValueError(f"RSA key of {key.key_size} bits is too short (at least 2048)")
    elif not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not a public key")
    return VerificationKey(kid, algorithm, key)


class KeySource(Protocol):
    may_block: bool

    def find(self, kid: str | None, algorithm: str) -> VerificationKey | None: ...

    def check(self) -> None:
        """Load once now: raise :class:`KeysUnavailable` with a clear reason."""
        ...


class StaticKeys:
    may_block = False

    def __init__(self, keys: KeySet) -> None:
        self.keys = keys

    def find(self, kid: str | None, algorithm: str) -> VerificationKey | None:
        return self.keys.find(kid, algorithm)

    def check(self) -> None:
        pass


class FileKeys:
    may_block = False  # a local file read, only when it changed

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._loaded: tuple[float, KeySet] | None = None

    def _current(self) -> KeySet:
        try:
            mtime = self.path.stat().st_mtime
        except OSError as exc:
            raise KeysUnavailable(f"JWKS file {self.path}: {exc.strerror}") from None
        loaded = self._loaded
        if loaded is not None and loaded[0] == mtime:
            return loaded[1]
        with self._lock:
            try:
                document = json.loads(self.path.read_bytes()[: MAX_DOCUMENT_BYTES + 1])
            except (OSError, ValueError) as exc:
                raise KeysUnavailable(f"JWKS file {self.path} cannot be read as JSON: {exc}") from None
            keys = KeySet.from_jwks(document, origin=f"JWKS file {self.path}")
            self._loaded = (mtime, keys)
            return keys

    def find(self, kid: str | None, algorithm: str) -> VerificationKey | None:
        return self._current().find(kid, algorithm)

    def check(self) -> None:
        self._current()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _fetch(url: str, timeout: float) -> Any:
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with opener.open(request, timeout=timeout) as response:
            data = response.read(MAX_DOCUMENT_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise KeysUnavailable(f"JWKS {url} cannot be fetched: {exc}") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise KeysUnavailable(f"JWKS {url} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise KeysUnavailable(f"JWKS {url} is not JSON: {exc}") from None


class RemoteKeys:
    may_block = True

    def __init__(
        self,
        url: str,
        *,
        refresh_seconds: float = 600,
        min_refetch_seconds: float = 60,
        timeout: float = 5,
        fetch: Callable[[str, float], Any] = _fetch,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        check_url(url)
        self.url = url
        self.refresh_seconds = refresh_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self.timeout = timeout
        self._fetch = fetch
        self._now = monotonic
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")

    def _refresh(self, *, unless_newer_than: float) -> KeySet | None:
        with self._lock:
            if self._fetched_at > unless_newer_than and self._keys is not None:
                return self._keys  # another thread just did it
            self._fetched_at = self._now()
            try:
                self._keys = KeySet.from_jwks(self._fetch(self.url, self.timeout), origin=f"JWKS {self.url}")
            except KeysUnavailable as exc:
                log.error("%s", exc)
                if self._keys is None:
                    raise
            return self._keys

    def find(self, kid: str | None, algorithm: str) -> VerificationKey | None:
        now = self._now()
        keys = self._keys
        if keys is None or now - self._fetched_at > self.refresh_seconds:
            keys = self._refresh(unless_newer_than=now - self.refresh_seconds)
        elif kid is not None and not keys.has_kid(kid) and now - self._fetched_at > self.min_refetch_seconds:
            keys = self._refresh(unless_newer_than=now - self.min_refetch_seconds)
        assert keys is not None
        return keys.find(kid, algorithm)

    def check(self) -> None:
        self._refresh(unless_newer_than=float("inf"))


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return
        raise ValueError(f"JWKS URL {url} must use https (plain http only for a loopback address)")
    raise ValueError(f"JWKS {url!r} is neither an https URL nor an existing file")


def key_source(location: str) -> KeySource:
    """A file path or an ``https`` URL."""
    if "://" in location:
        return RemoteKeys(location)
    path = Path(os.path.expanduser(location))
    if not path.is_file():
        raise ValueError(f"JWKS file {location} does not exist")
    return FileKeys(path)
