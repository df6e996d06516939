"""Tokens, SMART scopes, patient compartment, organisation isolation, consent, AuditEvent, rate limits.

See ``hub/security/README.md`` for the model. Routes use the dependencies in :mod:`hub.security.deps`, an
:class:`~hub.security.access.Access` per request, and :func:`hub.security.audit.audited`.
"""

from hub.security.access import (
    PRODUCER_TAG_SYSTEM,
    Access,
    SearchScope,
    authorize,
    producer_of,
    stamp_producer,
)
from hub.security.deps import (
    PrincipalDep,
    RequestContext,
    RequestContextDep,
    Security,
    authenticate,
    get_security,
    require,
)
from hub.security.principal import Principal
from hub.security.scopes import Scope, ScopeSet, parse_scope
from hub.security.token_endpoint import build_router
from hub.security.tokens import TokenVerifier, issue_token

__all__ = [
    "PRODUCER_TAG_SYSTEM",
    "Access",
    "Principal",
    "PrincipalDep",
    "RequestContext",
    "RequestContextDep",
    "Scope",
    "ScopeSet",
    "SearchScope",
    "Security",
    "TokenVerifier",
    "authenticate",
    "authorize",
    "build_router",
    "get_security",
    "issue_token",
    "parse_scope",
    "producer_of",
    "require",
    "stamp_producer",
]
