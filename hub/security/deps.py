"""FastAPI dependencies: the authenticated principal (401), scope checks (403), rate limits (429).

    @router.get("/fhir/Observation/{id}")
    def read(id: str, principal: PrincipalDep, ctx: RequestContextDep, session: SessionDep) -> ...:
        access = Access(principal, settings, StoreDirectory(session))
        ...

The security state (settings, token verifier, rate limiter) is built on first use and kept on
``app.state.security``; an app may install its own with ``app.state.security = Security(settings)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from hub.config import Settings, get_settings
from hub.errors import Unauthorized
from hub.security.access import authorize
from hub.security.principal import Principal
from hub.security.ratelimit import RateLimiter, enforce, make_rate_limiter
from hub.security.tokens import TokenVerifier

_REALM = "hub"
_lock = threading.Lock()


class InvalidToken(Unauthorized):
    """401 with the RFC 6750 ``WWW-Authenticate`` challenge."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        challenge = f'Bearer realm="{_REALM}"'
        if not missing:
            challenge += ', error="invalid_token"'
        self.headers = {"WWW-Authenticate": challenge}


class Security:
    """The process's security machinery for one app: settings, token verifier, rate limiter."""

    def __init__(
        self,
        settings: Settings,
        *,
        verifier: TokenVerifier | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.verifier = verifier or TokenVerifier(settings)
        self.limiter = limiter if limiter is not None else make_rate_limiter(settings)


def get_security(request: Request) -> Security:
    """The app's :class:`Security`, built on first use from ``app.state.settings`` (or the process settings)."""
    state = request.app.state
    security: Security | None = getattr(state, "security", None)
    if security is None:
        with _lock:
            security = getattr(state, "security", None)
            if security is None:
                settings = getattr(state, "settings", None) or get_settings()
                security = Security(settings)
                state.security = security
    return security


SecurityDep = Annotated[Security, Depends(get_security)]


def client_address(request: Request) -> str:
    """The peer address (as the ASGI server reports it, after any trusted proxy handling)."""
    return request.client.host if request.client else "unknown"


def rate_limit_key(principal: Principal) -> str:
    """Per client; for people, per client and user (a public app's users do not share one bucket)."""
    if principal.is_user:
        return f"client:{principal.client_id}:user:{principal.subject}"
    return f"client:{principal.client_id}"


def authenticate(request: Request, security: SecurityDep) -> Principal:
    """The principal of the request's bearer token.

    Raises:
        InvalidToken: no token, or one that fails verification (401); the failure is counted against the
            peer address so that a flood of bad tokens is throttled as well.
        RateLimited: the client (or the peer, for bad tokens) is over its rate (429).
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    try:
        if not header:
            raise InvalidToken("a bearer token is required", missing=True)
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("the Authorization header is not a bearer token")
        try:
            principal = security.verifier.principal(token.strip())
        except InvalidToken:
            raise
        except Unauthorized as exc:
            raise InvalidToken(exc.message) from exc
    except InvalidToken:
        enforce(security.limiter, f"peer:{client_address(request)}")
        raise
    enforce(security.limiter, rate_limit_key(principal))
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def require(interaction: str, resource_type: str) -> Callable[[Principal], Principal]:
    """A dependency for a route on a fixed resource type: the principal, if a scope grants the interaction.

    Example: ``principal: Annotated[Principal, Depends(require("read", "Patient"))]``.
    """

    def dependency(principal: PrincipalDep) -> Principal:
        authorize(principal, interaction, resource_type)
        return principal

    return dependency


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Where a request came from, for the AuditEvent."""

    source_address: str
    method: str
    path: str
    query: str
    user_agent: str | None


def request_context(request: Request) -> RequestContext:
    return RequestContext(
        source_address=client_address(request),
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        user_agent=request.headers.get("user-agent"),
    )


RequestContextDep = Annotated[RequestContext, Depends(request_context)]
