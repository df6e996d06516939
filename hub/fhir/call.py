"""One authenticated FHIR request: who calls, from where, on which session, under which access policy.

Every ``/fhir`` route but ``metadata`` takes a :data:`CallDep`. Building it authenticates the bearer token (401
with ``WWW-Authenticate``), applies the client's rate limit (429 with ``Retry-After``) and makes the request's
one :class:`~hub.security.access.Access` (see ``hub/security/README.md``, "How routes use it").
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from hub.config import Settings
from hub.fhir.deps import SessionDep, SettingsDep
from hub.fhir.outcomes import FHIR_PREFIX
from hub.security.access import Access
from hub.security.audit import Trail, audited
from hub.security.deps import PrincipalDep, RequestContext, RequestContextDep
from hub.security.directory import StoreDirectory
from hub.security.principal import Principal


@dataclass(slots=True)
class Call:
    """The request's principal, context, session, settings and access policy."""

    principal: Principal
    context: RequestContext
    session: Session
    settings: Settings
    access: Access
    base: str  # the FHIR base URL without a trailing slash, for fullUrl, Location and links

    def audited(self, interaction: str, refs: Sequence[str] = ()) -> AbstractContextManager[Trail]:
        """:func:`hub.security.audit.audited` for this request (success recorded in the session; the route
        commits)."""
        return audited(self.session, principal=self.principal, interaction=interaction, context=self.context, refs=refs)


def fhir_base(settings: Settings, request: Request) -> str:
    """The configured FHIR base URL; when it is empty, the base of ``request`` (``/fhir`` under it)."""
    if settings.fhir_base_url:
        return settings.fhir_base_url.rstrip("/")
    return str(request.base_url).rstrip("/") + FHIR_PREFIX


def fhir_call(
    request: Request, principal: PrincipalDep, context: RequestContextDep, session: SessionDep, settings: SettingsDep
) -> Call:
    """The :class:`Call` of a request (the principal is resolved first: no token, no database work)."""
    access = Access(principal, settings, StoreDirectory(session))
    return Call(principal, context, session, settings, access, fhir_base(settings, request))


CallDep = Annotated[Call, Depends(fhir_call)]
