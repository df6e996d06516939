"""End to end through a small FastAPI app served by uvicorn: the 401/403 matrix, the patient compartment by id,
by search and by parameters, organisation isolation, consent refusal, AuditEvents after reads and writes, 429.

The routes below are how the FHIR API is meant to use hub.security (see hub/security/README.md).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import Body, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy.orm import Session

from hub.config import Settings
from hub.db import get_sessionmaker
from hub.fhir import store
from hub.security.access import Access, producer_of
from hub.security.audit import audited
from hub.security.deps import PrincipalDep, RequestContextDep
from hub.security.directory import StoreDirectory
from hub.security.jwks import load_or_create_signing_key
from hub.security.token_endpoint import build_router

from .conftest import HIS_A, SECRET_A, serve

try:
    from hub.fhir.outcomes import install_error_handlers
except ImportError:  # pragma: no cover - the store helper's handler is not there yet
    install_error_handlers = None


def _install_handlers(app: FastAPI) -> None:
    if install_error_handlers is not None:
        install_error_handlers(app)
        return
    from hub.errors import HubError

    @app.exception_handler(HubError)
    async def handler(_request: Request, exc: HubError) -> JSONResponse:
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": exc.code, "diagnostics": exc.message}],
        }
        return JSONResponse(outcome, exc.status, headers=getattr(exc, "headers", None))


def session_dep(request: Request) -> Iterator[Session]:
    session = get_sessionmaker(request.app.state.settings)()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


SessionDep = Annotated[Session, Depends(session_dep)]


def build_app(settings: Settings) -> FastAPI:
    app = FastAPI()
    app.state.settings = settings
    _install_handlers(app)
    app.include_router(build_router(settings))

    @app.get("/fhir/{rtype}/{rid}")
    def read(rtype: str, rid: str, principal: PrincipalDep, ctx: RequestContextDep, session: SessionDep) -> Any:
        access = Access(principal, settings, StoreDirectory(session))
        with audited(session, principal=principal, interaction="read", context=ctx, refs=[f"{rtype}/{rid}"]) as trail:
            access.authorize("read", rtype)
            resource = dict(store.read(session, rtype, rid))
            trail.add(resource)
            access.check_read(resource)
        session.commit()
        return JSONResponse(resource)

    @app.get("/fhir/{rtype}")
    def search(
        rtype: str, request: Request, principal: PrincipalDep, ctx: RequestContextDep, session: SessionDep
    ) -> Any:
        access = Access(principal, settings, StoreDirectory(session))
        with audited(session, principal=principal, interaction="search-type", context=ctx) as trail:
            scope = access.search_scope(rtype)
            params = list(request.query_params.multi_items())
            page = store.search(session, rtype, params, count=100, offset=0, scope=scope.params)
            visible = access.filter([dict(r) for r in page.resources])
            trail.add(*visible)
        session.commit()
        return JSONResponse(
            {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in visible]}
        )

    @app.post("/fhir/{rtype}", status_code=201)
    def create(
        rtype: str,
        resource: Annotated[dict[str, Any], Body()],
        principal: PrincipalDep,
        ctx: RequestContextDep,
        session: SessionDep,
    ) -> Any:
        access = Access(principal, settings, StoreDirectory(session))
        with audited(session, principal=principal, interaction="create", context=ctx) as trail:
            to_store = access.check_write("create", {**resource, "resourceType": rtype})
            assert to_store is not None
            result = store.create(session, to_store)
            stored = dict(store.read(session, rtype, result.id))
            trail.add(stored)
        session.commit()
        return JSONResponse(stored, 201)

    return app


# -- data -------------------------------------------------------------------------------------------------------

LAB = {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}


def seed(session: Session) -> dict[str, str]:
    """Two patients' records from two hospitals, written through the store as the mapper would (tagged)."""
    from hub.security.access import stamp_producer

    for pid, org in (("p1", "org-b"), ("p2", "org-b"), ("p3", "org-a")):
        store.put(session, stamp_producer({"resourceType": "Patient", "id": pid, "gender": "female"}, org))
    obs = {"o1": ("p1", "org-b"), "o2": ("p2", "org-b"), "o3": ("p1", "org-a"), "o4": ("p3", "org-a")}
    for oid, (pid, org) in obs.items():
        store.put(
            session,
            stamp_producer(
                {
                    "resourceType": "Observation",
                    "id": oid,
                    "status": "final",
                    "category": [{"coding": [LAB]}],
                    "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
                    "subject": {"reference": f"Patient/{pid}"},
                },
                org,
            ),
        )
    store.put(session, {"resourceType": "Organization", "id": "org-a", "name": "Hospital A"})
    session.commit()
    return {oid: pid for oid, (pid, _) in obs.items()}


