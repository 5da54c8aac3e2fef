"""``helseflyt serve --workers N``: several server processes sharing one port.

uvicorn's process manager starts N workers (spawned, each building its app with
:func:`worker_app`, an import-string factory) and restarts one that dies. What must be
one per server, not one per process, is settled in the parent before they start:

- migrations and the restore of indexes a killed bulk load left dropped (the parent
  opens and closes the store once; the workers' opens then find nothing to do);
- the local issuer's key in the data folder (the parent's ``create_app`` creates it);
- the key sealing POST searches' paging links (``search/sealed.py``): generated here and
  handed to the workers in the environment, which each reads once and removes from its
  own, so a ``next`` link sealed by one worker unseals in another. It is never logged
  or written to disk: links still end when the server restarts.

The settings travel as the usual ``HELSEFLYT_*`` variables, so a worker's
``Settings.load()`` equals the parent's (flags included). Everything else is per
process and correct as such: the store's connections (SQLite: one writer each, every
write waits on the busy timeout for the others), the audit writer (each append holds
the database's write lock, so the chain stays gapless), custom SearchParameters (read
from the database before every write, at most a second old for reads), the
care-relationship cache and the token cache.
"""

from __future__ import annotations

import os

from cryptography.fernet import Fernet
from starlette.applications import Starlette

from helseflyt.settings import SETTINGS, Settings

PAGE_KEY_ENV = "HELSEFLYT_WORKER_PAGE_KEY"  # parent -> workers only; not a setting


def export(settings: Settings) -> None:
    """Put ``settings`` in this process's environment, for the workers to load."""
    for s in SETTINGS:
        value = getattr(settings, s.name)
        if value is None:
            os.environ.pop(s.env, None)
        else:
            os.environ[s.env] = str(value)


def prepare(settings: Settings) -> None:
    """Migrate (and restore deferred indexes) once, before any worker opens the store."""
    from helseflyt.search.index import index
    from helseflyt.storage import open_store

    open_store(settings.database_url, indexer=index).close()


def serve_workers(settings: Settings) -> None:
    import uvicorn

    prepare(settings)
    export(settings)
    os.environ[PAGE_KEY_ENV] = Fernet.generate_key().decode()
    uvicorn.run(
        f"{__name__}:worker_app",
        factory=True,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
    )


def worker_app() -> Starlette:
    """One worker's app (uvicorn calls this in each worker process)."""
    from helseflyt.app import create_app

    key = os.environ.pop(PAGE_KEY_ENV, None)
    if not key:
        raise RuntimeError(f"{PAGE_KEY_ENV} is not set: workers are started by `helseflyt serve --workers N`")
    return create_app(Settings.load(), page_key=key.encode())
