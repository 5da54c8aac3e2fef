"""The ASGI application: the one place that picks a storage backend.

``create_app(settings, *, store=None, clock=None)`` builds a Starlette app serving FHIR
R4 at ``/fhir``. The store is opened in ``lifespan`` from ``settings.database_url``
(unless one is passed in, e.g. by tests) and closed on shutdown. Middleware comes from
a list (see :mod:`helseflyt.http.middleware`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from helseflyt.access import Access
from helseflyt.access import configure as configure_access
from helseflyt.access.middleware import Authenticate
from helseflyt.access.smart import JsonDocument
from helseflyt.audit.sink import AuditSink
from helseflyt.audit.store import SQLAuditStore
from helseflyt.errors import Issue
from helseflyt.http.audit import AUDIT_ROUTES, AuditTrail
from helseflyt.http.middleware import BodySizeLimit, ErrorHandler, RequestId
from helseflyt.http.operations import OPERATION_ROUTES
from helseflyt.http.reindex import REINDEX_ROUTES
from helseflyt.http.routes import EXCEPTION_HANDLERS, ROUTES
from helseflyt.interactions.context import Validator, new_id
from helseflyt.packages.registry import LiveRegistry
from helseflyt.packages.validator import profile_aware
from helseflyt.search.custom import LiveSearchParameters
from helseflyt.search.index import index
from helseflyt.search.sealed import PageSealer
from helseflyt.settings import Settings
from helseflyt.storage import Store, open_store
from helseflyt.storage.common import Clock, utc_now

log = logging.getLogger("helseflyt")


def default_validator() -> Validator:
    """The R4 validator, adapted to ``Context.validate(resource, expected_type)``."""
    try:
        from helseflyt.fhir.validation import validate
    except ImportError:
        log.warning("helseflyt.fhir.validation is missing: resources are only checked for resourceType")

        def no_validation(resource: Any, expected_type: str | None) -> list[Issue]:
            return []

        return no_validation

    def run(resource: Any, expected_type: str | None) -> list[Issue]:
        return validate(resource, expected_type=expected_type)

    return run


def middleware(settings: Settings, access: Access | None = None) -> list[Middleware]:
    """Outermost first; authentication innermost (it may read a body within the limit)."""
    return [
        Middleware(RequestId),
        Middleware(AuditTrail),  # outside the error handler: sees every final status
        Middleware(ErrorHandler),
        Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes),
        *([Middleware(Authenticate, validator=access.validator)] if access and access.validator else []),
    ]


def access_routes(access: Access) -> list[BaseRoute]:
    """``/.well-known/smart-configuration`` (and the local issuer's ``jwks.json``)."""
    return [Route(path, JsonDocument(doc), methods=["GET"]) for path, doc in access.documents.items()]


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    validate: Validator | None = None,
    id_factory: Callable[[], str] | None = None,
    audit: bool = True,
    page_key: bytes | None = None,
) -> Starlette:
    """``page_key``: the POST-search page-sealing key, shared by the workers of one server
    (:mod:`helseflyt.http.workers`); a fresh one per app if ``None``."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened = store is None
        active = store
        if active is None:
            active = await run_in_threadpool(
                open_store, settings.database_url, indexer=index, clock=clock or utc_now
            )
        app.state.store = active
        app.state.registry = LiveRegistry(active)  # installed IG packages (profiles, terminology)
        app.state.validate = profile_aware(base_validate, app.state.registry)
        app.state.search_parameters = LiveSearchParameters(active)  # custom SearchParameters
        await run_in_threadpool(app.state.search_parameters.refresh)
        app.state.audit = AuditSink(SQLAuditStore(active)) if audit else None
        try:
            yield
        finally:
            if app.state.audit is not None:  # the shutdown flush: every event is written
                await run_in_threadpool(app.state.audit.close)
            if opened:
                await run_in_threadpool(active.close)

    base_validate = validate or default_validator()
    access = configure_access(settings)
    app = Starlette(
        routes=access_routes(access) + REINDEX_ROUTES + OPERATION_ROUTES + AUDIT_ROUTES + ROUTES,
        middleware=middleware(settings, access),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.access = access
    app.state.validate = base_validate
    app.state.new_id = id_factory or new_id
    app.state.page_sealer = PageSealer(page_key)  # paging links of POST searches (search/sealed.py)
    return app
