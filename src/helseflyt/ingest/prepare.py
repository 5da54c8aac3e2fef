"""The CPU-heavy half of a bulk load, run in worker processes: parse, plan, validate.

:func:`prepare` turns a :class:`~helseflyt.ingest.sources.Document` into a
:class:`Prepared` unit of work for the writing process, touching no storage:

* a **transaction** Bundle is planned and, unless an entry needs a search
  (``ifNoneExist``, conditional URL or reference), fully prepared here: server ids
  assigned, ``urn:uuid:`` references rewritten, every resource validated. A failing
  entry fails the whole Bundle, as over REST. If it holds only POSTs (Synthea) the
  result is a ready ``put_many`` payload; otherwise the Plan goes to the writer;
* a **batch** Bundle goes to the writer as a Plan (each entry runs on its own there);
* a **collection** (or any other Bundle type), an NDJSON chunk or a single resource is
  stored *as is*: each resource keeps its id (a new one if it has none) and is
  validated; an invalid one is reported with its line/entry and not stored.

The ready ``put_many`` items carry each resource as
:class:`~helseflyt.storage.base.Serialized` (its final body bytes minus
``meta.versionId``/``lastUpdated``, and its index rows, made with the store's
indexer): the writer neither parses nor serialises. When the store's indexer is not
known the payload is FHIR JSON bytes (``[[type, id, resource], ...]``) instead: parsing
it in the writer costs far less than unpickling the same dicts.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from helseflyt.errors import FhirError, Issue
from helseflyt.fhir import json as fjson
from helseflyt.ingest.report import LoadError
from helseflyt.ingest.sources import Document
from helseflyt.interactions.body import valid_id
from helseflyt.interactions.transaction import Plan, check_identities, plan_bundle
from helseflyt.interactions.transaction import prepare as prepare_plan
from helseflyt.interactions.types import is_resource_type
from helseflyt.storage.base import Indexer, Serialized
from helseflyt.storage.common import serialize

Validate = Callable[[Any, str | None], list[Issue]]
Item = tuple[str, str, Serialized | dict[str, Any]]

BASE_URL = ""  # bulk input has no server base; absolute request URLs are refused


def default_validate(resource: Any, res_type: str | None) -> list[Issue]:
    """The R4 validator (:func:`helseflyt.fhir.validation.validate`)."""
    from helseflyt.fhir.validation import validate

    return validate(resource, expected_type=res_type)


@dataclass(slots=True)
class Prepared:
    source: str
    errors: list[LoadError] = field(default_factory=list)
    payload: bytes | None = None  # JSON [[type, id, resource], ...] for one put_many
    items: list[Item] | None = None  # or these (Serialized when the indexer is known)
    count: int = 0  # resources in payload or items
    plan: Plan | None = None  # a Bundle the writer runs (it needs the store)


def new_id() -> str:
    """A random (version 4) UUID, as ``str(uuid.uuid4())``, from a batch of random
    bytes: 0.5 instead of 3.3 µs each (one per resource of a load)."""
    if not _ids:
        _ids.extend(_uuid4_batch(256))
    return _ids.pop()


def _uuid4_batch(n: int) -> list[str]:
    raw = os.urandom(16 * n)
    out = []
    for k in range(0, 16 * n, 16):
        h = raw[k : k + 16].hex()  # version nibble 4, variant bits 10 (RFC 4122)
        out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}")
    return out


_ids: list[str] = []
os.register_at_fork(after_in_child=_ids.clear)  # a forked worker must not repeat the parent's


def _message(exc: FhirError) -> str:
    return "; ".join(
        i.diagnostics + (f" [{', '.join(i.expression)}]" if i.expression else "")
        for i in exc.issues
        if i.severity in ("error", "fatal")
    ) or str(exc)


class _Unknown:
    """``indexer=UNKNOWN``: the store's indexer is not known, make JSON payloads."""


UNKNOWN = _Unknown()


