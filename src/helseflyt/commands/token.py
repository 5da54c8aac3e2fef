"""``helseflyt token``: print a bearer token signed by the local issuer (``--auth local``).

It reads the same settings as ``helseflyt serve`` (data folder, host, port, base URL,
issuer, audience), so a token it prints is one that server accepts. The signing key
is created in the data folder if it is not there yet.
"""

from __future__ import annotations

from typing import Annotated

import typer

Role = Annotated[str, typer.Option(help="practitioner, patient or system.")]


def token(
    role: Role,
    fnr: Annotated[str | None, typer.Option(help="The person's fødselsnummer or D-nummer (pid).")] = None,
    hpr: Annotated[str | None, typer.Option(help="HPR-nummer (practitioner).")] = None,
    org: Annotated[
        str | None, typer.Option(help="Organisasjonsnummer of the legal entity (orgnr_parent).")
    ] = None,
    child_org: Annotated[
        str | None, typer.Option(help="Organisasjonsnummer of the unit within it (orgnr_child).")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help="SMART scope(s), repeatable or space-separated (default: by role).", show_default=False
        ),
    ] = None,
    minutes: Annotated[int, typer.Option(help="Lifetime in minutes (at most 1440).")] = 60,
    data_dir: Annotated[
        str | None, typer.Option(help="Data folder holding the key [env: HELSEFLYT_DATA_DIR]")
    ] = None,
    host: Annotated[str | None, typer.Option(help="The server's host, for the issuer URL.")] = None,
    port: Annotated[int | None, typer.Option(help="The server's port, for the issuer URL.")] = None,
    auth_issuer: Annotated[str | None, typer.Option(help="Issuer (default: the server's URL).")] = None,
    auth_audience: Annotated[str | None, typer.Option(help="Audience (default: the FHIR base URL).")] = None,
) -> None:
    """Print a token from the local issuer: --role practitioner --hpr HPR --org ORGNR,
    --role patient --fnr FNR, or --role system [--scope system/*.rs]."""
    from helseflyt.access import AccessConfigError, local_issuer
    from helseflyt.access.local_issuer import LocalIssuerError, TokenRequest, check_request
    from helseflyt.settings import Settings

    settings = Settings.load(
        data_dir=data_dir, host=host, port=port, auth_issuer=auth_issuer, auth_audience=auth_audience
    )
    if (settings.auth or "none").strip().lower() == "jwks":
        _fail("the server is configured with --auth jwks (an external issuer); local tokens would be refused")
    scopes = tuple(s for item in scope or () for s in item.split())
    request = TokenRequest(
        role=role, fnr=fnr, hpr=hpr, org=org, child_org=child_org, scopes=scopes, minutes=minutes
    )
    problems = check_request(request)
    if problems:
        _fail("\n  ".join(problems))
    try:
        issuer = local_issuer(settings)
        typer.echo(issuer.issue(request))
    except (AccessConfigError, LocalIssuerError) as exc:
        _fail(str(exc))


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)
