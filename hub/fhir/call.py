"""One authenticated FHIR request: who calls, from where, on which session, under which access policy.

Every ``/fhir`` route but ``metadata`` takes a :data:`CallDep`. Building it authenticates the bearer token (401
with ``WWW-Authenticate``), applies the client's rate limit (429 with ``Retry-After``) and makes the request's
one :class:`~hub.security.access.Access` (see ``hub/security/README.md``, "How routes use it").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from hub.config import Settings
from hub.errors import Conflict
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

    def commit(self) -> None:
        """Commit the request's work (a lock conflict at commit time is a 409, like one while writing)."""
        with database_conflicts():
            self.session.commit()

    def audited(self, interaction: str, refs: Sequence[str] = ()) -> AbstractContextManager[Trail]:
        """:func:`hub.security.audit.audited` for this request (success recorded in the session; the route
        commits)."""
        return audited(self.session, principal=self.principal, interaction=interaction, context=self.context, refs=refs)


# SQLSTATEs of transactions that lost a race: serialization failure, deadlock, lock not available.
_RACE_STATES = frozenset({"40001", "40P01", "55P03"})


@contextmanager
def database_conflicts() -> Iterator[None]:
    """Turn a database's verdict on concurrent writers (PostgreSQL deadlock or serialization failure, SQLite
    ``database is locked``) into :class:`~hub.errors.Conflict` (409: try again); other errors pass."""
    try:
        yield
    except DBAPIError as exc:
        state = getattr(exc.orig, "sqlstate", None)
        if state in _RACE_STATES or "database is locked" in str(exc.orig):
            raise Conflict("another request is changing the same resources; try again") from exc
        raise


def fhir_base(settings: Settings, request: Request) -> str:
    """The configured FHIR base URL; when it is empty, the base of ``request`` (``/fhir`` under it)."""
    if settings.fhir_base_url:
        return settings.fhir_base_url.rstrip("/")
    return str(request.base_url).rstrip("/") + FHIR_PREFIX


# Declares the bearer scheme in the OpenAPI document (authentication itself is PrincipalDep's: 401 with a challenge).
_BEARER = HTTPBearer(auto_error=False, description="An access token from the token endpoint (SMART scopes)")


def fhir_call(
    request: Request,
    principal: PrincipalDep,
    context: RequestContextDep,
    session: SessionDep,
    settings: SettingsDep,
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
) -> Call:
    """The :class:`Call` of a request (the principal is resolved first: no token, no database work)."""
    access = Access(principal, settings, StoreDirectory(session))
    return Call(principal, context, session, settings, access, fhir_base(settings, request))


CallDep = Annotated[Call, Depends(fhir_call)]
