"""The security settings: defaults, and the production validator refusing placeholders."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hub.config import AuthClient, Settings


def prod(tmp_path, **over):
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    values = {"data_dir": tmp_path, "environment": "production", "secret_key": "s" * 40, "auth_jwks_file": jwks}
    values.update(over)
    return Settings(**values)


def test_defaults(tmp_path):
    s = Settings(data_dir=tmp_path, fhir_base_url="https://hub.city.example/fhir/")
    assert s.auth_issuer == "https://hub.city.example"
    assert s.auth_audience == "https://hub.city.example/fhir"
    assert s.auth_builtin
    assert set(s.auth_demo_users) == {"patient", "doctor", "pharmacist", "operator"}


def test_env_vars(tmp_path, monkeypatch):
    monkeypatch.setenv(
        "HUB_AUTH_CLIENTS", '{"his-a": {"secret": "s3cr3t-value", "organization": "org-a", "purposes": ["TREAT"]}}'
    )
    monkeypatch.setenv("HUB_RATE_LIMIT_REDIS_URL", "redis://127.0.0.1:6379/3")
    s = Settings(data_dir=tmp_path)
    assert s.auth_clients["his-a"].organization == "org-a"
    assert s.auth_clients["his-a"].scopes == ["system/*.cruds"]
    assert s.rate_limit_redis_url == "redis://127.0.0.1:6379/3"
    assert "s3cr3t-value" not in repr(s.auth_clients["his-a"])  # secrets are not printed


def test_production_accepts_real_settings(tmp_path):
    s = prod(tmp_path)
    assert not s.auth_builtin


@pytest.mark.parametrize("secret", ["", "changeme", "CHANGEME", "secret", "short-but-not-placeholder"])
def test_production_rejects_placeholder_secret_key(tmp_path, secret):
    with pytest.raises(ValidationError, match="HUB_SECRET_KEY"):
        prod(tmp_path, secret_key=secret)


def test_production_needs_external_keys(tmp_path):
    with pytest.raises(ValidationError, match="HUB_AUTH_JWKS"):
        prod(tmp_path, auth_jwks_file=None)
    assert not prod(tmp_path, auth_jwks_file=None, auth_jwks_url="https://idp.example/jwks").auth_builtin


def test_production_rejects_placeholder_client_secret(tmp_path):
    with pytest.raises(ValidationError, match="placeholder"):
        prod(tmp_path, auth_clients={"his": AuthClient(secret="changeme")})


def test_external_idp_outside_production_turns_builtin_off(tmp_path):
    assert not Settings(data_dir=tmp_path, auth_jwks_url="https://idp.example/jwks").auth_builtin
