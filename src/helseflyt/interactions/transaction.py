"""batch and transaction: ``POST [base]`` with a Bundle
(https://hl7.org/fhir/R4/http.html#transaction, processing rules §3.1.0.11.2).

Signature: ``process_bundle(ctx, bundle, *, prefer=None) -> Result`` (``bundle`` is the
parsed request body, consumed: its resources are rewritten in place).

A **transaction** runs in one ``ctx.store.transaction()``: all entries are written or
none, also if the process dies mid-way (the database guarantees it). Steps:

1. The Bundle's shape is checked; every problem is reported at once, each naming its
   element (``Bundle.entry[3].request.url``).
2. *Planning* (no storage access): every POST gets its server id up front and every
   ``fullUrl`` (``urn:uuid:``, ``urn:oid:`` or absolute) is mapped to ``Type/id``.
3. Inside the storage transaction, the parts that need a search are resolved:
   ``ifNoneExist`` (one match: the entry's fullUrl maps to the existing resource and
   nothing is written), conditional PUT/DELETE/PATCH, and conditional references
   (``Patient?identifier=s|v``: exactly one match, else the transaction fails with 412
   for several matches and 400 for none). Two entries writing the same resource → 400.
4. References are rewritten everywhere in every resource
   (:func:`helseflyt.fhir.references.rewrite`) and every resource is validated; any
   problem fails the whole transaction with that entry's OperationOutcome (each
   issue's expression is rooted at ``Bundle.entry[n]``).
5. Writes in the order DELETE, POST (one ``put_many``), PUT/PATCH, then reads (GET,
   HEAD), as the spec orders them.

When no entry needs a search (the common case, e.g. Synthea), steps 3-4 run *before*
the write lock is taken, so concurrent transactions validate in parallel and hold the
lock only while writing.

A **batch** (see :mod:`helseflyt.interactions.batch`) runs each entry on its own, in
its own storage transaction; a failing entry gets its OperationOutcome in
``response.outcome`` and the others go on.

Response entries carry ``response.status`` ("201 Created"), ``location``, ``etag`` and
``lastModified`` always. ``Prefer: return=minimal`` (the default, as HAPI FHIR does for
transactions: the response stays small and fast) adds nothing else;
``return=representation`` adds the stored ``resource``; ``return=OperationOutcome``
adds ``response.outcome``. GET entries always carry their resource (read, vread) or a
``searchset`` Bundle (search by the criteria of :mod:`helseflyt.search.conditional`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from helseflyt.errors import (
    FhirError,
    InvalidRequest,
    InvalidResource,
    Issue,
    PreconditionFailed,
)
from helseflyt.fhir import json as fjson
from helseflyt.fhir.references import iter_references, rewrite
from helseflyt.interactions.body import require_resource, valid_id
from helseflyt.interactions.context import Context, Result
from helseflyt.interactions.outcomes import information
from helseflyt.interactions.preconditions import check_if_match
from helseflyt.interactions.types import is_resource_type
from helseflyt.search.conditional import parse_criteria
from helseflyt.storage.base import Reader, ResourceVersion, Transaction
from helseflyt.storage.common import instant, to_micros

__all__ = ["Entry", "Plan", "plan_bundle", "process_bundle", "resolve", "run_plan"]

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
WRITES = frozenset(("POST", "PUT", "PATCH", "DELETE"))

# (resource, type) -> issues; ``Context.validate`` or the validator itself.
Validate = Callable[[Any, str | None], list[Issue]]


@dataclass(slots=True)
class Entry:
    """One ``Bundle.entry`` with its request decoded."""

    index: int
    method: str
    url: str
    type: str
    id: str | None = None
    vid: str | None = None  # GET .../_history/[vid]
    query: str | None = None  # criteria after "?" (conditional or search)
    full_url: str | None = None
    resource: dict[str, Any] | None = None
    if_none_exist: str | None = None
    if_match: str | None = None
    existing: ResourceVersion | None = None  # ifNoneExist matched this one
    targets: list[str] = field(default_factory=list)  # conditional DELETE: ids matched

    @property
    def where(self) -> str:
        return f"Bundle.entry[{self.index}]"

    @property
    def label(self) -> str:
        return f"entry {self.index} ({self.method} {self.url})"


@dataclass(slots=True)
class Plan:
    """A checked Bundle, ready to run: ids assigned, fullUrls mapped."""

    kind: str  # "transaction" | "batch"
    entries: list[Entry]
    mapping: dict[str, str]  # fullUrl (and Type/clientId of POSTs) -> Type/serverId
    needs_store: bool  # some entry needs a search inside the transaction
    prepared: bool = False  # references rewritten and resources validated
    invalid: dict[int, list[Issue]] = field(default_factory=dict)  # batch: malformed entries

    @property
    def writes(self) -> int:
        return sum(1 for e in self.entries if e.method in WRITES and e.existing is None)


def reason(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def at_entry(entry: Entry, exc: FhirError) -> FhirError:
    """The same error, its issues' expressions rooted at ``Bundle.entry[n]``."""
    issues = []
    for issue in exc.issues:
        exprs = tuple(_root(entry, e) for e in issue.expression) or (entry.where,)
        diag = issue.diagnostics
        if not diag.startswith("entry "):
            diag = f"{entry.label}: {diag}"
        issues.append(Issue(diag, issue.code, issue.severity, exprs))
    out = type(exc)(f"{entry.label}: {exc}", issues=issues, status=exc.status, headers=exc.headers)
    return out


