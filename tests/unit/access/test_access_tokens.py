"""Token validation: what is accepted, and every way a token is refused (always 401)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from helseflyt.access.errors import Unauthenticated
from helseflyt.access.jwks import KeySet, StaticKeys
from helseflyt.access.principal import CLAIM_HPR, CLAIM_ORGNR_PARENT, CLAIM_PID, CLAIM_SECURITY_LEVEL
from helseflyt.access.testing import AUDIENCE, FNR, HPR, ISSUER, ORGNR, ORGNR_CHILD, TestIssuer, b64
from helseflyt.access.tokens import TokenValidator

NOW = 1_700_000_000.0


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(scope="module")
def validator(issuer: TestIssuer) -> TokenValidator:
    keys = StaticKeys(KeySet.from_jwks(issuer.jwks()))
    return TokenValidator(keys, ISSUER, AUDIENCE, clock=lambda: NOW)


def reject(validator: TokenValidator, token: str, match: str) -> None:
    with pytest.raises(Unauthenticated, match=match) as info:
        validator.validate(token)
    assert info.value.status == 401
    assert info.value.headers["WWW-Authenticate"].startswith(
        'Bearer realm="helseflyt", error="invalid_token"'
    )


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_practitioner_token(issuer: TestIssuer, validator: TokenValidator, alg: str) -> None:
    p = validator.validate(issuer.token(issuer.claims("practitioner", NOW), alg))
    assert (p.role, p.pid, p.hpr, p.orgnr_parent, p.orgnr_child) == (
        "practitioner",
        FNR,
        HPR,
        ORGNR,
        ORGNR_CHILD,
    )
    assert p.security_level == "4" and p.token_id == "jti-1" and p.issuer == ISSUER
    assert p.allows("Observation", "delete") and p.allows("Observation", "read") is not False
    assert p.claims[CLAIM_HPR] == HPR
    assert "openid" in p.scope_text


def test_patient_and_system_tokens(issuer: TestIssuer, validator: TokenValidator) -> None:
    patient = validator.validate(issuer.token(issuer.claims("patient", NOW)))
    assert patient.role == "patient" and patient.hpr is None
    assert patient.allows("Observation", "read") and not patient.allows("Observation", "create")
    system = validator.validate(issuer.token(issuer.claims("system", NOW)))
    assert system.role == "system" and system.pid is None and not system.is_person
    assert system.allows("Patient", "search")


def test_role_limits_the_scopes_that_count(issuer: TestIssuer, validator: TokenValidator) -> None:
    # a person's token with system/ scopes gets nothing from them; a system token nothing from user/
    p = validator.validate(
        issuer.token(issuer.claims("patient", NOW, scope="system/*.cruds patient/Patient.r"))
    )
    assert p.role == "patient" and not p.allows("Observation", "read") and p.allows("Patient", "read")
    s = validator.validate(issuer.token(issuer.claims("system", NOW, scope="user/*.cruds")))
    assert s.role == "system" and not s.allows("Patient", "read")


def test_person_without_hpr_with_user_scopes_is_practitioner(
    issuer: TestIssuer, validator: TokenValidator
) -> None:
    p = validator.validate(issuer.token(issuer.claims("patient", NOW, scope="user/*.rs")))
    assert p.role == "practitioner" and p.hpr is None


def test_scope_list_and_one_element_audience(issuer: TestIssuer, validator: TokenValidator) -> None:
    p = validator.validate(issuer.token(issuer.claims("system", NOW, scope=["system/*.rs"], aud=[AUDIENCE])))
    assert p.allows("Patient", "read")


def test_leeway(issuer: TestIssuer, validator: TokenValidator) -> None:
    validator.validate(issuer.token(issuer.claims("system", NOW - 630)))  # expired 30 s ago: within leeway
    validator.validate(issuer.token(issuer.claims("system", NOW + 30)))  # issued 30 s ahead


def test_expired(issuer: TestIssuer, validator: TokenValidator) -> None:
    reject(validator, issuer.token(issuer.claims("system", NOW - 3600)), "expired")


def test_not_yet_valid(issuer: TestIssuer, validator: TokenValidator) -> None:
    reject(validator, issuer.token(issuer.claims("system", NOW, nbf=int(NOW) + 300)), "not valid yet")
    reject(validator, issuer.token(issuer.claims("system", NOW + 300)), r"not valid yet|future")


def test_issued_in_future(issuer: TestIssuer, validator: TokenValidator) -> None:
    reject(validator, issuer.token(issuer.claims("system", NOW, iat=int(NOW) + 300, nbf=None)), "future")


def test_too_long_lived(issuer: TestIssuer, validator: TokenValidator) -> None:
    reject(validator, issuer.token(issuer.claims("system", NOW, exp=int(NOW) + 3 * 86400)), "longer than")


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud"])
def test_missing_claim(issuer: TestIssuer, validator: TokenValidator, claim: str) -> None:
    reject(validator, issuer.token(issuer.claims("system", NOW, **{claim: None})), f"no {claim}")


def test_nobody(issuer: TestIssuer, validator: TokenValidator) -> None:
    reject(validator, issuer.token(issuer.claims("system", NOW, sub=None, client_id=None)), "names nobody")


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"exp": "tomorrow"}, "exp claim is not a number"),
        ({"exp": True}, "exp claim is not a number"),
        ({"iat": [1]}, "iat claim is not a number"),
        ({"sub": 42}, "sub claim"),
        ({CLAIM_PID: "12345678901"}, "fødselsnummer"),
        ({CLAIM_PID: 13116900216}, "pid claim"),
        ({CLAIM_HPR: "12a"}, "hpr_number claim is not a number"),
        ({CLAIM_ORGNR_PARENT: "974703471"}, "orgnr_parent claim is not valid"),
        ({CLAIM_SECURITY_LEVEL: "high"}, "security_level claim is not a number"),
        ({"scope": 7}, "scope claim"),
        ({"scope": ["user/*.rs", 7]}, "scope claim"),
    ],
)
def test_malformed_claims(
    issuer: TestIssuer, validator: TokenValidator, overrides: dict[str, Any], match: str
) -> None:
    reject(validator, issuer.token(issuer.claims("practitioner", NOW, **overrides)), match)


def test_wrong_issuer(issuer: TestIssuer, validator: TokenValidator) -> None:
    reject(
        validator,
        issuer.token(issuer.claims("system", NOW, iss="https://evil.example")),
        "not the trusted issuer",
    )


def test_wrong_audience(issuer: TestIssuer, validator: TokenValidator) -> None:
    reject(validator, issuer.token(issuer.claims("system", NOW, aud="other-api")), "not this server")


def test_several_audiences(issuer: TestIssuer, validator: TokenValidator) -> None:
    claims = issuer.claims("system", NOW, aud=[AUDIENCE, "other-api"])
    reject(validator, issuer.token(claims), "2 audiences")
    reject(validator, issuer.token(issuer.claims("system", NOW, aud=[])), "0 audiences")


def test_wrong_signature(issuer: TestIssuer, validator: TokenValidator) -> None:
    other = TestIssuer()
    reject(validator, other.token(other.claims("system", NOW)), "signature does not verify")
    reject(validator, other.token(other.claims("system", NOW), "RS256"), "signature does not verify")


def test_tampered_payload(issuer: TestIssuer, validator: TokenValidator) -> None:
    header, _, signature = issuer.token(issuer.claims("patient", NOW)).split(".")
    forged = b64(issuer.claims("practitioner", NOW))
    reject(validator, f"{header}.{forged}.{signature}", "signature does not verify")


def test_alg_none(issuer: TestIssuer, validator: TokenValidator) -> None:
    claims = issuer.claims("system", NOW)
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    reject(validator, unsigned, "not a signed JWT")
    reject(validator, f"{b64({'alg': 'none'})}.{b64(claims)}.{b64(b'x')}", "algorithm 'none'")
    reject(validator, f"{b64({'alg': 'None'})}.{b64(claims)}.{b64(b'x')}", "not accepted")


def test_hs256_with_public_key_as_secret(issuer: TestIssuer, validator: TokenValidator) -> None:
    # the classic confusion attack: sign with HMAC, using the verifier's public key as the secret
    pem = issuer.ec.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    ec_jwk = json.dumps(issuer.jwks()["keys"][1]).encode()
    for secret in (pem, ec_jwk):
        signing_input = f"{b64({'alg': 'HS256', 'kid': 'ec-1'})}.{b64(issuer.claims('system', NOW))}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        reject(validator, f"{signing_input}.{b64(mac)}", "algorithm 'HS256' is not accepted")
    token = jwt.encode(issuer.claims("system", NOW), b"ec-1" * 16, algorithm="HS512", headers={"kid": "ec-1"})
    reject(validator, token, "algorithm 'HS512' is not accepted")


def test_alg_and_key_mismatch(issuer: TestIssuer, validator: TokenValidator) -> None:
    # an RS256 token naming the EC key, an ES256 token naming the RSA key
    reject(validator, issuer.token(issuer.claims("system", NOW), "RS256", kid="ec-1"), "no RS256 key")
    reject(validator, issuer.token(issuer.claims("system", NOW), "ES256", kid="rsa-1"), "no ES256 key")
    reject(validator, issuer.token(issuer.claims("system", NOW), "PS256"), "not accepted")


def test_unknown_kid(issuer: TestIssuer, validator: TokenValidator) -> None:
    reject(validator, issuer.token(issuer.claims("system", NOW), kid="rotated-away"), "kid 'rotated-away'")


def test_no_kid_uses_the_only_key_of_its_algorithm(issuer: TestIssuer, validator: TokenValidator) -> None:
    assert validator.validate(issuer.token(issuer.claims("system", NOW), kid=None)).role == "system"


def test_header_checks(issuer: TestIssuer, validator: TokenValidator) -> None:
    claims = issuer.claims("system", NOW)
    header = {"alg": "ES256", "kid": "ec-1"}
    assert validator.validate(issuer.raw(header, claims)).role == "system"
    reject(validator, issuer.raw({**header, "crit": ["exp"]}, claims), "crit|cannot be decoded")
    reject(validator, issuer.raw({**header, "typ": "dpop+jwt"}, claims), "not an access token")
    reject(
        validator, issuer.raw({**header, "kid": 7}, claims), "kid header is not a string|cannot be decoded"
    )
    assert validator.validate(issuer.token(claims, typ="at+jwt")).role == "system"


def test_jwe_and_oversize(issuer: TestIssuer, validator: TokenValidator) -> None:
    reject(validator, "a.b.c.d.e", "not a signed JWT")
    reject(validator, "x" * 20000, "longer than")
    reject(validator, "", "not a signed JWT")


def test_header_not_json(validator: TokenValidator) -> None:
    reject(validator, f"{b64(b'not json')}.{b64(b'{}')}.{b64(b'sig')}", "cannot be decoded")
    reject(validator, f"{b64(b'[1]')}.{b64(b'{}')}.{b64(b'sig')}", "cannot be decoded")


def test_payload_not_an_object(issuer: TestIssuer, validator: TokenValidator) -> None:
    header = b64({"alg": "ES256", "kid": "ec-1"})
    body = base64.urlsafe_b64encode(b"[1,2]").rstrip(b"=").decode()
    reject(validator, f"{header}.{body}.{b64(b'x' * 64)}", "signature|cannot be decoded|not a JSON object")


_B64 = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=80)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        st.builds(lambda a, b, c: f"{a}.{b}.{c}", _B64, _B64, _B64),
        st.builds(
            lambda h, p: f"{b64(h)}.{b64(p)}.{b64(b'sig')}",
            st.dictionaries(
                st.sampled_from(["alg", "kid", "typ", "crit", "jwk"]),
                st.one_of(st.text(), st.integers(), st.none()),
            ),
            st.dictionaries(
                st.text(max_size=10), st.one_of(st.text(), st.integers(), st.floats(), st.none())
            ),
        ),
    )
)
def test_fuzz_never_crashes(validator: TokenValidator, token: str) -> None:
    with pytest.raises(Unauthenticated):
        validator.validate(token)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["iss", "aud", "exp", "iat", "nbf", "sub", "scope", CLAIM_PID, CLAIM_HPR]),
        st.one_of(
            st.text(max_size=20),
            st.integers(),
            st.floats(),
            st.booleans(),
            st.none(),
            st.lists(st.text(max_size=5), max_size=3),
        ),
    )
)
def test_fuzz_signed_claims_never_crash(
    issuer: TestIssuer, validator: TokenValidator, overrides: dict[str, Any]
) -> None:
    claims = issuer.claims("patient", NOW)
    claims.update(overrides)
    with contextlib.suppress(Unauthenticated):
        validator.validate(issuer.token({k: v for k, v in claims.items() if v is not None}))


def test_a_verified_token_is_reused_but_still_expires(issuer: TestIssuer) -> None:
    now = [NOW]
    keys = StaticKeys(KeySet.from_jwks(issuer.jwks()))
    validator = TokenValidator(keys, ISSUER, AUDIENCE, clock=lambda: now[0])
    token = issuer.token(issuer.claims("system", NOW))
    first = validator.validate(token)
    assert validator.validate(token) is first  # the same text: not verified again
    now[0] = NOW + 600 + 61  # past exp (issued + 600) and the leeway
    reject(validator, token, "expired")


def test_a_cached_token_needs_its_key_in_the_current_set(issuer: TestIssuer) -> None:
    jwks = issuer.jwks()
    keys = StaticKeys(KeySet.from_jwks(jwks))
    validator = TokenValidator(keys, ISSUER, AUDIENCE, clock=lambda: NOW)
    token = issuer.token(issuer.claims("system", NOW))  # ES256, kid ec-1
    validator.validate(token)
    keys.keys = KeySet.from_jwks({"keys": [k for k in jwks["keys"] if k["kid"] != "ec-1"]})  # rotated out
    reject(validator, token, "no ES256 key")


def test_the_cache_is_bounded(issuer: TestIssuer) -> None:
    keys = StaticKeys(KeySet.from_jwks(issuer.jwks()))
    validator = TokenValidator(keys, ISSUER, AUDIENCE, clock=lambda: NOW, cache_size=2)
    tokens = [issuer.token({**issuer.claims("system", NOW), "jti": str(i)}) for i in range(3)]
    principals = [validator.validate(t) for t in tokens[:2]]
    assert validator.validate(tokens[0]) is principals[0]  # used again: now the most recent
    principals.append(validator.validate(tokens[2]))  # drops tokens[1], the least recently used
    assert len(validator._verified) == 2
    assert validator.validate(tokens[1]) is not principals[1]  # verified anew
    assert validator.validate(tokens[2]) is principals[2]
