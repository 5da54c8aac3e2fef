"""Version preconditions shared by REST requests and transaction entries.

``If-Match`` (https://hl7.org/fhir/R4/http.html#concurrency) is checked against the
version read with ``tx.current(type, id, for_update=True)`` inside the write
transaction, so the check and the write cannot be separated by another writer: no
update is ever lost.
"""

from __future__ import annotations

import re

from helseflyt.errors import InvalidRequest, PreconditionFailed
from helseflyt.storage.base import ResourceVersion

_ETAG = re.compile(r'\s*(?:W/)?"?([0-9]{1,18})"?\s*')


def parse_etag(value: str) -> int:
    """``W/"3"``, ``"3"`` or ``3`` → 3; anything else → 400."""
    m = _ETAG.fullmatch(value)
    if m is None:
        raise InvalidRequest(f'invalid ETag {value!r}: expected W/"<versionId>"')
    return int(m.group(1))


def check_if_match(current: ResourceVersion | None, if_match: str | None, what: str) -> None:
    """412 unless the current, non-deleted version is the one ``if_match`` names."""
    if if_match is None:
        return
    wanted = parse_etag(if_match)
    if current is None or current.deleted:
        raise PreconditionFailed(f"If-Match {if_match}: {what} does not exist (or is deleted)")
    if current.version != wanted:
        raise PreconditionFailed(
            f"If-Match {if_match}: {what} is at version {current.version}, not {wanted}",
            headers={"ETag": current.etag},
        )