def _root(entry: Entry, expr: str) -> str:
    if expr.startswith("Bundle.entry["):
        return expr
    head, dot, rest = expr.partition(".")
    if head == entry.type:
        return f"{entry.where}.resource" + (f".{rest}" if dot else "")
    if head in ("request", "resource", "fullUrl"):
        return f"{entry.where}.{expr}"
    return f"{entry.where}.resource.{expr}"


# --- 1. shape -----------------------------------------------------------------------


def split_url(url: str, base_url: str) -> tuple[str, str | None, str | None, str | None]:
    """``Type[/id[/_history/vid]][?query]`` relative to the base → its parts."""
    if base_url and url.startswith(base_url + "/"):
        url = url[len(base_url) + 1 :]
    elif "://" in url:
        raise InvalidRequest(f"request.url {url!r} is not on this server: use a URL relative to the base")
    path, sep, query = url.lstrip("/").partition("?")
    parts = [unquote(p) for p in path.split("/")] if path else []
    if not parts or not is_resource_type(parts[0]):
        raise InvalidRequest(f"request.url {url!r} must start with a resource type")
    res_id = vid = None
    if len(parts) >= 2:
        res_id = parts[1]
        if not valid_id(res_id):
            raise InvalidRequest(f"request.url {url!r}: invalid id {res_id!r}")
    if len(parts) == 4 and parts[2] == "_history":
        vid = parts[3]
    elif len(parts) > 2:
        raise InvalidRequest(f"request.url {url!r} is not supported in a Bundle entry")
    return parts[0], res_id, vid, (query if sep else None)


def _shape(bundle: Any, base_url: str) -> tuple[str, list[Entry], dict[int, list[Issue]]]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidRequest(
            "a batch or transaction must be a Bundle",
            issues=[Issue("the body must be a Bundle resource", "invalid", expression=("Bundle",))],
        )
    kind = bundle.get("type")
    if kind not in ("transaction", "batch"):
        raise InvalidRequest(
            f"Bundle.type must be transaction or batch, not {kind!r}",
            issues=[
                Issue(f"Bundle.type must be transaction or batch, not {kind!r}", expression=("Bundle.type",))
            ],
        )
    raw_entries = bundle.get("entry", [])
    if not isinstance(raw_entries, list):
        raise InvalidRequest(
            "Bundle.entry must be an array",
            issues=[Issue("Bundle.entry must be an array", expression=("Bundle.entry",))],
        )
    entries: list[Entry] = []
    issues: list[Issue] = []
    invalid: dict[int, list[Issue]] = {}
    for i, raw in enumerate(raw_entries):
        entry, problems = _entry(i, raw, base_url, kind)
        issues += problems
        if problems:
            invalid[i] = problems
        if entry is not None:
            entries.append(entry)
    if issues and kind == "transaction":
        raise InvalidRequest(f"the transaction Bundle is malformed ({len(issues)} problems)", issues=issues)
    if kind == "transaction":
        seen: dict[str, int] = {}
        for e in entries:
            if e.full_url is not None:
                if e.full_url in seen:
                    raise InvalidRequest(
                        f"fullUrl {e.full_url} appears in entries {seen[e.full_url]} and {e.index}",
                        issues=[
                            Issue(
                                f"fullUrl {e.full_url} already used by entry {seen[e.full_url]}",
                                expression=(f"{e.where}.fullUrl",),
                            )
                        ],
                    )
                seen[e.full_url] = e.index
    return kind, entries, invalid


