"""Fixtures for the FHIR API tests: the FHIR router and the error handlers in an app served by uvicorn on a real
socket, and an httpx client for it that carries a hub operator's bearer token (hub-wide: the access policy lets
it see everything, so these tests are about the API itself; tests/fhir/test_rest_*.py and
tests/security/test_fhir_routes_*.py test the policy)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from hub.config import Settings


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    from hub.fhir.api import router
    from hub.fhir.outcomes import install_error_handlers

    application = FastAPI()
    application.state.settings = settings
    install_error_handlers(application)
    application.include_router(router)
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[httpx.Client]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        headers = {"Authorization": f"Bearer {operator_token(app.state.settings)}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, headers=headers) as c:
            yield c
    finally:
        server.should_exit = True
        thread.join(10)


def operator_token(settings: Settings) -> str:
    """A token of a hub operator (role operator, ``user/*.cruds``) signed with the built-in key."""
    from hub.security.scopes import ScopeSet
    from hub.security.tokens import issue_token

    return issue_token(
        settings, subject="test-operator", client_id="tests", role="operator", scopes=ScopeSet.parse("user/*.cruds")
    ).access_token
