"""Validation against constraint profiles (StructureDefinitions loaded at run time).

A resource that claims a profile in ``meta.profile`` (or is checked with
``$validate?profile=``) is first validated against the base R4 definition (the rest of
this package), then against each claimed profile and its installed base profiles with
:func:`check_profiles`. The profiles come from a :class:`Conformance` source (the
registry of installed packages, :mod:`helseflyt.packages.registry`); this module does
not know where they are stored.

Checked, from the profile's differential (or its snapshot when it has no differential):

* cardinality (``min``/``max``, including ``0..0``) of every constrained element;
* ``fixed[x]`` (exact) and ``pattern[x]`` (the instance contains the pattern);
* type restrictions of choice elements (``value[x]`` narrowed to some types);
* reference targets (``targetProfile``: the referenced type must be allowed);
* ``required`` bindings, against the value sets the source can expand;
* ``maxLength`` of strings;
* slicing with ``value``/``pattern`` discriminators on a path (``url``, ``system``,
  ``coding.system``, ``$this``...), ``profile`` discriminators on extensions, type
  slices of choice elements; slice cardinalities; ``closed`` slicing;
* profiles on types: an ``Extension`` slice is checked against the extension's own
  definition (its ``url``, value types, nested extensions), a data type against its
  profile (``HumanName`` → ``no-basis-HumanName``). Every extension in the resource
  whose ``url`` is an installed extension definition is checked against it.

What cannot be checked is reported, never passed silently: an unknown profile, an
extension definition or value set that is not installed, a discriminator type that is
not supported, FHIRPath invariants (``constraint``) → ``warning`` or ``information``
issues naming the profile and the element. Unknown profiles are warnings, as in HAPI
FHIR: a resource may claim profiles the server does not know.

Compiled profiles are immutable and cached by the Conformance source.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from helseflyt.errors import Issue
from helseflyt.fhir import model
from helseflyt.fhir.validation import references

__all__ = ["Conformance", "Profile", "check_profiles", "compile_profile"]

CORE = "http://hl7.org/fhir/StructureDefinition/"


class Conformance(Protocol):
    """Where profiles and value sets come from (the installed packages)."""

    def profile(self, url: str) -> Profile | None:
        """The compiled StructureDefinition with this canonical URL (``|version`` ignored)."""

    def value_set_codes(self, url: str) -> frozenset[tuple[str, str]] | None:
        """The (system, code) pairs of a value set; None if it cannot be expanded here."""


# --- compiled form --------------------------------------------------------------


@dataclass(slots=True)
class Node:
    """One element of a profile, with its constrained children and slices."""

    name: str  # JSON name (``identifier``, ``value[x]``, ``valueCoding``)
    id: str = ""  # element id in the profile, for messages
    ed: dict[str, Any] = field(default_factory=dict)
    children: dict[str, Node] = field(default_factory=dict)
    slices: dict[str, Node] = field(default_factory=dict)


@dataclass(slots=True)
class Profile:
    url: str
    name: str
    type: str  # the constrained type (Patient, Extension, HumanName...)
    kind: str
    base: str | None  # baseDefinition
    root: Node
    notes: tuple[str, ...]  # constructs present but not checked


def compile_profile(sd: dict[str, Any]) -> Profile:
    """Compile a StructureDefinition (JSON) into the tree the checker walks."""
    elements = (sd.get("differential") or sd.get("snapshot") or {}).get("element") or []
    type_name = sd.get("type") or ""
    root = Node(type_name, type_name)
    notes: list[str] = []
    url = sd.get("url", "")
    for ed in elements:
        eid = ed.get("id") or _id_from_path(ed)
        segments = _segments(eid)
        if not segments:
            continue
        node = root
        for name, slice_name in segments[1:]:
            if slice_name and name.endswith("[x]") and _is_type_slice(name, slice_name):
                name, slice_name = slice_name, None  # value[x]:valueQuantity -> valueQuantity
            child = node.children.get(name)
            if child is None:
                child = node.children[name] = Node(name)
            node = child
            if slice_name:
                sliced = node.slices.get(slice_name)
                if sliced is None:
                    sliced = node.slices[slice_name] = Node(name)
                node = sliced
        node.ed = ed
        node.id = eid
        for c in ed.get("constraint") or ():
            if c.get("source") in (None, url) and c.get("key"):
                notes.append(f"invariant {c['key']} on {eid} ({c.get('expression', '')}) is not evaluated")
        for key in ("minValueInteger", "maxValueInteger", "minValueDecimal", "maxValueDecimal"):
            if key in ed:
                notes.append(f"{key} on {eid} is not checked")
    return Profile(
        url=url,
        name=sd.get("name") or sd.get("id") or url,
        type=type_name,
        kind=sd.get("kind", ""),
        base=sd.get("baseDefinition"),
        root=root,
        notes=tuple(notes),
    )


def _id_from_path(ed: dict[str, Any]) -> str:
    path = ed.get("path", "")
    return f"{path}:{ed['sliceName']}" if ed.get("sliceName") else path


def _segments(eid: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for part in eid.split("."):
        name, _, slice_name = part.partition(":")
        out.append((name, slice_name.split("/", 1)[0] or None))
    return out


def _is_type_slice(name: str, slice_name: str) -> bool:
    base = name[:-3]
    return slice_name.startswith(base) and slice_name[len(base) : len(base) + 1].isupper()


# --- checking -------------------------------------------------------------------


@dataclass(slots=True)
class Item:
    value: Any  # the JSON value (a primitive's value may be None)
    companion: dict[str, Any] | None  # ``_name`` of a primitive
    path: str
    type: str | None = None  # the type suffix of a choice element's key


@dataclass(slots=True)
class _Run:
    conf: Conformance
    issues: list[Issue]
    checked_extensions: set[int]
    depth: int = 0

    def add(self, code: str, text: str, path: str, severity: str = "error") -> None:
        self.issues.append(Issue(text, code=code, severity=severity, expression=(path,)))


def check_profiles(resource: dict[str, Any], conf: Conformance, extra: Iterable[str] = ()) -> list[Issue]:
    """Issues of ``resource`` against its ``meta.profile`` and the ``extra`` profile URLs."""
    rt = resource.get("resourceType")
    if type(rt) is not str:
        return []
    meta = resource.get("meta")
    claimed = meta.get("profile") if type(meta) is dict else None
    urls = [u for u in claimed if type(u) is str] if type(claimed) is list else []
    urls += [u for u in extra if u not in urls]
    run = _Run(conf, [], set())
    any_profile = False
    for url in urls:
        where = rt if url in extra else f"{rt}.meta.profile[{urls.index(url)}]"
        if url.split("|", 1)[0] == CORE + rt:
            continue  # the base definition, already checked
        profile = conf.profile(url)
        if profile is None:
            severity = "error" if url in extra else "warning"
            run.add(
                "not-supported" if severity == "warning" else "not-found",
                f"profile {url} is not installed here; the resource was not validated against it "
                "(install its package with 'helseflyt ig install')",
                where,
                severity,
            )
            continue
        if profile.type != rt:
            run.add("invalid", f"profile {url} constrains {profile.type}, not {rt}", where)
            continue
        any_profile = True
        _check_chain(profile, resource, rt, run)
    if any_profile:
        _check_known_extensions(resource, rt, run)
    return run.issues


def _check_chain(profile: Profile, value: Any, path: str, run: _Run) -> None:
    """``value`` against ``profile`` and its installed (non-core) base profiles."""
    seen: set[str] = set()
    current: Profile | None = profile
    while current is not None and current.url not in seen:
        seen.add(current.url)
        _check_profile(current, value, path, run)
        base = current.base
        if not base or base.startswith(CORE):
            if base and base.removeprefix(CORE) != current.type and run.conf.profile(base) is None:
                run.add(
                    "not-supported",
                    f"base profile {base} of {current.url} is not installed; not checked",
                    path,
                    "warning",
                )
            break
        nxt = run.conf.profile(base)
        if nxt is None:
            run.add(
                "not-supported",
                f"base profile {base} of {current.url} is not installed; not checked",
                path,
                "warning",
            )
        current = nxt


def _check_profile(profile: Profile, value: Any, path: str, run: _Run) -> None:
    if run.depth > 20:
        run.add("structure", f"profiles nest too deeply at {profile.url}", path)
        return
    run.depth += 1
    try:
        for note in profile.notes:
            run.add("informational", f"profile {profile.url}: {note}", path, "information")
        item = Item(value, None, path)
        _check_items(profile.root, [item], profile, run, path, root=True)
    finally:
        run.depth -= 1


def _check_items(
    node: Node, items: list[Item], profile: Profile, run: _Run, where: str, root: bool = False
) -> None:
    """Check the items found for ``node`` (all occurrences of one element)."""
    ed = node.ed
    label = node.id or node.name
    if not root:
        _cardinality(ed, len(items), label, profile, run, where)
    for it in items:
        _check_value(node, it, profile, run)
    if node.slices:
        _check_slices(node, items, profile, run, where)
    if node.children:
        for it in items:
            obj = it.value if type(it.value) is dict else it.companion
            if obj is None:
                obj = {}
            for child in node.children.values():
                found = _collect(obj, child.name, it.path)
                _check_items(child, found, profile, run, f"{it.path}.{child.name.removesuffix('[x]')}")


def _cardinality(ed: dict[str, Any], n: int, label: str, profile: Profile, run: _Run, where: str) -> None:
    lo = ed.get("min")
    hi = ed.get("max")
    if type(lo) is int and n < lo:
        run.add(
            "required",
            f"{label}: minimum cardinality {lo}, found {n} (profile {profile.url})",
            where,
        )
    if hi == "0" and n > 0:
        run.add("structure", f"{label} is not allowed (max 0) by profile {profile.url}", where)
    elif type(hi) is str and hi.isdigit() and n > int(hi):
        run.add(
            "structure",
            f"{label}: maximum cardinality {hi}, found {n} (profile {profile.url})",
            where,
        )


def _collect(obj: dict[str, Any], name: str, path: str) -> list[Item]:
    if name.endswith("[x]"):
        base = name[:-3]
        out: list[Item] = []
        for key in obj:
            if key.startswith(base) and key[len(base) : len(base) + 1].isupper():
                out += _items(obj, key, path, key[len(base) :])
        return out
    return _items(obj, name, path, None)


def _items(obj: dict[str, Any], key: str, path: str, suffix: str | None) -> list[Item]:
    v = obj.get(key)
    c = obj.get("_" + key)
    if v is None and c is None:
        return []
    if type(v) is list or type(c) is list:
        vs = v if type(v) is list else [None] * len(c or [])
        cs = c if type(c) is list else [None] * len(vs)
        return [
            Item(x, cs[i] if i < len(cs) and type(cs[i]) is dict else None, f"{path}.{key}[{i}]", suffix)
            for i, x in enumerate(vs)
        ]
    return [Item(v, c if type(c) is dict else None, f"{path}.{key}", suffix)]


def _fixed_and_pattern(ed: dict[str, Any]) -> tuple[tuple[str, Any] | None, tuple[str, Any] | None]:
    fixed = pattern = None
    for k, v in ed.items():
        if k.startswith("fixed") and k[5:6].isupper():
            fixed = (k, v)
        elif k.startswith("pattern") and k[7:8].isupper():
            pattern = (k, v)
    return fixed, pattern


def _check_value(node: Node, it: Item, profile: Profile, run: _Run) -> None:
    ed = node.ed
    if not ed:
        return
    label = node.id or node.name
    fixed, pattern = _fixed_and_pattern(ed)
    if fixed is not None and it.value is not None and it.value != fixed[1]:
        run.add("value", f"{label}: value must be exactly {_show(fixed[1])} (profile {profile.url})", it.path)
    if pattern is not None and it.value is not None and not _matches(it.value, pattern[1]):
        run.add(
            "value",
            f"{label}: value must match the pattern {_show(pattern[1])} (profile {profile.url})",
            it.path,
        )
    max_length = ed.get("maxLength")
    if type(max_length) is int and type(it.value) is str and len(it.value) > max_length:
        run.add("value", f"{label}: longer than maxLength {max_length} (profile {profile.url})", it.path)
    types = [t for t in ed.get("type") or () if type(t) is dict and type(t.get("code")) is str]
    if types:
        _check_types(node, types, it, profile, run)
    binding = ed.get("binding")
    if (
        type(binding) is dict
        and binding.get("strength") == "required"
        and type(binding.get("valueSet")) is str
    ):
        _check_binding(label, binding["valueSet"], it, profile, run)


def _check_types(node: Node, types: list[dict[str, Any]], it: Item, profile: Profile, run: _Run) -> None:
    label = node.id or node.name
    if it.type is not None:  # a choice element: the key's type must be allowed
        allowed = {t["code"][0].upper() + t["code"][1:] for t in types}
        if it.type not in allowed:
            run.add(
                "structure",
                f"{label}: type {it.type} is not allowed by profile {profile.url} "
                f"(allowed: {', '.join(sorted(allowed))})",
                it.path,
            )
            return
        types = [t for t in types if t["code"][0].upper() + t["code"][1:] == it.type]
    if type(it.value) is not dict:
        return
    targets = [p for t in types for p in t.get("targetProfile") or ()]
    if targets:
        _check_target(label, targets, it, profile, run)
    profiles = [p for t in types for p in t.get("profile") or ()]
    if not profiles:
        return
    code = types[0]["code"]
    if code == "Extension":
        url = it.value.get("url")
        chosen = url if url in profiles else profiles[0]
        ext = run.conf.profile(chosen)
        if ext is None:
            run.add(
                "not-supported",
                f"{label}: extension definition {chosen} is not installed; the extension was not checked",
                it.path,
                "warning",
            )
            return
        run.checked_extensions.add(id(it.value))
        _check_chain(ext, it.value, it.path, run)
        return
    found = [p for p in (run.conf.profile(u) for u in profiles) if p is not None]
    if not found:
        run.add(
            "not-supported",
            f"{label}: profile {profiles[0]} of {code} is not installed; not checked",
            it.path,
            "warning",
        )
        return
    # the value must conform to one of the listed profiles (usually there is one)
    best: list[Issue] | None = None
    for p in found:
        sub = _Run(run.conf, [], run.checked_extensions, run.depth)
        _check_chain(p, it.value, it.path, sub)
        if not any(i.severity == "error" for i in sub.issues):
            best = sub.issues
            break
        if best is None:
            best = sub.issues
    run.issues.extend(best or [])


def _check_target(label: str, targets: list[str], it: Item, profile: Profile, run: _Run) -> None:
    ref = it.value.get("reference")
    if type(ref) is not str:
        return
    kind, what, error = references.classify(ref)
    if error is not None or what is None or kind == "local":
        return
    allowed: set[str] = set()
    for t in targets:
        t = t.split("|", 1)[0]
        if t.startswith(CORE) and t[len(CORE) :] in model.resource_types():
            allowed.add(t[len(CORE) :])
        else:
            p = run.conf.profile(t)
            if p is None:
                return  # an unknown target profile: cannot narrow, the base check applies
            allowed.add(p.type)
    if "Resource" in allowed or what in allowed:
        return
    run.add(
        "value",
        f"{label}: reference to {what} is not allowed by profile {profile.url} "
        f"(allowed: {', '.join(sorted(allowed))})",
        f"{it.path}.reference",
    )


def _check_binding(label: str, url: str, it: Item, profile: Profile, run: _Run) -> None:
    v = it.value
    if v is None or type(v) is dict and not v.keys() & {"coding", "code", "system", "text"}:
        return  # e.g. a binding declared on an Extension element: applies to its value
    codes = run.conf.value_set_codes(url)
    if codes is None:
        run.add(
            "not-supported",
            f"{label}: value set {url} is not loaded; the required binding was not checked",
            it.path,
            "warning",
        )
        return
    if type(v) is str:
        ok = any(code == v for _, code in codes)
        what = repr(v)
    elif type(v) is dict and "coding" in v or type(v) is dict and "text" in v and "code" not in v:
        codings = v.get("coding") if type(v.get("coding")) is list else []
        ok = any(type(c) is dict and (c.get("system"), c.get("code")) in codes for c in codings)
        what = "no coding"
    elif type(v) is dict:
        ok = (v.get("system"), v.get("code")) in codes
        what = f"{v.get('system')}|{v.get('code')}"
    else:
        return
    if not ok:
        run.add(
            "code-invalid",
            f"{label}: {what} is not in the required value set {url} (profile {profile.url})",
            it.path,
        )


# --- slicing --------------------------------------------------------------------


def _check_slices(node: Node, items: list[Item], profile: Profile, run: _Run, where: str) -> None:
    slicing = node.ed.get("slicing") or {}
    discriminators = [d for d in slicing.get("discriminator") or () if type(d) is dict]
    rules = slicing.get("rules", "open")
    label = node.id or node.name
    if not discriminators and node.name in ("extension", "modifierExtension"):
        discriminators = [{"type": "value", "path": "url"}]
    matchers: dict[str, list[tuple[str, Any]]] = {}
    for name, s in node.slices.items():
        m = []
        for d in discriminators:
            expected = _discriminator_value(s, d)
            if expected is None:
                run.add(
                    "not-supported",
                    f"{label}: slice {name!r} uses discriminator {d.get('type')}:{d.get('path')}, "
                    f"which this server cannot evaluate; the slice was not checked (profile {profile.url})",
                    where,
                    "warning",
                )
                break
            m.append((d.get("path", "$this"), expected))
        else:
            if m:
                matchers[name] = m
    assigned: dict[str, list[Item]] = {name: [] for name in matchers}
    for it in items:
        for name, m in matchers.items():
            if all(_discriminates(it, p, expected) for p, expected in m):
                assigned[name].append(it)
                break
        else:
            if rules == "closed" and matchers and len(matchers) == len(node.slices):
                run.add(
                    "structure",
                    f"{label}: the item matches no slice and the slicing is closed (profile {profile.url})",
                    it.path,
                )
    for name, found in assigned.items():
        _check_items(node.slices[name], found, profile, run, where)


def _discriminator_value(s: Node, d: dict[str, Any]) -> tuple[str, Any] | None:
    """('value', v) / ('pattern', v) / ('type', {codes}) / ('url', url), or None."""
    kind = d.get("type")
    path = d.get("path") or "$this"
    node: Node | None = s
    if path != "$this":
        for seg in path.split("."):
            if seg.startswith(("resolve(", "extension(")) or node is None:
                return None
            node = node.children.get(seg)
    if kind in ("value", "pattern"):
        if node is not None and node.ed:
            fixed, pattern = _fixed_and_pattern(node.ed)
            if fixed is not None:
                return ("value", fixed[1])
            if pattern is not None:
                return ("pattern", pattern[1])
            if node.ed.get("binding", {}).get("strength") == "required":
                vs = node.ed["binding"].get("valueSet")
                if type(vs) is str:
                    return ("binding", vs)
        if path == "url":  # an extension slice: its url is the type profile
            url = _extension_profile(s)
            return ("value", url) if url else None
        return None
    if kind == "profile" and path == "$this":
        url = _extension_profile(s)
        return ("value", url) if url else None
    if kind == "type" and node is not None:
        codes = {t.get("code") for t in node.ed.get("type") or () if type(t) is dict}
        return ("type", codes) if codes else None
    if kind == "exists" and node is not None:
        lo, hi = node.ed.get("min"), node.ed.get("max")
        if type(lo) is int and lo > 0:
            return ("exists", True)
        if hi == "0":
            return ("exists", False)
    return None


def _extension_profile(s: Node) -> str | None:
    for t in s.ed.get("type") or ():
        if type(t) is dict and t.get("profile"):
            return str(t["profile"][0]).split("|", 1)[0]
    return None


def _discriminates(it: Item, path: str, expected: tuple[str, Any]) -> bool:
    kind, want = expected
    values = [it.value]
    if path != "$this":
        for seg in path.split("."):
            nxt: list[Any] = []
            for v in values:
                if type(v) is dict:
                    x = v.get(seg)
                    if type(x) is list:
                        nxt += x
                    elif x is not None:
                        nxt.append(x)
            values = nxt
    if kind == "exists":
        return bool(values) == want
    if kind == "type":
        if it.type is not None:
            return any(c and c[0].upper() + c[1:] == it.type for c in want)
        return any(type(v) is dict and v.get("resourceType") in want for v in values)
    if kind == "value":
        return any(v == want for v in values)
    if kind == "pattern":
        return any(_matches(v, want) for v in values)
    return False  # "binding": only as a hint; not matched without the value set


def _matches(value: Any, pattern: Any) -> bool:
    """Whether ``value`` contains ``pattern`` (FHIR pattern[x] semantics)."""
    if type(pattern) is dict:
        return type(value) is dict and all(
            k in value and _matches(value[k], p) for k, p in pattern.items() if not k.startswith("_")
        )
    if type(pattern) is list:
        items = value if type(value) is list else [value]
        return all(any(_matches(v, p) for v in items) for p in pattern)
    return value == pattern


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# --- extensions anywhere ----------------------------------------------------------


def _check_known_extensions(value: Any, path: str, run: _Run) -> None:
    """Check every extension whose url is an installed extension definition."""
    if type(value) is list:
        for i, x in enumerate(value):
            _check_known_extensions(x, f"{path}[{i}]", run)
        return
    if type(value) is not dict:
        return
    for key, v in value.items():
        name = key[1:] if key.startswith("_") else key
        sub = f"{path}.{name}"
        if key in ("extension", "modifierExtension") and type(v) is list:
            for i, ext in enumerate(v):
                if type(ext) is dict and id(ext) not in run.checked_extensions:
                    url = ext.get("url")
                    p = run.conf.profile(url) if type(url) is str else None
                    if p is not None and p.type == "Extension":
                        run.checked_extensions.add(id(ext))
                        _check_chain(p, ext, f"{sub}[{i}]", run)
        if key == "contained" or key == "resource":
            continue
        _check_known_extensions(v, sub, run)
