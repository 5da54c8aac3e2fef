"""Linked Patient records (``Patient.link``): one person's records, for access control.

R4 defines ``Patient.link`` as a "link to another patient resource that concerns the same
actual patient", and every one of its four types says so:

* ``replaced-by`` / ``replaces`` — a merge (the old record points to the surviving one,
  and back);
* ``refer`` — this record is valid but not the main source; the other one is;
* ``seealso`` — another valid record known to be about the same person.

So every link whose ``other`` is a **Patient** joins the two records into one person's
compartment (a link to a RelatedPerson does not). Links are read in both directions
(R4: "there is no assumption that linked patient records have mutual links") and
followed transitively, from the ``link`` reference index rows (the ``type`` is not
needed, so no resource body is read).

Used for the patient's own data (a patient token sees every record of theirs), the
citizen controls (a reservation, sperring or blokkering on one record covers the linked
ones) and the access log (the log of a person covers all their records).

Who may make a link is checked on write (``helseflyt.access.policy``): a patient may not
link their record to another (it would open someone else's data to them), a practitioner
only to records they may see.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["MAX_STEPS", "linked", "links_of"]

MAX_STEPS = 16  # links followed from a record; a longer chain is cut here (documented)
_CHUNK = 500  # ids per query
_SQL = (
    "SELECT target_id FROM reference_index WHERE res_type = 'Patient' AND param = 'link'"
    " AND target_type = 'Patient' AND res_id IN ({m})"
    " UNION SELECT res_id FROM reference_index WHERE res_type = 'Patient' AND param = 'link'"
    " AND target_type = 'Patient' AND target_id IN ({m})"
)


def linked(conn: Any, ids: Iterable[str]) -> set[str]:
    """``ids`` and every Patient record linked to one of them, transitively, both ways."""
    found = {i for i in ids if i}
    frontier = sorted(found)
    for _ in range(MAX_STEPS):
        if not frontier:
            break
        new: set[str] = set()
        for at in range(0, len(frontier), _CHUNK):
            batch = frontier[at : at + _CHUNK]
            marks = ", ".join("?" * len(batch))
            new.update(r[0] for r in conn.query(_SQL.format(m=marks), [*batch, *batch]) if r[0])
        frontier = sorted(new - found)
        found.update(frontier)
    return found


def links_of(resource: Any) -> list[str]:
    """The Patient ids a Patient resource links to (``.../Patient/[id]`` references)."""
    out: list[str] = []
    if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
        return out
    for link in resource.get("link") or ():
        other = link.get("other") if isinstance(link, dict) else None
        ref = other.get("reference") if isinstance(other, dict) else None
        if isinstance(ref, str) and "Patient/" in ref:
            out.append(ref.rsplit("Patient/", 1)[1].split("/")[0])
    return out