def _entry(i: int, raw: Any, base_url: str, kind: str) -> tuple[Entry | None, list[Issue]]:
    where = f"Bundle.entry[{i}]"
    if not isinstance(raw, dict):
        return None, [Issue("an entry must be an object", expression=(where,))]
    request = raw.get("request")
    if not isinstance(request, dict):
        return None, [Issue("the entry has no request", "required", expression=(f"{where}.request",))]
    method, url = request.get("method"), request.get("url")
    problems = []
    if method not in METHODS:
        problems.append(
            Issue(
                f"request.method must be one of {', '.join(METHODS)}, not {method!r}",
                "required" if method is None else "value",
                expression=(f"{where}.request.method",),
            )
        )
    if not isinstance(url, str) or not url:
        problems.append(Issue("request.url is missing", "required", expression=(f"{where}.request.url",)))
    if problems:
        return None, problems
    try:
        res_type, res_id, vid, query = split_url(url, base_url)
    except InvalidRequest as exc:
        return None, [Issue(str(exc), expression=(f"{where}.request.url",))]
    full_url = raw.get("fullUrl")
    if full_url is not None and not isinstance(full_url, str):
        return None, [Issue("fullUrl must be a string", expression=(f"{where}.fullUrl",))]
    resource = raw.get("resource")
    entry = Entry(i, method, url, res_type, res_id, vid, query, full_url, None)
    entry.if_none_exist = request.get("ifNoneExist")
    entry.if_match = request.get("ifMatch")
    rule = _url_rule(entry)
    if rule:
        return None, [Issue(rule, expression=(f"{where}.request.url",))]
    if method in ("POST", "PUT", "PATCH"):
        if not isinstance(resource, dict):
            return None, [
                Issue(f"a {method} entry needs a resource", "required", expression=(f"{where}.resource",))
            ]
        entry.resource = resource
    elif resource is not None:
        return None, [Issue(f"a {method} entry must not have a resource", expression=(f"{where}.resource",))]
    if entry.if_none_exist is not None and (method != "POST" or not isinstance(entry.if_none_exist, str)):
        return None, [
            Issue("ifNoneExist is a string, only for POST", expression=(f"{where}.request.ifNoneExist",))
        ]
    if entry.if_match is not None and (
        method not in ("PUT", "PATCH", "DELETE") or not isinstance(entry.if_match, str)
    ):
        return None, [
            Issue(
                "ifMatch is a string, only for PUT, PATCH and DELETE",
                expression=(f"{where}.request.ifMatch",),
            )
        ]
    return entry, []


def _url_rule(e: Entry) -> str | None:
    if e.type == "AuditEvent" and e.method != "GET":  # the audit trail is read-only (docs/audit.md)
        return f"{e.method} on AuditEvent is not allowed: audit records are written by the server only"
    if e.method == "POST" and (e.id is not None or e.query is not None):
        return f"POST must name a type only ({e.type}), not {e.url!r}"
    if e.method in ("PUT", "PATCH", "DELETE"):
        if e.vid is not None:
            return f"{e.method} cannot target a version: {e.url!r}"
        if e.id is None and not e.query:
            return f"{e.method} needs [type]/[id] or [type]?[criteria], not {e.url!r}"
        if e.id is not None and e.query:
            return f"{e.method} takes [type]/[id] or [type]?[criteria], not both: {e.url!r}"
    return None


