"""The HTTP edge: routes, middleware and response framing. The only Starlette importer."""
