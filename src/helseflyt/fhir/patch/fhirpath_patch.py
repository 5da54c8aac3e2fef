"""FHIRPath Patch (https://hl7.org/fhir/R4/fhirpatch.html).

A ``Parameters`` resource lists ``operation`` parameters, applied in order to a copy of
the resource. Each has ``type`` (add, insert, delete, replace, move), ``path`` (a
FHIRPath expression, evaluated with :func:`helseflyt.fhir.fhirpath.compile` to result
*nodes* that know their container, key and index), and per type ``name``, ``value``
(``value[x]``, or ``part``s for complex and anonymous types), ``index``, ``source`` and
``destination``. Any problem raises :class:`helseflyt.errors.InvalidRequest` naming the
operation (1-based) and what is wrong; the input resource is never modified.
"""

from __future__ import annotations

import copy
from typing import Any

from helseflyt.errors import InvalidRequest
from helseflyt.fhir import fhirpath
from helseflyt.fhir.fhirpath.compiler import compile_node
from helseflyt.fhir.fhirpath.nodes import Node
from helseflyt.fhir.fhirpath.parser import parse
from helseflyt.fhir.fhirpath.typeinfo import info

__all__ = ["apply"]

OPERATIONS = ("add", "insert", "delete", "replace", "move")


def apply(resource: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """Return a patched copy of ``resource``."""
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise InvalidRequest("FHIRPath Patch: the body must be a Parameters resource")
    result = copy.deepcopy(resource)
    for number, param in enumerate(parameters.get("parameter") or [], start=1):
        if not isinstance(param, dict) or param.get("name") != "operation":
            raise InvalidRequest(
                f"FHIRPath Patch: parameter {number} must be named 'operation', "
                f"not {param.get('name') if isinstance(param, dict) else param!r}"
            )
        _Operation(number, param).apply(result)
    return result


class _Operation:
    def __init__(self, number: int, param: dict[str, Any]) -> None:
        self.number = number
        self.parts: dict[str, dict[str, Any]] = {}
        for part in param.get("part") or []:
            name = part.get("name") if isinstance(part, dict) else None
            if not isinstance(name, str):
                self.fail("each part needs a name")
            if name in self.parts:
                self.fail(f"part '{name}' is given more than once")
            self.parts[name] = part
        self.type = self.primitive("type", "valueCode", required=True)
        if self.type not in OPERATIONS:
            self.fail(f"type must be one of {', '.join(OPERATIONS)}, not {self.type!r}")
        self.path = self.primitive("path", "valueString", required=True)

    # -- parameters ------------------------------------------------------------------
    def fail(self, message: str) -> None:
        kind = getattr(self, "type", None)
        label = f"operation {self.number}" + (f" ({kind})" if isinstance(kind, str) else "")
        raise InvalidRequest(f"FHIRPath Patch {label}: {message}")

    def primitive(self, name: str, key: str, *, required: bool = False) -> Any:
        part = self.parts.get(name)
        if part is None:
            if required:
                self.fail(f"part '{name}' is required")
            return None
        if key not in part:
            self.fail(f"part '{name}' needs {key}")
        value = part[key]
        if key == "valueInteger" and (not isinstance(value, int) or isinstance(value, bool)):
            self.fail(f"part '{name}' must be an integer")
        if key in ("valueString", "valueCode") and not isinstance(value, str):
            self.fail(f"part '{name}' must be a string")
        return value

    def value(self) -> tuple[Any, str | None]:
        """(JSON value, type suffix of value[x] or None)."""
        part = self.parts.get("value")
        if part is None:
            self.fail("part 'value' is required")
        return _part_value(part, self)  # type: ignore[arg-type]

    # -- evaluation ------------------------------------------------------------------
    def nodes(self, resource: dict[str, Any], path: str) -> list[Any]:
        try:
            return fhirpath.compile(path).evaluate_nodes(resource)
        except fhirpath.FHIRPathError as exc:
            self.fail(f"invalid path {path!r}: {exc}")
        raise AssertionError  # unreachable

    def single(self, resource: dict[str, Any], path: str, what: str) -> Node:
        found = self.nodes(resource, path)
        if len(found) != 1:
            self.fail(f"path {path!r} must match exactly one {what}, it matched {len(found)}")
        node = found[0]
        if not isinstance(node, Node):
            self.fail(f"path {path!r} does not select an element of the resource")
        return node

    def collection(self, resource: dict[str, Any]) -> tuple[Node, str, list[Any]]:
        """(parent node, key, list) for insert/move: the path must end in an element name."""
        try:
            tree = parse(self.path)
        except fhirpath.FHIRPathError as exc:
            self.fail(f"invalid path {self.path!r}: {exc}")
        if tree[0] != "dot" or tree[2][0] != "id":
            self.fail(f"path {self.path!r} must name a list element, e.g. Patient.identifier")
        name = tree[2][1]
        try:
            parents = compile_node(tree[1], False)
            ctx_root = [Node(resource, None, None, None, None, resource.get("resourceType"))]
            found = parents(fhirpath.compiler.Ctx(ctx_root, {}, False), ctx_root)
        except fhirpath.FHIRPathError as exc:
            self.fail(f"invalid path {self.path!r}: {exc}")
        if len(found) != 1 or not isinstance(found[0], Node) or not isinstance(found[0].value, dict):
            self.fail(
                f"the element holding {name!r} in {self.path!r} must be exactly one, found {len(found)}"
            )
        parent = found[0]
        key = _json_key(parent, name, None)
        items = parent.value.get(key, [])
        if not isinstance(items, list):
            self.fail(f"{self.path!r} is not a list")
        return parent, key, items

    # -- operations ------------------------------------------------------------------
    def apply(self, resource: dict[str, Any]) -> None:
        getattr(self, "_" + self.type)(resource)  # type: ignore[operator]

    def _add(self, resource: dict[str, Any]) -> None:
        name = self.primitive("name", "valueString", required=True)
        value, suffix = self.value()
        node = self.single(resource, self.path, "element")
        if not isinstance(node.value, dict):
            self.fail(f"cannot add '{name}' to the primitive at {self.path!r}")
        key = _json_key(node, name, suffix)
        target = node.value
        repeating = _repeating(node.type, key)
        existing = target.get(key)
        if repeating or isinstance(existing, list):
            target.setdefault(key, []).append(value)
        elif existing is not None:
            self.fail(f"'{name}' already exists at {self.path!r} and does not repeat: use replace")
        else:
            target[key] = value

    def _insert(self, resource: dict[str, Any]) -> None:
        index = self.primitive("index", "valueInteger", required=True)
        value, _ = self.value()
        parent, key, items = self.collection(resource)
        if not 0 <= index <= len(items):
            self.fail(f"index {index} is out of range: {self.path!r} has {len(items)} items")
        items.insert(index, value)
        parent.value[key] = items
        companion = parent.value.get("_" + key)
        if isinstance(companion, list):
            companion.insert(index, None)

    def _delete(self, resource: dict[str, Any]) -> None:
        found = self.nodes(resource, self.path)
        if not found:
            return  # "delete ... (if found)"
        if len(found) > 1:
            self.fail(f"path {self.path!r} matched {len(found)} elements; only one can be deleted")
        node = found[0]
        if not isinstance(node, Node) or node.parent is None:
            self.fail(f"path {self.path!r} does not select a deletable element")
        _remove(node)

    def _replace(self, resource: dict[str, Any]) -> None:
        value, suffix = self.value()
        node = self.single(resource, self.path, "element")
        if node.parent is None:
            self.fail("the resource itself cannot be replaced")
        container = node.parent.value
        key = str(node.key)
        new_key = key
        if suffix is not None:
            base = _choice_base(node)
            if base is not None:
                new_key = base + suffix
        if node.index is not None:
            container[key][node.index] = value
        elif new_key != key:
            del container[key]
            container.pop("_" + key, None)
            container[new_key] = value
        else:
            container[key] = value

    def _move(self, resource: dict[str, Any]) -> None:
        source = self.primitive("source", "valueInteger", required=True)
        destination = self.primitive("destination", "valueInteger", required=True)
        parent, key, items = self.collection(resource)
        for what, index in (("source", source), ("destination", destination)):
            if not 0 <= index < len(items):
                self.fail(f"{what} {index} is out of range: {self.path!r} has {len(items)} items")
        items.insert(destination, items.pop(source))
        companion = parent.value.get("_" + key)
        if isinstance(companion, list) and len(companion) == len(items):
            companion.insert(destination, companion.pop(source))


def _remove(node: Node) -> None:
    container = node.parent.value  # type: ignore[union-attr]
    key = str(node.key)
    if node.index is None:
        container.pop(key, None)
        container.pop("_" + key, None)
        return
    items = container.get(key)
    if isinstance(items, list) and node.index < len(items):
        del items[node.index]
    companion = container.get("_" + key)
    if isinstance(companion, list) and node.index < len(companion):
        del companion[node.index]
        if all(c is None for c in companion):
            container.pop("_" + key)
    if not container.get(key):
        container.pop(key, None)


def _part_value(part: dict[str, Any], op: _Operation) -> tuple[Any, str | None]:
    for key, value in part.items():
        if key.startswith("value") and len(key) > 5:
            return value, key[5:]
    if "resource" in part:
        return part["resource"], None
    if "part" in part:
        obj: dict[str, Any] = {}
        for sub in part["part"]:
            name = sub.get("name")
            if not isinstance(name, str):
                op.fail("each part of a complex value needs a name")
            value, suffix = _part_value(sub, op)
            if name in obj:
                if not isinstance(obj[name], list):
                    obj[name] = [obj[name]]
                obj[name].append(value)
            else:
                obj[name] = value
        return obj, None
    op.fail("part 'value' needs a value[x], a resource or parts")
    raise AssertionError  # unreachable


def _json_key(node: Node, name: str, suffix: str | None) -> str:
    """``name``, or ``name + Type`` for a choice element (``value`` -> ``valueQuantity``)."""
    keys = info().choice_keys(node.type, name)
    if keys and suffix is not None and name + suffix in keys:
        return name + suffix
    return name


def _repeating(type_name: str | None, key: str) -> bool:
    model = info().model
    if model is None or type_name is None:
        return False
    t: str | None = type_name
    while t is not None:
        elements = model.elements(t)
        if elements and key in elements:
            return elements[key].max != 1
        t = info().base_type(t)
    return False


def _choice_base(node: Node) -> str | None:
    parent_type = node.parent.type if node.parent is not None else None
    key = str(node.key)
    for i in range(1, len(key)):
        if key[i].isupper():
            keys = info().choice_keys(parent_type, key[:i])
            if keys and key in keys:
                return key[:i]
    return None