@pytest.fixture
def app_client(sec_settings, session) -> Iterator[Any]:
    seed(session)
    with serve(build_app(sec_settings)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def audit_events(session: Session, patient_id: str | None = None) -> list[dict[str, Any]]:
    params = [("patient", f"Patient/{patient_id}")] if patient_id else []
    session.rollback()
    return [dict(r) for r in store.search(session, "AuditEvent", params, count=1000, offset=0).resources]


def ids(bundle: dict[str, Any]) -> list[str]:
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []))


# -- 401 ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path", [("GET", "/fhir/Observation/o1"), ("GET", "/fhir/Observation"), ("POST", "/fhir/Observation")]
)
def test_every_route_needs_a_token(app_client, method, path):
    r = app_client.request(method, path, json={"resourceType": "Observation"} if method == "POST" else None)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="hub"'
    assert r.json()["resourceType"] == "OperationOutcome"
    assert r.json()["issue"][0]["code"] == "login"


def _signed(settings, key=None, **over):
    now = int(time.time())
    claims = {
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "sub": HIS_A,
        "client_id": HIS_A,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "scope": "system/*.cruds",
        "role": "system",
        "organization": "org-a",
        "purpose_of_use": ["TREAT"],
    }
    claims.update(over)
    key = key or load_or_create_signing_key(settings)
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key, algorithms=["ES256"])


@pytest.mark.parametrize("kind", ["forged", "expired", "not-yet", "issuer", "audience", "garbage", "basic"])
def test_bad_tokens_401(app_client, sec_settings, kind):
    headers = {
        "forged": bearer(_signed(sec_settings, key=ECKey.generate_key("P-256", auto_kid=True))),
        "expired": bearer(_signed(sec_settings, exp=int(time.time()) - 3600)),
        "not-yet": bearer(_signed(sec_settings, nbf=int(time.time()) + 3600)),
        "issuer": bearer(_signed(sec_settings, iss="https://evil.example")),
        "audience": bearer(_signed(sec_settings, aud="https://another-hub.example/fhir")),
        "garbage": bearer("not.a.token"),
        "basic": {"Authorization": "Basic " + base64.b64encode(b"his-a:" + SECRET_A.encode()).decode()},
    }[kind]
    r = app_client.get("/fhir/Observation/o1", headers=headers)
    assert r.status_code == 401, r.text
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    assert r.json()["resourceType"] == "OperationOutcome"
    # The control: a good token for the same read works.
    control = app_client.get("/fhir/Observation/o1", headers=bearer(_signed(sec_settings)))
    assert control.status_code == 200, control.text


def test_token_from_the_builtin_endpoint_works(app_client):
    r = app_client.post("/auth/token", data={"grant_type": "client_credentials"}, auth=(HIS_A, SECRET_A))
    token = r.json()["access_token"]
    assert app_client.get("/fhir/Observation/o3", headers=bearer(token)).status_code == 200


# -- 403 -------------------------------------------------------------------------------------------------------


def test_wrong_scope_403(app_client, tokens):
    t = tokens.system("org-a", "system/Patient.rs", ("TREAT",))
    for r in (
        app_client.get("/fhir/Observation/o3", headers=bearer(t)),
        app_client.get("/fhir/Observation", headers=bearer(t)),
        app_client.post("/fhir/Patient", json={"resourceType": "Patient"}, headers=bearer(t)),
    ):
        assert r.status_code == 403, r.text
        assert r.json()["issue"][0]["code"] == "forbidden"
    assert app_client.get("/fhir/Patient/p3", headers=bearer(t)).status_code == 200


