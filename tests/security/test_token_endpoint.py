"""The built-in token endpoint, JWKS and SMART discovery, through HTTP; off in production."""

from __future__ import annotations

import base64

import pytest
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import KeySet

from hub.config import Settings
from hub.security.deps import Security
from hub.security.token_endpoint import build_router
from hub.security.tokens import TokenVerifier

from .conftest import HIS_A, HIS_B, SECRET_A, SECRET_B, serve


def make_client(settings: Settings):
    app = FastAPI()
    app.state.settings = settings
    app.include_router(build_router(settings))
    return serve(app)


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


@pytest.fixture
def client(sec_settings):
    with make_client(sec_settings) as c:
        yield c


def test_client_credentials_basic(client, sec_settings):
    r = client.post("/auth/token", data={"grant_type": "client_credentials"}, headers=basic(HIS_A, SECRET_A))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == sec_settings.auth_token_ttl_s
    assert r.headers["cache-control"] == "no-store"
    p = TokenVerifier(sec_settings).principal(body["access_token"])
    assert (p.client_id, p.organization, p.role, p.purposes) == (HIS_A, "org-a", "system", ("TREAT",))
    assert str(p.scopes) == "system/*.cruds"


def test_client_credentials_post_and_scope_narrowing(client, sec_settings):
    r = client.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": HIS_B,
            "client_secret": SECRET_B,
            "scope": "system/Patient.cruds system/Observation.c",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "system/Patient.rs system/Observation.c"
    p = TokenVerifier(sec_settings).principal(r.json()["access_token"])
    assert p.scopes.granting("create", "Observation") and not p.scopes.granting("create", "Patient")


@pytest.mark.parametrize(
    ("data", "headers", "status", "error"),
    [
        ({"grant_type": "client_credentials"}, basic(HIS_A, "wrong"), 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, basic("nobody", SECRET_A), 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": HIS_A}, {}, 401, "invalid_client"),
        (
            {"grant_type": "client_credentials", "scope": "user/Patient.rs"},
            basic(HIS_A, SECRET_A),
            400,
            "invalid_scope",
        ),
        (
            {"grant_type": "client_credentials", "scope": "system/Patient.xx"},
            basic(HIS_A, SECRET_A),
            400,
            "invalid_scope",
        ),
        (
            {"grant_type": "client_credentials", "purpose_of_use": "HMARKT"},
            basic(HIS_A, SECRET_A),
            400,
            "invalid_request",
        ),
        ({"grant_type": "authorization_code", "code": "x"}, basic(HIS_A, SECRET_A), 400, "unsupported_grant_type"),
        ({}, basic(HIS_A, SECRET_A), 400, "invalid_request"),
        ({"grant_type": "password", "username": "doctor", "password": "wrong"}, {}, 400, "invalid_grant"),
        ({"grant_type": "password", "username": "nobody", "password": "demo"}, {}, 400, "invalid_grant"),
        (
            {"grant_type": "password", "username": "doctor", "password": "demo"},
            basic(HIS_A, SECRET_A),
            400,
            "unauthorized_client",
        ),
    ],
)
def test_errors(client, data, headers, status, error):
    r = client.post("/auth/token", data=data, headers=headers)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Basic")


def test_body_must_be_a_form(client):
    r = client.post("/auth/token", json={"grant_type": "client_credentials"}, headers=basic(HIS_A, SECRET_A))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = client.post(
        "/auth/token",
        content="grant_type=client_credentials&grant_type=password",
        headers={**basic(HIS_A, SECRET_A), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400 and "repeated" in r.json()["error_description"]


@pytest.mark.parametrize(
    ("user", "role", "org", "patient"),
    [
        ("patient", "patient", None, "demo-patient"),
        ("doctor", "practitioner", "demo-hospital", None),
        ("pharmacist", "pharmacist", "demo-pharmacy", None),
        ("operator", "operator", None, None),
    ],
)
def test_demo_users(client, sec_settings, user, role, org, patient):
    r = client.post("/auth/token", data={"grant_type": "password", "username": user, "password": "demo"})
    assert r.status_code == 200, r.text
    body = r.json()
    p = TokenVerifier(sec_settings).principal(body["access_token"])
    assert (p.subject, p.role, p.organization, p.patient) == (user, role, org, patient)
    assert body.get("patient") == patient
    assert body["fhirUser"] == sec_settings.auth_demo_users[user].fhir_user


def test_patient_launch_context_only_for_patients(client, sec_settings):
    r = client.post(
        "/auth/token",
        data={
            "grant_type": "password",
            "username": "doctor",
            "password": "demo",
            "scope": "launch/patient user/Patient.rs",
        },
    )
    assert r.status_code == 200
    assert r.json()["scope"] == "user/Patient.rs"


def test_jwks_verifies_issued_tokens(client, sec_settings):
    r = client.post("/auth/token", data={"grant_type": "client_credentials"}, headers=basic(HIS_A, SECRET_A))
    token = r.json()["access_token"]
    jwks = client.get("/.well-known/jwks.json").json()
    assert all("d" not in k for k in jwks["keys"])
    decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
    assert decoded.claims["iss"] == sec_settings.auth_issuer
    assert decoded.header["typ"] == "at+jwt"


def test_smart_configuration(client, sec_settings):
    doc = client.get("/fhir/.well-known/smart-configuration").json()
    assert doc["token_endpoint"] == sec_settings.auth_issuer + "/auth/token"
    assert doc["jwks_uri"] == sec_settings.auth_issuer + "/.well-known/jwks.json"
    assert "client_credentials" in doc["grant_types_supported"]
    assert "permission-v2" in doc["capabilities"]


def test_token_endpoint_throttled_per_peer(sec_settings):
    s = sec_settings.model_copy(update={"rate_limit_per_s": 0.01, "rate_limit_burst": 3})
    with make_client(s) as c:
        codes = [
            c.post("/auth/token", data={"grant_type": "client_credentials"}, headers=basic(HIS_A, "guess")).status_code
            for _ in range(5)
        ]
        assert codes[:3] == [401, 401, 401]
        assert codes[3:] == [429, 429]
        r = c.post("/auth/token", data={"grant_type": "client_credentials"}, headers=basic(HIS_A, SECRET_A))
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_off_in_production(sec_settings, tmp_path):
    jwks = tmp_path / "idp.json"
    jwks.write_text(
        '{"keys": [{"kty": "EC", "crv": "P-256", "x": "f_HRD1mPJOOcdsAUWcUL8mMdhI3Q-di_wcxYH8x9f98", '
        '"y": "aOwiXMZebfmDu4Y_ev67I1EzkKy2-c6uv0svg8ZJBD4"}]}'
    )
    prod = Settings(
        data_dir=sec_settings.data_dir,
        database_url=sec_settings.database_url,
        environment="production",
        secret_key="k" * 40,
        auth_jwks_file=jwks,
        auth_issuer="https://idp.city.example",
        auth_token_url="https://idp.city.example/token",
    )
    assert not prod.auth_builtin
    with make_client(prod) as c:
        assert c.post(
            "/auth/token", data={"grant_type": "password", "username": "doctor", "password": "demo"}
        ).status_code in (404, 405)
        assert c.get("/.well-known/jwks.json").status_code == 404
        doc = c.get("/fhir/.well-known/smart-configuration").json()
        assert doc["token_endpoint"] == "https://idp.city.example/token"
        assert doc["grant_types_supported"] == ["client_credentials"]
    assert Security(prod).verifier.issuer == "https://idp.city.example"
