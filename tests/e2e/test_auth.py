"""Authentication end to end, through the ASGI app on every backend: 401 / 403 / 200 by
scope and role, public endpoints, the local issuer (``helseflyt token``) and a JWKS file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from helseflyt.access import AccessConfigError, configure
from helseflyt.access.testing import AUDIENCE, FNR, ISSUER, TestIssuer
from helseflyt.cli import app as cli
from helseflyt.http.testing import Client
from helseflyt.settings import Settings

FHIR_JSON = {"content-type": "application/fhir+json"}
FNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture
def jwks_settings(tmp_path: Path, issuer: TestIssuer) -> Settings:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(issuer.jwks()))
    return Settings(
        data_dir=str(tmp_path / "data"),
        auth="jwks",
        auth_jwks=str(path),
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
    )


@pytest.fixture
def api(make_client: Callable[..., Client], jwks_settings: Settings) -> Client:
    return make_client(settings=jwks_settings)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def as_(issuer: TestIssuer, role: str, scope: str | None = None, **claims: object) -> dict[str, str]:
    extra = {"scope": scope} if scope is not None else {}
    return bearer(issuer.token(issuer.claims(role, **extra, **claims)))


def assert_401(response, invalid: bool = True) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="helseflyt"')
    assert ('error="invalid_token"' in challenge) is invalid
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == "login"


def test_public_endpoints(api: Client) -> None:
    meta = api.get("metadata")
    assert meta.status_code == 200
    security = meta.json()["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    assert "Open development mode" not in meta.text
    smart = api.get("http://testserver/.well-known/smart-configuration")
    at_base = api.get("http://testserver/fhir/.well-known/smart-configuration")
    assert at_base.status_code == 200 and at_base.json() == smart.json()
    assert smart.status_code == 200 and smart.json()["issuer"] == ISSUER
    assert "permission-v2" in smart.json()["capabilities"]
    assert "token_endpoint" not in smart.json()
    assert (
        api.get("http://testserver/.well-known/jwks.json").status_code == 404
    )  # only the local issuer has one


def test_missing_token(api: Client) -> None:
    assert_401(api.get("Patient"), invalid=False)
    assert_401(api.get("Patient/1"), invalid=False)
    assert_401(api.post("Patient", json={"resourceType": "Patient"}, headers=FHIR_JSON), invalid=False)
    assert_401(
        api.post("", json={"resourceType": "Bundle", "type": "batch"}, headers=FHIR_JSON), invalid=False
    )
    assert_401(api.get("http://testserver/somewhere-else"), invalid=False)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer a b",
        "Bearer garbage",
        "bearer x.y.z",
        "Bearer " + "A" * 40000,
    ],
)
def test_malformed_authorization(api: Client, header: str) -> None:
    response = api.get("Patient", headers={"authorization": header})
    assert_401(response, invalid=not header.startswith("Basic"))


def test_two_tokens_and_token_in_url(api: Client, issuer: TestIssuer) -> None:
    token = issuer.token(issuer.claims("system"))
    response = api.get(
        "Patient", headers=[("authorization", f"Bearer {token}"), ("authorization", f"Bearer {token}")]
    )
    assert_401(response)
    assert_401(api.get(f"Patient?access_token={token}"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=200))
def test_fuzzed_authorization_is_401_never_500(api: Client, value: str) -> None:
    response = api.get("Observation", headers={"authorization": value.encode("latin-1")})
    assert response.status_code == 401


def test_expired_wrong_audience_and_alg_none(api: Client, issuer: TestIssuer) -> None:
    import time

    assert_401(api.get("Patient", headers=as_(issuer, "system", now=time.time() - 7200)))
    assert_401(api.get("Patient", headers=as_(issuer, "system", aud="someone-else")))
    from helseflyt.access.testing import b64

    unsigned = f"{b64({'alg': 'none'})}.{b64(issuer.claims('system'))}."
    assert_401(api.get("Patient", headers=bearer(unsigned)))
    assert_401(api.get("Patient", headers=bearer(TestIssuer().token(TestIssuer().claims("system")))))


def test_scopes_decide_per_type_and_interaction(api: Client, issuer: TestIssuer) -> None:
    writer = as_(issuer, "system", "system/Patient.cruds system/Observation.rs")
    created = api.post(
        "Patient", json={"resourceType": "Patient", "active": True}, headers={**writer, **FHIR_JSON}
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    assert api.get(f"Patient/{pid}", headers=writer).status_code == 200
    reader = as_(issuer, "system", "system/Observation.rs")
    denied = api.get(f"Patient/{pid}", headers=reader)
    assert denied.status_code == 403
    assert denied.json()["issue"][0]["code"] == "forbidden"
    assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]
    assert (
        api.post(
            "Observation", json={"resourceType": "Observation"}, headers={**reader, **FHIR_JSON}
        ).status_code
        == 403
    )
    assert api.delete(f"Patient/{pid}", headers=reader).status_code == 403
    assert api.get(f"Patient/{pid}/_history", headers=reader).status_code == 403
    assert api.get("_history", headers=reader).status_code == 403  # system history needs every type
    assert api.get(f"Patient/{pid}/_history", headers=writer).status_code == 200


def test_roles(api: Client, issuer: TestIssuer) -> None:
    practitioner = as_(issuer, "practitioner")
    own = {"resourceType": "Patient", "identifier": [{"system": FNR_SYSTEM, "value": FNR}]}
    created = api.post("Patient", json=own, headers={**practitioner, **FHIR_JSON})
    assert created.status_code == 201
    pid = created.json()["id"]
    other = api.post("Patient", json={"resourceType": "Patient"}, headers={**practitioner, **FHIR_JSON})
    patient = as_(issuer, "patient")  # patient/*.rs: reads in their own compartment (docs/access.md)
    assert api.get(f"Patient/{pid}", headers=patient).status_code == 200
    assert api.get(f"Patient/{other.json()['id']}", headers=patient).status_code == 404
    assert (
        api.put(
            f"Patient/{pid}", json={"resourceType": "Patient", "id": pid}, headers={**patient, **FHIR_JSON}
        ).status_code
        == 403
    )
    # a person's token with system scopes gets nothing from them
    assert api.get(f"Patient/{pid}", headers=as_(issuer, "patient", "system/*.cruds")).status_code == 403
    # a person needs security level 4
    low = as_(issuer, "practitioner", **{"helseid://claims/identity/security_level": "3"})
    response = api.get(f"Patient/{pid}", headers=low)
    assert response.status_code == 403 and "security level 4" in response.text


def test_transaction_entries_are_checked(api: Client, issuer: TestIssuer) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"request": {"method": "POST", "url": "Patient"}, "resource": {"resourceType": "Patient"}},
            {
                "request": {"method": "POST", "url": "Observation"},
                "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}},
            },
        ],
    }
    only_patients = as_(issuer, "system", "system/Patient.cruds")
    denied = api.post("", json=bundle, headers={**only_patients, **FHIR_JSON})
    assert denied.status_code == 403 and "create on Observation" in denied.text
    both = as_(issuer, "system", "system/Patient.c system/Observation.c")
    assert api.post("", json=bundle, headers={**both, **FHIR_JSON}).status_code == 200


def test_search_include_needs_the_included_type(api: Client, issuer: TestIssuer) -> None:
    observations = as_(issuer, "system", "system/Observation.rs")
    response = api.get("Observation?_include=Observation:subject:Patient", headers=observations)
    assert response.status_code == 403 and "search on Patient" in response.text
    form = {**observations, "content-type": "application/x-www-form-urlencoded"}
    response = api.post("Observation/_search", content=b"_revinclude=Provenance:target", headers=form)
    assert response.status_code == 403 and "Provenance" in response.text


def test_local_issuer_round_trip(make_client: Callable[..., Client], tmp_path: Path) -> None:
    data = str(tmp_path / "local")
    runner = CliRunner()
    result = runner.invoke(
        cli, ["token", "--role", "system", "--scope", "system/*.cruds", "--data-dir", data]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    key = Path(data) / "local-issuer-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    client = make_client(settings=Settings(data_dir=data, auth="local"))
    jwks = client.get("http://testserver/.well-known/jwks.json")
    assert (
        jwks.status_code == 200
        and jwks.json()["keys"][0]["alg"] == "ES256"
        and "d" not in jwks.json()["keys"][0]
    )
    created = client.post("Patient", json={"resourceType": "Patient"}, headers={**bearer(token), **FHIR_JSON})
    assert created.status_code == 201, created.text
    assert_401(client.get("Patient"), invalid=False)
    result = runner.invoke(
        cli,
        ["token", "--role", "practitioner", "--hpr", "565501879", "--org", "974703475", "--data-dir", data],
    )
    assert result.exit_code == 0, result.output
    doctor = bearer(result.output.strip())
    no_basis = client.get(f"Patient/{created.json()['id']}", headers=doctor)  # no care relationship
    assert no_basis.status_code == 403 and "no basis" in no_basis.text
    declared = {**doctor, "nhn-access-basis": "SAMTYKKE"}
    assert client.get(f"Patient/{created.json()['id']}", headers=declared).status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "practitioner", "--hpr", "123", "--org", "974703475"], "--hpr 123: check digit"),
        (["--role", "practitioner", "--hpr", "565501879"], "needs --org"),
        (["--role", "patient"], "needs --fnr"),
        (["--role", "patient", "--fnr", "12345678901"], "--fnr 12345678901"),
        (["--role", "system", "--scope", "user/*.rs"], "does not count for a system"),
        (["--role", "nurse"], "not one of"),
        (["--role", "system", "--minutes", "0"], "--minutes"),
    ],
)
def test_token_command_says_what_is_wrong(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["token", *args, "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output


def test_open_mode_has_no_security_service(client: Client) -> None:
    meta = client.get("metadata").json()
    assert (
        "service" not in meta["rest"][0]["security"]
        and "Open development mode" in meta["rest"][0]["documentation"]
    )
    assert client.get("http://testserver/.well-known/smart-configuration").status_code == 404


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"auth": "jwks"}, "--auth-jwks (HELSEFLYT_AUTH_JWKS) and --auth-issuer"),
        ({"auth": "jwks", "auth_jwks": "x.json", "auth_issuer": "i"}, "--auth jwks needs --auth-audience"),
        (
            {"auth": "jwks", "auth_jwks": "nope.json", "auth_issuer": "i", "auth_audience": "a"},
            "does not exist",
        ),
        (
            {
                "auth": "jwks",
                "auth_jwks": "http://example.org/jwks",
                "auth_issuer": "i",
                "auth_audience": "a",
            },
            "https",
        ),
        ({"auth": "ldap"}, "not one of"),
        ({"auth_jwks": "x.json"}, "--auth is none"),
    ],
)
def test_configuration_errors_name_the_option(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(AccessConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        configure(Settings(**overrides))


def test_serve_checks(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--auth", "jwks"])
    assert result.exit_code == 2 and "--auth-jwks" in result.output
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "access control" in result.output