# -- patient compartment -----------------------------------------------------------------------------------------


def test_patient_cannot_read_another_patient(app_client, tokens):
    t = bearer(tokens.patient("p1", "patient/*.rs"))
    assert app_client.get("/fhir/Patient/p1", headers=t).status_code == 200
    assert app_client.get("/fhir/Observation/o1", headers=t).status_code == 200
    assert app_client.get("/fhir/Observation/o3", headers=t).status_code == 200  # from the other hospital too
    assert app_client.get("/fhir/Patient/p2", headers=t).status_code == 403
    assert app_client.get("/fhir/Observation/o2", headers=t).status_code == 403
    # By search, whatever parameters are tried.
    assert ids(app_client.get("/fhir/Observation", headers=t).json()) == ["o1", "o3"]
    assert ids(app_client.get("/fhir/Observation", params={"patient": "Patient/p2"}, headers=t).json()) == []
    assert ids(app_client.get("/fhir/Observation", params={"subject": "Patient/p2"}, headers=t).json()) == []
    assert ids(app_client.get("/fhir/Patient", params={"_id": "p2"}, headers=t).json()) == []
    assert ids(app_client.get("/fhir/Patient", headers=t).json()) == ["p1"]
    # Injection attempts in parameters are just values.
    for value in ("Patient/p1' OR '1'='1", "Patient/p2,Patient/p1", "p1%' --", "Patient/*"):
        r = app_client.get("/fhir/Observation", params={"patient": value}, headers=t)
        assert r.status_code in (200, 400), r.text
        if r.status_code == 200:
            assert set(ids(r.json())) <= {"o1", "o3"}


# -- isolation and consent -----------------------------------------------------------------------------------------


def test_isolation_without_purpose(app_client, tokens):
    t = bearer(tokens.system("org-b", "system/*.rs"))
    assert app_client.get("/fhir/Observation/o1", headers=t).status_code == 200
    assert app_client.get("/fhir/Observation/o3", headers=t).status_code == 403
    assert ids(app_client.get("/fhir/Observation", headers=t).json()) == ["o1", "o2"]
    assert app_client.get("/fhir/Organization/org-a", headers=t).status_code == 200


def test_consent_refusal_enforced(app_client, tokens, session):
    treat_a = bearer(tokens.system("org-a", "system/*.rs", ("TREAT",)))
    assert app_client.get("/fhir/Observation/o1", headers=treat_a).status_code == 200
    assert ids(app_client.get("/fhir/Observation", headers=treat_a).json()) == ["o1", "o2", "o3", "o4"]
    # The patient refuses sharing with org-a, through the API with their own token.
    consent = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": "Patient/p1"},
        "provision": {
            "type": "permit",
            "provision": [{"type": "deny", "actor": [{"reference": {"reference": "Organization/org-a"}}]}],
        },
    }
    patient = bearer(tokens.patient("p1", "patient/*.rs patient/Consent.cruds"))
    r = app_client.post("/fhir/Consent", json=consent, headers=patient)
    assert r.status_code == 201, r.text
    assert producer_of(r.json()) is None
    # Someone else's refusal cannot be filed by p1.
    other = {**consent, "patient": {"reference": "Patient/p2"}}
    assert app_client.post("/fhir/Consent", json=other, headers=patient).status_code == 403

    r = app_client.get("/fhir/Observation/o1", headers=treat_a)
    assert r.status_code == 403 and "refused" in r.json()["issue"][0]["diagnostics"]
    assert app_client.get("/fhir/Patient/p1", headers=treat_a).status_code == 403
    assert app_client.get("/fhir/Observation/o3", headers=treat_a).status_code == 200  # org-a's own record
    assert ids(app_client.get("/fhir/Observation", headers=treat_a).json()) == ["o2", "o3", "o4"]
    # Another organisation with a treatment purpose is not refused.
    treat_c = bearer(tokens.system("org-c", "system/*.rs", ("TREAT",)))
    assert app_client.get("/fhir/Observation/o1", headers=treat_c).status_code == 200


