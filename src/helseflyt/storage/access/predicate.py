"""Access control in SQL: who may see which resource, as one predicate both backends run.

:func:`predicate` turns an :class:`AccessFilter` (built per request by
``helseflyt.access.policy``) into a condition over a resource row ``alias``
(``alias.res_type``, ``alias.res_id``) that every read path ANDs to its own SQL:
search matches and counts (``SearchQuery.access``, see ``sql_search._where``), read,
vread, history (instance, type, system) and the conditional matching of ``find``. So
nothing is post-filtered: totals, pages and ``next`` links only ever see visible rows.

A resource's **patients** are the Patient itself, or the ``Patient`` targets of its
reference rows for the parameters of the official Patient CompartmentDefinition (plus
``Task.patient`` and ``Device.patient``). Visibility, by role:

* **system**: everything but the data of patients with a reservation;
* **patient**: resources whose patients are all the token's own Patients (identifier =
  the token's fødselsnummer/D-nummer), plus the public types (:data:`PUBLIC_TYPES`);
* **practitioner**: the public types, and resources with at least one patient where
  every patient ``p`` passes: a basis (care relationship, an emergency grant, or the
  request's declared basis), no reservation, no blokkering of this practitioner, and —
  if the resource is sperret for ``p`` (a sperring Consent or a ``NORS`` label) — a
  basis that opens locks (``FORHOYET_*``).

A citizen control counts only while its ``provision.period`` (if any) holds the request's
time, and covers the Patient records linked to its patient (``Patient.link``, see
``helseflyt.access.links``); a patient token's own records include the linked ones.

A resource of a patient-linked type that links to no local Patient (e.g. a subject by
identifier only) is shown to system tokens only: it may still be someone's.

Every check is a correlated ``EXISTS`` over the index tables, keyed by the resource or
the patient, so its cost follows the rows examined, not the database size. Judged on
current index rows: a deleted resource (no rows) is visible to system tokens only, and
old versions are judged by the current version.

:class:`~helseflyt.storage.access.guard.GuardedStore` wraps a store so that its readers and
transactions apply the filter (an interaction cannot forget it); unknown reader methods fail closed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from helseflyt.access import consent as cc
from helseflyt.storage.access.bases import _basis, _declared, _own_patients
from helseflyt.storage.access.citizen import _blocked, _control, _covers, _label, _locked, _reserved
from helseflyt.storage.access.filter import _LINK_PAIRS, LINKS, PUBLIC_TYPES, AccessFilter, _Sql
from helseflyt.storage.access.statements import Built, Statements, key_of, on_clear


def _mine(expr: str, f: AccessFilter, q: _Sql) -> str:
    """``expr`` is one of a patient token's own Patient ids (linked records included when
    computed)."""
    return q.among(expr, f.own_ids) if f.own_ids is not None else f"{expr} IN ({_own_patients(f.pid, q)})"


# Up to this many allowed patients, a driving search of one type on PostgreSQL reads
# their compartments' ids first (measured in docs/access.md, "Cost").
SMALL_ALLOWED = 200


def _patient_ok(alias: str, pid: str, f: AccessFilter, q: _Sql) -> str:
    """Patient ``pid`` of resource ``alias`` does not stop the principal from seeing it."""
    if f.role == "system":
        return f"NOT {_reserved(pid, f, q)}"
    if f.role == "patient":
        return _mine(pid, f, q)
    parts = [_basis(pid, f, q), f"NOT {_reserved(pid, f, q)}", f"NOT {_blocked(pid, f, q)}"]
    opened = [_declared(pid, f, q)] if f.opens_locked else []  # FORHOYET_* for the patient in question
    if f.actor:  # an emergency grant with FORHOYET_AKUTT opens locks too
        opened.append(
            f"EXISTS (SELECT 1 FROM access_grant al WHERE al.actor = {q.marks([f.actor])}"
            f" AND al.patient_id = {pid} AND al.expires > {q.marks([f.now])}"
            " AND al.basis = 'FORHOYET_AKUTT')"
        )
    if "1 = 1" not in opened:
        parts.append(f"(NOT {_locked(alias, pid, f, q)}{''.join(' OR ' + o for o in opened)})")
    return "(" + " AND ".join(parts) + ")"


def _linked(alias: str, types: Sequence[str] | None, q: _Sql, extra: str = "") -> str:
    """EXISTS a link row of ``alias`` to a Patient (alias ``lp``), restricted by ``extra``."""
    if types is not None and len(types) == 1:
        params = f"lp.param IN ({q.marks(LINKS[types[0]])})"
    else:
        params = f"(lp.res_type || '|' || lp.param) IN ({q.marks(_LINK_PAIRS)})"
    return (
        f"EXISTS (SELECT 1 FROM reference_index lp WHERE lp.res_type = {alias}.res_type"
        f" AND lp.res_id = {alias}.res_id AND lp.target_type = 'Patient' AND {params}{extra})"
    )


# The query's own clauses as conditions on a row alias: SQL with ``?`` marks, and their values.
Probes = Callable[[str], tuple[str, list[Any]]]


def predicate(
    f: AccessFilter,
    alias: str,
    types: Sequence[str] | None,
    args: list[Any],
    *,
    drive: bool = False,
    probes: Probes | None = None,
) -> str:
    """The SQL condition "the principal may see resource row ``alias``"; its arguments are
    appended to ``args``. ``types``: the resource types the rows can have (None: any).
    ``drive``: the query has no selective clause of its own (none, or only ranges; on
    PostgreSQL token codes too), so a practitioner's rows are best fetched from the
    allowed patients' compartments.
    ``probes`` (PostgreSQL, with ``drive`` and :func:`drives`): the query's own clauses,
    tested on the compartment rows before any row is fetched; the caller then leaves
    them out of its own conditions.

    Built once per filter and shape (:class:`Statements`): a practitioner's predicate
    carries the id sets of every allowed patient, and building it costs more than
    running a small search."""
    probe = probes(_PROBED) if probes is not None else None
    extra = (alias, None if types is None else tuple(types), drive, probe and (probe[0], tuple(probe[1])))
    try:
        hash(extra)
    except TypeError:  # a probe value that cannot be a key (none today): build it afresh
        sql, values = _predicate_sql(f, alias, types, drive, probe)
    else:
        sql, values = _PREDICATES.get(f, extra, lambda g: _predicate_sql(g, alias, types, drive, probe))
    args.extend(values)
    return sql


_PREDICATES = Statements()
_PROBED = "lo"  # the alias of the compartment rows the probes test


def _predicate_sql(
    f: AccessFilter, alias: str, types: Sequence[str] | None, drive: bool, probe: Built | None
) -> Built:
    q = _Sql(f.postgres)
    args: list[Any] = []
    sets = _practitioner_sets(f)
    if sets is None:
        if probe is not None:
            raise ValueError("probes given for a search the compartments do not drive")
        return q.finish(_predicate(f, alias, types, q), args), args
    probes = None if probe is None else lambda _alias: probe
    return q.finish(_by_sets(f, sets, alias, types, q, drive, probes), args), args


def _marked(probes: Probes, alias: str, q: _Sql) -> str:
    """``probes(alias)`` with its values as markers of ``q`` (``?`` is never a literal here)."""
    text, values = probes(alias)
    it = iter(values)
    return re.sub(r"\?", lambda _: q.marks([next(it)]), text)


def drives(f: AccessFilter, types: Sequence[str]) -> bool:
    """Whether ``predicate(f, ..., types, drive=True)`` can start from the allowed
    patients' compartments (a practitioner with known sets, at most
    :data:`SMALL_ALLOWED` allowed patients, one patient-linked type): the query's own
    clauses then only probe the rows it yields."""
    if len(types) != 1 or types[0] not in LINKS:
        return False
    sets = _practitioner_sets(f)
    return sets is not None and 0 < len(sets[0]) <= SMALL_ALLOWED


def _practitioner_sets(f: AccessFilter) -> Sets | None:
    """For a practitioner whose every patient-level set is known: the patients whose data
    they may see (a basis, no reservation, no blokkering of them) and those whose sperret
    data they may see too (a FORHOYET_* basis); None: check per row (:func:`_patient_ok`).
    Kept per filter (bounded): a request asks several times, with hundreds of ids."""
    if f.role != "practitioner" or f.declared_any:
        return None
    key = key_of(f)
    found = _SETS.get(key, _MISSING)
    if found is _MISSING:
        found = _SETS[key] = _compute_sets(f)
        while len(_SETS) > _SETS_KEPT:
            _SETS.pop(next(iter(_SETS)), None)
    return found  # type: ignore[return-value]


Sets = tuple[tuple[str, ...], frozenset[str]]
_SETS: dict[tuple[Any, ...], Sets | None] = {}
_SETS_KEPT = 256
on_clear(_SETS.clear)
_MISSING = object()


def _compute_sets(f: AccessFilter) -> Sets | None:
    parts = (f.care_ids, f.gp_ids, f.grant_ids, f.grant_open_ids, f.reserved_ids, f.locking_ids)
    if any(p is None for p in parts) or (f.hpr and f.blocking_ids is None):
        return None
    if f.basis is not None and f.declared_nin and f.nin_ids is None:
        return None
    declared = set(f.declared_ids) | set(f.nin_ids or ()) if f.basis is not None else set()
    basis = {*(f.care_ids or ()), *(f.gp_ids or ()), *(f.grant_ids or ()), *declared}
    allowed = basis - set(f.reserved_ids or ()) - set(f.blocking_ids or ())
    opened = set(f.grant_open_ids or ()) | (declared if f.opens_locked else set())
    return tuple(sorted(allowed)), frozenset(opened)


def _by_sets(
    f: AccessFilter,
    sets: Sets,
    alias: str,
    types: Sequence[str] | None,
    q: _Sql,
    drive: bool = False,
    probes: Probes | None = None,
) -> str:
    """:func:`_predicate` for a practitioner with known sets: the same rule, as "every
    patient of the row is allowed; a NORS label needs every patient opened; no patient
    outside ``opened`` has a sperring covering the row", one array parameter per set."""
    allowed, opened = sets
    locking = sorted(set(f.locking_ids or ()).intersection(allowed) - opened)
    label = _label(alias, q)
    covers = _covers(alias, q)
    known = list(types) if types is not None else None
    ors: list[str] = []
    if allowed and (known is None or "Patient" in known):
        me = f"{alias}.res_id"
        parts = [
            q.among(me, allowed),
            f"(NOT {label} OR {q.among(me, sorted(opened))})" if opened else f"NOT {label}",
        ]
        if locking:
            parts.append(f"NOT ({q.among(me, locking)} AND {_control(me, cc.SPERRING, f, q, covers)})")
        ors.append(f"({alias}.res_type = 'Patient' AND {' AND '.join(parts)})")
    linked = [t for t in known if t in LINKS] if known is not None else sorted(LINKS)
    if allowed and linked:
        narrowed = linked if known is not None else None
        if len(linked) == 1:  # let the database start from the allowed patients' compartments
            rows = (
                f"SELECT lo.res_id FROM reference_index lo WHERE"
                f" {q.among('lo.target_id', allowed)} AND lo.target_type = 'Patient'"
                f" AND lo.res_type = {q.marks(linked)} AND lo.param IN ({q.marks(LINKS[linked[0]])})"
            )
            some = f"{alias}.res_id IN ({rows})"
            if drive and q.postgres and len(allowed) <= SMALL_ALLOWED:
                # computed once (an InitPlan), the query's own clauses tested on the
                # compartment rows, then only the rows passing are fetched by primary key: the
                # plain IN lets PostgreSQL scan every row of the type and hash-join instead
                if probes is not None:  # OFFSET 0: a probe per compartment row, never a join
                    rows += f" AND EXISTS (SELECT 1 WHERE {_marked(probes, _PROBED, q)} OFFSET 0)"
                    probes = None
                some = f"{alias}.res_id = ANY(ARRAY({rows}))"
        else:
            some = _linked(alias, narrowed, q, f" AND {q.among('lp.target_id', allowed)}")
        parts = [
            f"{alias}.res_type IN ({q.marks(linked)})",
            some,
            f"NOT {_linked(alias, narrowed, q, ' AND ' + q.among('lp.target_id', allowed, negate=True))}",
        ]
        if opened:
            unopened = q.among("lp.target_id", sorted(opened), negate=True)
            parts.append(f"(NOT {label} OR NOT {_linked(alias, narrowed, q, ' AND ' + unopened)})")
        else:
            parts.append(f"NOT {label}")
        if locking:
            sperret = f" AND {q.among('lp.target_id', locking)}"
            sperret += f" AND {_control('lp.target_id', cc.SPERRING, f, q, covers)}"
            parts.append(f"NOT {_linked(alias, narrowed, q, sperret)}")
        ors.append("(" + " AND ".join(parts) + ")")
    if probes is not None:  # the caller left the query's clauses to us: never drop them
        raise ValueError("probes given for a search the compartments do not drive")
    public = sorted(PUBLIC_TYPES if known is None else PUBLIC_TYPES & set(known))
    if public:
        ors.append(f"{alias}.res_type IN ({q.marks(public)})")
    return "(" + " OR ".join(ors) + ")" if ors else "1 = 0"


