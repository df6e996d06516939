"""The MPI operations over HTTP (uvicorn on a real socket): $match, $merge/$unmerge, $mpi-link/$mpi-unlink and
Task $mpi-resolve, with bearer tokens from the built-in key."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from hub.fhir import store
from hub.identity import linking
from hub.identity.api import MATCH_GRADE_URL, router
from hub.security.jwks import load_or_create_signing_key
from hub.security.scopes import ScopeSet
from hub.security.tokens import issue_token

from .conftest import ZHANG, dispatch, hospital_patient, put

try:
    from hub.fhir.outcomes import install_error_handlers
except ImportError:  # pragma: no cover - the API helper's handlers are not there yet
    install_error_handlers = None


def _install_handlers(app: FastAPI) -> None:
    if install_error_handlers is not None:
        install_error_handlers(app)
        return
    from fastapi import Request
    from fastapi.responses import JSONResponse

    from hub.errors import HubError

    @app.exception_handler(HubError)
    async def handler(_request: Request, exc: HubError) -> JSONResponse:
        issue = {"severity": "error", "code": exc.code, "diagnostics": exc.message}
        if exc.expression:
            issue["expression"] = [exc.expression]
        outcome = {"resourceType": "OperationOutcome", "issue": [issue]}
        return JSONResponse(outcome, exc.status, headers=getattr(exc, "headers", None))


@contextmanager
def serve(app: FastAPI) -> Iterator[httpx.Client]:
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
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def client(settings, mpi) -> Iterator[httpx.Client]:
    app = FastAPI()
    app.state.settings = settings
    _install_handlers(app)
    app.include_router(router)
    with serve(app) as c:
        yield c


def bearer(settings, role="system", scopes="system/*.cruds", organization="h1", purposes=("TREAT",)):
    token = issue_token(
        settings,
        subject=f"{role}-user",
        client_id="test-client",
        role=role,
        scopes=ScopeSet.parse(scopes),
        organization=organization,
        purposes=purposes,
        key=load_or_create_signing_key(settings),
    ).access_token
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}


def operator(settings):
    return bearer(settings, role="operator", scopes="user/*.cruds", organization=None, purposes=())


def parameters(*params):
    return {"resourceType": "Parameters", "parameter": list(params)}


@pytest.fixture
def linked(mpi):
    put(mpi, hospital_patient("h1", "1", name="张三", birth="1990-03-07", gender="male", resident=ZHANG))
    put(mpi, hospital_patient("h2", "2", name="Zhang San", resident=ZHANG))
    put(mpi, hospital_patient("h2", "3", name="章三", birth="1990-03-07", gender="male"))
    dispatch(mpi)
    return mpi


def test_match_returns_a_scored_searchset(settings, linked, client):
    body = parameters(
        {"name": "resource", "resource": hospital_patient("q", "q", name="张三", birth="1990-03-07", gender="male")},
        {"name": "count", "valueInteger": 5},
    )
    r = client.post("/fhir/Patient/$match", json=body, headers=bearer(settings))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    bundle = r.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert bundle["total"] == 2
    first, second = bundle["entry"]
    master = linking.master_of(linked, "h1-1")
    assert first["resource"]["id"] == master
    assert first["fullUrl"].endswith(f"/Patient/{master}")
    assert first["search"]["mode"] == "match"
    assert first["search"]["score"] > second["search"]["score"]
    assert first["search"]["extension"] == [{"url": MATCH_GRADE_URL, "valueCode": "probable"}]
    assert second["search"]["extension"][0]["valueCode"] == "possible"

    certain = parameters(
        {"name": "resource", "resource": hospital_patient("q", "q", resident=ZHANG)},
        {"name": "onlyCertainMatches", "valueBoolean": True},
    )
    r = client.post("/fhir/Patient/$match", json=certain, headers=bearer(settings))
    entries = r.json()["entry"]
    assert [e["resource"]["id"] for e in entries] == [master]
    assert entries[0]["search"]["score"] == 1.0
    assert entries[0]["search"]["extension"][0]["valueCode"] == "certain"
    # The search was audited.
    audits = store.search(linked, "AuditEvent", [], count=50).resources
    assert any(a["subtype"][0]["code"] == "operation" for a in audits)


def test_match_errors(settings, linked, client):
    assert client.post("/fhir/Patient/$match", json=parameters()).status_code == 401
    r = client.post("/fhir/Patient/$match", json=parameters(), headers=bearer(settings))
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
    wrong = parameters({"name": "resource", "resource": {"resourceType": "Observation"}})
    r = client.post("/fhir/Patient/$match", json=wrong, headers=bearer(settings))
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["Parameters.parameter[0].resource"]
    bad_count = parameters(
        {"name": "resource", "resource": {"resourceType": "Patient"}}, {"name": "count", "valueInteger": 0}
    )
    assert client.post("/fhir/Patient/$match", json=bad_count, headers=bearer(settings)).status_code == 400
    no_scope = bearer(settings, scopes="system/Observation.rs")
    body = parameters({"name": "resource", "resource": {"resourceType": "Patient"}})
    assert client.post("/fhir/Patient/$match", json=body, headers=no_scope).status_code == 403


def test_operator_merge_unmerge_link_unlink_resolve(settings, linked, client):
    mpi = linked
    merge = parameters(
        {"name": "source-patient", "valueReference": {"reference": "Patient/h2-3"}},
        {"name": "target-patient", "valueReference": {"reference": "Patient/h2-2"}},
    )
    # Hospital systems cannot change the index.
    assert client.post("/fhir/Patient/$merge", json=merge, headers=bearer(settings)).status_code == 403
    r = client.post("/fhir/Patient/$merge", json=merge, headers=operator(settings))
    assert r.status_code == 200, r.text
    out = {p["name"]: p for p in r.json()["parameter"]}
    master = linking.master_of(mpi, "h1-1")
    assert out["master"]["valueReference"] == {"reference": f"Patient/{master}"}
    mpi.expire_all()
    assert "h2-3" in linking.expand_patient_ids(mpi, master)
    unmerge = parameters({"name": "source-patient", "valueReference": {"reference": "Patient/h2-3"}})
    assert client.post("/fhir/Patient/$unmerge", json=unmerge, headers=operator(settings)).status_code == 200
    assert client.post("/fhir/Patient/$unmerge", json=unmerge, headers=operator(settings)).status_code == 404
    mpi.expire_all()
    dispatch(mpi)

    r = client.post("/fhir/Patient/h2-2/$mpi-unlink", headers=operator(settings))
    assert r.status_code == 200, r.text
    mpi.expire_all()
    assert linking.master_of(mpi, "h2-2") != master
    link = parameters({"name": "other", "valueReference": {"reference": f"Patient/{master}"}})
    r = client.post("/fhir/Patient/h2-2/$mpi-link", json=link, headers=operator(settings))
    assert r.status_code == 200, r.text
    mpi.expire_all()
    assert linking.master_of(mpi, "h2-2") == master

    tasks = store.search(mpi, "Task", [("_tag", "urn:hub:mpi|review"), ("status", "requested")], count=10).resources
    assert len(tasks) == 1
    decide = parameters({"name": "decision", "valueCode": "same"})
    r = client.post(f"/fhir/Task/{tasks[0]['id']}/$mpi-resolve", json=decide, headers=operator(settings))
    assert r.status_code == 200, r.text
    mpi.expire_all()
    assert linking.master_of(mpi, "h2-3") == master
    r = client.post(f"/fhir/Task/{tasks[0]['id']}/$mpi-resolve", json=decide, headers=operator(settings))
    assert r.status_code == 409
    bad = parameters({"name": "decision", "valueCode": "maybe"})
    assert client.post("/fhir/Task/x/$mpi-resolve", json=bad, headers=operator(settings)).status_code == 400
