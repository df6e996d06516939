"""create, update, delete through the whole app over a real socket: ids, Location/ETag, Prefer, If-Match, 410 after a
delete, conditional create and update, input validation with expressions, 405/415/404, and concurrent writers."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from hub.fhir.validation import validate_r4
from tests.support.fhir_client import FHIR_JSON, Tokens, audit_events, rest_settings, serve_hub, subtype


@pytest.fixture
def hub(settings):
    s = rest_settings(settings)
    with serve_hub(s) as client:
        client.headers.update({**Tokens(s).operator(), "Content-Type": FHIR_JSON})
        yield client


def patient(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": "Li", "given": ["Si"]}], "birthDate": "1985-11-11", **extra}


MRN = "urn:hub:mrn:org-a"


def test_create_assigns_an_id_and_answers_201_with_location_and_etag(hub: httpx.Client) -> None:
    r = hub.post("/fhir/Patient", json=patient(id="client-chosen"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] != "client-chosen" and len(body["id"]) == 36  # the server's id, not the client's
    assert body["meta"]["versionId"] == "1" and validate_r4(body) == []
    base = str(hub.base_url).rstrip("/") + "/fhir"  # no configured base URL: the request's
    assert r.headers["location"] == f"{base}/Patient/{body['id']}/_history/1"
    assert r.headers["etag"] == 'W/"1"' and r.headers["last-modified"].endswith("GMT")
    assert r.headers["content-type"] == FHIR_JSON
    read = hub.get(f"/fhir/Patient/{body['id']}")
    assert read.status_code == 200 and read.json() == body


def test_prefer_return(hub: httpx.Client) -> None:
    minimal = hub.post("/fhir/Patient", json=patient(), headers={"Prefer": "return=minimal"})
    assert minimal.status_code == 201 and minimal.content == b""
    assert minimal.headers["location"].endswith("/_history/1") and minimal.headers["etag"] == 'W/"1"'
    outcome = hub.post("/fhir/Patient", json=patient(), headers={"Prefer": "return=OperationOutcome"})
    assert outcome.status_code == 201
    issue = outcome.json()["issue"][0]
    assert outcome.json()["resourceType"] == "OperationOutcome" and issue["severity"] == "information"
    assert "created Patient/" in issue["diagnostics"]
    pid = minimal.headers["location"].split("/")[-3]
    updated = hub.put(
        f"/fhir/Patient/{pid}", json=patient(id=pid, gender="female"), headers={"Prefer": "return=minimal"}
    )
    assert updated.status_code == 200 and updated.content == b"" and updated.headers["etag"] == 'W/"2"'
    default = hub.put(f"/fhir/Patient/{pid}", json=patient(id=pid, gender="male"))
    assert default.json()["gender"] == "male" and default.json()["meta"]["versionId"] == "3"


def test_update_creates_at_the_id_then_versions_with_if_match(hub: httpx.Client) -> None:
    created = hub.put("/fhir/Patient/li-1", json=patient(id="li-1"))
    assert created.status_code == 201 and created.headers["etag"] == 'W/"1"'
    same = hub.put("/fhir/Patient/li-1", json=patient(id="li-1"))
    assert same.status_code == 200 and same.headers["etag"] == 'W/"1"'  # no change, no new version
    changed = hub.put("/fhir/Patient/li-1", json=patient(id="li-1", gender="female"), headers={"If-Match": 'W/"1"'})
    assert changed.status_code == 200 and changed.headers["etag"] == 'W/"2"'
    stale = hub.put("/fhir/Patient/li-1", json=patient(id="li-1", gender="male"), headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert stale.json()["issue"][0]["code"] == "conflict" and stale.json()["issue"][0]["expression"] == ["If-Match"]
    assert hub.get("/fhir/Patient/li-1").json()["gender"] == "female"  # the stale write changed nothing
    assert hub.put("/fhir/Patient/li-1", json=patient(id="li-1"), headers={"If-Match": '"2"'}).status_code == 200
    bad = hub.put("/fhir/Patient/li-1", json=patient(id="li-1"), headers={"If-Match": "2"})
    assert bad.status_code == 400 and bad.json()["issue"][0]["expression"] == ["If-Match"]
    # If-Match on a resource that does not exist yet cannot match.
    assert hub.put("/fhir/Patient/li-2", json=patient(id="li-2"), headers={"If-Match": 'W/"1"'}).status_code == 412
    assert hub.get("/fhir/Patient/li-2").status_code == 404


def test_update_ids_must_agree(hub: httpx.Client) -> None:
    r = hub.put("/fhir/Patient/a1", json=patient(id="b2"))
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["Patient.id"]
    r = hub.put("/fhir/Patient/a1", json=patient())
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["Patient.id"]
    r = hub.put("/fhir/Patient/a1", json={"resourceType": "Observation", "id": "a1"})
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["Patient.resourceType"]
    r = hub.put("/fhir/Patient/bad id", json=patient(id="bad id"))
    assert r.status_code in (400, 422) and r.json()["issue"][0]["expression"] == ["Patient.id"]
    assert hub.get("/fhir/Patient/a1").status_code == 404


def test_delete_then_read_is_410(hub: httpx.Client, session) -> None:
    hub.put("/fhir/Patient/d1", json=patient(id="d1"))
    stale = hub.delete("/fhir/Patient/d1", headers={"If-Match": 'W/"9"'})
    assert stale.status_code == 412
    r = hub.delete("/fhir/Patient/d1", headers={"If-Match": 'W/"1"'})
    assert r.status_code == 204 and r.content == b"" and r.headers["etag"] == 'W/"2"'
    gone = hub.get("/fhir/Patient/d1")
    assert gone.status_code == 410 and gone.json()["issue"][0]["code"] == "deleted"
    assert hub.get("/fhir/Patient/d1/_history/1").status_code == 200
    assert hub.get("/fhir/Patient/d1/_history/2").status_code == 410
    history = hub.get("/fhir/Patient/d1/_history").json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "PUT"]
    assert hub.get("/fhir/Patient", params={"_id": "d1"}).json()["total"] == 0
    again = hub.delete("/fhir/Patient/d1", headers={"Prefer": "return=OperationOutcome"})
    assert again.status_code == 200 and again.json()["resourceType"] == "OperationOutcome"
    assert hub.delete("/fhir/Patient/never-was").status_code == 404
    back = hub.put("/fhir/Patient/d1", json=patient(id="d1"))
    assert back.status_code == 201 and back.headers["etag"] == 'W/"3"'
    kinds = [subtype(e) for e in audit_events(session)]
    assert kinds.count("delete") == 4 and kinds.count("update") == 2  # refused and failed attempts included


def test_conditional_create(hub: httpx.Client, session) -> None:
    body = patient(identifier=[{"system": MRN, "value": "42"}])
    condition = {"If-None-Exist": f"identifier={MRN}|42"}
    first = hub.post("/fhir/Patient", json=body, headers=condition)
    assert first.status_code == 201
    second = hub.post("/fhir/Patient", json=body, headers=condition)
    assert second.status_code == 200 and second.json()["id"] == first.json()["id"]
    assert second.headers["etag"] == 'W/"1"' and second.headers["location"] == first.headers["location"]
    assert hub.get("/fhir/Patient", params={"identifier": f"{MRN}|42"}).json()["total"] == 1
    hub.put("/fhir/Patient/twin", json={**body, "id": "twin"})
    several = hub.post("/fhir/Patient", json=body, headers=condition)
    assert several.status_code == 412 and several.json()["issue"][0]["expression"] == ["If-None-Exist"]
    unknown = hub.post("/fhir/Patient", json=body, headers={"If-None-Exist": "shoe-size=42"})
    assert unknown.status_code == 400
    assert hub.get("/fhir/Patient", params={"identifier": f"{MRN}|42"}).json()["total"] == 2


def test_conditional_update(hub: httpx.Client) -> None:
    body = patient(identifier=[{"system": MRN, "value": "7"}])
    created = hub.put("/fhir/Patient", params={"identifier": f"{MRN}|7"}, json=body)
    assert created.status_code == 201
    pid = created.json()["id"]
    updated = hub.put("/fhir/Patient", params={"identifier": f"{MRN}|7"}, json={**body, "gender": "female"})
    assert updated.status_code == 200 and updated.json()["id"] == pid and updated.headers["etag"] == 'W/"2"'
    wrong = hub.put("/fhir/Patient", params={"identifier": f"{MRN}|7"}, json={**body, "id": "other"})
    assert wrong.status_code == 400 and wrong.json()["issue"][0]["expression"] == ["Patient.id"]
    hub.put("/fhir/Patient/twin", json={**body, "id": "twin"})
    assert hub.put("/fhir/Patient", params={"identifier": f"{MRN}|7"}, json=body).status_code == 412
    assert hub.put("/fhir/Patient", json=body).status_code == 400  # no criteria


VALIDATION_CASES = [
    # (resource, status, issue code, expression)
    (patient(birthDate="1990-13-45"), 422, "value", "Patient.birthDate"),
    (patient(birthDate="1990-02-30"), 422, "value", "Patient.birthDate"),  # a date the pattern lets through
    (patient(gender="F"), 422, "value", "Patient.gender"),
    (patient(shoeSize=42), 400, "structure", "Patient.shoeSize"),
    (patient(name="Li Si"), 400, "structure", "Patient.name"),
    (patient(name=[{"given": [7]}]), 400, "structure", "Patient.name[0].given[0]"),
    ({"resourceType": "Observation", "status": "final"}, 422, "required", "Observation.code"),
    (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "Hb"},
            "valueString": "x",
            "valueBoolean": 1,
        },
        400,
        "structure",
        "Observation.valueBoolean",
    ),
    (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "Hb"},
            "valueString": "x",
            "valueBoolean": True,
        },
        422,
        "invariant",
        "Observation.value[x]",
    ),
    (
        {"resourceType": "Observation", "status": "final", "code": {"text": "Hb"}, "component": [{"valueString": "x"}]},
        422,
        "required",
        "Observation.component[0].code",
    ),
]


def test_validation_errors_name_the_element(hub: httpx.Client) -> None:
    # One server for all cases (each case is a request; the set-up is what costs).
    for resource, status, code, expression in VALIDATION_CASES:
        r = hub.post(f"/fhir/{resource['resourceType']}", json=resource)
        assert r.status_code == status, (resource, r.text)
        issue = r.json()["issue"][0]
        assert (issue["code"], issue["expression"]) == (code, [expression]), resource
        assert issue["diagnostics"]
        # The same checks on update.
        put = hub.put(f"/fhir/{resource['resourceType']}/v1", json={**resource, "id": "v1"})
        assert put.status_code == status and put.json()["issue"][0]["expression"] == [expression]
    assert hub.get("/fhir/Patient").json()["total"] == 0  # nothing stored
    assert hub.get("/fhir/Observation").json()["total"] == 0


def test_request_errors(hub: httpx.Client) -> None:
    def post(path: str, content: bytes, content_type: str | None = FHIR_JSON) -> httpx.Response:
        headers = {"Content-Type": content_type} if content_type else {}
        if content_type is None:
            hub.headers.pop("Content-Type", None)
        try:
            return hub.post(path, content=content, headers=headers)
        finally:
            hub.headers["Content-Type"] = FHIR_JSON

    cases = [
        (post("/fhir/Patient", b'{"resourceType": "Patient"'), 400, "invalid"),
        (post("/fhir/Patient", b"[]"), 400, "invalid"),
        (post("/fhir/Patient", b""), 400, "invalid"),
        (post("/fhir/Patient", b'{"resourceType": "Patient"}', "text/plain"), 415, "not-supported"),
        (post("/fhir/Patient", b'{"resourceType": "Patient"}', "application/xml"), 415, "not-supported"),
        (
            post("/fhir/Patient", b'{"resourceType": "Patient"}', "application/json; charset=latin-1"),
            415,
            "not-supported",
        ),
        (post("/fhir/Patient", b'{"resourceType": "Patient"}', None), 415, "not-supported"),
        (post("/fhir/Shoe", b'{"resourceType": "Shoe"}'), 404, "not-found"),
        (post("/fhir/AuditEvent", b'{"resourceType": "AuditEvent"}'), 405, "not-supported"),
        (hub.put("/fhir/AuditEvent/a1", json={"resourceType": "AuditEvent", "id": "a1"}), 405, "not-supported"),
        (hub.patch("/fhir/Patient/p1", json={}), 415, "not-supported"),  # a JSON Patch, not a resource
        (
            hub.patch("/fhir/AuditEvent/a1", json=[], headers={"Content-Type": "application/json-patch+json"}),
            405,
            "not-supported",
        ),
        (hub.post("/fhir/Patient", json=patient(), params={"_format": "xml"}), 406, "not-supported"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, (response.request.url, response.text)
        assert response.json()["issue"][0]["code"] == code
    ok = post("/fhir/Patient", b'{"resourceType": "Patient"}', "application/json; charset=utf-8")
    assert ok.status_code == 201


def test_concurrent_updates_never_lose_a_version(hub: httpx.Client) -> None:
    hub.put("/fhir/Patient/busy", json=patient(id="busy"))
    results: list[httpx.Response] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def write(n: int, if_match: str | None) -> None:
        headers = {"If-Match": if_match} if if_match else {}
        start.wait()
        r = hub.put("/fhir/Patient/busy", json=patient(id="busy", birthDate=f"19{n + 10}-01-01"), headers=headers)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=write, args=(n, None)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.status_code for r in results) == [200] * 6
    assert sorted(r.headers["etag"] for r in results) == [f'W/"{v}"' for v in range(2, 8)]
    history = hub.get("/fhir/Patient/busy/_history").json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == [str(v) for v in range(7, 0, -1)]

    results.clear()
    start.reset()
    # New contents (a write of the current content would be a no-op, rightly answered 200).
    threads = [threading.Thread(target=write, args=(n + 50, 'W/"7"')) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [412] * 5, [r.text for r in results]
    assert hub.get("/fhir/Patient/busy").headers["etag"] == 'W/"8"'


@pytest.mark.postgres
def test_a_deadlock_with_another_writer_is_a_409(hub: httpx.Client, settings) -> None:
    import time

    from sqlalchemy import text

    from hub.db import get_engine

    for pid in ("dl-a", "dl-b"):
        hub.put(f"/fhir/Patient/{pid}", json=patient(id=pid))
    tx = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient(id=pid, gender="other"), "request": {"method": "PUT", "url": f"Patient/{pid}"}}
            for pid in ("dl-a", "dl-b")
        ],
    }
    lock = "SELECT id FROM resource WHERE resource_type = 'Patient' AND id = :id FOR UPDATE"
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    result: dict[str, httpx.Response] = {}
    engine = get_engine(settings)
    with engine.connect() as other:
        other.begin()
        other.execute(text(lock), {"id": "dl-b"})  # another writer holds dl-b …
        thread = threading.Thread(target=lambda: result.update(r=hub.post("/fhir", json=tx)))
        thread.start()
        deadline = time.monotonic() + 20
        with engine.connect() as probe:
            # pg_stat_activity is a snapshot per transaction: a new one for each look.
            while probe.execute(text(waiting)).scalar_one() == 0:  # … the transaction has dl-a and waits for dl-b
                probe.rollback()
                assert time.monotonic() < deadline, ("the transaction never waited", result)
                time.sleep(0.05)
        other.execute(text(lock), {"id": "dl-a"})  # … and now waits for dl-a: PostgreSQL breaks the cycle
        other.rollback()
    thread.join(30)
    r = result["r"]
    assert r.status_code == 409, r.text
    assert r.json()["issue"][0]["code"] == "conflict"
    assert all(hub.get(f"/fhir/Patient/{pid}").headers["etag"] == 'W/"1"' for pid in ("dl-a", "dl-b"))
    assert hub.post("/fhir", json=tx).status_code == 200  # trying again succeeds


def test_the_worker_dispatch_syncs_rest_patients_into_the_master_index(hub: httpx.Client, session) -> None:
    from hub.identity import linking, subscriber
    from hub.tasks.jobs import dispatch_outbox

    created = hub.post("/fhir/Patient", json=patient(identifier=[{"system": MRN, "value": "900"}]))
    pid = created.json()["id"]
    subscriber.uninstall()  # a worker process starts without the app factory's subscription
    assert dispatch_outbox() >= 1  # the task's body, run here (not eagerly through Celery)
    session.rollback()
    assert linking.master_of(session, pid) is not None
