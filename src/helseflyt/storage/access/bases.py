"""SQL fragments for a practitioner's bases for access to a patient: care relationships
(encounters, episodes of care, care teams), the GP list, emergency grants and the
request's declared basis."""

from __future__ import annotations

from collections.abc import Sequence

from helseflyt.storage.access.filter import (
    _ACTIVE_ENCOUNTER,
    _ACTIVE_EPISODE,
    _VOID,
    DNR,
    FNR,
    HPR,
    ORGNR,
    AccessFilter,
    _Sql,
)


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


def care_sets(f: AccessFilter, q: _Sql) -> list[str]:
    """The SELECTs of the practitioner's care relationships (encounters and episodes of
    care at their organisations, care teams with them), each a set of Patient ids."""
    sets = []
    if f.orgnrs:
        sets.append(_episodes("Encounter", "service-provider", _ACTIVE_ENCOUNTER, f, q))
        sets.append(_episodes("EpisodeOfCare", "organization", _ACTIVE_EPISODE, f, q))
    if f.hpr:
        sets.append(_care_teams(f, q))
    return sets


def _basis(pid: str, f: AccessFilter, q: _Sql) -> str:
    """The practitioner has a basis for access to patient ``pid`` (an SQL expression)."""
    if f.declared_any:
        return "1 = 1"
    ors: list[str] = []
    if f.care_ids is not None:
        if f.care_ids:
            ors.append(q.among(pid, f.care_ids))
    elif sets := care_sets(f, q):
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