def _predicate(f: AccessFilter, alias: str, types: Sequence[str] | None, q: _Sql) -> str:
    known = list(types) if types is not None else None
    ors: list[str] = []
    if f.role == "system":
        if f.reserved_ids == ():
            return "1 = 1"  # nobody has a reservation
        if known is None or "Patient" in known:
            ors.append(f"({alias}.res_type = 'Patient' AND {_patient_ok(alias, alias + '.res_id', f, q)})")
        tail = f" AND NOT {_patient_ok(alias, 'lp.target_id', f, q)}"
        ors.append(f"({alias}.res_type <> 'Patient' AND NOT {_linked(alias, None, q, tail)})")
        return "(" + " OR ".join(ors) + ")"
    if known is None or "Patient" in known:
        ors.append(f"({alias}.res_type = 'Patient' AND {_patient_ok(alias, alias + '.res_id', f, q)})")
    linked = [t for t in known if t in LINKS] if known is not None else sorted(LINKS)
    if linked:
        narrowed = linked if known is not None else None
        tail = f" AND NOT {_patient_ok(alias, 'lp.target_id', f, q)}"
        some = _linked(alias, narrowed, q)
        if f.role == "patient" and len(linked) == 1:  # let the database start from the compartment
            some = (
                f"{alias}.res_id IN (SELECT lo.res_id FROM reference_index lo WHERE"
                f" {_mine('lo.target_id', f, q)} AND lo.target_type = 'Patient'"
                f" AND lo.res_type = {q.marks(linked)} AND lo.param IN ({q.marks(LINKS[linked[0]])}))"
            )
        every = _linked(alias, narrowed, q, tail)
        ors.append(f"({alias}.res_type IN ({q.marks(linked)}) AND {some} AND NOT {every})")
    public = sorted(PUBLIC_TYPES if known is None else PUBLIC_TYPES & set(known))
    if public:
        ors.append(f"{alias}.res_type IN ({q.marks(public)})")
    return "(" + " OR ".join(ors) + ")" if ors else "1 = 0"
