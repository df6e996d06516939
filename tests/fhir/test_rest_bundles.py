"""POST /fhir: transaction (all or nothing, urn:uuid and conditional references, ifNoneExist, ifMatch, GET entries,
one AuditEvent per entry) and batch (entries on their own, per-entry OperationOutcome)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hub.fhir.validation import validate_bundle
from tests.support.fhir_client import FHIR_JSON, Tokens, audit_events, rest_settings, serve_hub, subtype

MRN = "urn:hub:mrn:org-a"


@pytest.fixture
def hub(settings):
    s = rest_settings(settings)
    with serve_hub(s) as client:
        client.headers.update({**Tokens(s).operator(), "Content-Type": FHIR_JSON})
        yield client


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(resource: dict[str, Any], full_url: str | None = None, **request: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
    entry["request"].update(request)
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def put(resource: dict[str, Any], url: str | None = None, **request: Any) -> dict[str, Any]:
    url = url or f"{resource['resourceType']}/{resource['id']}"
    return {"resource": resource, "request": {"method": "PUT", "url": url, **request}}


def request(method: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"request": {"method": method, "url": url, **extra}}


def lab(subject: str, code: str = "718-7", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": subject},
        **extra,
    }


def zhang(mrn: str = "1", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [{"system": MRN, "value": mrn}], "gender": "male", **extra}


def test_transaction_resolves_references_and_answers_each_entry(hub: httpx.Client, session) -> None:
    hub.put("/fhir/Patient/old", json={"resourceType": "Patient", "id": "old"})
    hub.put("/fhir/Organization/org-a", json={"resourceType": "Organization", "id": "org-a", "name": "A"})
    tx = bundle(
        "transaction",
        post(zhang(), "urn:uuid:0c1e9b1a-0000-4000-8000-000000000001"),
        post(lab("urn:uuid:0c1e9b1a-0000-4000-8000-000000000001")),
        post(lab("Patient?identifier=urn:hub:mrn:org-a|1", code="2345-7")),
        put({"resourceType": "Patient", "id": "p9", "managingOrganization": {"reference": "Organization?name=A"}}),
        request("DELETE", "Patient/old"),
        request("GET", "Patient?identifier=urn:hub:mrn:org-a|1"),
    )
    # A conditional reference is resolved against what was stored before the transaction: entry 0's new patient
    # is not found, so the whole transaction fails.
    r = hub.post("/fhir", json=tx)
    assert r.status_code == 412, r.text
    issue = r.json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[2].resource.subject.reference"]
    assert hub.get("/fhir/Patient/old").status_code == 200  # nothing of it was made
    assert hub.get("/fhir/Observation").json()["total"] == 0

    hub.put("/fhir/Patient/known", json=zhang("2", id="known"))
    tx["entry"][2] = post(lab("Patient?identifier=urn:hub:mrn:org-a|2", code="2345-7"))
    r = hub.post("/fhir", json=tx)
    assert r.status_code == 200, r.text
    response = r.json()
    assert response["type"] == "transaction-response" and validate_bundle(response) == []
    entries = response["entry"]
    assert [e["response"]["status"] for e in entries] == [
        "201 Created",
        "201 Created",
        "201 Created",
        "201 Created",
        "204 No Content",
        "200 OK",
    ]
    patient_id = entries[0]["resource"]["id"]
    assert entries[0]["response"]["location"] == f"Patient/{patient_id}/_history/1"
    assert entries[0]["response"]["etag"] == 'W/"1"' and entries[0]["fullUrl"].endswith(f"/Patient/{patient_id}")
    assert entries[1]["resource"]["subject"] == {"reference": f"Patient/{patient_id}"}
    assert entries[2]["resource"]["subject"] == {"reference": "Patient/known"}
    assert entries[3]["resource"]["managingOrganization"] == {"reference": "Organization/org-a"}
    assert hub.get("/fhir/Patient/old").status_code == 410
    searchset = entries[5]["resource"]
    assert searchset["type"] == "searchset" and [e["resource"]["id"] for e in searchset["entry"]] == [patient_id]
    stored = hub.get(f"/fhir/Observation/{entries[1]['resource']['id']}").json()
    assert stored["subject"] == {"reference": f"Patient/{patient_id}"}

    # One AuditEvent per entry (and the transaction's own), committed with the writes.
    events = [e for e in audit_events(session) if subtype(e) in ("create", "delete", "transaction", "search-type")]
    kinds = sorted(subtype(e) for e in events if e["outcome"] == "0")
    assert kinds.count("create") == 4 and kinds.count("delete") == 1 and kinds.count("transaction") == 1
    failed = [e for e in events if subtype(e) == "transaction" and e["outcome"] == "4"]
    assert len(failed) == 1 and "matches no Patient" in failed[0]["outcomeDesc"]


def test_transaction_is_all_or_nothing(hub: httpx.Client, session) -> None:
    hub.put("/fhir/Patient/keep", json=zhang("3", id="keep"))
    cases = [
        # (a broken entry, its status, the expression)
        (post({"resourceType": "Patient", "birthDate": "1990-13-01"}), 422, "Bundle.entry[2].resource.birthDate"),
        (put(zhang("8", id="other"), ifMatch='W/"5"'), 412, "Bundle.entry[2].request.ifMatch"),
        (request("DELETE", "Patient/never-was"), 404, "Bundle.entry[2]"),
        (post(lab("urn:uuid:0c1e9b1a-0000-4000-8000-00000000dead")), 400, "Bundle.entry[2].resource.subject.reference"),
        (post({"resourceType": "AuditEvent"}), 405, "Bundle.entry[2]"),
        (request("GET", "Patient/never-was"), 404, "Bundle.entry[2]"),
        (request("PATCH", "Patient/keep"), 400, "Bundle.entry[2].request.url"),
        (request("DELETE", "Patient?identifier=x"), 400, "Bundle.entry[2].request.url"),
    ]
    for broken, status, expression in cases:
        tx = bundle(
            "transaction",
            post(zhang("4"), "urn:uuid:0c1e9b1a-0000-4000-8000-000000000004"),
            put(zhang("3", id="keep", gender="female")),
            broken,
        )
        r = hub.post("/fhir", json=tx)
        assert r.status_code == status, (broken, r.text)
        assert r.json()["issue"][0]["expression"] == [expression], broken
        assert hub.get("/fhir/Patient", params={"identifier": f"{MRN}|4"}).json()["total"] == 0, broken
        kept = hub.get("/fhir/Patient/keep").json()
        assert kept["gender"] == "male" and kept["meta"]["versionId"] == "1", broken
    assert not [e for e in audit_events(session) if subtype(e) == "create" and e["outcome"] == "0"]


def test_transaction_conditional_create_and_if_match(hub: httpx.Client) -> None:
    hub.put("/fhir/Patient/p1", json=zhang("5", id="p1"))
    tx = bundle(
        "transaction",
        post(zhang("5"), "urn:uuid:0c1e9b1a-0000-4000-8000-000000000005", ifNoneExist=f"identifier={MRN}|5"),
        post(lab("urn:uuid:0c1e9b1a-0000-4000-8000-000000000005")),
        put(zhang("5", id="p1", gender="female"), ifMatch='W/"1"'),
    )
    r = hub.post("/fhir", json=tx, headers={"Prefer": "return=minimal"})
    assert r.status_code == 200, r.text
    entries = r.json()["entry"]
    assert [e["response"]["status"] for e in entries] == ["200 OK", "201 Created", "200 OK"]
    assert all("resource" not in e for e in entries)  # Prefer: return=minimal
    assert entries[0]["response"]["location"] == "Patient/p1/_history/1"  # the existing record, not a new one
    observation = hub.get("/fhir/" + entries[1]["response"]["location"].split("/_history")[0]).json()
    assert observation["subject"] == {"reference": "Patient/p1"}
    assert entries[2]["response"]["etag"] == 'W/"2"'
    assert hub.get("/fhir/Patient", params={"identifier": f"{MRN}|5"}).json()["total"] == 1


def test_batch_entries_succeed_or_fail_on_their_own(hub: httpx.Client, session) -> None:
    hub.put("/fhir/Patient/b1", json=zhang("6", id="b1"))
    batch = bundle(
        "batch",
        post(zhang("7")),
        post({"resourceType": "Patient", "gender": "F"}),
        request("GET", "Patient/b1"),
        request("GET", "Patient/nope"),
        put(zhang("6", id="b1", gender="female"), ifMatch='W/"9"'),
        request("DELETE", "Patient/b1"),
        post(lab("urn:uuid:0c1e9b1a-0000-4000-8000-000000000007")),
        request("GET", "Patient/b1/_history/1"),
        request("GET", "Patient?gender=male"),
    )
    r = hub.post("/fhir", json=batch, headers={"Prefer": "return=OperationOutcome"})
    assert r.status_code == 200, r.text
    response = r.json()
    assert response["type"] == "batch-response" and validate_bundle(response) == []
    statuses = [e["response"]["status"] for e in response["entry"]]
    assert statuses == [
        "201 Created",
        "422 Unprocessable Entity",
        "200 OK",
        "404 Not Found",
        "412 Precondition Failed",
        "204 No Content",
        "400 Bad Request",
        "200 OK",
        "200 OK",
    ]
    outcomes = [e["response"].get("outcome") for e in response["entry"]]
    assert outcomes[0]["issue"][0]["severity"] == "information"
    assert outcomes[1]["issue"][0]["expression"] == ["Bundle.entry[1].resource.gender"]
    assert outcomes[3]["issue"][0]["expression"] == ["Bundle.entry[3]"]
    assert outcomes[4]["issue"][0]["expression"] == ["Bundle.entry[4].request.ifMatch"]
    assert outcomes[6]["issue"][0]["expression"] == ["Bundle.entry[6].resource.subject.reference"]
    assert hub.get("/fhir/Patient", params={"identifier": f"{MRN}|7"}).json()["total"] == 1
    assert hub.get("/fhir/Patient/b1").status_code == 410
    events = audit_events(session)
    assert sorted((subtype(e), e["outcome"]) for e in events if subtype(e) in ("create", "update", "delete")) == [
        ("create", "0"),
        ("create", "4"),
        ("create", "4"),
        ("delete", "0"),
        ("update", "0"),  # the set-up PUT
        ("update", "4"),
    ]


def test_bundle_level_errors(hub: httpx.Client) -> None:
    cases = [
        ({"resourceType": "Patient"}, 400, "Bundle.resourceType"),
        ({"resourceType": "Bundle", "type": "collection"}, 400, "Bundle.type"),
        (
            {"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {"method": "FETCH", "url": "x"}}]},
            422,
            "Bundle.entry[0].request.method",
        ),
        (
            {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {}}]},
            400,
            "Bundle.entry[0].request",
        ),
    ]
    for body, status, expression in cases:
        r = hub.post("/fhir", json=body)
        assert r.status_code == status, (body, r.text)
        if expression:
            assert r.json()["issue"][0]["expression"] == [expression]
    for kind in ("batch", "transaction"):
        empty = hub.post("/fhir", json={"resourceType": "Bundle", "type": kind})
        assert empty.status_code == 200 and empty.json() == {"resourceType": "Bundle", "type": f"{kind}-response"}