# --- 2. planning (no storage) ---------------------------------------------------------


def plan_bundle(bundle: Any, *, base_url: str, new_id: Callable[[], str]) -> Plan:
    """Check the Bundle and assign ids; no storage access (safe in a worker process)."""
    kind, entries, invalid = _shape(bundle, base_url)
    mapping: dict[str, str] = {}
    needs_store = False
    for e in entries:
        if e.method == "POST":
            assert e.resource is not None
            e.id = new_id()
            if kind == "transaction" and e.full_url:
                mapping[e.full_url] = f"{e.type}/{e.id}"
                _relative_alias(mapping, e, base_url)
            needs_store |= e.if_none_exist is not None
        elif e.method in ("PUT", "PATCH", "DELETE"):
            needs_store |= e.id is None  # conditional
            if kind == "transaction" and e.full_url and e.id is not None:
                mapping[e.full_url] = f"{e.type}/{e.id}"
    # Conditional references are found while rewriting (see ``prepare``).
    return Plan(kind, entries, mapping, needs_store, invalid=invalid)


def _relative_alias(mapping: dict[str, str], e: Entry, base_url: str) -> None:
    """An absolute fullUrl ``[base]/Type/id`` is also known as ``Type/id`` in the bundle."""
    full = e.full_url or ""
    if "://" in full and not full.startswith("urn:"):
        tail = full.rstrip("/").split("/")
        if len(tail) >= 2 and tail[-2] == e.type:
            alias = f"{e.type}/{tail[-1]}"
            mapping.setdefault(alias, f"{e.type}/{e.id}")
            if base_url and full != f"{base_url}/{alias}":
                mapping.setdefault(f"{base_url}/{alias}", f"{e.type}/{e.id}")


# --- 3. resolution (inside the storage transaction) ------------------------------------


def _one(reader: Reader, res_type: str, query: str, what: str) -> str | None:
    ids = parse_criteria(query, what=what).find(reader, res_type, limit=2)
    if len(ids) > 1:
        raise PreconditionFailed(f"{what} {res_type}?{query} matches more than one resource")
    return ids[0] if ids else None


def resolve(plan: Plan, reader: Reader, new_id: Callable[[], str]) -> None:
    """Resolve ifNoneExist and conditional PUT/PATCH/DELETE targets (needs a search)."""
    for e in plan.entries:
        try:
            _resolve_entry(plan, e, reader, new_id)
        except FhirError as exc:
            raise at_entry(e, exc) from exc


def _resolve_entry(plan: Plan, e: Entry, reader: Reader, new_id: Callable[[], str]) -> None:
    if e.method == "POST" and e.if_none_exist is not None:
        query = e.if_none_exist.split("?", 1)[1] if "?" in e.if_none_exist else e.if_none_exist
        found = _one(reader, e.type, query, "conditional create (ifNoneExist)")
        if found is not None:
            e.existing = reader.read(e.type, found)
            e.id = found
            if e.full_url and plan.kind == "transaction":
                plan.mapping[e.full_url] = f"{e.type}/{found}"
    elif e.method in ("PUT", "PATCH") and e.id is None:
        assert e.query is not None
        found = _one(reader, e.type, e.query, f"conditional {e.method.lower()}")
        if found is None:
            if e.method == "PATCH":
                raise PreconditionFailed(f"conditional patch {e.type}?{e.query} matches nothing")
            client_id = (e.resource or {}).get("id")
            found = client_id if valid_id(client_id) else new_id()
        e.id = found
        if e.full_url and plan.kind == "transaction":
            plan.mapping[e.full_url] = f"{e.type}/{found}"
    elif e.method == "DELETE" and e.id is None:
        assert e.query is not None
        ids = parse_criteria(e.query, what="conditional delete").find(reader, e.type, limit=2)
        if len(ids) > 1:
            raise PreconditionFailed(f"conditional delete {e.type}?{e.query} matches more than one resource")
        e.targets = ids


