"""``helseflyt synth`` (write a synthetic population) and ``helseflyt demo`` (serve one)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

Patients = Annotated[int, typer.Option("--patients", "-n", min=1, help="Number of patients.")]
Seed = Annotated[int, typer.Option(help="Random seed: the same seed gives byte-identical output.")]


def synth(
    out: Annotated[Path, typer.Option(help="Output folder (created if missing).")],
    patients: Patients = 1000,
    seed: Seed = 1,
    format: Annotated[
        str, typer.Option("--format", help="bundle (transaction Bundles) or ndjson.")
    ] = "bundle",
) -> None:
    """Write a deterministic synthetic Norwegian population (FHIR R4) to a folder."""
    from helseflyt.synth import FORMATS, write

    if format not in FORMATS:
        typer.secho(f"error: --format must be one of {', '.join(FORMATS)}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    summary = write(out, patients, seed, fmt=format)
    typer.echo(summary.text())
    typer.echo(f"load it with: helseflyt load {out}")


def demo(
    patients: Patients = 200,
    seed: Seed = 1,
    port: Annotated[int, typer.Option(help="TCP port (the server listens on 127.0.0.1 only).")] = 8080,
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder for the database (default: a temporary folder).")
    ] = None,
) -> None:
    """Generate a synthetic population, load it and serve it at http://127.0.0.1:PORT/fhir."""
    import uvicorn

    from helseflyt.app import create_app
    from helseflyt.ingest import load
    from helseflyt.search.identifier_index import index_identifiers
    from helseflyt.settings import Settings
    from helseflyt.storage import open_store
    from helseflyt.synth import write

    host = "127.0.0.1"
    folder = data_dir or Path(tempfile.mkdtemp(prefix="helseflyt-demo-"))
    settings = Settings.load(host=host, port=port, data_dir=str(folder))
    population = folder / "synthetic-population"
    typer.echo(write(population, patients, seed).text(), err=True)
    store = open_store(settings.database_url, indexer=index_identifiers)
    try:
        report = load(store, [population], progress=False)
    finally:
        store.close()
    typer.echo(report.summary(), err=True)
    if report.errors:
        raise typer.Exit(1)
    typer.secho(
        "Helseflyt demo: synthetic data, OPEN DEVELOPMENT MODE (no access control), loopback only.",
        err=True,
        fg=typer.colors.YELLOW,
    )
    typer.echo(f"FHIR R4 base: http://{host}:{port}/fhir   (data in {folder})", err=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False)
