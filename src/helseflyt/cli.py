"""The ``helseflyt`` command. Flags mirror ``helseflyt.settings.SETTINGS``."""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from helseflyt.commands.synth import demo, synth
from helseflyt.commands.token import token
from helseflyt.settings import SETTINGS, Settings, SettingsError

app = typer.Typer(
    help="Helseflyt: a FHIR R4 health-data sharing platform for Norway.",
    no_args_is_help=True,
    add_completion=False,
)

_HELP = {s.name: f"{s.help} [env: {s.env}]" for s in SETTINGS}
Host = Annotated[str | None, typer.Option(help=_HELP["host"], show_default="127.0.0.1")]
Port = Annotated[int | None, typer.Option(help=_HELP["port"], show_default="8080")]
Workers = Annotated[str | None, typer.Option(help=_HELP["workers"], show_default="1")]
Database = Annotated[str | None, typer.Option(help=_HELP["database"], show_default=False)]
DataDir = Annotated[str | None, typer.Option(help=_HELP["data_dir"], show_default="./helseflyt-data")]
Auth = Annotated[str | None, typer.Option(help=_HELP["auth"], show_default="none")]
AuthJwks = Annotated[str | None, typer.Option(help=_HELP["auth_jwks"], show_default=False)]
AuthIssuer = Annotated[str | None, typer.Option(help=_HELP["auth_issuer"], show_default=False)]
AuthAudience = Annotated[str | None, typer.Option(help=_HELP["auth_audience"], show_default=False)]
CareDays = Annotated[str | None, typer.Option(help=_HELP["access_care_days"], show_default="90")]
EmergencyHours = Annotated[str | None, typer.Option(help=_HELP["access_emergency_hours"], show_default="4")]
CareCache = Annotated[str | None, typer.Option(help=_HELP["access_care_cache_seconds"], show_default="60")]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None)
            )
        except OSError:
            return False


def fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


@app.command()
def serve(
    host: Host = None,
    port: Port = None,
    workers: Workers = None,
    database: Database = None,
    data_dir: DataDir = None,
    auth: Auth = None,
    auth_jwks: AuthJwks = None,
    auth_issuer: AuthIssuer = None,
    auth_audience: AuthAudience = None,
    access_care_days: CareDays = None,
    access_emergency_hours: EmergencyHours = None,
    access_care_cache_seconds: CareCache = None,
) -> None:
    """Serve FHIR R4 at http://HOST:PORT/fhir (default http://127.0.0.1:8080/fhir)."""
    try:
        settings = Settings.load(
            host=host,
            port=port,
            workers=workers,
            database=database,
            data_dir=data_dir,
            auth=auth,
            auth_jwks=auth_jwks,
            auth_issuer=auth_issuer,
            auth_audience=auth_audience,
            access_care_days=access_care_days,
            access_emergency_hours=access_emergency_hours,
            access_care_cache_seconds=access_care_cache_seconds,
        )
    except SettingsError as exc:
        fail(str(exc))
    open_mode = (settings.auth or "none").strip().lower() == "none"
    if open_mode and not is_loopback(settings.host):
        fail(
            f"refusing to listen on {settings.host}: access control is not configured "
            "(--auth none), so Helseflyt only serves the loopback address in open development mode. "
            "Use --host 127.0.0.1 (the default), or --auth jwks (or --auth local for a demo)."
        )
    import uvicorn

    from helseflyt.access import AccessConfigError
    from helseflyt.app import create_app
    from helseflyt.http.malloc import limit_arenas

    limit_arenas()  # before any thread allocates

    try:
        application = create_app(settings)
    except AccessConfigError as exc:
        fail(str(exc))
    access = application.state.access
    if open_mode:
        typer.secho(
            "Helseflyt is in OPEN DEVELOPMENT MODE: no access control, loopback only.",
            err=True,
            fg=typer.colors.YELLOW,
        )
    else:
        typer.echo(
            f"Access control: --auth {access.mode}, issuer {access.issuer}, audience {access.audience}",
            err=True,
        )
        if access.mode == "local":
            typer.secho(
                "The local issuer is for development and demos: get a token with `helseflyt token`.",
                err=True,
                fg=typer.colors.YELLOW,
            )
    typer.echo(f"FHIR R4 base: http://{settings.host}:{settings.port}/fhir", err=True)
    typer.echo(f"Database: {redact(settings.database_url)}", err=True)
    if settings.workers > 1:
        from helseflyt.http.workers import serve_workers

        typer.echo(f"Workers: {settings.workers} processes", err=True)
        serve_workers(settings)
        return
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
    )


def redact(url: str) -> str:
    """A database URL without its password, for logs."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        return f"{scheme}://{cred.split(':', 1)[0]}@{host}"
    return url


@app.command()
def load(
    paths: Annotated[list[Path], typer.Argument(help="Bundles, NDJSON files, folders, .tar.gz")],
    database: Database = None,
    data_dir: DataDir = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    defer_indexes: Annotated[
        bool | None,
        typer.Option(help="Build the search indexes once at the end (default: if the database is empty)."),
    ] = None,
) -> None:
    """Bulk-load FHIR resources into the configured database, validating every one."""
    for path in paths:
        if not path.exists():
            fail(f"{path}: no such file or folder")
    settings = Settings.load(database=database, data_dir=data_dir)
    from helseflyt.ingest import load as load_paths
    from helseflyt.search.index import index
    from helseflyt.storage import open_store

    store = open_store(settings.database_url, indexer=index)
    try:
        from helseflyt.search.custom import sync

        sync(store)  # custom SearchParameters in the store are indexed too
        report = load_paths(store, paths, progress=progress, defer_indexes=defer_indexes)
    finally:
        store.close()
    typer.echo(report.summary())
    if report.errors:
        raise typer.Exit(1)


@app.command()
def reindex(
    database: Database = None,
    data_dir: DataDir = None,
    type: Annotated[
        list[str] | None, typer.Option("--type", help="Only this resource type (repeatable).")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Re-index stored resources (after SearchParameters were installed or written)."""
    settings = Settings.load(database=database, data_dir=data_dir)
    from helseflyt.fhir.model import resource_types
    from helseflyt.search.index import index
    from helseflyt.search.reindex import reindex as run_reindex
    from helseflyt.storage import open_store

    for t in type or ():
        if t not in resource_types():
            fail(f"{t}: not a FHIR R4 resource type")
    store = open_store(settings.database_url, indexer=index)
    try:
        if progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(
                TextColumn("[bold]re-indexing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rtype]}"),
                TimeElapsedColumn(),
            ) as bar:
                task = bar.add_task("reindex", total=None, rtype="")

                def advance(rtype: str, done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total, rtype=rtype)

                report = run_reindex(store, type or None, progress=advance)
        else:
            report = run_reindex(store, type or None)
    finally:
        store.close()
    typer.echo(report.summary())


from helseflyt.commands.ig import app as ig_app  # noqa: E402

app.add_typer(ig_app, name="ig")
from helseflyt.commands.audit import app as audit_app  # noqa: E402

app.add_typer(audit_app, name="audit")


@app.command()
def version() -> None:
    """Print the version."""
    from helseflyt import __version__

    typer.echo(__version__)


app.command("synth")(synth)
app.command("demo")(demo)
app.command("token")(token)


def main() -> None:
    try:
        app(prog_name="helseflyt", standalone_mode=True)
    except SettingsError as exc:  # a bad HELSEFLYT_* variable read by any command
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)


if __name__ == "__main__":
    sys.exit(main())