def check_identities(plan: Plan) -> None:
    """Two entries of a transaction must not write the same resource (R4 §3.1.0.11.2)."""
    seen: dict[tuple[str, str], Entry] = {}
    for e in plan.entries:
        if e.method not in WRITES or e.existing is not None:
            continue
        for rid in e.targets if e.method == "DELETE" and e.id is None else [e.id]:
            if rid is None:
                continue
            key = (e.type, rid)
            if key in seen:
                first = seen[key]
                raise InvalidRequest(
                    f"{e.type}/{rid} is written by entries {first.index} and {e.index}",
                    issues=[
                        Issue(
                            f"{e.type}/{rid} is already written by entry {first.index} "
                            "(a transaction may touch each resource once)",
                            "invalid",
                            expression=(f"{e.where}.request.url",),
                        )
                    ],
                )
            seen[key] = e


# --- 4. rewrite references and validate -------------------------------------------------


def prepare(plan: Plan, validate: Validate, reader: Reader | None = None) -> None:
    """Rewrite links and validate every resource; raise the first failing entry's error.

    ``reader`` answers conditional references; without one the plan must not need any.
    """

    def conditional(ref: str) -> str:
        if reader is None:
            raise _NeedsStore(ref)
        res_type, _, query = ref.partition("?")
        if not is_resource_type(res_type):
            raise InvalidRequest(f"conditional reference {ref!r} does not start with a resource type")
        ids = parse_criteria(query, what="conditional reference").find(reader, res_type, limit=2)
        if len(ids) > 1:
            raise PreconditionFailed(f"conditional reference {ref!r} matches more than one {res_type}")
        if not ids:
            raise InvalidRequest(f"conditional reference {ref!r} matches no {res_type}", status=400)
        return f"{res_type}/{ids[0]}"

    for e in plan.entries:
        if e.resource is None or e.existing is not None:
            continue
        try:
            prepare_entry(plan, e, validate, conditional if plan.kind == "transaction" else None)
        except _NeedsStore:
            # A conditional reference: redo it all inside the transaction. Rewriting
            # is idempotent (mapped values are never fullUrls), so a second pass is exact.
            plan.needs_store = True
            return
        except FhirError as exc:
            raise at_entry(e, exc) from exc
    plan.prepared = True


class _NeedsStore(Exception):
    """A conditional reference was met while preparing without a store."""


def prepare_entry(plan: Plan, e: Entry, validate: Validate, conditional: Callable[[str], str] | None) -> None:
    assert e.resource is not None
    if e.method == "PATCH":
        return  # the patch document is applied to the stored resource, then validated
    resource = require_resource(e.resource, e.type)
    if e.method == "PUT" and e.query is None and resource.get("id") != e.id:
        raise InvalidRequest(
            f"the resource id {resource.get('id')!r} must equal the id in request.url ({e.id})",
            issues=[Issue("resource id does not match request.url", expression=(f"{e.type}.id",))],
        )
    rewrite(resource, plan.mapping, conditional)
    if plan.kind == "batch":
        _no_bundle_links(plan, resource)
    if e.id is not None:
        resource["id"] = e.id
    issues = validate(resource, e.type)
    errors = [i for i in issues if i.severity in ("error", "fatal")]
    if errors:
        raise InvalidResource(f"the {e.type} resource is invalid ({len(errors)} errors)", issues=list(issues))


def _no_bundle_links(plan: Plan, resource: dict[str, Any]) -> None:
    urls = {e.full_url for e in plan.entries if e.full_url}
    for ref in iter_references(resource):
        if ref in urls and ref.startswith("urn:"):
            raise InvalidRequest(
                f"reference {ref!r} points to another entry of the batch: batch entries are "
                "independent, use a transaction Bundle to link new resources"
            )


# --- 5. execution ---------------------------------------------------------------------


