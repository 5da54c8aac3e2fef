"""Resources: dispatch on ``resourceType``, contained resources and local references.

Each resource that is not contained (the root, ``Bundle.entry.resource``,
``Parameters.parameter.resource``...) opens a frame: the ``#id`` references found
inside it, including inside its contained resources, are resolved against its
``contained`` ids when the resource is done (ref-1, dom-3).
"""

from __future__ import annotations

from typing import Any

from helseflyt.fhir import model
from helseflyt.fhir.validation import compiler, references
from helseflyt.fhir.validation.context import Ctx


def check_resource(value: Any, path: str, ctx: Ctx, *, contained: bool = False) -> None:
    if type(value) is not dict:
        ctx.add(
            "structure", f"expected a JSON object containing a resource, got {compiler._kind(value)}", path
        )
        return
    rt = value.get("resourceType")
    if rt is None:
        ctx.add("required", "missing resourceType", path)
        return
    if type(rt) is not str or rt not in model.resource_types():
        ctx.add("value", f"unknown resourceType {rt!r}", path)
        return
    check = compiler.cell(rt)[0]
    if contained:
        check(value, path, ctx)
        return
    saved, ctx.local_refs = ctx.local_refs, []
    try:
        check(value, path, ctx)
        if ctx.local_refs or "contained" in value:
            _resolve_local(value, path, ctx)
    finally:
        ctx.local_refs = saved


def field(e: model.Element, many: bool) -> compiler.Handler:
    """An element of type Resource other than ``contained`` (e.g. Bundle.entry.resource)."""

    def handler(v: Any, obj: dict, path: str, key: str, ctx: Ctx) -> None:
        p = f"{path}.{key}"
        if not compiler._cardinality(e, v, many, p, ctx):
            return
        if many:
            for i, x in enumerate(v):
                check_resource(x, f"{p}[{i}]", ctx)
        else:
            check_resource(v, p, ctx)

    return handler


def contained_field(e: model.Element) -> compiler.Handler:
    """``DomainResource.contained``: dom-2, dom-4, dom-5 and an id on each."""

    def handler(v: Any, obj: dict, path: str, key: str, ctx: Ctx) -> None:
        p = f"{path}.{key}"
        if not compiler._cardinality(e, v, True, p, ctx):
            return
        for i, x in enumerate(v):
            q = f"{p}[{i}]"
            check_resource(x, q, ctx, contained=True)
            if type(x) is not dict:
                continue
            if "contained" in x:
                ctx.add(
                    "invalid", "a contained resource must not contain resources (dom-2)", f"{q}.contained"
                )
            meta = x.get("meta")
            if type(meta) is dict:
                for name in ("versionId", "lastUpdated"):
                    if name in meta:
                        ctx.add(
                            "invalid",
                            f"a contained resource must not have meta.{name} (dom-4)",
                            f"{q}.meta.{name}",
                        )
                if "security" in meta:
                    ctx.add(
                        "invalid",
                        "a contained resource must not have meta.security (dom-5)",
                        f"{q}.meta.security",
                    )
            if "id" not in x:
                ctx.add("required", "a contained resource must have an id", f"{q}.id")

    return handler


def _resolve_local(resource: dict, path: str, ctx: Ctx) -> None:
    ids = references.contained_ids(resource)
    referenced: set[str] = set()
    to_container: list[str] = []
    for target, where, is_reference in ctx.local_refs:
        if target == "":
            to_container.append(where)
        elif target in ids:
            referenced.add(target)
        elif is_reference:
            ctx.add(
                "invalid",
                f"local reference '#{target}' matches no contained resource id (ref-1)",
                where,
            )
    for cid, i in ids.items():
        if cid in referenced:
            continue
        prefix = f"{path}.contained[{i}]."
        if any(w.startswith(prefix) for w in to_container):
            continue
        ctx.add(
            "invalid",
            f"contained resource {cid!r} is not referenced from the resource and does not "
            "reference its container (dom-3)",
            f"{path}.contained[{i}]",
        )
