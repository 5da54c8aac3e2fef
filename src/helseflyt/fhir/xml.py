"""FHIR XML → FHIR JSON for resources (https://hl7.org/fhir/R4/xml.html).

``parse(data)`` reads one resource in FHIR XML and returns the same resource as FHIR
JSON (the dict ``helseflyt.fhir.json.loads`` would give), driven by the R4 element model
(``helseflyt.fhir.model``):

* primitives are ``value`` attributes; their ``id`` attribute and ``extension``
  children go to the ``_name`` companion (aligned with ``None`` in arrays);
* an element repeats (JSON array) when its maximum cardinality is above 1, whether the
  XML has one occurrence or many;
* choice elements keep their typed name (``valueQuantity``); the type comes from the
  suffix;
* ``url`` and ``id`` attributes of complex elements (``Extension.url``,
  ``Element.id``) become ordinary JSON members;
* ``Narrative.div`` becomes a string holding the XHTML (namespace declared on the
  root ``div``); other resources inside an element (``contained``,
  ``Bundle.entry.resource``) are converted recursively;
* ``decimal`` values become :class:`decimal.Decimal`, so ``1.50`` stays ``1.50``;
  ``integer``/``positiveInt``/``unsignedInt`` become ``int``, ``boolean`` a bool.

Comments and processing instructions are dropped. Anything the model does not know
(an unknown element, a value where an object is expected) raises :class:`XmlError`
naming the element, never a half-converted resource. The standard library parser is
used; it does not fetch external entities or DTDs.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from xml.etree import ElementTree as ET

from helseflyt.fhir import model

__all__ = ["FHIR_NS", "XHTML_NS", "XmlError", "parse"]

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_F = "{" + FHIR_NS + "}"
_X = "{" + XHTML_NS + "}"

_INTEGERS = frozenset({"integer", "positiveInt", "unsignedInt"})


class XmlError(ValueError):
    """The document is not a FHIR R4 resource in XML; the message names the element."""


def parse(data: bytes | str) -> dict[str, Any]:
    """One FHIR resource in XML → FHIR JSON (dict)."""
    if "<!DOCTYPE" in (data[:2048] if isinstance(data, str) else data[:2048].decode("latin-1")):
        raise XmlError("DOCTYPE declarations are not allowed in FHIR XML")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise XmlError(f"malformed XML: {exc}") from exc
    return _resource(root, "")


def _local(tag: str, path: str) -> str:
    if not tag.startswith(_F):
        raise XmlError(f"{path or 'document'}: element {tag!r} is not in the FHIR namespace {FHIR_NS}")
    return tag[len(_F) :]


def _resource(el: ET.Element, path: str) -> dict[str, Any]:
    rt = _local(el.tag, path)
    if rt not in model.resource_types():
        raise XmlError(f"{path or 'document'}: {rt!r} is not an R4 resource type")
    out: dict[str, Any] = {"resourceType": rt}
    _fill(el, rt, out, f"{path}.{rt}" if path else rt)
    return out


def _fill(el: ET.Element, type_name: str, out: dict[str, Any], path: str) -> None:
    """Convert the attributes and children of ``el`` (of ``type_name``) into ``out``."""
    elems = model.elements(type_name)
    if elems is None:  # pragma: no cover - the model knows every type it names
        raise XmlError(f"{path}: unknown type {type_name!r}")
    for attr, text in el.attrib.items():
        if attr in ("id", "url") and attr in elems:
            out[attr] = text
        elif not attr.startswith("{"):  # xmlns:* are not in attrib; others are foreign
            raise XmlError(f"{path}: unexpected attribute {attr!r} on a {type_name}")
    choices = _choice_index(type_name)
    for child in el:
        if not isinstance(child.tag, str):  # comments, processing instructions
            continue
        name = "div" if child.tag == _X + "div" else _local(child.tag, path)
        where = f"{path}.{name}"
        e = elems.get(name)
        if e is not None and not e.choice:
            t = e.types[0]
        else:
            found = choices.get(name)
            if found is None:
                raise XmlError(f"{where}: unknown element {name!r} in {type_name}")
            e, t = found
        many = e.max is None or e.max > 1
        if t == "xhtml":
            if child.tag != _X + "div":
                raise XmlError(f"{where}: the narrative must be an XHTML <div> in namespace {XHTML_NS}")
            _put(out, name, _xhtml(child, where), many)
        elif t == "Resource":
            inner = [c for c in child if isinstance(c.tag, str)]
            if len(inner) != 1:
                raise XmlError(f"{where}: expected exactly one resource inside, found {len(inner)}")
            _put(out, name, _resource(inner[0], where), many)
        elif t in model.primitive_types():
            value, companion = _primitive(child, t, where)
            _put_primitive(out, name, value, companion, many)
        else:
            obj: dict[str, Any] = {}
            _fill(child, t, obj, where)
            _put(out, name, obj, many)
    for key, value in list(out.items()):  # primitive arrays: drop an all-null side
        if key.startswith("_") and isinstance(value, list):
            if all(v is None for v in value):
                del out[key]
            elif all(v is None for v in out[key[1:]]):
                del out[key[1:]]


_CHOICE_CACHE: dict[str, dict[str, tuple[model.Element, str]]] = {}


def _choice_index(type_name: str) -> dict[str, tuple[model.Element, str]]:
    """``valueQuantity`` -> (Element value[x], ``Quantity``) for the type's choices."""
    found = _CHOICE_CACHE.get(type_name)
    if found is None:
        found = {}
        for e in (model.elements(type_name) or {}).values():
            if e.choice:
                for t in e.types:
                    found[e.name + t[0].upper() + t[1:]] = (e, t)
        _CHOICE_CACHE[type_name] = found
    return found


