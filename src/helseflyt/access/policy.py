"""Authorisation: who may see what, decided once per request and enforced in SQL.

:func:`request_store` wraps the store of a request with an authenticated principal in a
:class:`~helseflyt.storage.sql_access.GuardedStore`; every interaction (read, vread,
search with its total, history, transaction/batch entries, conditional matching, later
operations) reads through it, so none can forget the filter. In open development mode
(no principal) the store is left alone.

The rules (docs/access.md):

* **system** tokens see what their scopes allow (checked at the edge), every patient but
  those with a reservation;
* **patient** tokens see their own compartment (Patients whose identifier is the token's
  fødselsnummer/D-nummer and the resources linked to them) and public types;
* **practitioner** tokens see a patient's data with a basis: a care relationship (an
  active or recent Encounter/EpisodeOfCare at their organisation, a place on an active
  CareTeam, or being the regular GP), an emergency grant, or a basis declared on the
  request with ``nhn-access-basis`` (+ ``nhn-access-reason``) for the patient in question.
  Reservation, blokkering and sperring (Consents managed by the patient, and
  ``NORS`` labels) hold as :mod:`helseflyt.access.consent` describes.

Emergency bases (``AKUTT``, ``FORHOYET_AKUTT``) need a reason (else 403) and leave a
grant (table ``access_grant``) for the practitioner and each patient in question, valid
for :attr:`PolicySettings.emergency_hours`; while a practitioner holds a grant, every
request of theirs is flagged for review. The decision for the audit trail goes to
``scope["state"]["access"]`` = ``{basis, reason, purpose}``.

Concurrency: a :class:`RequestPolicy` belongs to one request (one worker thread at a
time); grants are written in the request's own transaction when there is one, else in a
short transaction of their own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote

from helseflyt.access import consent as cc
from helseflyt.access.links import links_of
from helseflyt.access.principal import Principal
from helseflyt.errors import FhirError, InvalidRequest
from helseflyt.storage.access.sets import Pending, cached
from helseflyt.storage.access.statements import key_of
from helseflyt.storage.base import HistoryQuery, TokenCriterion
from helseflyt.storage.query import SearchQuery
from helseflyt.storage.sql_access import (
    LINKS,
    LOCK_OPENING,
    AccessFilter,
    GuardedStore,
    GuardedTransaction,
    active_grants,
    care_patients,
    insert_grants,
    own_records,
    patients_of,
    patients_with_identifier,
    purge_grants,
    read_sets,
    visible,
)

__all__ = [
    "BASES",
    "EMERGENCY",
    "NoBasis",
    "PolicySettings",
    "RequestPolicy",
    "request_store",
]

BASES = ("UNNTAK", "SAMTYKKE", "FORHOYET_SAMTYKKE", "AKUTT", "FORHOYET_AKUTT")
EMERGENCY = frozenset({"AKUTT", "FORHOYET_AKUTT"})
PURPOSE = {"AKUTT": "ETREAT", "FORHOYET_AKUTT": "BTG"}  # others: TREAT
HEADER_BASIS = "nhn-access-basis"
HEADER_REASON = "nhn-access-reason"
HEADER_NIN = "nhn-patient-nin"
MAX_REASON = 500
_DAY = 86_400_000_000


class NoBasis(FhirError):
    """403: the principal has no basis for access to this data (the message says why)."""

    status, code = 403, "forbidden"


@dataclass(frozen=True, slots=True)
class PolicySettings:
    care_days: int = 90  # an Encounter/EpisodeOfCare ended this recently still counts
    emergency_hours: float = 4.0  # how long an emergency grant lasts
    care_cache_seconds: float = 60.0  # how long a practitioner's care-relationship list is reused
    care_cache_limit: int = 20_000  # longer lists are not cached (checked in SQL instead)

    @classmethod
    def from_settings(cls, settings: Any) -> PolicySettings:
        """From the ``access_*`` rows of :class:`helseflyt.settings.Settings` (validated there)."""
        return cls(
            care_days=settings.access_care_days,
            emergency_hours=settings.access_emergency_hours,
            care_cache_seconds=settings.access_care_cache_seconds,
        )


class CareCache:
    """Each practitioner's care-relationship patients (encounters, episodes, care teams),
    reused for ``care_cache_seconds``: a new Encounter opens access within that time. The
    citizen controls (reservation, blokkering, sperring) are never cached.

    Concurrency: one lock around a small dict; entries are immutable tuples."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._entries: dict[tuple[Any, ...], tuple[float, tuple[str, ...] | None]] = {}

    def get(self, key: tuple[Any, ...], compute: Callable[[], tuple[str, ...] | None], ttl: float) -> Any:
        now = time.monotonic()
        with self._lock:
            found = self._entries.get(key)
        if found is not None and found[0] > now:
            return found[1]
        value = compute()
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[key] = (now + ttl, value)
        return value

    def forget(self, hpr: str | None) -> None:
        """Drop a practitioner's entries (after they write: their own new Encounter counts at once)."""
        with self._lock:
            for key in [k for k in self._entries if k[1] == hpr]:
                del self._entries[key]


