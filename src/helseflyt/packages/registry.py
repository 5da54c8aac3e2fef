"""The registry of installed conformance resources: profiles, extensions, value sets,
code systems, naming systems and search parameters, by canonical URL.

A :class:`Registry` is an immutable snapshot built from resources (``Registry(resources)``)
or from a store (:func:`load`). It implements
:class:`helseflyt.fhir.validation.profiles.Conformance`: compiled profiles are cached
per snapshot (compilation is idempotent, so a race between two threads is harmless).

:class:`LiveRegistry` is what the server uses: it loads the snapshot from the store on
first use and reloads it when a conformance resource has been written since (it compares
the newest history ``seq`` of the conformance types, one indexed query per type; only
resources that claim a profile or ask for one pay for it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import cache, cached_property
from typing import Any

from helseflyt.fhir import json as fjson
from helseflyt.fhir import model
from helseflyt.fhir.validation.profiles import Profile, compile_profile
from helseflyt.storage.base import HistoryQuery, Reader, Store

__all__ = ["CONFORMANCE_TYPES", "Hierarchy", "LiveRegistry", "Registry", "load"]

CONFORMANCE_TYPES = ("StructureDefinition", "ValueSet", "CodeSystem", "NamingSystem", "SearchParameter")


def _canonical(url: str) -> str:
    return url.split("|", 1)[0]


class Registry:
    """An immutable snapshot of the installed conformance resources."""

    def __init__(self, resources: Iterable[dict[str, Any]] = ()) -> None:
        self.by_type: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in CONFORMANCE_TYPES}
        for r in resources:
            rt = r.get("resourceType")
            url = r.get("url")
            if rt in self.by_type and type(url) is str:
                self.by_type[rt][_canonical(url)] = r
            elif rt == "NamingSystem" and type(r.get("name")) is str:
                self.by_type[rt][r["name"]] = r
        self._profiles: dict[str, Profile | None] = {}
        self._value_sets: dict[str, frozenset[tuple[str, str]] | None] = {}
        self._hierarchies: dict[str, Hierarchy | str] = {}
        self._lock = threading.Lock()

    # --- Conformance ---------------------------------------------------------

    def structure_definition(self, url: str) -> dict[str, Any] | None:
        return self.by_type["StructureDefinition"].get(_canonical(url))

    def profile(self, url: str) -> Profile | None:
        url = _canonical(url)
        if url in self._profiles:
            return self._profiles[url]
        sd = self.structure_definition(url)
        compiled = compile_profile(sd) if sd is not None and sd.get("derivation") == "constraint" else None
        with self._lock:
            self._profiles[url] = compiled
        return compiled

    def value_set_codes(self, url: str) -> frozenset[tuple[str, str]] | None:
        url = _canonical(url)
        if url in self._value_sets:
            return self._value_sets[url]
        codes = self._expand(url, set())
        with self._lock:
            self._value_sets[url] = codes
        return codes

    # --- terminology ---------------------------------------------------------

    def value_set(self, url: str) -> dict[str, Any] | None:
        return self.by_type["ValueSet"].get(_canonical(url))

    def code_system(self, url: str) -> dict[str, Any] | None:
        return self.by_type["CodeSystem"].get(_canonical(url))

    def concepts(self, system: str) -> dict[str, dict[str, Any]] | None:
        """Code -> concept of an installed CodeSystem with its content; None if absent."""
        cs = self.code_system(system)
        if cs is None or cs.get("content") in ("not-present", None) and not cs.get("concept"):
            return None
        out: dict[str, dict[str, Any]] = {}

        def walk(items: Any) -> None:
            for c in items or ():
                if type(c) is dict and type(c.get("code")) is str:
                    out[c["code"]] = c
                    walk(c.get("concept"))

        walk(cs.get("concept"))
        return out

    def hierarchy(self, system: str) -> Hierarchy | str:
        """The is-a hierarchy of an installed, complete CodeSystem (nested ``concept``s,
        ``parent``/``child`` properties), or why it is not known."""
        with self._lock:
            if system in self._hierarchies:
                return self._hierarchies[system]
        cs = self.code_system(system)
        found: Hierarchy | str
        if cs is None:
            found = "no CodeSystem with this url is installed"
        elif cs.get("content") != "complete":
            found = f"the installed CodeSystem has content {cs.get('content')!r}, not complete"
        elif cs.get("hierarchyMeaning") not in (None, "is-a"):
            found = f"its hierarchy means {cs['hierarchyMeaning']!r}, not is-a"
        else:
            found = Hierarchy.of(cs)
        with self._lock:
            self._hierarchies[system] = found
        return found

    def _expand(self, url: str, seen: set[str]) -> frozenset[tuple[str, str]] | None:
        if url in seen:
            return frozenset()
        seen.add(url)
        vs = self.value_set(url)
        if vs is None:
            return model.value_set_codes(url)
        expansion = vs.get("expansion")
        if type(expansion) is dict and "contains" in expansion and "compose" not in vs:
            return frozenset(_flatten_expansion(expansion.get("contains")))
        compose = vs.get("compose")
        if type(compose) is not dict:
            return None
        result: set[tuple[str, str]] = set()
        for inc in compose.get("include") or ():
            part = self._include(inc, seen)
            if part is None:
                return None
            result |= part
        for exc in compose.get("exclude") or ():
            part = self._include(exc, seen)
            if part is None:
                return None
            result -= part
        return frozenset(result)

    def _include(self, inc: dict[str, Any], seen: set[str]) -> set[tuple[str, str]] | None:
        system = inc.get("system")
        codes: set[tuple[str, str]] | None = None
        if inc.get("filter"):
            found = self._filtered(system, inc["filter"])
            if found is None:
                return None
            codes = {(system, c) for c in found}
        elif type(system) is str:
            if inc.get("concept"):
                codes = {(system, c["code"]) for c in inc["concept"] if type(c.get("code")) is str}
            else:
                concepts = self.concepts(system)
                if concepts is None:
                    core = _core_system_codes(system)
                    if core is None:
                        return None
                    codes = set(core)
                else:
                    codes = {(system, c) for c in concepts}
        for vs_url in inc.get("valueSet") or ():
            sub = self._expand(_canonical(vs_url), seen)
            if sub is None:
                return None
            codes = set(sub) if codes is None else codes & set(sub)
        return codes if codes is not None else set()

    def _filtered(self, system: Any, filters: Any) -> set[str] | None:
        """Codes of ``system`` that pass every ``concept`` filter with op ``is-a``,
        ``descendent-of``, ``is-not-a`` or ``=`` (the code itself) over its is-a
        hierarchy; None for other filters or an unknown hierarchy."""
        hierarchy = self.hierarchy(system) if type(system) is str else "no system"
        if isinstance(hierarchy, str) or type(filters) is not list:
            return None
        out: set[str] | None = None
        for f in filters:
            if type(f) is not dict or f.get("property") != "concept" or type(f.get("value")) is not str:
                return None
            code, op = f["value"], f.get("op")
            if op == "is-a":
                these = hierarchy.below(code)
            elif op == "descendent-of":
                these = hierarchy.below(code) - {code}
            elif op == "is-not-a":
                these = set(hierarchy.parents) - hierarchy.below(code)
            elif op == "=":
                these = {code}
            else:
                return None
            these &= set(hierarchy.parents)  # codes of the system only
            out = these if out is None else out & these
        return out

    # --- listing -------------------------------------------------------------

    @cached_property
    def extensions(self) -> list[str]:
        return sorted(
            u for u, sd in self.by_type["StructureDefinition"].items() if sd.get("type") == "Extension"
        )

    def counts(self) -> dict[str, int]:
        return {t: len(v) for t, v in self.by_type.items()}


class Hierarchy:
    """The is-a links of a CodeSystem: ``parents`` has every code (with its parents)."""

    __slots__ = ("children", "parents")

    def __init__(self) -> None:
        self.parents: dict[str, set[str]] = {}
        self.children: dict[str, set[str]] = {}

    @classmethod
    def of(cls, cs: dict[str, Any]) -> Hierarchy:
        h = cls()

        def walk(items: Any, parent: str | None) -> None:
            for c in items or ():
                if type(c) is not dict or type(c.get("code")) is not str:
                    continue
                h.parents.setdefault(c["code"], set())
                if parent is not None:
                    h.link(parent, c["code"])
                for prop in c.get("property") or ():
                    value = prop.get("valueCode") if type(prop) is dict else None
                    if type(value) is str and prop.get("code") == "parent":
                        h.link(value, c["code"])
                    elif type(value) is str and prop.get("code") == "child":
                        h.link(c["code"], value)
                walk(c.get("concept"), c["code"])

        walk(cs.get("concept"), None)
        return h

    def link(self, parent: str, child: str) -> None:
        self.parents.setdefault(child, set()).add(parent)
        self.children.setdefault(parent, set()).add(child)

    def below(self, code: str) -> set[str]:
        """The code and its descendants."""
        return self._closure(code, self.children)

    def above(self, code: str) -> set[str]:
        """The code and its ancestors."""
        return self._closure(code, self.parents)

    @staticmethod
    def _closure(code: str, step: dict[str, set[str]]) -> set[str]:
        found, todo = {code}, [code]
        while todo:
            for other in step.get(todo.pop(), ()):
                if other not in found:
                    found.add(other)
                    todo.append(other)
        return found


def _flatten_expansion(items: Any) -> Iterable[tuple[str, str]]:
    for c in items or ():
        if type(c) is dict:
            if type(c.get("system")) is str and type(c.get("code")) is str:
                yield (c["system"], c["code"])
            yield from _flatten_expansion(c.get("contains"))


def _core_system_codes(system: str) -> frozenset[tuple[str, str]] | None:
    """The codes of a core R4 code system, as far as the core value sets enumerate it."""
    return _core_systems().get(system)


@cache
def _core_systems() -> dict[str, frozenset[tuple[str, str]]]:
    from helseflyt.fhir.model import _value_sets  # the generated R4 value sets

    by_system: dict[str, set[tuple[str, str]]] = {}
    for pairs in _value_sets()[0].values():
        for system, code in pairs:
            by_system.setdefault(system, set()).add((system, code))
    return {s: frozenset(p) for s, p in by_system.items()}


def read_all(reader: Reader, types: Iterable[str] = CONFORMANCE_TYPES) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for t in types:
        for rid in reader.find(t):
            v = reader.read(t, rid)
            if v is not None and v.body is not None:
                out.append(fjson.loads(v.body))
    return out


def load(store: Store) -> Registry:
    """A snapshot of the conformance resources stored in ``store``."""
    with store.reader() as reader:
        return Registry(read_all(reader))


def _stamp(reader: Reader) -> tuple[int, ...]:
    out = []
    for t in ("StructureDefinition", "ValueSet", "CodeSystem"):
        newest = reader.history(HistoryQuery(type=t, count=1))
        out.append(newest[0].seq if newest else 0)
    return tuple(out)


class LiveRegistry:
    """The server's registry: loaded lazily, reloaded after a conformance write."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._snapshot: Registry | None = None
        self._stamp: tuple[int, ...] | None = None
        self._lock = threading.Lock()

    def current(self) -> Registry:
        with self.store.reader() as reader:
            stamp = _stamp(reader)
            if self._snapshot is not None and stamp == self._stamp:
                return self._snapshot
            snapshot = Registry(read_all(reader))
        with self._lock:
            self._snapshot, self._stamp = snapshot, stamp
        return snapshot
