"""``helseflyt audit verify``: check that the audit trail is intact (docs/audit.md).

Exit 0 and ``intact (N records; head seq S, hash H)`` when every record's hash equals
``SHA-256(previous hash || body)`` and ``seq`` has no gaps; exit 1 naming the first
broken record (seq, id, what differs) otherwise. Note the head: records cut off the end
of the chain can only be noticed by comparing it with an earlier head.
"""

from __future__ import annotations

from typing import Annotated

import typer

from helseflyt.settings import SETTINGS, Settings

app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)

_HELP = {s.name: f"{s.help} [env: {s.env}]" for s in SETTINGS}
Database = Annotated[str | None, typer.Option(help=_HELP["database"], show_default=False)]
DataDir = Annotated[str | None, typer.Option(help=_HELP["data_dir"], show_default="./helseflyt-data")]


@app.command()
def verify(database: Database = None, data_dir: DataDir = None) -> None:
    """Recompute the audit hash chain; exit 1 at the first broken record."""
    from helseflyt.audit.store import SQLAuditStore
    from helseflyt.audit.verify import verify as check
    from helseflyt.storage import open_store

    settings = Settings.load(database=database, data_dir=data_dir)
    store = open_store(settings.database_url)
    try:
        verdict = check(SQLAuditStore(store))
    finally:
        store.close()
    if verdict.intact:
        typer.echo(verdict.message())
        return
    typer.secho(verdict.message(), err=True, fg=typer.colors.RED)
    raise typer.Exit(1)