CARE_CACHE = CareCache()
PURGE_SECONDS = 600


class PurgeClock:
    """When each store's expired grants were last purged (per process; a lock, a dict)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, int] = {}

    def due(self, where: str, now: int) -> bool:
        with self._lock:
            if now - self._last.get(where, 0) < PURGE_SECONDS * 1_000_000:
                return False
            self._last[where] = now
            return True


PURGES = PurgeClock()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return value.strip() if value is not None and value.strip() else None


class RequestPolicy:
    """The access decision of one request, and the hooks :mod:`storage.sql_access` calls."""

    def __init__(
        self,
        principal: Principal,
        store: Any,
        headers: Mapping[str, str],
        state: MutableMapping[str, Any] | None = None,
        settings: PolicySettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.principal = principal
        self.store = store
        self.state = state if state is not None else {}
        self.settings = settings or PolicySettings()
        self.role = principal.role
        now = int(clock() * 1_000_000)
        self.now = now
        basis = reason = nin = None
        if self.role == "practitioner":
            basis, reason, nin = self._declared(headers)
        self.basis, self.reason = basis, reason
        actor = None
        if self.role == "practitioner":
            actor = f"hpr:{principal.hpr}" if principal.hpr else f"pid:{principal.pid}"
        self.actor = actor
        orgnrs = tuple(o for o in (principal.orgnr_parent, getattr(principal, "orgnr_child", None)) if o)
        self.base = AccessFilter(
            role=self.role,
            pid=principal.pid,
            hpr=principal.hpr,
            orgnrs=orgnrs,
            actor=actor,
            basis=basis,
            opens_locked=basis in LOCK_OPENING,
            declared_nin=nin,
            now=now,
            care_since=now - self.settings.care_days * _DAY,
            postgres=str(getattr(store, "url", "")).startswith(("postgresql:", "postgres:")),
        )
        self._granted: set[str] = set()
        self._asked: list[str] = []  # the patients in question of this request's search
        self._grants_checked = False
        self._grants: list[tuple[str, str, str, int]] | None = None  # read with the sets
        self._care_done = False
        self._wrote = False  # this request's transaction changed access data (sets read live)
        self._pending: Pending | None = None
        self._initial = self.base  # before the per-request sets
        self.state["access"] = self._decision()

    # -- the decision ---------------------------------------------------------------------

    @staticmethod
    def _declared(headers: Mapping[str, str]) -> tuple[str | None, str | None, str | None]:
        raw = _header(headers, HEADER_BASIS)
        if raw is None:
            return None, None, None
        basis = raw.upper()
        if basis not in BASES:
            raise InvalidRequest(f"{HEADER_BASIS}: {raw!r} is not one of {', '.join(BASES)}")
        reason = _header(headers, HEADER_REASON)
        if reason is not None:
            reason = unquote(reason)[:MAX_REASON].strip() or None
        if basis in EMERGENCY and not reason:
            raise NoBasis(
                f"{HEADER_BASIS}: {basis} (emergency access) needs a reason: "
                f"state it in the {HEADER_REASON} header"
            )
        nin = _header(headers, HEADER_NIN)
        if nin is not None and not (len(nin) == 11 and nin.isdigit()):
            raise InvalidRequest(f"{HEADER_NIN} must be a fødselsnummer or D-nummer (11 digits)")
        return basis, reason, nin

    def _decision(self) -> dict[str, Any]:
        if self.role == "patient":
            return {"basis": None, "reason": None, "purpose": "PATRQT"}
        if self.role == "system":
            return {"basis": None, "reason": None, "purpose": "HOPERAT"}
        if self.basis:
            return {"basis": self.basis, "reason": self.reason, "purpose": PURPOSE.get(self.basis, "TREAT")}
        return {"basis": None, "reason": None, "purpose": "TREAT"}

    def _with_care(self, conn: Any, deferred: bool = False) -> None:
        """Once per request: the patients with citizen controls (as of this snapshot: read,
        or kept for its access generation, storage/access/sets.py) and the (cached)
        care-relationship patients. ``deferred``: see :meth:`search`."""
        if self._care_done:
            return
        self._care_done = True
        self._read_sets(conn, deferred and not self._wrote)
        if self.role != "practitioner":
            return
        if self.settings.care_cache_seconds <= 0:
            return
        f = self.base
        where = getattr(self.store, "url", id(self.store))
        key = (where, f.hpr, f.orgnrs, self.settings.care_days, f.care_since // 60_000_000)

        def compute() -> tuple[str, ...] | None:
            found = care_patients(conn, f, self.settings.care_cache_limit)
            return None if found is None else tuple(found)

        ids = CARE_CACHE.get(key, compute, self.settings.care_cache_seconds)
        if ids is not None:
            self.base = replace(self.base, care_ids=ids)

    def _read_sets(self, conn: Any, deferred: bool) -> None:
        f, pid, role = self._initial, self.principal.pid, self.role
        if role == "patient" and not pid:
            return

        def compute() -> tuple[Any, int | None]:
            """``((filter fields, grants), until)``."""
            if role == "patient":  # their own records and those linked to them (Patient.link)
                return ({"own_ids": tuple(own_records(conn, pid or ""))}, None), None
            # controls; a practitioner's GP list, grants and declared nin too: one query
            fields, grants, until = read_sets(conn, f, bases=role == "practitioner")
            return (fields, grants), until

        if self._wrote:  # this transaction changed access data: as it sees them now
            (fields, grants), _ = compute()
        else:
            key = (getattr(self.store, "url", id(self.store)), key_of(f))
            (fields, grants), self._pending = cached(conn, key, self.now, compute, deferred=deferred)
        self.base = replace(f, **fields)
        if role == "practitioner":
            self._grants = grants

    def confirm(self) -> bool:
        """After a search that used kept sets before their generation was read: do they
        hold? If not, they are forgotten and the caller searches again (sets read afresh)."""
        pending, self._pending = self._pending, None
        if pending is None or pending.holds():
            return True
        self.base = self._initial
        self._care_done = self._grants_checked = False
        self._grants = None
        self.state["access"] = self._decision()
        return False

    def _note_grants(self, conn: Any, deferred: bool = False) -> None:
        """While a practitioner holds an emergency grant, flag each request for review."""
        self._with_care(conn, deferred)
        if self._grants_checked or self.actor is None or self.basis:
            return
        self._grants_checked = True
        grants = self._grants if self._grants is not None else active_grants(conn, self.actor, self.now)
        if grants:
            basis = "FORHOYET_AKUTT" if any(g[1] == "FORHOYET_AKUTT" for g in grants) else "AKUTT"
            reason = f"under an emergency grant: {grants[0][2]}"
            self.state["access"] = {"basis": basis, "reason": reason[:MAX_REASON], "purpose": PURPOSE[basis]}

    # -- hooks of GuardedReader -------------------------------------------------------------

    def plain(self) -> AccessFilter:
        return self.base

    def single(self, reader: Any, res_type: str, res_id: str) -> AccessFilter:
        """The filter for reading one resource: a declared basis covers its patients."""
        self._note_grants(reader.conn)
        if self.basis:
            f = replace(self.base, declared_any=True)
            if self.basis in EMERGENCY and visible(reader.conn, f, res_type, res_id):
                self._grant(reader, patients_of(reader.conn, res_type, res_id))
            return f
        return self.base

    def history(self, reader: Any, query: HistoryQuery) -> AccessFilter:
        if query.type is not None and query.id is not None:
            return self.single(reader, query.type, query.id)
        self._note_grants(reader.conn)
        if self.basis and not self.base.declared_nin:
            raise NoBasis(
                f"{HEADER_BASIS} applies to the patient in question: name them in the {HEADER_NIN} header"
            )
        if self.basis in EMERGENCY and self.base.declared_nin:
            self._grant(reader, patients_with_identifier(reader.conn, self.base.declared_nin))
        return self.base

    def search(self, reader: Any, query: SearchQuery, deferred: bool = False) -> AccessFilter:
        """``deferred``: kept sets may be used before their generation is read (with the
        search's first query); the caller then checks :meth:`confirm` before using the result."""
        self._note_grants(reader.conn, deferred and not self.basis)
        if not self.basis:
            return self.base
        ids = self._patients_in_question(reader, query) or self._asked
        self._asked = ids  # _include/_revinclude queries of the same request keep them
        if not ids and not self.base.declared_nin:
            raise NoBasis(
                f"{HEADER_BASIS} applies to the patient in question: search with patient=... "
                f"(or Patient by _id or identifier) or name them in the {HEADER_NIN} header"
            )
        if self.basis in EMERGENCY:
            named = list(ids)
            if self.base.declared_nin:
                named += patients_with_identifier(reader.conn, self.base.declared_nin)
            self._grant(reader, named)
        return replace(self.base, declared_ids=tuple(ids))

    def _patients_in_question(self, reader: Any, query: SearchQuery) -> list[str]:
        """Patient ids the search names: ``patient``/``subject``/compartment references,
        or for a Patient search its ``_id`` and ``identifier`` values (existing ones)."""
        found: list[str] = []
        tokens: list[TokenCriterion] = []
        types = query.types
        for clause in query.clauses:
            if clause.negate:
                continue
            if clause.table == "reference" and all(clause.param in LINKS.get(t, ()) for t in types):
                for alt in clause.alternatives:
                    tests = {t.column: t.value for t in alt if t.op == "="}
                    if tests.get("target_type", "Patient") == "Patient" and "target_id" in tests:
                        found.append(str(tests["target_id"]))
            elif types == ("Patient",) and clause.table == "resource" and clause.param == "_id":
                found += [str(t.value) for alt in clause.alternatives for t in alt if t.column == "res_id"]
            elif types == ("Patient",) and clause.table == "token" and clause.param == "identifier":
                for alt in clause.alternatives:
                    tests = {t.column: t.value for t in alt if t.op == "="}
                    if "value" in tests:
                        tokens.append(TokenCriterion("identifier", tests.get("system"), str(tests["value"])))
        ids = sorted(set(found))
        inner = reader._inner  # the unfiltered reader: which of the named Patients exist
        existing = inner.find("Patient", ids=ids) if ids else []
        if tokens:
            existing += inner.find("Patient", tokens=[tokens])
        return sorted(set(existing))

    def _grant(self, reader: Any, patient_ids: list[str]) -> None:
        new = [p for p in dict.fromkeys(patient_ids) if p not in self._granted]
        if not new or self.actor is None or self.basis not in EMERGENCY:
            return
        expires = self.now + int(self.settings.emergency_hours * 3_600_000_000)
        rows = [(self.actor, p, self.basis, self.reason or "", self.now, expires) for p in new]
        if isinstance(reader, GuardedTransaction):
            self._write_grants(reader._inner, rows)
        else:
            with self.store.transaction() as tx:
                self._write_grants(tx, rows)
        self._granted.update(new)

    def _write_grants(self, tx: Any, rows: list[tuple[str, str, str, str, int, int]]) -> None:
        """Insert, and purge expired grants: this practitioner's every time (their index
        range), everyone's at most once per :data:`PURGE_SECONDS` per store and process.
        A grant changes the access sets: the transaction bumps the access generation."""
        tx.mark_access_changed()
        conn = tx.conn
        insert_grants(conn, rows)
        purge_grants(conn, self.now, self.actor)
        if PURGES.due(getattr(self.store, "url", ""), self.now):
            purge_grants(conn, self.now)

    def deny(self, reader: Any, res_type: str, res_id: str) -> None:
        """A resource the principal may not see: 403 saying why where the reason does not
        reveal a patient's controls, else nothing (the caller answers 404)."""
        if self.role != "practitioner":
            return
        conn = reader.conn
        # would a declared basis (one that opens locks, in the second test) let them see it?
        normal = replace(self.base, basis=self.basis or "SAMTYKKE", declared_any=True, opens_locked=False)
        if visible(conn, normal, res_type, res_id):
            raise NoBasis(
                f"no basis for access to the data of this patient ({res_type}/{res_id}): no care "
                f"relationship; declare one with {HEADER_BASIS} ({', '.join(BASES)}) and {HEADER_REASON}"
            )
        if visible(conn, replace(normal, basis="FORHOYET_SAMTYKKE", opens_locked=True), res_type, res_id):
            raise NoBasis(
                f"{res_type}/{res_id} is locked (sperret) by the patient: only "
                f"{HEADER_BASIS}: FORHOYET_SAMTYKKE or FORHOYET_AKUTT opens it"
            )

    # -- writes ----------------------------------------------------------------------------

    def before_write(self, tx: Any, res_type: str, res_id: str, resource: Any) -> None:
        if self.role == "system":
            return
        if self.role == "practitioner" and cc.is_citizen_control(resource):
            raise NoBasis("citizen controls (reservation, sperring, blokkering) are managed by the patient")
        current = tx.current(res_type, res_id)
        if res_type == "Patient":
            self._check_links(tx, resource, current)
        if current is None or current.deleted:
            return
        if self.role == "practitioner" and res_type == "Consent" and current.body is not None:
            from helseflyt.fhir import json as fjson

            if cc.is_citizen_control(fjson.loads(current.body)):
                raise NoBasis(
                    "citizen controls (reservation, sperring, blokkering) are managed by the patient"
                )
        f = replace(self.base, declared_any=True) if self.basis else self.base
        if not visible(tx.conn, f, res_type, res_id):
            raise NoBasis(f"no access to {res_type}/{res_id}: it may not be changed")

    def _check_links(self, tx: Any, resource: Any, current: Any) -> None:
        """``Patient.link`` joins records into one person's compartment (access/links.py):
        a patient may not change links (it would open another record to them), a
        practitioner may link only to records they may see."""
        from helseflyt.fhir import json as fjson

        before = fjson.loads(current.body) if current is not None and current.body else {}
        if self.role == "patient":
            if (resource or {}).get("link") != before.get("link") and (resource or before).get("link"):
                raise NoBasis("links between Patient records (Patient.link) are made by the record keeper")
            return
        old = links_of(before)
        f = replace(self.base, declared_any=True) if self.basis else self.base
        for target in links_of(resource):
            if target not in old and not visible(tx.conn, f, "Patient", target):
                raise NoBasis(f"Patient.link to Patient/{target}: no access to that record")

    def wrote(self, tx: Any) -> None:
        """After each write of the request's transaction: once it has changed access data,
        the sets are read again as it sees them, never kept (storage/access/sets.py)."""
        if tx.access_changed and not self._wrote:
            self._wrote = True
            self._care_done = False

    def after_write(self, tx: Any, res_type: str, res_id: str) -> None:
        """A patient writes only into their own record (checked on the new index rows)."""
        if self.role == "practitioner":  # the sets read for this request may have changed
            if res_type in ("Encounter", "EpisodeOfCare", "CareTeam"):
                CARE_CACHE.forget(self.principal.hpr)
            self.base = replace(self.base, care_ids=None, gp_ids=None, grant_ids=None, nin_ids=None)
            self._care_done = False
        if self.role == "patient" and not visible(tx.conn, self.base, res_type, res_id):
            raise NoBasis(f"a patient may write only in their own record ({res_type} is outside it)")


def request_store(
    store: Any,
    principal: Principal | None,
    headers: Mapping[str, str],
    state: MutableMapping[str, Any],
    settings: PolicySettings | None = None,
) -> Any:
    """The store an interaction of this request uses: guarded when a principal is known."""
    if principal is None:
        return store
    if isinstance(store, GuardedStore):
        return store
    return GuardedStore(store, RequestPolicy(principal, store, headers, state, settings))
