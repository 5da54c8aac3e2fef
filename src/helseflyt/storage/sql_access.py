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

:class:`GuardedStore` wraps a store so that its readers and transactions apply the
filter (an interaction cannot forget it); unknown reader methods fail closed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from helseflyt.access import consent as cc
from helseflyt.access.links import linked
from helseflyt.fhir.model import compartment
from helseflyt.storage.base import HistoryQuery, ResourceVersion, TokenCriterion
from helseflyt.storage.query import SearchQuery, SearchResult
from helseflyt.storage.sql import VERSION_COLUMNS, _history_where, _token_condition, _version

__all__ = [
    "AccessFilter",
    "GuardedReader",
    "GuardedStore",
    "LINKS",
    "PUBLIC_TYPES",
    "insert_grants",
    "patients_of",
    "predicate",
    "visible",
]

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR = "urn:oid:2.16.578.1.12.4.1.4.2"
HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
ORGNR = "urn:oid:2.16.578.1.12.4.1.4.101"


def _links() -> dict[str, tuple[str, ...]]:
    found = {t: ps for t, ps in compartment("Patient").items() if t != "Patient"}
    found.setdefault("Task", ("patient",))
    found.setdefault("Device", ("patient",))
    return found


# Patient-linked types and the reference parameters that link them to a Patient.
LINKS: dict[str, tuple[str, ...]] = _links()
# Types without patient data that persons may see within their scopes.
PUBLIC_TYPES = frozenset(
    {
        "Organization", "Practitioner", "PractitionerRole", "Location", "HealthcareService",
        "Endpoint", "Medication", "MedicationKnowledge", "Substance", "CapabilityStatement",
        "StructureDefinition", "ValueSet", "CodeSystem", "ConceptMap", "NamingSystem",
        "SearchParameter", "OperationDefinition", "ImplementationGuide", "Questionnaire",
        "ActivityDefinition", "PlanDefinition", "Library", "Measure", "CompartmentDefinition",
        "StructureMap", "TerminologyCapabilities",
    }
)  # fmt: skip
_LINK_PAIRS = tuple(f"{t}|{p}" for t, ps in sorted(LINKS.items()) for p in ps)
_ACTIVE_ENCOUNTER = ("planned", "arrived", "triaged", "in-progress", "onleave")
_ACTIVE_EPISODE = ("planned", "waitlist", "active", "onhold")
_VOID = ("cancelled", "entered-in-error")
LOCK_OPENING = frozenset({"FORHOYET_SAMTYKKE", "FORHOYET_AKUTT"})


@dataclass(frozen=True, slots=True)
class AccessFilter:
    """What one request may see (see the module docstring). Plain data: no SQL here."""

    role: str  # practitioner | patient | system
    pid: str | None = None  # the person's fødselsnummer/D-nummer
    hpr: str | None = None
    orgnrs: tuple[str, ...] = ()  # orgnr_parent, orgnr_child
    actor: str | None = None  # the key of this practitioner's emergency grants
    basis: str | None = None  # nhn-access-basis declared on the request
    opens_locked: bool = False  # the declared basis opens sperret data
    declared_any: bool = False  # the declared basis covers every patient of this call
    declared_ids: tuple[str, ...] = ()  # ... or these Patient ids
    declared_nin: str | None = None  # ... and the Patients with this identifier
    now: int = 0  # epoch µs
    care_since: int = 0  # epoch µs: an encounter/episode ended after this is "recent"
    # The patients of the care relationships through encounters, episodes and care teams,
    # computed ahead (care_patients) and cached by the policy; None = a subquery instead.
    care_ids: tuple[str, ...] | None = None
    # The patients with an active reservation / sperring / blokkering of this practitioner,
    # read per request (controls()) in the same snapshot; None = correlated subqueries.
    reserved_ids: tuple[str, ...] | None = None
    locking_ids: tuple[str, ...] | None = None
    blocking_ids: tuple[str, ...] | None = None
    # A patient token's own Patient records with those linked to them (Patient.link),
    # computed per request; None = the records with the token's identifier only.
    own_ids: tuple[str, ...] | None = None
    patient_links: bool = True  # any Patient.link stored (False: controls skip the link lookup)
    # A practitioner's other bases, read per request (basis_sets()): the patients who have
    # them as regular GP, with an unexpired emergency grant (and of those, FORHOYET_AKUTT),
    # and with the declared nhn-patient-nin. When every set is known the predicate checks
    # each resource's patients against one precomputed set (see _practitioner_sets).
    gp_ids: tuple[str, ...] | None = None
    grant_ids: tuple[str, ...] | None = None
    grant_open_ids: tuple[str, ...] | None = None
    nin_ids: tuple[str, ...] | None = None
    postgres: bool = False  # id sets go as one array parameter (= ANY), else json_each