def _put(out: dict[str, Any], name: str, value: Any, many: bool) -> None:
    if many:
        out.setdefault(name, []).append(value)
    elif name in out:
        raise XmlError(f"{name!r} occurs more than once but its maximum cardinality is 1")
    else:
        out[name] = value


def _put_primitive(out: dict[str, Any], name: str, value: Any, companion: dict | None, many: bool) -> None:
    if not many:
        if name in out or "_" + name in out:
            raise XmlError(f"{name!r} occurs more than once but its maximum cardinality is 1")
        if value is not None:
            out[name] = value
        if companion:
            out["_" + name] = companion
        return
    values = out.setdefault(name, [])
    companions = out.setdefault("_" + name, [])
    values.append(value)
    companions.append(companion or None)


def _primitive(el: ET.Element, t: str, path: str) -> tuple[Any, dict[str, Any] | None]:
    text = el.get("value")
    value: Any = None
    if text is not None:
        value = _convert(text, t, path)
    companion: dict[str, Any] = {}
    if "id" in el.attrib:
        companion["id"] = el.attrib["id"]
    for attr in el.attrib:
        if attr not in ("value", "id") and not attr.startswith("{"):
            raise XmlError(f"{path}: unexpected attribute {attr!r} on a {t}")
    for child in el:
        if not isinstance(child.tag, str):
            continue
        name = _local(child.tag, path)
        if name != "extension":
            raise XmlError(f"{path}: a primitive {t} may only contain extension, found {name!r}")
        ext: dict[str, Any] = {}
        _fill(child, "Extension", ext, f"{path}.extension")
        companion.setdefault("extension", []).append(ext)
    if value is None and not companion:
        raise XmlError(f"{path}: a {t} element needs a value attribute or an extension")
    return value, companion or None


def _convert(text: str, t: str, path: str) -> Any:
    if t == "boolean":
        if text == "true":
            return True
        if text == "false":
            return False
        raise XmlError(f"{path}: boolean value must be 'true' or 'false', got {text!r}")
    if t in _INTEGERS:
        try:
            return int(text)
        except ValueError:
            raise XmlError(f"{path}: {t} value {text!r} is not an integer") from None
    if t == "decimal":
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise XmlError(f"{path}: decimal value {text!r} is not a number") from None
        if not d.is_finite():
            raise XmlError(f"{path}: decimal value {text!r} is not a finite number")
        return d
    return text


# --- XHTML ----------------------------------------------------------------------


def _xhtml(el: ET.Element, path: str) -> str:
    if el.tag != _X + "div":
        raise XmlError(f"{path}: the narrative must be an XHTML <div> in namespace {XHTML_NS}")
    parts: list[str] = []
    _write(el, parts, root=True)
    return "".join(parts)


def _name(tag: str) -> str:
    if tag.startswith(_X):
        return tag[len(_X) :]
    if tag.startswith("{"):
        ns, local = tag[1:].split("}", 1)
        if ns == "http://www.w3.org/XML/1998/namespace":
            return "xml:" + local
        return local
    return tag


def _write(el: ET.Element, parts: list[str], *, root: bool = False) -> None:
    if not isinstance(el.tag, str):  # comment inside the narrative: drop it, keep tail
        if el.tail:
            parts.append(_escape(el.tail))
        return
    name = _name(el.tag)
    parts.append("<" + name)
    if root:
        parts.append(f' xmlns="{XHTML_NS}"')
    for attr, value in el.attrib.items():
        parts.append(f' {_name(attr)}="{_escape(value, attr=True)}"')
    if el.text is None and len(el) == 0:
        parts.append("/>")
    else:
        parts.append(">")
        if el.text:
            parts.append(_escape(el.text))
        for child in el:
            _write(child, parts)
        parts.append(f"</{name}>")
    if el.tail and not root:
        parts.append(_escape(el.tail))


def _escape(text: str, *, attr: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attr:
        text = text.replace('"', "&quot;")
    return text
