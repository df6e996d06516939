"""The access policy on every route of the real app (``create_app``, uvicorn, real socket): 401 on every /fhir route
without a token, 403 for a missing scope, a patient confined to their compartment (by id, vread, history, search,
transaction), organisation isolation and purpose of use, consent refusal, writes stamped with the writer's
organisation, the MPI routes reachable, and 429 with Retry-After."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy.orm import Session

from hub.fhir import api as fhir_api
from hub.fhir import store
from hub.security.access import producer_of, stamp_producer
from tests.support.fhir_client import FHIR_JSON, ids, serve_hub

from .conftest import HIS_A, SECRET_A

RECIPIENT = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]}
LAB = {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}


def seed(session: Session) -> None:
    """Patients p1, p2 (hospital B) and p3 (hospital A); Observations o1 (p1, B), o2 (p2, B), o3 (p1, A), o4 (p3, A)."""
    for pid, org in (("p1", "org-b"), ("p2", "org-b"), ("p3", "org-a")):
        store.put(session, stamp_producer({"resourceType": "Patient", "id": pid, "gender": "female"}, org))
    for oid, pid, org in (("o1", "p1", "org-b"), ("o2", "p2", "org-b"), ("o3", "p1", "org-a"), ("o4", "p3", "org-a")):
        observation = {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "category": [{"coding": [LAB]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
            "subject": {"reference": f"Patient/{pid}"},
        }
        store.put(session, stamp_producer(observation, org))
    store.put(session, {"resourceType": "Organization", "id": "org-a", "name": "Hospital A"})
    session.commit()
    store.put(session, stamp_producer({"resourceType": "Patient", "id": "p2", "gender": "male"}, "org-b"))  # v2
    session.commit()


@pytest.fixture
def hub(sec_settings, session) -> Iterator[httpx.Client]:
    seed(session)
    with serve_hub(sec_settings) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def consent_refusing(patient: str, org: str) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient}"},
        "provision": {
            "type": "permit",
            "provision": [
                {"type": "deny", "actor": [{"role": RECIPIENT, "reference": {"reference": f"Organization/{org}"}}]}
            ],
        },
    }


_VALUES = {"resource_type": "Patient", "id": "p1", "version_id": "1", "patient_id": "p1", "task_id": "t1"}


def fhir_routes(sec_settings) -> list[tuple[str, str]]:
    """(method, concrete path) of every /fhir route of the real app."""
    from hub.app import create_app

    app = create_app(sec_settings, on_stored=lambda _ids: None, plugins=False)
    routes = []
    for ctx in iter_route_contexts(app.routes):
        path = ctx.path or ""
        if not (path == "/fhir" or path.startswith("/fhir/")):
            continue
        for method in sorted(ctx.methods or ()):
            if method != "HEAD":
                routes.append((method, re.sub(r"\{(\w+)\}", lambda m: _VALUES[m.group(1)], path)))
    return routes


def test_every_fhir_route_needs_a_token(hub, sec_settings) -> None:
    routes = fhir_routes(sec_settings)
    public = {("GET", "/fhir/metadata"), ("GET", "/fhir/.well-known/smart-configuration")}
    assert public <= set(routes)
    assert {
        ("POST", "/fhir"),
        ("GET", "/fhir/Patient/p1"),
        ("PUT", "/fhir/Patient/p1"),
        ("DELETE", "/fhir/Patient/p1"),
        ("POST", "/fhir/Patient/_search"),
        ("GET", "/fhir/Patient/_history"),
        ("POST", "/fhir/Patient/$match"),
        ("POST", "/fhir/Patient/p1/$mpi-link"),
    } <= set(routes)
    for method, path in routes:
        if (method, path) in public:
            assert hub.request(method, path).status_code == 200
            continue
        body = {"resourceType": "Patient", "id": "p1"}
        r = hub.request(method, path, json=body, headers={"Content-Type": FHIR_JSON})
        assert r.status_code == 401, (method, path, r.text)
        assert r.headers["www-authenticate"] == 'Bearer realm="hub"', (method, path)
        assert r.json()["issue"][0]["code"] == "login"
        bad = hub.request(method, path, json=body, headers={"Authorization": "Bearer not.a.token"})
        assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"], (method, path)
    # Nothing was written by any of them.
    assert hub.get("/fhir/Patient/p1", headers=bearer(_operator(sec_settings))).json()["meta"]["versionId"] == "1"


def _operator(settings) -> str:
    from tests.support.fhir_client import Tokens

    return Tokens(settings).operator()["Authorization"].split(" ", 1)[1]


def test_a_token_from_the_builtin_endpoint_works(hub) -> None:
    r = hub.post("/auth/token", data={"grant_type": "client_credentials"}, auth=(HIS_A, SECRET_A))
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert hub.get("/fhir/Observation/o3", headers=bearer(token)).status_code == 200
    assert ids(hub.get("/fhir/Observation", headers=bearer(token)).json()) == ["o1", "o2", "o3", "o4"]  # TREAT


def test_wrong_scope_is_403_on_every_interaction(hub, tokens) -> None:
    t = bearer(tokens.system("org-a", "system/Patient.rs", ("TREAT",)))
    obs = {"resourceType": "Observation", "id": "o3", "status": "final", "code": {"text": "x"}}
    tx = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "GET", "url": "Observation/o3"}}],
    }
    for r in (
        hub.get("/fhir/Observation/o3", headers=t),
        hub.get("/fhir/Observation/o3/_history/1", headers=t),
        hub.get("/fhir/Observation/o3/_history", headers=t),
        hub.get("/fhir/Observation/_history", headers=t),
        hub.get("/fhir/Observation", headers=t),
        hub.post("/fhir/Observation/_search", headers=t),
        hub.post("/fhir/Observation", json=obs, headers=t),
        hub.put("/fhir/Observation/o3", json=obs, headers=t),
        hub.delete("/fhir/Observation/o3", headers=t),
        hub.post("/fhir", json=tx, headers=t),
        hub.post("/fhir/Patient", json={"resourceType": "Patient"}, headers=t),  # .rs: no create
    ):
        assert r.status_code == 403, (r.request.method, r.request.url, r.text)
        assert r.json()["issue"][0]["code"] == "forbidden"
    assert hub.get("/fhir/Patient/p3", headers=t).status_code == 200
    assert (
        hub.get("/fhir/Observation/o3", headers=bearer(tokens.system("org-a", purposes=("TREAT",)))).status_code == 200
    )


def test_a_patient_sees_their_own_records_only(hub, tokens) -> None:
    p1 = bearer(tokens.patient("p1", "patient/*.rs patient/Consent.cruds"))
    assert hub.get("/fhir/Observation/o1", headers=p1).status_code == 200
    assert hub.get("/fhir/Observation/o3", headers=p1).status_code == 200  # p1's record from the other hospital
    assert hub.get("/fhir/Patient/p1", headers=p1).status_code == 200
    # By id, version and history: another patient's records are refused.
    for path in (
        "/fhir/Observation/o2",
        "/fhir/Patient/p2",
        "/fhir/Patient/p2/_history/1",
        "/fhir/Patient/p2/_history",
        "/fhir/Observation/o2/_history",
    ):
        r = hub.get(path, headers=p1)
        assert r.status_code == 403, (path, r.text)
    # By search: the compartment is ANDed in, whatever the parameters ask.
    assert ids(hub.get("/fhir/Observation", headers=p1).json()) == ["o1", "o3"]
    assert ids(hub.get("/fhir/Observation", params={"patient": "Patient/p2"}, headers=p1).json()) == []
    assert ids(hub.get("/fhir/Observation", params={"subject": "p2", "_id": "o2"}, headers=p1).json()) == []
    assert ids(hub.get("/fhir/Patient", headers=p1).json()) == ["p1"]
    assert ids(hub.get("/fhir/Patient", params={"_id": "p2"}, headers=p1).json()) == []
    included = hub.get("/fhir/Observation", params={"_include": "Observation:subject"}, headers=p1).json()
    assert ids(included, "include") == ["p1"]
    assert ids(hub.post("/fhir/Observation/_search", data={"patient": "Patient/p2"}, headers=p1).json()) == []
    # By history of the type: only their versions.
    history = hub.get("/fhir/Patient/_history", headers=p1).json()
    assert {e["resource"]["id"] for e in history.get("entry", [])} == {"p1"}
    # In a transaction or a batch.
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": "Observation/o2"}},
            {"request": {"method": "GET", "url": "Observation?patient=Patient/p2"}},
            {"request": {"method": "GET", "url": "Observation/o1"}},
        ],
    }
    entries = hub.post("/fhir", json=batch, headers=p1).json()["entry"]
    assert [e["response"]["status"][:3] for e in entries] == ["403", "200", "200"]
    assert "entry" not in entries[1]["resource"]
    # Writes: their own Consent, nobody else's, and no clinical data.
    assert hub.post("/fhir/Consent", json=consent_refusing("p1", "org-c"), headers=p1).status_code == 201
    assert hub.post("/fhir/Consent", json=consent_refusing("p2", "org-c"), headers=p1).status_code == 403
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "Patient/p1"},
    }
    assert hub.post("/fhir/Observation", json=obs, headers=p1).status_code == 403


def test_isolation_between_organisations(hub, tokens, session) -> None:
    b = bearer(tokens.system("org-b", "system/*.rs"))
    assert hub.get("/fhir/Observation/o1", headers=b).status_code == 200
    assert hub.get("/fhir/Observation/o3", headers=b).status_code == 403
    assert hub.get("/fhir/Observation/o3/_history/1", headers=b).status_code == 403
    assert hub.get("/fhir/Observation/o3/_history", headers=b).status_code == 403
    assert ids(hub.get("/fhir/Observation", headers=b).json()) == ["o1", "o2"]
    assert {e["resource"]["id"] for e in hub.get("/fhir/Observation/_history", headers=b).json()["entry"]} == {
        "o1",
        "o2",
    }
    assert hub.get("/fhir/Organization/org-a", headers=b).status_code == 200  # directory data is shared
    # Conditional create does not see (or attach to) another organisation's record: it makes B's own.
    writer_b = bearer(tokens.system("org-b", "system/*.cruds"))
    body = {"resourceType": "Patient", "identifier": [{"system": "urn:x", "value": "same"}]}
    store.put(session, stamp_producer({**body, "id": "a-same"}, "org-a"))
    session.commit()
    made = hub.post("/fhir/Patient", json=body, headers={**writer_b, "If-None-Exist": "identifier=urn:x|same"})
    assert made.status_code == 201 and made.json()["id"] != "a-same"
    assert producer_of(made.json()) == "org-b"  # stamped with the writer's organisation
    # B may not change or delete what A produced, nor claim A's name on what it writes.
    o3 = hub.get("/fhir/Observation/o3", headers=bearer(tokens.system("org-a", purposes=("TREAT",)))).json()
    assert hub.put("/fhir/Observation/o3", json={**o3, "status": "amended"}, headers=writer_b).status_code == 403
    assert hub.delete("/fhir/Observation/o3", headers=writer_b).status_code == 403
    claimed = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "Patient/p1"},
        "meta": {"tag": [{"system": "urn:hub:producer", "code": "org-a"}]},
    }
    assert hub.post("/fhir/Observation", json=claimed, headers=writer_b).status_code == 403
    tx = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": {**claimed, "meta": {}}, "request": {"method": "POST", "url": "Observation"}},
            {"request": {"method": "DELETE", "url": "Observation/o3"}},
        ],
    }
    refused = hub.post("/fhir", json=tx, headers=writer_b)
    assert refused.status_code == 403 and refused.json()["issue"][0]["expression"] == ["Bundle.entry[1]"]
    assert ids(hub.get("/fhir/Observation", headers=b).json()) == ["o1", "o2"]  # the first entry was rolled back
    # With a treatment purpose, A reads B's data; A's AuditEvents stay A's.
    treat_a = bearer(tokens.system("org-a", "system/*.rs", ("TREAT",)))
    assert hub.get("/fhir/Observation/o1", headers=treat_a).status_code == 200
    assert ids(hub.get("/fhir/Observation", headers=treat_a).json()) == ["o1", "o2", "o3", "o4"]
    assert ids(hub.get("/fhir/AuditEvent", headers=treat_a).json()) == []


def test_consent_refusal_is_enforced(hub, tokens, monkeypatch) -> None:
    treat_a = bearer(tokens.system("org-a", "system/*.rs", ("TREAT",)))
    assert hub.get("/fhir/Observation/o1", headers=treat_a).status_code == 200
    p1 = bearer(tokens.patient("p1"))
    r = hub.post("/fhir/Consent", json=consent_refusing("p1", "org-a"), headers=p1)
    assert r.status_code == 201 and producer_of(r.json()) is None
    refused = hub.get("/fhir/Observation/o1", headers=treat_a)
    assert refused.status_code == 403 and "refused" in refused.json()["issue"][0]["diagnostics"]
    assert hub.get("/fhir/Patient/p1", headers=treat_a).status_code == 403
    assert hub.get("/fhir/Observation/o3", headers=treat_a).status_code == 200  # A's own record of p1
    assert ids(hub.get("/fhir/Observation", headers=treat_a).json()) == ["o2", "o3", "o4"]
    # The count never discloses the refused record, whether one page holds every match or not.
    assert hub.get("/fhir/Observation", headers=treat_a).json()["total"] == 3
    paged = hub.get("/fhir/Observation?_count=2", headers=treat_a).json()
    assert (paged["total"], ids(paged)) == (3, ["o2"])
    assert hub.get("/fhir/Observation?_summary=count", headers=treat_a).json()["total"] == 3
    assert hub.get("/fhir/Observation?_count=0", headers=treat_a).json()["total"] == 3
    # Beyond the counting limit the total is left out rather than disclosed unfiltered.
    monkeypatch.setattr(fhir_api, "VISIBLE_TOTAL_LIMIT", 3)
    assert "total" not in hub.get("/fhir/Observation?_count=2", headers=treat_a).json()
    assert hub.get("/fhir/Observation", headers=treat_a).json()["total"] == 3  # one page: counted as it is
    monkeypatch.undo()
    own = bearer(tokens.system("org-a", "system/*.rs"))  # no purpose: only A's own records, counted exactly
    assert hub.get("/fhir/Observation?_summary=count", headers=own).json()["total"] == len(
        ids(hub.get("/fhir/Observation", headers=own).json())
    )
    assert (
        hub.get("/fhir/Observation/o1", headers=bearer(tokens.system("org-c", "system/*.rs", ("TREAT",)))).status_code
        == 200
    )
    # Withdrawing the refusal (the patient deletes the Consent) restores access.
    assert hub.delete(f"/fhir/Consent/{r.json()['id']}", headers=p1).status_code == 204
    assert hub.get("/fhir/Observation/o1", headers=treat_a).status_code == 200


def test_mpi_routes_are_reachable_in_the_app(hub, tokens, session) -> None:
    from hub.identity import linking

    for pid in ("p1", "p2", "p3"):
        linking.sync_patient(session, pid)
    master = linking.link(session, "p1", "p3")
    session.commit()
    match = hub.post(
        "/fhir/Patient/$match",
        json={
            "resourceType": "Parameters",
            "parameter": [{"name": "resource", "resource": {"resourceType": "Patient"}}],
        },
        headers={**bearer(tokens.system("org-a", purposes=("TREAT",))), "Content-Type": FHIR_JSON},
    )
    assert match.status_code == 200 and match.json()["type"] == "searchset"
    # The person, logged in on the master record, sees both hospitals' records.
    person = bearer(tokens.patient(master, "patient/*.rs"))
    assert ids(hub.get("/fhir/Observation", headers=person).json()) == ["o1", "o3", "o4"]
    assert hub.get("/fhir/Observation/o4", headers=person).status_code == 200
    assert hub.get("/fhir/Observation/o2", headers=person).status_code == 403


def test_rate_limit_429_with_retry_after(sec_settings, session, tokens) -> None:
    seed(session)
    s = sec_settings.model_copy(update={"rate_limit_per_s": 0.05, "rate_limit_burst": 3})
    with serve_hub(s) as client:
        t = bearer(tokens.system("org-b", "system/*.cruds"))
        codes = [client.get("/fhir/Observation/o1", headers=t).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        for r in (
            client.get("/fhir/Observation", headers=t),
            client.post("/fhir/Patient", json={"resourceType": "Patient"}, headers=t),
            client.post("/fhir", json={"resourceType": "Bundle", "type": "batch"}, headers=t),
        ):
            assert r.status_code == 429, r.text
            assert 1 <= int(r.headers["retry-after"]) <= 20
            assert r.json()["issue"][0]["code"] == "throttled"
        assert client.get("/fhir/metadata").status_code == 200  # public, not throttled
        other = bearer(tokens("system/*.rs", subject="his-other", organization="org-b"))
        assert client.get("/fhir/Observation/o1", headers=other).status_code == 200