class _Sql:
    """Arguments collected while SQL fragments are built in any order: each value gets a
    numbered marker, and :meth:`finish` turns the markers into ``?`` in text order."""

    __slots__ = ("postgres", "values")

    def __init__(self, postgres: bool = False) -> None:
        self.values: list[Any] = []
        self.postgres = postgres

    def among(self, expr: str, ids: Sequence[str], *, negate: bool = False) -> str:
        """``expr`` is (not) one of ``ids``, the ids as one parameter: the SQL text does not
        change with the set, so PostgreSQL can reuse a prepared plan."""
        if not ids:
            return "1 = 1" if negate else "1 = 0"
        if self.postgres:
            test = f"{expr} = ANY({self.marks([list(ids)])}::text[])"
            return f"NOT ({test})" if negate else test
        test = f"IN (SELECT value FROM json_each({self.marks([json.dumps(list(ids))])}))"
        return f"{expr} {'NOT ' if negate else ''}{test}"

    def marks(self, values: Sequence[Any]) -> str:
        out = []
        for v in values:
            out.append(f"\x00{len(self.values)}\x00")
            self.values.append(v)
        return ", ".join(out) if out else "NULL"

    def finish(self, text: str, args: list[Any]) -> str:
        def one(m: re.Match[str]) -> str:
            args.append(self.values[int(m.group(1))])
            return "?"

        return _MARK.sub(one, text)


_MARK = re.compile("\x00(\\d+)\x00")


def _practitioners(f: AccessFilter, q: _Sql) -> str:
    return (
        "SELECT hp.res_id FROM token_index hp WHERE hp.res_type = 'Practitioner'"
        f" AND hp.param = 'identifier' AND hp.system = {q.marks([HPR])} AND hp.value = {q.marks([f.hpr])}"
    )


def _roles(f: AccessFilter, q: _Sql) -> str:
    return (
        "SELECT hr.res_id FROM reference_index hr WHERE hr.res_type = 'PractitionerRole'"
        " AND hr.param = 'practitioner' AND hr.target_type = 'Practitioner'"
        f" AND hr.target_id IN ({_practitioners(f, q)})"
    )


def _orgs(f: AccessFilter, q: _Sql) -> str:
    return (
        "SELECT ho.res_id FROM token_index ho WHERE ho.res_type = 'Organization'"
        f" AND ho.param = 'identifier' AND ho.system = {q.marks([ORGNR])}"
        f" AND ho.value IN ({q.marks(f.orgnrs)})"
    )


def _token_is(alias: str, res_type: str, key: str, param: str, values: Sequence[str], q: _Sql) -> str:
    return (
        f"EXISTS (SELECT 1 FROM token_index {alias} WHERE {alias}.res_type = '{res_type}'"
        f" AND {alias}.res_id = {key} AND {alias}.param = '{param}' AND {alias}.value IN ({q.marks(values)}))"
    )


def _episodes(kind: str, org_param: str, active: Sequence[str], f: AccessFilter, q: _Sql) -> str:
    """Patients with an active or recent Encounter/EpisodeOfCare at the practitioner's org
    (a set: the database computes it once per statement, from the org's encounters)."""
    return (
        f"SELECT ce.target_id FROM reference_index ce WHERE ce.res_type = '{kind}' AND ce.param = 'patient'"
        " AND ce.target_type = 'Patient' AND ce.res_id IN (SELECT cs.res_id FROM reference_index cs"
        f" WHERE cs.res_type = '{kind}' AND cs.param = '{org_param}' AND cs.target_type = 'Organization'"
        f" AND cs.target_id IN ({_orgs(f, q)}))"
        f" AND NOT {_token_is('cv', kind, 'ce.res_id', 'status', _VOID, q)}"
        f" AND (EXISTS (SELECT 1 FROM date_index cd WHERE cd.res_type = '{kind}' AND cd.res_id = ce.res_id"
        f" AND cd.param = 'date' AND cd.high >= {q.marks([f.care_since])})"
        f" OR {_token_is('ca', kind, 'ce.res_id', 'status', active, q)})"
    )


def _care_teams(f: AccessFilter, q: _Sql) -> str:
    """Patients of an active CareTeam with the practitioner (or one of their roles) in it."""
    return (
        "SELECT ct.target_id FROM reference_index ct WHERE ct.res_type = 'CareTeam'"
        " AND ct.param = 'patient' AND ct.target_type = 'Patient'"
        " AND ct.res_id IN (SELECT cm.res_id FROM reference_index cm WHERE cm.res_type = 'CareTeam'"
        " AND cm.param = 'participant'"
        f" AND ((cm.target_type = 'Practitioner' AND cm.target_id IN ({_practitioners(f, q)}))"
        f" OR (cm.target_type = 'PractitionerRole' AND cm.target_id IN ({_roles(f, q)}))))"
        f" AND {_token_is('cx', 'CareTeam', 'ct.res_id', 'status', ('active',), q)}"
    )


