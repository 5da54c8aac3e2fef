"""What every interaction receives, and what it returns.

Write interactions are written as ``*_in(tx, ctx, ...)`` functions that work inside an
open storage transaction, so that a transaction Bundle runs the very same code for each
of its entries inside one atomic unit of work.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from helseflyt.errors import Issue
from helseflyt.search.sealed import PageSealer
from helseflyt.storage.base import ResourceVersion, Store

if TYPE_CHECKING:
    from helseflyt.access.principal import Principal

Validator = Callable[[Any, str | None], list[Issue]]


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(slots=True)
class Context:
    store: Store
    base_url: str  # e.g. "http://127.0.0.1:8080/fhir", no trailing slash
    validate: Validator
    new_id: Callable[[], str] = new_id
    # The authenticated actor (helseflyt.access); None = open development mode, no access control.
    principal: Principal | None = None
    # Seals the paging links of POST searches (helseflyt.search.sealed); None = not available.
    page_sealer: PageSealer | None = None
    # The installed packages' terminology (packages.registry.Registry), for the token
    # modifiers :in/:below/:above; called only when a search uses one. None = core R4 only.
    terminology: Callable[[], Any] | None = None


@dataclass(slots=True)
class Result:
    """The outcome of one interaction, independent of HTTP framing."""

    status: int
    body: dict[str, Any] | bytes | None = None  # bytes = stored FHIR JSON as is
    version: ResourceVersion | None = None
    headers: dict[str, str] = field(default_factory=dict)
    outcome: dict[str, Any] | None = None  # OperationOutcome for Prefer: return=OperationOutcome
    # For the audit trail: what a searchset's entries hold, in order (a stored version
    # when the entry embeds its body verbatim, else the resource dict), so the audit
    # writer need not parse the response again (helseflyt.audit.events.Capture.page).
    page: list[ResourceVersion | dict[str, Any]] | None = None