def run_plan(tx: Transaction, ctx: Context, plan: Plan, validate: Validate) -> dict[int, Result]:
    """Run a (transaction) plan inside ``tx``; one Result per entry index."""
    if plan.needs_store or not plan.prepared:
        resolve(plan, tx, ctx.new_id)
        check_identities(plan)
        prepare(plan, validate, tx)
    else:
        check_identities(plan)
    results: dict[int, Result] = {}
    ordered = sorted(plan.entries, key=lambda e: ORDER[e.method])
    posts = [e for e in ordered if e.method == "POST" and e.existing is None]
    for e in ordered:
        if e.method == "DELETE":
            results[e.index] = _guard(e, lambda e=e: _delete(tx, e))
    if posts:
        versions = tx.put_many([(e.type, e.id or "", e.resource or {}) for e in posts])
        for e, v in zip(posts, versions, strict=True):
            results[e.index] = Result(201, v.body, v, outcome=information(f"created {v.type}/{v.id}"))
    for e in ordered:
        if e.method == "POST" and e.existing is not None:
            results[e.index] = Result(
                200, e.existing.body, e.existing, outcome=information(f"{e.type}/{e.id} matches ifNoneExist")
            )
        elif e.method == "PUT":
            results[e.index] = _guard(e, lambda e=e: _put(tx, e))
        elif e.method == "PATCH":
            results[e.index] = _guard(e, lambda e=e: _patch(tx, ctx, e))
        elif e.method in ("GET", "HEAD"):
            results[e.index] = _guard(e, lambda e=e: read_entry(tx, ctx, e))
    return results


def _guard(e: Entry, fn: Callable[[], Result]) -> Result:
    try:
        return fn()
    except FhirError as exc:
        raise at_entry(e, exc) from exc


def _delete(tx: Transaction, e: Entry) -> Result:
    ids = [e.id] if e.id is not None else e.targets
    last = None
    for rid in ids:
        if e.if_match is not None:
            check_if_match(tx.current(e.type, rid, for_update=True), e.if_match, f"{e.type}/{rid}")
        last = tx.delete(e.type, rid) or last
    return Result(204, None, last, outcome=information(f"deleted {len(ids)} {e.type}"))


def _put(tx: Transaction, e: Entry) -> Result:
    assert e.id is not None and e.resource is not None
    cur = tx.current(e.type, e.id, for_update=True)
    check_if_match(cur, e.if_match, f"{e.type}/{e.id}")
    v = tx.put(e.type, e.id, e.resource)
    created = cur is None or cur.deleted
    return Result(
        201 if created else 200,
        v.body,
        v,
        outcome=information(f"{'created' if created else 'updated'} {e.type}/{e.id}"),
    )


def _patch(tx: Transaction, ctx: Context, e: Entry) -> Result:
    """A PATCH entry: a Binary holding a JSON Patch, or a Parameters (FHIRPath Patch).

    Runs the single-resource ``patch_in``, so the rules and answers are the same.
    """
    from helseflyt.interactions.patch import FHIRPATH_PATCH, JSON_PATCH, patch_in

    assert e.id is not None and e.resource is not None
    body = e.resource
    if body.get("resourceType") == "Parameters":
        return patch_in(tx, ctx, e.type, e.id, body, kind=FHIRPATH_PATCH, if_match=e.if_match)
    if body.get("resourceType") == "Binary" and body.get("contentType") == "application/json-patch+json":
        import base64
        import binascii

        try:
            ops = fjson.loads(base64.b64decode(body.get("data", ""), validate=True))
        except (ValueError, binascii.Error) as exc:
            raise InvalidRequest(f"the Binary does not hold a JSON Patch document: {exc}") from exc
        return patch_in(tx, ctx, e.type, e.id, ops, kind=JSON_PATCH, if_match=e.if_match)
    raise InvalidRequest(
        "a PATCH entry takes a Parameters resource (FHIRPath Patch) or a Binary with "
        "contentType application/json-patch+json (JSON Patch)"
    )


