"""JWT access tokens (RFC 9068 shape): issued by the built-in endpoint, verified on every request.

Verification checks the signature against the configured keys (algorithms from ``auth_algorithms`` only:
never ``none`` nor a symmetric one), then ``iss``, ``aud``, ``exp``, ``nbf`` and ``iat`` with
``auth_leeway_s`` of clock skew. Every failure is an :class:`~hub.errors.Unauthorized` whose message says
which check failed and never quotes the token.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import Key

from hub.config import Settings
from hub.errors import Unauthorized
from hub.security.jwks import KeySource, key_source, load_or_create_signing_key
from hub.security.principal import Principal, Role
from hub.security.scopes import ScopeSet

_MAX_TOKEN_BYTES = 16_384
_ACCEPTED_TYP = {None, "JWT", "at+jwt", "application/at+jwt"}
_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str
    claims: dict[str, Any]


def issue_token(
    settings: Settings,
    *,
    subject: str,
    client_id: str,
    role: Role,
    scopes: ScopeSet,
    organization: str | None = None,
    patient: str | None = None,
    fhir_user: str | None = None,
    purposes: Iterable[str] = (),
    key: Key | None = None,
    now: int | None = None,
    ttl_s: int | None = None,
) -> IssuedToken:
    """Sign an access token with the built-in key.

    Args:
        settings: issuer, audience, lifetime and the data directory holding the key.
        subject: the user name, or the client id for a system.
        client_id: the OAuth client the token is issued to.
        role: the principal's role (see :mod:`hub.security.principal`).
        scopes: the granted scopes.
        organization: the Organization id the principal works for.
        patient: the Patient id in context.
        fhir_user: SMART ``fhirUser``.
        purposes: purposes of use asserted for this token.
        key: the signing key (default: the built-in key of ``settings``).
        now: issue time (seconds since the epoch; default: now).
        ttl_s: lifetime (default: ``auth_token_ttl_s``).

    Returns:
        The compact JWT, its lifetime and the granted scope string.
    """
    key = key or load_or_create_signing_key(settings)
    issued_at = int(time.time()) if now is None else now
    lifetime = settings.auth_token_ttl_s if ttl_s is None else ttl_s
    claims: dict[str, Any] = {
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "sub": subject,
        "client_id": client_id,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + lifetime,
        "jti": uuid.uuid4().hex,
        "scope": str(scopes),
        "role": role,
    }
    for name, value in (("organization", organization), ("patient", patient), ("fhirUser", fhir_user)):
        if value:
            claims[name] = value
    purpose_list = list(purposes)
    if purpose_list:
        claims["purpose_of_use"] = purpose_list
    alg = str(key.get("alg") or settings.auth_signing_alg)
    header = {"alg": alg, "kid": key.kid, "typ": "at+jwt"}
    token = jwt.encode(header, claims, key, algorithms=[alg])
    return IssuedToken(token, lifetime, claims["scope"], claims)


class TokenVerifier:
    """Verifies bearer tokens against the configured issuer, audience and keys."""

    def __init__(self, settings: Settings, keys: KeySource | None = None) -> None:
        self.issuer = settings.auth_issuer
        self.audience = settings.auth_audience
        self.algorithms = [a for a in settings.auth_algorithms if a[:2] in ("ES", "RS", "PS") or a == "EdDSA"]
        self.leeway = settings.auth_leeway_s
        self.keys = keys or key_source(settings)
        self._cache: OrderedDict[str, tuple[Principal, int, int]] = OrderedDict()
        self._lock = threading.Lock()

    def claims(self, token: str, *, now: int | None = None) -> dict[str, Any]:
        """Verify ``token`` and return its claims.

        Raises:
            Unauthorized: malformed, badly signed, expired, not yet valid, or for another issuer or audience.
        """
        if not token or len(token) > _MAX_TOKEN_BYTES or token.count(".") != 2:
            raise Unauthorized("the bearer token is not a signed JWT")
        try:
            decoded = jwt.decode(token, self.keys.resolve, algorithms=self.algorithms)
        except BadSignatureError as exc:
            raise Unauthorized("the token's signature is invalid") from exc
        except JoseError as exc:
            raise Unauthorized(f"the token cannot be verified ({exc.error})") from exc
        except (ValueError, TypeError) as exc:
            raise Unauthorized("the bearer token is not a signed JWT") from exc
        if decoded.header.get("typ") not in _ACCEPTED_TYP:
            raise Unauthorized("the token is not an access token")
        registry = jwt.JWTClaimsRegistry(
            now=now if now is not None else int(time.time()),
            leeway=self.leeway,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.audience},
            sub={"essential": True},
            exp={"essential": True},
        )
        try:
            registry.validate(decoded.claims)
        except ExpiredTokenError as exc:
            raise Unauthorized("the token has expired") from exc
        except MissingClaimError as exc:
            raise Unauthorized(f"the token lacks a required claim ({exc.description})") from exc
        except InvalidClaimError as exc:
            what = {
                "iss": "the token is from another issuer",
                "aud": "the token is for another audience",
                "nbf": "the token is not valid yet",
                "iat": "the token is issued in the future",
            }.get(exc.claim, f"the token's {exc.claim!r} claim is invalid")
            raise Unauthorized(what) from exc
        return dict(decoded.claims)

    def principal(self, token: str, *, now: int | None = None) -> Principal:
        """Verify ``token`` and build its :class:`Principal` (raises :class:`Unauthorized`).

        A verified token is remembered until its ``exp`` (a client reuses its token for every request; an
        ES256 verification costs about 0.3 ms), at most ``_CACHE_SIZE`` tokens, least recently used first out.
        """
        t = int(time.time()) if now is None else now
        with self._lock:
            hit = self._cache.get(token)
            if hit is not None:
                principal, not_before, expires = hit
                if not_before - self.leeway <= t < expires + self.leeway:
                    self._cache.move_to_end(token)
                    return principal
                del self._cache[token]
        claims = self.claims(token, now=now)
        principal = Principal.from_claims(claims)
        not_before = claims.get("nbf", claims.get("iat", t))
        with self._lock:
            self._cache[token] = (principal, int(not_before), int(claims["exp"]))
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return principal