def _gp_targets(f: AccessFilter, q: _Sql) -> list[str]:
    """The ways a Patient's general-practitioner row ``gp`` names this practitioner."""
    gp = []
    if f.hpr:
        gp.append(f"(gp.target_type = 'Practitioner' AND gp.target_id IN ({_practitioners(f, q)}))")
        gp.append(f"(gp.target_type = 'PractitionerRole' AND gp.target_id IN ({_roles(f, q)}))")
    if f.orgnrs:
        gp.append(f"(gp.target_type = 'Organization' AND gp.target_id IN ({_orgs(f, q)}))")
    return gp


def _basis(pid: str, f: AccessFilter, q: _Sql) -> str:
    """The practitioner has a basis for access to patient ``pid`` (an SQL expression)."""
    if f.declared_any:
        return "1 = 1"
    ors: list[str] = []
    sets = []
    if f.orgnrs:
        sets.append(_episodes("Encounter", "service-provider", _ACTIVE_ENCOUNTER, f, q))
        sets.append(_episodes("EpisodeOfCare", "organization", _ACTIVE_EPISODE, f, q))
    if f.hpr:
        sets.append(_care_teams(f, q))
    if f.care_ids is not None:
        if f.care_ids:
            ors.append(q.among(pid, f.care_ids))
    elif sets:
        ors.append(f"{pid} IN ({' UNION '.join(sets)})")
    gp = _gp_targets(f, q)
    if gp:
        ors.append(
            "EXISTS (SELECT 1 FROM reference_index gp WHERE gp.res_type = 'Patient'"
            f" AND gp.res_id = {pid} AND gp.param = 'general-practitioner' AND ({' OR '.join(gp)}))"
        )
    if f.actor:
        ors.append(
            f"EXISTS (SELECT 1 FROM access_grant ag WHERE ag.actor = {q.marks([f.actor])}"
            f" AND ag.patient_id = {pid} AND ag.expires > {q.marks([f.now])})"
        )
    declared = _declared(pid, f, q)
    if declared != "1 = 0":
        ors.append(declared)
    return "(" + " OR ".join(ors) + ")" if ors else "1 = 0"


def _declared(pid: str, f: AccessFilter, q: _Sql) -> str:
    """Patient ``pid`` is a patient in question of the request's declared basis."""
    if f.basis is None:
        return "1 = 0"
    if f.declared_any:
        return "1 = 1"
    ors = []
    if f.declared_ids:
        ors.append(q.among(pid, f.declared_ids))
    if f.declared_nin:
        ors.append(f"{pid} IN ({_own_patients(f.declared_nin, q)})")
    return "(" + " OR ".join(ors) + ")" if ors else "1 = 0"


def _own_patients(nin: str | None, q: _Sql) -> str:
    return (
        "SELECT op.res_id FROM token_index op WHERE op.res_type = 'Patient' AND op.param = 'identifier'"
        f" AND op.system IN ({q.marks([FNR, DNR])}) AND op.value = {q.marks([nin])}"
    )


def _in_force(key: str, now: int, q: _Sql) -> str:
    """Consent ``key``'s ``provision.period`` (if any) holds ``now``."""
    return (
        f"NOT EXISTS (SELECT 1 FROM date_index kp WHERE kp.res_type = 'Consent' AND kp.res_id = {key}"
        f" AND kp.param = 'period' AND (kp.low > {q.marks([now])} OR kp.high < {q.marks([now])}))"
    )


def _person(pid: str, f: AccessFilter) -> str:
    """Patient ``pid`` and the records linked to it (one step each way; the per-request
    lists in :func:`controls` follow chains to any length)."""
    if not f.patient_links:
        return pid
    link = "{a}.res_type = 'Patient' AND {a}.param = 'link' AND {a}.target_type = 'Patient'"
    return (
        f"SELECT {pid} UNION SELECT kl.target_id FROM reference_index kl WHERE {link.format(a='kl')}"
        f" AND kl.res_id = {pid} UNION SELECT km.res_id FROM reference_index km"
        f" WHERE {link.format(a='km')} AND km.target_id = {pid}"
    )


def _mine(expr: str, f: AccessFilter, q: _Sql) -> str:
    """``expr`` is one of a patient token's own Patient ids (linked records included when
    computed)."""
    return q.among(expr, f.own_ids) if f.own_ids is not None else f"{expr} IN ({_own_patients(f.pid, q)})"


