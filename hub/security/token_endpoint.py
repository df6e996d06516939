"""The built-in OAuth 2 token endpoint, its JWKS, and SMART discovery.

* ``POST /auth/token`` (``application/x-www-form-urlencoded``; RFC 6749):
  - ``grant_type=client_credentials`` for systems registered in ``auth_clients``, authenticated with HTTP Basic
    (``client_secret_basic``) or ``client_id``/``client_secret`` in the form (``client_secret_post``);
  - ``grant_type=password`` for the documented demo users (``auth_demo_users``, password
    ``auth_demo_password``) — the demo login of the embedded hub.
  Optional ``scope`` (narrowed to what is registered) and ``purpose_of_use`` (space separated, narrowed to the
  registered purposes). Errors are OAuth JSON (``invalid_client``, ``invalid_grant``, ``invalid_scope`` …).
* ``GET /.well-known/jwks.json`` — the public signing key.
* ``GET /fhir/.well-known/smart-configuration`` — SMART App Launch discovery (served in every mode; in
  production it points at the configured identity provider).

The token endpoint and the JWKS exist only when ``settings.auth_builtin`` (never in production).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hub.config import Settings
from hub.errors import HubError
from hub.security.deps import client_address, get_security
from hub.security.jwks import load_or_create_signing_key, public_jwks
from hub.security.principal import Role
from hub.security.ratelimit import enforce
from hub.security.scopes import ScopeError, ScopeSet, narrow
from hub.security.tokens import issue_token

log = logging.getLogger(__name__)

TOKEN_PATH = "/auth/token"
JWKS_PATH = "/.well-known/jwks.json"
SMART_PATH = "/fhir/.well-known/smart-configuration"
DEMO_CLIENT_ID = "hub-demo"
_MAX_FORM_BYTES = 8192
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class _OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def _oauth_error(exc: _OAuthError) -> JSONResponse:
    headers = dict(_NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="hub"'
    return JSONResponse({"error": exc.error, "error_description": exc.description}, exc.status, headers=headers)


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise _OAuthError("invalid_client", "malformed Basic credentials", 401) from exc
        cid, sep, secret = decoded.partition(":")
        if not sep:
            raise _OAuthError("invalid_client", "malformed Basic credentials", 401)
        # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
        return unquote_plus(cid), unquote_plus(secret)
    return form.get("client_id"), form.get("client_secret")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _purposes(requested: str | None, allowed: list[str]) -> list[str]:
    if not requested:
        return list(allowed)
    wanted = requested.split()
    refused = [p for p in wanted if p not in allowed]
    if refused:
        raise _OAuthError("invalid_request", "a requested purpose of use is not registered for this client")
    return wanted


def _grant(settings: Settings, request: Request, form: dict[str, str]) -> dict[str, Any]:
    grant_type = form.get("grant_type")
    client_id, secret = _client_credentials(request, form)
    role: Role
    if grant_type == "client_credentials":
        client = settings.auth_clients.get(client_id or "")
        if client is None or secret is None or not _same(secret, client.secret.get_secret_value()):
            raise _OAuthError("invalid_client", "unknown client or wrong secret", 401)
        assert client_id is not None
        allowed, subject, role = client.scopes, client_id, client.role
        organization, patient, fhir_user = client.organization, None, None
        purposes = _purposes(form.get("purpose_of_use"), client.purposes)
    elif grant_type == "password":
        if client_id is not None and client_id != DEMO_CLIENT_ID:
            raise _OAuthError("unauthorized_client", "the password grant is only for the demo client")
        username = form.get("username", "")
        user = settings.auth_demo_users.get(username)
        password = form.get("password", "")
        if user is None or not _same(password, settings.auth_demo_password.get_secret_value()):
            raise _OAuthError("invalid_grant", "unknown user or wrong password")
        allowed, subject, role = user.scopes, username, user.role
        organization, patient, fhir_user = user.organization, user.patient, user.fhir_user
        client_id = DEMO_CLIENT_ID
        purposes = _purposes(form.get("purpose_of_use"), user.purposes)
    elif grant_type is None:
        raise _OAuthError("invalid_request", "grant_type is required")
    else:
        raise _OAuthError("unsupported_grant_type", "supported: client_credentials, password")
    try:
        scopes = narrow(form.get("scope"), allowed)
    except ScopeError as exc:
        raise _OAuthError("invalid_scope", str(exc)) from exc
    if not scopes.resource:
        raise _OAuthError("invalid_scope", "none of the requested scopes can be granted")
    if role != "patient":  # only a patient brings a patient context
        scopes = ScopeSet(scopes.resource, scopes.other - {"launch/patient"})
    issued = issue_token(
        settings,
        subject=subject,
        client_id=client_id,
        role=role,
        scopes=scopes,
        organization=organization,
        patient=patient,
        fhir_user=fhir_user,
        purposes=purposes,
        key=load_or_create_signing_key(settings),
    )
    body: dict[str, Any] = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    }
    if patient:
        body["patient"] = patient
    if fhir_user:
        body["fhirUser"] = fhir_user
    log.info("token issued: grant=%s client=%s role=%s", grant_type, client_id, role)
    return body


def build_router(settings: Settings) -> APIRouter:
    """The routes for these settings: discovery always; the token endpoint and JWKS when built in."""
    router = APIRouter(tags=["auth"])

    @router.get(SMART_PATH, summary="SMART App Launch discovery")
    def smart_configuration() -> JSONResponse:
        origin = settings.auth_issuer.rstrip("/")
        if settings.auth_builtin:
            token_endpoint, jwks_uri = origin + TOKEN_PATH, origin + JWKS_PATH
            grants = ["client_credentials", "password"]
        else:
            token_endpoint, jwks_uri = settings.auth_token_url, settings.auth_jwks_url
            grants = ["client_credentials"]
        doc: dict[str, Any] = {
            "issuer": settings.auth_issuer,
            "token_endpoint": token_endpoint,
            "grant_types_supported": grants,
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["system/*.cruds", "user/*.cruds", "patient/*.cruds", "launch/patient", "openid"],
            "response_types_supported": ["token"],
            "capabilities": [
                "client-confidential-symmetric",
                "permission-v1",
                "permission-v2",
                "context-standalone-patient",
            ],
            "code_challenge_methods_supported": ["S256"],
        }
        if jwks_uri:
            doc["jwks_uri"] = jwks_uri
        return JSONResponse(doc, headers={"Cache-Control": "public, max-age=300"})

    if not settings.auth_builtin:
        return router

    @router.get(JWKS_PATH, summary="The built-in token endpoint's public keys")
    def jwks() -> JSONResponse:
        return JSONResponse(
            public_jwks(load_or_create_signing_key(settings)), headers={"Cache-Control": "public, max-age=300"}
        )

    @router.post(TOKEN_PATH, summary="OAuth 2 token endpoint (client_credentials; password for demo users)")
    async def token(request: Request) -> JSONResponse:
        # Throttle per peer before any secret comparison: guessing secrets is slow.
        try:
            enforce(get_security(request).limiter, f"token:{client_address(request)}")
        except HubError as exc:
            return JSONResponse(
                {"error": "slow_down", "error_description": exc.message},
                429,
                headers={**_NO_STORE, **getattr(exc, "headers", {})},
            )
        try:
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != "application/x-www-form-urlencoded":
                raise _OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
            raw = await request.body()
            if len(raw) > _MAX_FORM_BYTES:
                raise _OAuthError("invalid_request", "the request body is too large")
            try:
                pairs = parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=bool(raw))
            except (UnicodeDecodeError, ValueError) as exc:
                raise _OAuthError("invalid_request", "the body is not a valid form") from exc
            form: dict[str, str] = {}
            for name, value in pairs:
                if name in form:
                    raise _OAuthError("invalid_request", f"parameter {name!r} is repeated")
                form[name] = value
            body = _grant(settings, request, form)
        except _OAuthError as exc:
            return _oauth_error(exc)
        return JSONResponse(body, headers=_NO_STORE)

    return router