def read_entry(reader: Reader, ctx: Context, e: Entry) -> Result:
    """GET/HEAD: read, vread or a search by the supported conditional criteria."""
    from helseflyt.interactions.read import current_or_raise

    if e.id is not None and e.vid is not None:
        if not e.vid.isdigit():
            raise InvalidRequest(f"invalid version id {e.vid!r}", status=404)
        found = reader.vread(e.type, e.id, int(e.vid))
        if found is None:
            raise InvalidRequest(f"{e.type}/{e.id}/_history/{e.vid} is not known", status=404)
        if found.deleted:
            raise InvalidRequest(f"{e.type}/{e.id}/_history/{e.vid} is a deletion", status=410)
        return Result(200, found.body, found)
    if e.id is not None:
        found = current_or_raise(reader, e.type, e.id)
        return Result(200, found.body, found)
    ids = (
        parse_criteria(e.query or "", what="search in a Bundle entry").find(reader, e.type)
        if e.query
        else reader.find(e.type)
    )
    entries = []
    for rid in ids:
        v = reader.read(e.type, rid)
        if v is not None and v.body is not None:
            entries.append(
                {
                    "fullUrl": f"{ctx.base_url}/{e.type}/{rid}",
                    "resource": fjson.loads(v.body),
                    "search": {"mode": "match"},
                }
            )
    return Result(
        200, {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
    )


# --- responses --------------------------------------------------------------------------


def response_entry(ctx: Context, e: Entry | None, result: Result, prefer: str | None) -> dict[str, Any]:
    resp: dict[str, Any] = {"status": reason(result.status)}
    out: dict[str, Any] = {}
    v = result.version
    if v is not None:
        if not v.deleted:
            out["fullUrl"] = f"{ctx.base_url}/{v.type}/{v.id}"
        resp["location"] = f"{v.type}/{v.id}/_history/{v.version}"
        resp["etag"] = v.etag
        resp["lastModified"] = instant(to_micros(v.last_updated))
    is_get = e is not None and e.method == "GET"
    if is_get or (prefer == "representation" and result.status < 300):
        body = result.body
        if isinstance(body, bytes):
            out["resource"] = fjson.loads(body)
        elif isinstance(body, dict):
            out["resource"] = body
    if prefer == "OperationOutcome" and result.outcome is not None:
        resp["outcome"] = result.outcome
    out["response"] = resp
    return out


def error_entry(exc: FhirError) -> dict[str, Any]:
    return {"response": {"status": reason(exc.status), "outcome": exc.outcome()}}


def parse_prefer(prefer: str | None) -> str:
    """``return=minimal|representation|OperationOutcome`` from a Prefer header."""
    if prefer:
        for part in prefer.split(";"):
            part = part.strip()
            for item in part.split(","):
                key, _, value = item.strip().partition("=")
                if key.strip() == "return" and value.strip() in (
                    "minimal",
                    "representation",
                    "OperationOutcome",
                ):
                    return value.strip()
    return "minimal"


def response_bundle(ctx: Context, kind: str, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": ctx.new_id(),
        "type": f"{kind}-response",
        "entry": list(entries),
    }


def process_bundle(ctx: Context, bundle: Any, *, prefer: str | None = None) -> Result:
    """Process a batch or transaction Bundle; a failed transaction raises its FhirError."""
    mode = parse_prefer(prefer)
    plan = plan_bundle(bundle, base_url=ctx.base_url, new_id=ctx.new_id)
    if plan.kind == "batch":
        from helseflyt.interactions.batch import run_batch

        return Result(200, response_bundle(ctx, "batch", run_batch(ctx, plan, mode)))
    return Result(200, response_bundle(ctx, "transaction", run_transaction(ctx, plan, mode)))


def run_transaction(ctx: Context, plan: Plan, mode: str = "minimal") -> list[dict[str, Any]]:
    validate: Validate = ctx.validate
    if not plan.needs_store:
        check_identities(plan)
        prepare(plan, validate)  # outside the write lock: validation runs in parallel
        # (may find a conditional reference: then plan.needs_store and run_plan redoes it)
    with ctx.store.transaction() as tx:
        results = run_plan(tx, ctx, plan, validate)
    by_index = {e.index: e for e in plan.entries}
    return [response_entry(ctx, by_index[i], results[i], mode) for i in sorted(results)]