def _control(pid: str, code: str, f: AccessFilter, q: _Sql, extra: str = "") -> str:
    """A citizen-control Consent of patient ``pid`` (or a record linked to it), active and
    within its ``provision.period`` (alias ``kc``)."""
    person = _person(pid, f)
    target = f"kc.target_id = {pid}" if person == pid else f"kc.target_id IN ({person})"
    return (
        "EXISTS (SELECT 1 FROM reference_index kc WHERE kc.res_type = 'Consent' AND kc.param = 'patient'"
        f" AND kc.target_type = 'Patient' AND {target}"
        f" AND {_token_is('ks', 'Consent', 'kc.res_id', 'status', ('active',), q)}"
        f" AND {_in_force('kc.res_id', f.now, q)}"
        " AND EXISTS (SELECT 1 FROM token_index kk WHERE kk.res_type = 'Consent' AND kk.res_id = kc.res_id"
        f" AND kk.param = 'category' AND kk.system = {q.marks([cc.CONTROL_SYSTEM])}"
        f" AND kk.value = {q.marks([code])}){extra})"
    )


def _among(pid: str, ids: tuple[str, ...], q: _Sql) -> str:
    return q.among(pid, ids)


def _reserved(pid: str, f: AccessFilter, q: _Sql) -> str:
    if f.reserved_ids is not None:
        return _among(pid, f.reserved_ids, q)
    return _control(pid, cc.RESERVATION, f, q)


def _blocked(pid: str, f: AccessFilter, q: _Sql) -> str:
    if not f.hpr:
        return "1 = 0"
    if f.blocking_ids is not None:
        return _among(pid, f.blocking_ids, q)
    by_hpr = (
        "EXISTS (SELECT 1 FROM token_index kb WHERE kb.res_type = 'Consent' AND kb.res_id = kc.res_id"
        f" AND kb.param = 'actor:identifier' AND kb.system = {q.marks([HPR])}"
        f" AND kb.value = {q.marks([f.hpr])})"
    )
    by_ref = (
        "EXISTS (SELECT 1 FROM reference_index kr WHERE kr.res_type = 'Consent' AND kr.res_id = kc.res_id"
        " AND kr.param = 'actor' AND kr.target_type = 'Practitioner'"
        f" AND kr.target_id IN ({_practitioners(f, q)}))"
    )
    return _control(pid, cc.BLOCKING, f, q, f" AND ({by_hpr} OR {by_ref})")


def _label(alias: str, q: _Sql) -> str:
    """Resource ``alias`` carries a lock label (NORS): sperret for every patient of it."""
    return (
        f"EXISTS (SELECT 1 FROM token_index sl WHERE sl.res_type = {alias}.res_type"
        f" AND sl.res_id = {alias}.res_id AND sl.param = '_security'"
        f" AND sl.system = {q.marks([cc.CONFIDENTIALITY_SYSTEM])}"
        f" AND sl.value IN ({q.marks(cc.LOCKED_LABELS)}))"
    )


def _covers(alias: str, q: _Sql) -> str:
    """The sperring Consent ``kc`` covers resource ``alias`` (to AND into :func:`_control`)."""
    rt = cc.RESOURCE_TYPES_SYSTEM
    return (
        " AND ((NOT EXISTS (SELECT 1 FROM token_index sn WHERE sn.res_type = 'Consent'"
        " AND sn.res_id = kc.res_id"
        f" AND ((sn.param = 'category' AND sn.system = {q.marks([rt])}) OR sn.param = 'security-label'))"
        " AND NOT EXISTS (SELECT 1 FROM reference_index sd WHERE sd.res_type = 'Consent'"
        " AND sd.res_id = kc.res_id AND sd.param = 'data'))"
        " OR EXISTS (SELECT 1 FROM token_index st WHERE st.res_type = 'Consent' AND st.res_id = kc.res_id"
        f" AND st.param = 'category' AND st.system = {q.marks([rt])} AND st.value = {alias}.res_type)"
        " OR EXISTS (SELECT 1 FROM token_index sq JOIN token_index sr ON sr.res_type = {a}.res_type"
        " AND sr.res_id = {a}.res_id AND sr.param = '_security' AND sr.system = sq.system"
        " AND sr.value = sq.value WHERE sq.res_type = 'Consent' AND sq.res_id = kc.res_id"
        " AND sq.param = 'security-label')"
        " OR EXISTS (SELECT 1 FROM reference_index sx WHERE sx.res_type = 'Consent' AND sx.res_id = kc.res_id"
        " AND sx.param = 'data' AND sx.target_type = {a}.res_type AND sx.target_id = {a}.res_id))"
    ).replace("{a}", alias)


