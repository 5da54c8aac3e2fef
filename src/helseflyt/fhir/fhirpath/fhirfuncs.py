"""FHIR-specific functions (https://hl7.org/fhir/R4/fhirpath.html#functions)."""

from __future__ import annotations

import re
from typing import Any

from . import ops
from .compiler import Ctx, _expand
from .functions import function
from .nodes import FHIRPathError, Node, system_value
from .typeinfo import info

__all__: list[str] = []


@function("extension", 1)
def _extension(ctx: Ctx, focus: list[Any], url: list[Any]) -> list[Any]:
    target = ops.singleton(url)
    if target is None:
        return []
    out: list[Any] = []
    for item in focus:
        if item.__class__ is not Node:
            continue
        holder = item.value if isinstance(item.value, dict) else item.ext
        if not isinstance(holder, dict):
            continue
        found: list[Any] = []
        if holder is item.value:
            _expand(item, "extension", holder.get("extension"), found)
        else:
            owner = Node(holder, item, "_" + str(item.key), item.index, None, "Element")
            _expand(owner, "extension", holder.get("extension"), found)
        out.extend(x for x in found if isinstance(x.value, dict) and x.value.get("url") == target)
    return out


def _primitive_extensions(ctx: Ctx, item: Node) -> list[Any]:
    return []


@function("hasValue")
def _has_value(ctx: Ctx, focus: list[Any]) -> list[Any]:
    if len(focus) != 1:
        return [False]
    item = focus[0]
    if item.__class__ is not Node:
        return [True]
    return [item.value is not None and not isinstance(item.value, dict)]


@function("getValue")
def _get_value(ctx: Ctx, focus: list[Any]) -> list[Any]:
    if len(focus) != 1:
        return []
    item = focus[0]
    if item.__class__ is Node and (item.value is None or isinstance(item.value, dict)):
        return []
    return [system_value(item)]


def _root_of(item: Node) -> Node:
    while item.parent is not None:
        item = item.parent
    return item


_REFERENCE = re.compile(r"(?:.*/)?([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/.*)?\Z")


@function("resolve")
def _resolve(ctx: Ctx, focus: list[Any]) -> list[Any]:
    """References resolve within the resource (contained) and its Bundle only."""
    out: list[Any] = []
    for item in focus:
        v = system_value(item)
        if item.__class__ is Node and isinstance(item.value, dict):
            v = item.value.get("reference")
        if not isinstance(v, str):
            continue
        found = _find(ctx, item, v)
        if found is not None:
            out.append(found)
    return out


def _find(ctx: Ctx, item: Any, ref: str) -> Node | None:
    anchor = item if item.__class__ is Node else (ctx.resource[0] if ctx.resource else None)
    if anchor is None:
        return None
    if ref.startswith("#"):
        node = anchor
        while node is not None:
            v = node.value
            if isinstance(v, dict) and "resourceType" in v:
                if ref == "#":
                    return node
                for i, c in enumerate(v.get("contained", [])):
                    if c.get("id") == ref[1:]:
                        return Node(c, node, "contained", i)
            node = node.parent
        return None
    root = _root_of(anchor)
    bundle = root.value
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return None
    m = _REFERENCE.match(ref)
    for i, entry in enumerate(bundle.get("entry", [])):
        resource = entry.get("resource")
        if resource is None:
            continue
        full_url = entry.get("fullUrl")
        hit = full_url == ref or (
            m is not None and resource.get("resourceType") == m.group(1) and resource.get("id") == m.group(2)
        )
        if hit:
            entry_node = Node(entry, root, "entry", i)
            return Node(resource, entry_node, "resource", None)
    return None


@function("memberOf", 1)
def _member_of(ctx: Ctx, focus: list[Any], valueset: list[Any]) -> list[Any]:
    """Needs a terminology service, which the engine does not have: result is empty."""
    return []


@function("conformsTo", 1)
def _conforms_to(ctx: Ctx, focus: list[Any], url: list[Any]) -> list[Any]:
    """Base-resource profiles only: ``http://hl7.org/fhir/StructureDefinition/<Type>``."""
    target = ops.singleton(url)
    if target is None or not focus:
        return []
    prefix = "http://hl7.org/fhir/StructureDefinition/"
    if not isinstance(target, str) or not target.startswith(prefix):
        raise FHIRPathError(f"conformsTo(): unknown profile {target}")
    name = target[len(prefix) :]
    ti = info()
    if ti.resource_types and name not in ti.resource_types and ti.is_known_type(name) is False:
        raise FHIRPathError(f"conformsTo(): unknown profile {target}")
    out = []
    for item in focus:
        t = item.type if item.__class__ is Node else None
        out.append(bool(t) and ti.is_subtype(t, name))
    return out


_UNSAFE_HTML = re.compile(r"<\s*(script|object|applet|iframe|form|input|embed)\b|\son\w+\s*=", re.IGNORECASE)


@function("htmlChecks")
def _html_checks(ctx: Ctx, focus: list[Any]) -> list[Any]:
    v = ops.singleton(focus)
    if v is None:
        return []
    return [isinstance(v, str) and _UNSAFE_HTML.search(v) is None]


@function("htmlChecks2")
def _html_checks2(ctx: Ctx, focus: list[Any]) -> list[Any]:
    return _html_checks(ctx, focus)