# -- audit -------------------------------------------------------------------------------------------------------


def test_reads_searches_and_writes_are_audited(app_client, tokens, session):
    t = bearer(tokens.system("org-a", "system/*.cruds", ("TREAT",)))
    assert app_client.get("/fhir/Observation/o1", headers=t).status_code == 200
    assert app_client.get("/fhir/Observation", params={"code": "http://loinc.org|718-7"}, headers=t).status_code == 200
    created = app_client.post(
        "/fhir/Observation",
        headers=t,
        json={"status": "final", "code": {"text": "x"}, "subject": {"reference": "Patient/p3"}},
    )
    assert created.status_code == 201
    assert producer_of(created.json()) == "org-a"

    events = audit_events(session)
    by_interaction = {e["subtype"][0]["code"]: e for e in events}
    assert set(by_interaction) == {"read", "search-type", "create"}
    read = by_interaction["read"]
    assert read["action"] == "R" and read["outcome"] == "0"
    assert read["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"
    agent = read["agent"][0]
    assert agent["who"]["identifier"]["value"] == "his-org-a" and agent["requestor"] is True
    assert agent["network"]["address"] == "127.0.0.1"
    assert {"reference": "Organization/org-a"} in [a["who"] for a in read["agent"]]
    whats = [e.get("what", {}).get("reference") for e in read["entity"]]
    assert "Observation/o1/_history/1" in whats and "Patient/p1" in whats
    search = by_interaction["search-type"]
    assert search["action"] == "E"
    query = [e for e in search["entity"] if e.get("role", {}).get("code") == "24"][0]["query"]
    assert base64.b64decode(query).decode() == "code=http%3A%2F%2Floinc.org%7C718-7"
    assert {"Patient/p1", "Patient/p2", "Patient/p3"} <= {e.get("what", {}).get("reference") for e in search["entity"]}
    create = by_interaction["create"]
    assert create["action"] == "C"
    assert f"Observation/{created.json()['id']}/_history/1" in [
        e.get("what", {}).get("reference") for e in create["entity"]
    ]


def test_refused_and_failed_access_is_audited(app_client, tokens, session):
    t = bearer(tokens.system("org-b", "system/*.cruds"))
    assert app_client.get("/fhir/Observation/o3", headers=t).status_code == 403
    assert app_client.get("/fhir/Observation/nope", headers=t).status_code == 404
    r = app_client.post(
        "/fhir/Observation",
        headers=t,
        json={
            "status": "final",
            "subject": {"reference": "Patient/p1"},
            "meta": {"tag": [{"system": "urn:hub:producer", "code": "org-a"}]},
        },
    )
    assert r.status_code == 403
    events = {(e["subtype"][0]["code"], e["outcome"]) for e in audit_events(session)}
    assert events == {("read", "4"), ("create", "4")}
    refused = audit_events(session, "p1")
    assert len(refused) == 1 and refused[0]["outcomeDesc"]  # the refused read of p1's record is on p1's trail
    # The refused create left no Observation behind.
    session.rollback()
    stored = store.search(session, "Observation", [], count=100, offset=0).resources
    assert sorted(dict(x)["id"] for x in stored) == ["o1", "o2", "o3", "o4"]


def test_patient_lists_who_accessed_their_records(app_client, tokens, session):
    doctor = bearer(tokens("user/*.rs", role="practitioner", subject="dr-wang", organization="org-b"))
    assert app_client.get("/fhir/Observation/o1", headers=doctor).status_code == 200
    assert app_client.get("/fhir/Observation/o2", headers=doctor).status_code == 200
    patient = bearer(tokens.patient("p1", "patient/*.rs"))
    trail = app_client.get("/fhir/AuditEvent", headers=patient).json()
    who = [a["who"].get("identifier", {}).get("value") for e in trail["entry"] for a in e["resource"]["agent"]]
    assert "dr-wang" in who
    # p2's access by the doctor is not on p1's trail, and p1 cannot list p2's.
    assert all("Observation/o2/_history/1" not in str(e) for e in trail["entry"])
    assert ids(app_client.get("/fhir/AuditEvent", params={"patient": "Patient/p2"}, headers=patient).json()) == []
    # Other organisations cannot read audit trails, even with a treatment purpose.
    treat = bearer(tokens.system("org-a", "system/*.rs", ("TREAT",)))
    assert ids(app_client.get("/fhir/AuditEvent", headers=treat).json()) == []


# -- 429 ------------------------------------------------------------------------------------------------------------


def test_rate_limit_429(sec_settings, session, tokens):
    seed(session)
    s = sec_settings.model_copy(update={"rate_limit_per_s": 0.05, "rate_limit_burst": 3})
    with serve(build_app(s)) as client:
        t = bearer(tokens.system("org-b", "system/*.rs"))
        codes = [client.get("/fhir/Observation/o1", headers=t).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = client.get("/fhir/Observation/o1", headers=t)
        assert r.status_code == 429
        assert 1 <= int(r.headers["retry-after"]) <= 20
        assert r.json()["issue"][0]["code"] == "throttled"
        # Another client has its own bucket.
        assert (
            client.get("/fhir/Observation/o1", headers=bearer(tokens.system("org-b", "system/*.rs"))).status_code == 429
        )
        other = bearer(tokens("system/*.rs", subject="his-other", organization="org-b"))
        assert client.get("/fhir/Observation/o1", headers=other).status_code == 200


# -- one person across hospitals (the master patient index) ----------------------------------------------------------


def test_master_patient_compartment_and_consent(app_client, tokens, session):
    from hub.identity import linking

    for pid in ("p1", "p2", "p3"):
        linking.sync_patient(session, pid)
    master = linking.link(session, "p1", "p3")  # an operator decides p1 (hospital B) and p3 (hospital A) are one
    session.commit()
    assert linking.master_of(session, "p3") == master

    person = bearer(tokens.patient(master, "patient/*.rs patient/Consent.cruds"))
    assert ids(app_client.get("/fhir/Observation", headers=person).json()) == ["o1", "o3", "o4"]
    assert app_client.get("/fhir/Observation/o4", headers=person).status_code == 200
    assert app_client.get("/fhir/Observation/o2", headers=person).status_code == 403
    # Logged in through one hospital record, the person is still one person.
    via_p1 = bearer(tokens.patient("p1", "patient/*.rs"))
    assert app_client.get("/fhir/Observation/o4", headers=via_p1).status_code == 200

    # A refusal filed on the master covers every hospital record of the person.
    treat_c = bearer(tokens.system("org-c", "system/*.rs", ("TREAT",)))
    assert app_client.get("/fhir/Observation/o4", headers=treat_c).status_code == 200
    consent = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{master}"},
        "provision": {"type": "deny", "actor": [{"reference": {"reference": "Organization/org-c"}}]},
    }
    assert app_client.post("/fhir/Consent", json=consent, headers=person).status_code == 201
    assert app_client.get("/fhir/Observation/o4", headers=treat_c).status_code == 403
    assert app_client.get("/fhir/Observation/o1", headers=treat_c).status_code == 403
    assert ids(app_client.get("/fhir/Observation", headers=treat_c).json()) == ["o2"]


def test_audit_events_are_valid_r4(app_client, tokens, session):
    from hub.fhir.validation import validate_r4

    doctor = bearer(tokens("user/*.rs", role="practitioner", subject="dr-wang", organization="org-b"))
    app_client.get("/fhir/Observation/o1", headers=doctor)
    app_client.get("/fhir/Observation", params={"code": "718-7"}, headers=doctor)
    app_client.get("/fhir/Observation/o3", headers=doctor)  # refused
    events = audit_events(session)
    assert len(events) == 3
    for event in events:
        assert validate_r4(event, models=True) == [], event