def prepare(
    doc: Document, validate: Validate = default_validate, indexer: Indexer | None | _Unknown = UNKNOWN
) -> Prepared:
    """``indexer``: the store's (None if it has none): resources come ``Serialized``."""
    was = gc.isenabled()
    gc.disable()  # parsing creates millions of objects and no cycles: the GC only costs
    try:
        out = _prepare(doc, validate)
        if out.items is not None:
            if isinstance(indexer, _Unknown):
                out.payload, out.items = fjson.dumps(out.items), None
            else:
                out.items = _serialized(out.items, indexer)
        return out
    finally:
        if was:
            gc.enable()


def _serialized(items: list[Item], indexer: Indexer | None) -> list[Item]:
    out: list[Item] = []
    for t, i, r in items:
        s = serialize(t, i, r, indexer) if type(r) is dict else None
        out.append((t, i, r if s is None else s))
    return out


def _prepare(doc: Document, validate: Validate) -> Prepared:
    out = Prepared(doc.source)
    if doc.ndjson:
        items = []
        for n, line in enumerate(doc.data.splitlines(), start=doc.first_line):
            if not line.strip():
                continue
            try:
                items.append((fjson.loads(line), n, None))
            except fjson.JSONDecodeError as exc:
                out.errors.append(LoadError(doc.source, f"malformed JSON: {exc}", line=n))
        _as_is(out, items, validate)
        return out
    try:
        data = fjson.loads(doc.data)
    except fjson.JSONDecodeError as exc:
        out.errors.append(LoadError(doc.source, f"malformed JSON: {exc}"))
        return out
    if not isinstance(data, dict):
        out.errors.append(LoadError(doc.source, "not a FHIR resource (a JSON object was expected)"))
        return out
    if data.get("resourceType") == "Bundle" and data.get("type") in ("transaction", "batch"):
        _bundle(out, data, validate)
    elif data.get("resourceType") == "Bundle" and data.get("type") not in ("document", "message"):
        entries = data.get("entry") or []
        _as_is(
            out,
            [(e.get("resource") if isinstance(e, dict) else None, None, i) for i, e in enumerate(entries)],
            validate,
        )
    else:
        _as_is(out, [(data, None, None)], validate)
    return out


def _bundle(out: Prepared, bundle: dict[str, Any], validate: Validate) -> None:
    try:
        plan = plan_bundle(bundle, base_url=BASE_URL, new_id=new_id)
        if plan.kind == "transaction" and not plan.needs_store:
            check_identities(plan)
            prepare_plan(plan, validate)
    except FhirError as exc:
        entry = None
        for issue in exc.issues:
            for expr in issue.expression:
                if expr.startswith("Bundle.entry["):
                    entry = int(expr[len("Bundle.entry[") : expr.index("]")])
                    break
        out.errors.append(LoadError(out.source, _message(exc), entry=entry))
        return
    if plan.kind == "transaction" and plan.prepared and all(e.method == "POST" for e in plan.entries):
        out.items = [(e.type, e.id or "", e.resource or {}) for e in plan.entries]
        out.count = len(plan.entries)
    else:
        out.plan = plan


def _as_is(out: Prepared, items: list[tuple[Any, int | None, int | None]], validate: Validate) -> None:
    """Resources stored with their own ids after validation (collection, NDJSON, single)."""
    puts: list[Item] = []
    for resource, line, entry in items:
        where = {"line": line, "entry": entry}
        if not isinstance(resource, dict) or not is_resource_type(resource.get("resourceType", "")):
            out.errors.append(LoadError(out.source, "not a FHIR resource (no known resourceType)", **where))
            continue
        res_type = resource["resourceType"]
        res_id = resource.get("id")
        if res_id is None:
            res_id = resource["id"] = new_id()
        elif not valid_id(res_id):
            out.errors.append(LoadError(out.source, f"invalid id {res_id!r}", **where))
            continue
        issues = [i for i in validate(resource, res_type) if i.severity in ("error", "fatal")]
        if issues:
            msg = "; ".join(
                i.diagnostics + (f" [{', '.join(i.expression)}]" if i.expression else "") for i in issues
            )
            out.errors.append(LoadError(out.source, f"invalid {res_type}/{res_id}: {msg}", **where))
            continue
        puts.append((res_type, res_id, resource))
    if puts:
        out.items = puts
        out.count = len(puts)