def _locked(alias: str, pid: str, f: AccessFilter, q: _Sql) -> str:
    """Resource ``alias`` is sperret for patient ``pid``: a NORS label or a sperring Consent."""
    label = _label(alias, q)
    covers = _covers(alias, q)
    if f.locking_ids is not None:
        if not f.locking_ids:
            return label
        among = _among(pid, f.locking_ids, q)
        return f"({label} OR ({among} AND {_control(pid, cc.SPERRING, f, q, covers)}))"
    return f"({label} OR {_control(pid, cc.SPERRING, f, q, covers)})"


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


def predicate(f: AccessFilter, alias: str, types: Sequence[str] | None, args: list[Any]) -> str:
    """The SQL condition "the principal may see resource row ``alias``"; its arguments are
    appended to ``args``. ``types``: the resource types the rows can have (None: any)."""
    q = _Sql(f.postgres)
    sets = _practitioner_sets(f)
    text = _predicate(f, alias, types, q) if sets is None else _by_sets(f, sets, alias, types, q)
    return q.finish(text, args)


def _practitioner_sets(f: AccessFilter) -> tuple[list[str], set[str]] | None:
    """For a practitioner whose every patient-level set is known: the patients whose data
    they may see (a basis, no reservation, no blokkering of them) and those whose sperret
    data they may see too (a FORHOYET_* basis); None: check per row (:func:`_patient_ok`)."""
    if f.role != "practitioner" or f.declared_any:
        return None
    parts = (f.care_ids, f.gp_ids, f.grant_ids, f.grant_open_ids, f.reserved_ids, f.locking_ids)
    if any(p is None for p in parts) or (f.hpr and f.blocking_ids is None):
        return None
    if f.basis is not None and f.declared_nin and f.nin_ids is None:
        return None
    declared = set(f.declared_ids) | set(f.nin_ids or ()) if f.basis is not None else set()
    basis = {*(f.care_ids or ()), *(f.gp_ids or ()), *(f.grant_ids or ()), *declared}
    allowed = basis - set(f.reserved_ids or ()) - set(f.blocking_ids or ())
    opened = set(f.grant_open_ids or ()) | (declared if f.opens_locked else set())
    return sorted(allowed), opened


