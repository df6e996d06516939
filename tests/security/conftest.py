"""Fixtures for the security tests: settings with registered clients, a token factory, Redis.

Redis tests are marked ``redis`` and run against ``HUB_TEST_REDIS_URL``, or ``HUB_TEST_BROKER_URL`` when that is
a Redis URL (as in CI's PostgreSQL + Redis run); they are skipped, loudly, otherwise.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from hub.config import AuthClient, Settings
from hub.security.jwks import load_or_create_signing_key
from hub.security.principal import Role
from hub.security.scopes import ScopeSet
from hub.security.tokens import issue_token
from tests.conftest import NO_REDIS

_broker = os.environ.get("HUB_TEST_BROKER_URL", "")
REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "") or (_broker if _broker.startswith("redis") else "")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "redis: needs a real Redis (HUB_TEST_REDIS_URL, or a redis:// broker URL)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "redis" in item.keywords and not REDIS_URL:
            item.add_marker(pytest.mark.skip(reason=NO_REDIS))  # counted in the closing banner (tests/conftest.py)


@pytest.fixture
def redis_url() -> str:
    """The test Redis URL."""
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are removed afterwards, and no one else's: tests running at the
    same time (xdist workers, other runs on the same Redis) never see or delete each other's buckets."""
    import redis

    prefix = f"hub:test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
    finally:
        client.close()


HIS_A = "his-a"
HIS_B = "his-b"
SECRET_A = "a-very-long-client-secret-for-hospital-a"
SECRET_B = "a-very-long-client-secret-for-hospital-b"


@pytest.fixture
def sec_settings(settings: Settings) -> Settings:
    """The test settings with two hospital systems registered (A treats, B only reads its own)."""
    return settings.model_copy(
        update={
            "auth_clients": {
                HIS_A: AuthClient(
                    secret=SECRET_A,
                    organization="org-a",
                    scopes=["system/*.cruds"],
                    purposes=["TREAT"],
                ),
                HIS_B: AuthClient(
                    secret=SECRET_B,
                    organization="org-b",
                    scopes=["system/*.rs", "system/Observation.cruds"],
                ),
            },
            "rate_limit_per_s": 1000.0,
            "rate_limit_burst": 1000,
        }
    )


class TokenFactory:
    """Mints tokens with the built-in key; every field can be overridden, or raw claims signed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.key = load_or_create_signing_key(settings)

    def __call__(
        self,
        scopes: str = "system/*.cruds",
        *,
        role: Role = "system",
        subject: str = HIS_A,
        client_id: str | None = None,
        organization: str | None = "org-a",
        patient: str | None = None,
        purposes: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> str:
        return issue_token(
            self.settings,
            subject=subject,
            client_id=client_id or subject,
            role=role,
            scopes=ScopeSet.parse(scopes),
            organization=organization,
            patient=patient,
            fhir_user=f"Patient/{patient}" if role == "patient" and patient else None,
            purposes=purposes,
            key=self.key,
            **kwargs,
        ).access_token

    def patient(self, patient_id: str, scopes: str = "patient/*.cruds") -> str:
        return self(
            scopes, role="patient", subject=f"user-{patient_id}", client_id="app", organization=None, patient=patient_id
        )

    def system(self, org: str, scopes: str = "system/*.cruds", purposes: tuple[str, ...] = ()) -> str:
        return self(scopes, subject=f"his-{org}", organization=org, purposes=purposes)


@pytest.fixture
def tokens(sec_settings: Settings) -> TokenFactory:
    return TokenFactory(sec_settings)


def new_id() -> str:
    return uuid.uuid4().hex[:16]


@contextmanager
def serve(app: Any) -> Iterator[httpx.Client]:
    """Run ``app`` with uvicorn on a free local port in a thread; yield an httpx client for it."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)
