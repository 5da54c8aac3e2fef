"""SQL fragments for citizen controls (reservation, sperring, blokkering; see
``helseflyt.access.consent``) and lock labels, per patient and per resource row."""

from __future__ import annotations

from helseflyt.access import consent as cc
from helseflyt.storage.access.bases import _practitioners, _token_is
from helseflyt.storage.access.filter import HPR, AccessFilter, _Sql


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
