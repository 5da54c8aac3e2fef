"""The queries the policy and the guard run besides the predicate: visibility of one
resource, the per-request patient sets, a resource's patients, emergency grants."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from helseflyt.access import consent as cc
from helseflyt.access.links import linked
from helseflyt.storage.access.bases import (
    _gp_targets,
    _own_patients,
    _practitioners,
    _token_is,
    care_sets,
)
from helseflyt.storage.access.citizen import _in_force
from helseflyt.storage.access.filter import HPR, LINKS, AccessFilter, _Sql
from helseflyt.storage.access.predicate import predicate
from helseflyt.storage.access.statements import Statements


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
    sets = care_sets(f, q)
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
    fields, grants, _ = read_sets(conn, f, bases=bases, limit=limit, gp_limit=gp_limit)
    return replace(f, **fields), grants


Grant = tuple[str, str, str, int]


def read_sets(
    conn: Any, f: AccessFilter, *, bases: bool, limit: int = 2000, gp_limit: int = 5000
) -> tuple[dict[str, Any], list[Grant], int | None]:
    """:func:`request_sets` as the filter fields it fills in, the grants, and the first
    instant after ``f.now`` at which the sets may change with time alone (a citizen
    control's ``provision.period`` starts or ends, a grant expires), or None: until
    then they change only through writes (storage/access/sets.py)."""
    sql, args = _SET_STATEMENTS.get(
        f, (bases, limit, gp_limit), lambda g: _sets_statement(g, bases, limit, gp_limit)
    )
    rows = conn.query(sql, args)
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
    edges = [int(r[3]) for r in got.get("edge", ()) if r[3] is not None]
    edges += [g[3] for g in grants]
    return out, grants, min(edges) if edges else None


_SET_STATEMENTS = Statements()


def _sets_statement(f: AccessFilter, bases: bool, limit: int, gp_limit: int) -> tuple[str, list[Any]]:
    """The one statement of :func:`request_sets` (rows ``kind, id, basis, reason, expires``)."""
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

    # the next edge of any Consent's period (in force from low to high inclusive)
    edge = (
        "SELECT min(e.at) FROM (SELECT min(pl.low) AS at FROM date_index pl WHERE pl.res_type = 'Consent'"
        f" AND pl.param = 'period' AND pl.low > {q.marks([f.now])}"
        " UNION ALL SELECT min(ph.high) + 1 FROM date_index ph WHERE ph.res_type = 'Consent'"
        f" AND ph.param = 'period' AND ph.high >= {q.marks([f.now])}) e"
    )
    parts.append(f"SELECT 'edge', {_NONE}, {_NONE}, {_NONE}, CAST(({edge}) AS BIGINT)")
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
    return q.finish(" UNION ALL ".join(parts), args), args


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