def _by_sets(
    f: AccessFilter, sets: tuple[list[str], set[str]], alias: str, types: Sequence[str] | None, q: _Sql
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
            some = (
                f"{alias}.res_id IN (SELECT lo.res_id FROM reference_index lo WHERE"
                f" {q.among('lo.target_id', allowed)} AND lo.target_type = 'Patient'"
                f" AND lo.res_type = {q.marks(linked)} AND lo.param IN ({q.marks(LINKS[linked[0]])}))"
            )
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


# --- queries the guard runs --------------------------------------------------------------


def visible(conn: Any, f: AccessFilter, res_type: str, res_id: str) -> bool:
    """May the principal see ``res_type/res_id`` (its current, non-deleted version)?"""
    args: list[Any] = [res_type, res_id]
    cond = predicate(f, "c", (res_type,), args)
    sql = (
        f"SELECT 1 FROM resource_current c WHERE c.res_type = ? AND c.res_id = ? AND NOT c.deleted AND {cond}"
    )
    return bool(conn.query(sql, args))


def care_patients(conn: Any, f: AccessFilter, limit: int) -> list[str] | None:
    """The Patient ids of the practitioner's care relationships through encounters,
    episodes of care and care teams (not the GP list: that is checked per patient), or
    None if there are more than ``limit``."""
    q = _Sql()
    sets = []
    if f.orgnrs:
        sets.append(_episodes("Encounter", "service-provider", _ACTIVE_ENCOUNTER, f, q))
        sets.append(_episodes("EpisodeOfCare", "organization", _ACTIVE_EPISODE, f, q))
    if f.hpr:
        sets.append(_care_teams(f, q))
    if not sets:
        return []
    args: list[Any] = []
    sql = q.finish(f"SELECT DISTINCT x.target_id FROM ({' UNION '.join(sets)}) x LIMIT ?", args)
    rows = conn.query(sql, [*args, limit + 1])
    return None if len(rows) > limit else sorted(r[0] for r in rows if r[0])


def request_sets(
    conn: Any, f: AccessFilter, *, bases: bool, limit: int = 2000, gp_limit: int = 5000
) -> tuple[AccessFilter, list[tuple[str, str, str, int]]]:
    """``f`` with what is read once per request filled in, in one statement: the patients
    of citizen controls in force now (reservation; sperring and this practitioner's
    blokkering for practitioners) with the records linked to them (``Patient.link``),
    and with ``bases`` (a practitioner's) their GP list, unexpired emergency grants and
    the Patients of the declared ``nhn-patient-nin``. A control list longer than
    ``limit`` (GP list: ``gp_limit``) stays None: then the SQL checks per patient. Also
    returns the grants ``(patient_id, basis, reason, expires)``, newest first."""
    q = _Sql()
    parts = [f"SELECT 'link', {_NONE}, {_BLANK} FROM ({_ANY_LINK}) l0"]

    def add(kind: str, select: str, cap: int | None) -> None:
        tail = f" LIMIT {q.marks([cap + 1])}" if cap is not None else ""
        parts.append(f"SELECT '{kind}', x{len(parts)}.* FROM ({select}{tail}) x{len(parts)}")

    def control(code: str, extra: str = "") -> str:
        return (
            f"SELECT DISTINCT kc.target_id, {_BLANK} FROM token_index kk JOIN reference_index kc"
            " ON kc.res_type = 'Consent' AND kc.res_id = kk.res_id AND kc.param = 'patient'"
            " AND kc.target_type = 'Patient' WHERE kk.res_type = 'Consent' AND kk.param = 'category'"
            f" AND kk.value = {q.marks([code])} AND kk.system = {q.marks([cc.CONTROL_SYSTEM])}"
            f" AND {_token_is('ks', 'Consent', 'kc.res_id', 'status', ('active',), q)}"
            f" AND {_in_force('kc.res_id', f.now, q)}{extra}"
        )

    add(cc.RESERVATION, control(cc.RESERVATION), limit)
    if f.role == "practitioner":
        add(cc.SPERRING, control(cc.SPERRING), limit)
        if f.hpr:
            by = (
                " AND (EXISTS (SELECT 1 FROM token_index kb WHERE kb.res_type = 'Consent'"
                " AND kb.res_id = kc.res_id AND kb.param = 'actor:identifier'"
                f" AND kb.system = {q.marks([HPR])} AND kb.value = {q.marks([f.hpr])})"
                " OR EXISTS (SELECT 1 FROM reference_index kr WHERE kr.res_type = 'Consent'"
                " AND kr.res_id = kc.res_id AND kr.param = 'actor' AND kr.target_type = 'Practitioner'"
                f" AND kr.target_id IN ({_practitioners(f, q)})))"
            )
            add(cc.BLOCKING, control(cc.BLOCKING, by), limit)
    if bases and (gp := _gp_targets(f, q)):
        add(
            "gp",
            f"SELECT DISTINCT gp.res_id, {_BLANK} FROM reference_index gp"
            " WHERE gp.res_type = 'Patient'"
            f" AND gp.param = 'general-practitioner' AND ({' OR '.join(gp)})",
            gp_limit,
        )
    if bases and f.actor:
        add(
            "grant",
            "SELECT patient_id, basis, reason, expires FROM access_grant"
            f" WHERE actor = {q.marks([f.actor])} AND expires > {q.marks([f.now])}",
            None,
        )
    if bases and f.declared_nin:
        add(
            "nin",
            f"SELECT op.res_id, {_BLANK} FROM ({_own_patients(f.declared_nin, q)}) op",
            None,
        )
    args: list[Any] = []
    rows = conn.query(q.finish(" UNION ALL ".join(parts), args), args)
    got: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        got.setdefault(row[0], []).append(tuple(row[1:]))
    links = "link" in got

    def ids(kind: str, cap: int, follow: bool = True) -> tuple[str, ...] | None:
        found = {r[0] for r in got.get(kind, ()) if r[0]}
        if len(got.get(kind, ())) > cap:
            return None
        return tuple(sorted(linked(conn, found) if follow and found and links else found))

    out: dict[str, Any] = {"patient_links": links, "reserved_ids": ids(cc.RESERVATION, limit)}
    if f.role == "practitioner":
        out["locking_ids"] = ids(cc.SPERRING, limit)
        if f.hpr:
            out["blocking_ids"] = ids(cc.BLOCKING, limit)
    grants = sorted(((r[0], r[1], r[2], int(r[3])) for r in got.get("grant", ())), key=lambda g: -g[3])
    if bases:
        out["gp_ids"] = ids("gp", gp_limit, follow=False)
        out["grant_ids"] = tuple(sorted({g[0] for g in grants}))
        out["grant_open_ids"] = tuple(sorted({g[0] for g in grants if g[1] == "FORHOYET_AKUTT"}))
        out["nin_ids"] = ids("nin", 1 << 30, follow=False)
    return replace(f, **out), grants


def own_records(conn: Any, pid: str) -> list[str]:
    """A patient token's own Patient ids: those with the token's identifier and the
    records linked to them (the link lookup only when any ``Patient.link`` is stored)."""
    q = _Sql()
    args: list[Any] = []
    sql = q.finish(
        f"SELECT op.res_id FROM ({_own_patients(pid, q)}) op UNION ALL SELECT {_NONE} FROM ({_ANY_LINK}) l0",
        args,
    )
    rows = conn.query(sql, args)
    ids = {r[0] for r in rows if r[0]}
    links = any(r[0] is None for r in rows)
    return sorted(linked(conn, ids) if ids and links else ids)


def controls(conn: Any, f: AccessFilter, limit: int = 2000) -> AccessFilter:
    """:func:`request_sets` without a practitioner's bases: the citizen controls only."""
    return request_sets(conn, f, bases=False, limit=limit)[0]


_NONE = "CAST(NULL AS TEXT)"  # typed, so that PostgreSQL can match the UNION's columns
_BLANK = f"{_NONE}, {_NONE}, CAST(NULL AS BIGINT)"  # no basis, reason, expires
_ANY_LINK = (
    "SELECT 1 FROM reference_index WHERE res_type = 'Patient' AND param = 'link'"
    " AND target_type = 'Patient' LIMIT 1"
)


def patients_of(conn: Any, res_type: str, res_id: str) -> list[str]:
    """The Patient ids a resource is linked to (see :data:`LINKS`)."""
    if res_type == "Patient":
        return [res_id]
    params = LINKS.get(res_type)
    if not params:
        return []
    rows = conn.query(
        "SELECT DISTINCT target_id FROM reference_index WHERE res_type = ? AND res_id = ?"
        f" AND target_type = 'Patient' AND param IN ({', '.join('?' * len(params))})",
        [res_type, res_id, *params],
    )
    return sorted(r[0] for r in rows if r[0])


def patients_with_identifier(conn: Any, nin: str) -> list[str]:
    args: list[Any] = []
    q = _Sql()
    sql = q.finish(_own_patients(nin, q), args)
    return sorted(r[0] for r in conn.query(sql, args))


def insert_grants(conn: Any, rows: Sequence[tuple[str, str, str, str, int, int]]) -> None:
    """``(actor, patient_id, basis, reason, granted, expires)`` rows."""
    conn.executemany(
        "INSERT INTO access_grant (actor, patient_id, basis, reason, granted, expires)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )


def purge_grants(conn: Any, now: int, actor: str | None = None) -> None:
    """Delete the grants (of ``actor``, or everyone's) that expired by ``now``: they open
    nothing any more, and the audit trail keeps the declaration and every request made
    under them."""
    if actor is None:
        conn.executemany("DELETE FROM access_grant WHERE expires <= ?", [(now,)])
    else:
        conn.executemany("DELETE FROM access_grant WHERE actor = ? AND expires <= ?", [(actor, now)])


def active_grants(conn: Any, actor: str, now: int) -> list[tuple[str, str, str, int]]:
    """``(patient_id, basis, reason, expires)`` of the actor's unexpired grants."""
    rows = conn.query(
        "SELECT patient_id, basis, reason, expires FROM access_grant WHERE actor = ? AND expires > ?"
        " ORDER BY expires DESC",
        [actor, now],
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


# --- the guard ------------------------------------------------------------------------------


class Denied(Exception):
    """Raised by the guard; ``helseflyt.access.policy`` turns it into 403 or 404."""

    def __init__(self, kind: str, res_type: str, res_id: str) -> None:
        super().__init__(kind)
        self.kind = kind  # "no-basis" | "locked" | "hidden"
        self.res_type = res_type
        self.res_id = res_id


class GuardedReader:
    """A :class:`~helseflyt.storage.base.Reader` that applies an :class:`AccessFilter`.

    ``hooks`` lets the policy act per call: ``on_single(reader, type, id)`` before a
    single-resource read (it may record an emergency grant), ``for_search(query)`` gives
    the filter of a search (patients in question from the query), ``explain(type, id)``
    raises the error for a resource the principal may not see.
    """

    def __init__(self, inner: Any, policy: Any) -> None:
        self._inner = inner
        self._policy = policy

    @property
    def conn(self) -> Any:
        return self._inner.conn

    def __getattr__(self, name: str) -> Any:  # fail closed: an unguarded read path is refused
        raise AttributeError(
            f"{type(self._inner).__name__}.{name} has no access control yet (storage/sql_access.py)"
        )

    def _check(self, res_type: str, res_id: str) -> bool:
        f = self._policy.single(self, res_type, res_id)
        return visible(self._inner.conn, f, res_type, res_id)

    def read(self, type: str, id: str) -> ResourceVersion | None:
        found = self._inner.read(type, id)
        if found is None:
            return None
        if found.deleted and self._policy.role != "system":
            return None  # a deleted resource's patients are unknown: not shown
        if not found.deleted and not self._check(type, id):
            self._policy.deny(self, type, id)
            return None
        return found

    def vread(self, type: str, id: str, version: int) -> ResourceVersion | None:
        found = self._inner.vread(type, id, version)
        if found is None:
            return None
        if self.read(type, id) is None:
            return None
        return found

    def history(self, query: HistoryQuery) -> list[ResourceVersion]:
        where, args = _history_where(query)
        where.append(predicate(self._policy.history(self, query), "h", _types(query.type), args))
        if query.before_seq is not None:
            where.append("h.seq < ?")
            args.append(query.before_seq)
        rows = self._inner.conn.query(
            f"SELECT {VERSION_COLUMNS} FROM resource_history h WHERE {' AND '.join(where)}"
            " ORDER BY h.seq DESC LIMIT ?",
            [*args, query.count],
        )
        return [_version(r) for r in rows]

    def history_count(self, query: HistoryQuery) -> int:
        where, args = _history_where(query)
        where.append(predicate(self._policy.history(self, query), "h", _types(query.type), args))
        sql = f"SELECT count(*) FROM resource_history h WHERE {' AND '.join(where)}"
        return int(self._inner.conn.query(sql, args)[0][0])

    def find(
        self,
        type: str,
        *,
        ids: Sequence[str] | None = None,
        tokens: Sequence[Sequence[TokenCriterion]] = (),
        limit: int | None = None,
    ) -> list[str]:
        args: list[Any] = [type]
        sql = ["SELECT c.res_id FROM resource_current c WHERE c.res_type = ? AND NOT c.deleted"]
        if ids is not None:
            if not ids:
                return []
            sql.append(f"AND c.res_id IN ({', '.join('?' * len(ids))})")
            args += list(ids)
        for group in tokens:
            if not group:
                return []
            ors = [_token_condition(crit, args) for crit in group]
            sql.append(
                "AND EXISTS (SELECT 1 FROM token_index t WHERE t.res_type = c.res_type"
                f" AND t.res_id = c.res_id AND ({' OR '.join(ors)}))"
            )
        sql.append("AND " + predicate(self._policy.plain(), "c", (type,), args))
        sql.append("ORDER BY c.res_id")
        if limit is not None:
            sql.append("LIMIT ?")
            args.append(limit)
        return [r[0] for r in self._inner.conn.query(" ".join(sql), args)]

    def search(self, query: SearchQuery) -> SearchResult:
        result: SearchResult = self._inner.search(replace(query, access=self._policy.search(self, query)))
        return result


class GuardedTransaction(GuardedReader):
    """Reads as :class:`GuardedReader`; writes pass through after the policy's checks."""

    def current(self, type: str, id: str, *, for_update: bool = False) -> ResourceVersion | None:
        found = self._inner.current(type, id, for_update=for_update)
        if found is None or found.deleted:
            return found if self._policy.role == "system" else None
        return found if self._check(type, id) else None

    def put(self, type: str, id: str, resource: dict[str, Any]) -> ResourceVersion:
        return self.put_many([(type, id, resource)])[0]

    def put_many(self, items: Sequence[tuple[str, str, Any]]) -> list[ResourceVersion]:
        for t, i, resource in items:
            self._policy.before_write(self._inner, t, i, resource)
        out: list[ResourceVersion] = self._inner.put_many(items)
        for t, i, _ in items:
            self._policy.after_write(self._inner, t, i)
        return out

    def delete(self, type: str, id: str) -> ResourceVersion | None:
        self._policy.before_write(self._inner, type, id, None)
        found: ResourceVersion | None = self._inner.delete(type, id)
        return found


class GuardedStore:
    """A store whose readers and transactions apply the request's access policy."""

    def __init__(self, inner: Any, policy: Any) -> None:
        self._inner = inner
        self._policy = policy
        self.url = inner.url

    @property
    def inner(self) -> Any:
        return self._inner

    @contextmanager
    def reader(self) -> Iterator[GuardedReader]:
        with self._inner.reader() as r:
            yield GuardedReader(r, self._policy)

    @contextmanager
    def transaction(self) -> Iterator[GuardedTransaction]:
        with self._inner.transaction() as tx:
            yield GuardedTransaction(tx, self._policy)

    def close(self) -> None:  # the app owns the store
        return None


def _types(res_type: str | None) -> tuple[str, ...] | None:
    return (res_type,) if res_type is not None else None


Hook = Callable[..., Any]
