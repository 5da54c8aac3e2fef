"""A test issuer: fresh RSA and EC keys, their JWKS, and tokens with any claims or header
(also broken ones), for the access tests and benchmarks. Not used by the server."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from helseflyt.access.principal import (
    CLAIM_HPR,
    CLAIM_ORGNR_CHILD,
    CLAIM_ORGNR_PARENT,
    CLAIM_PID,
    CLAIM_SECURITY_LEVEL,
)

__all__ = ["AUDIENCE", "FNR", "HPR", "ISSUER", "ORGNR", "ORGNR_CHILD", "TestIssuer", "b64"]

ISSUER = "https://helseid-sts.test.example"
AUDIENCE = "nhn:helseflyt"
FNR = "13116900216"
HPR = "565501879"
ORGNR = "974703475"
ORGNR_CHILD = "974589095"


def b64(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TestIssuer:
    __test__ = False  # not a pytest class

    def __init__(self, issuer: str = ISSUER, audience: str = AUDIENCE) -> None:
        self.issuer = issuer
        self.audience = audience
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key()))
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key()))
        return {
            "keys": [
                {**rsa_jwk, "kid": "rsa-1", "use": "sig", "alg": "RS256"},
                {**ec_jwk, "kid": "ec-1", "use": "sig", "alg": "ES256"},
            ]
        }

    def claims(
        self, role: str = "practitioner", now: float | None = None, **overrides: Any
    ) -> dict[str, Any]:
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": f"test-{role}",
            "client_id": "test-client",
            "iat": issued,
            "nbf": issued,
            "exp": issued + 600,
            "jti": "jti-1",
        }
        if role == "practitioner":
            claims.update(
                {
                    CLAIM_PID: FNR,
                    CLAIM_HPR: HPR,
                    CLAIM_SECURITY_LEVEL: "4",
                    CLAIM_ORGNR_PARENT: ORGNR,
                    CLAIM_ORGNR_CHILD: ORGNR_CHILD,
                    "scope": "openid user/*.cruds",
                }
            )
        elif role == "patient":
            claims.update({CLAIM_PID: FNR, CLAIM_SECURITY_LEVEL: "4", "scope": "openid patient/*.rs"})
        else:
            claims.update({CLAIM_ORGNR_PARENT: ORGNR, "scope": "system/*.rs"})
        for key, value in overrides.items():
            if value is None:
                claims.pop(key, None)
            else:
                claims[key] = value
        return claims

    def token(self, claims: dict[str, Any], alg: str = "ES256", kid: str | None = "", **header: Any) -> str:
        key = self.ec if alg == "ES256" else self.rsa
        if kid == "":
            kid = "ec-1" if alg == "ES256" else "rsa-1"
        headers = {**({"kid": kid} if kid is not None else {}), **header}
        payload = json.dumps(claims, separators=(",", ":")).encode()  # any claims, even invalid ones
        return jwt.PyJWS().encode(payload, key, algorithm=alg, headers=headers)

    def raw(self, header: dict[str, Any], claims: dict[str, Any], alg: str = "ES256") -> str:
        """Signed as given: no library checks on the header (``kid`` of any type, ``crit``)."""
        signing_input = f"{b64(header)}.{b64(claims)}".encode()
        algorithm = jwt.get_algorithm_by_name(alg)
        signature = algorithm.sign(signing_input, self.ec if alg == "ES256" else self.rsa)
        return f"{signing_input.decode()}.{b64(signature)}"
