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

__all__ = ["MAX_RECORDS", "linked", "links_of"]

MAX_RECORDS = 64  # one person's records; a longer chain is cut here (documented)
_SQL = (
    "SELECT target_id FROM reference_index WHERE res_type = 'Patient' AND param = 'link'"
    " AND target_type = 'Patient' AND res_id IN ({m})"
    " UNION SELECT res_id FROM reference_index WHERE res_type = 'Patient' AND param = 'link'"
    " AND target_type = 'Patient' AND target_id IN ({m})"
)


def linked(conn: Any, ids: Iterable[str]) -> set[str]:
    """``ids`` and every Patient record linked to one of them, transitively, both ways."""
    found = {i for i in ids if i}
    frontier = set(found)
    while frontier and len(found) < MAX_RECORDS:
        batch = sorted(frontier)
        marks = ", ".join("?" * len(batch))
        rows = conn.query(_SQL.format(m=marks), [*batch, *batch])
        frontier = {r[0] for r in rows if r[0]} - found
        found |= frontier
    return found


def links_of(resource: Any) -> list[str]:
    """The Patient ids a Patient resource links to (relative ``Patient/[id]`` references)."""
    out = []
    if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
        return out
    for link in resource.get("link") or ():
        ref = ((link or {}).get("other") or {}).get("reference") if isinstance(link, dict) else None
        if isinstance(ref, str) and ref.startswith("Patient/"):
            out.append(ref.split("/")[1])
    return out
