"""``helseflyt ig install PATH`` and ``helseflyt ig list``: Implementation Guide packages.

See docs/ig.md. The package's conformance resources are stored in the configured
database; a running server picks them up on its next profile check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from helseflyt.settings import SETTINGS, Settings

app = typer.Typer(
    help="Implementation Guide packages (profiles, value sets, code systems).", no_args_is_help=True
)

_PATH_HELP = "An npm-style package .tgz, or a folder of JSON/XML resources"
_NO_MANIFEST = "when the folder has no package.json"
_HELP = {s.name: f"{s.help} [env: {s.env}]" for s in SETTINGS}
Database = Annotated[str | None, typer.Option(help=_HELP["database"], show_default=False)]
DataDir = Annotated[str | None, typer.Option(help=_HELP["data_dir"], show_default="./helseflyt-data")]


def _open(database: str | None, data_dir: str | None):  # type: ignore[no-untyped-def]
    from helseflyt.search.identifier_index import index_identifiers
    from helseflyt.storage import open_store

    settings = Settings.load(database=database, data_dir=data_dir)
    return open_store(settings.database_url, indexer=index_identifiers)


@app.command("install")
def install_cmd(
    path: Annotated[Path, typer.Argument(help=_PATH_HELP)],
    database: Database = None,
    data_dir: DataDir = None,
    name: Annotated[str | None, typer.Option(help=f"Package id {_NO_MANIFEST}")] = None,
    version: Annotated[str | None, typer.Option(help=f"Package version {_NO_MANIFEST}")] = None,
) -> None:
    """Install an IG package's profiles, extensions, value sets, code systems, naming
    systems and search parameters."""
    from helseflyt.packages import PackageError, install, read_package

    try:
        pkg = read_package(path)
    except PackageError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from exc
    if name:
        pkg.id = name
    if version:
        pkg.version = version
    store = _open(database, data_dir)
    try:
        report = install(store, pkg)
    finally:
        store.close()
    typer.echo(report.summary())
    if report.rejected or report.errors:
        raise typer.Exit(1)


@app.command("list")
def list_cmd(database: Database = None, data_dir: DataDir = None) -> None:
    """List the installed packages."""
    from helseflyt.packages import installed

    store = _open(database, data_dir)
    try:
        packages = installed(store)
    finally:
        store.close()
    if not packages:
        typer.echo("no packages installed (helseflyt ig install PATH)")
        return
    for p in packages:
        counts = ", ".join(f"{n} {t}" for t, n in sorted(p.resources.items()))
        typer.echo(f"{p.id}#{p.version}\t{counts}\tinstalled {p.installed_at}")
