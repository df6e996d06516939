"""AuditEvents of the real app's FHIR routes: one for every read, vread, history, search, create, update, delete and
transaction entry (refused and failed attempts too), valid R4, committed with the write they record, and listed to
the patient through GET /fhir/AuditEvent?patient=…"""

from __future__ import annotations

import base64
from collections import Counter

import pytest

from hub.fhir.validation import validate_r4
from tests.support.fhir_client import FHIR_JSON, audit_events, entity_refs, ids, serve_hub, subtype

from .test_fhir_routes_access import bearer, seed


@pytest.fixture
def hub(sec_settings, session):
    seed(session)
    with serve_hub(sec_settings) as client:
        yield client


def test_every_interaction_is_audited(hub, tokens, session) -> None:
    doctor = {**bearer(tokens("user/*.cruds", role="practitioner", subject="dr-li", organization="org-a",
                              purposes=("TREAT",))), "Content-Type": FHIR_JSON}  # fmt: skip
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Hb"},
        "subject": {"reference": "Patient/p3"},
    }
    assert hub.get("/fhir/Observation/o1", headers=doctor).status_code == 200
    assert hub.get("/fhir/Patient/p2/_history/1", headers=doctor).status_code == 200
    assert hub.get("/fhir/Patient/p2/_history", headers=doctor).status_code == 200
    assert hub.get("/fhir/Observation/_history", headers=doctor).status_code == 200
    assert hub.get("/fhir/Observation", params={"code": "http://loinc.org|718-7"}, headers=doctor).status_code == 200
    created = hub.post("/fhir/Observation", json=observation, headers=doctor)
    assert created.status_code == 201
    oid = created.json()["id"]
    assert (
        hub.put(f"/fhir/Observation/{oid}", json={**created.json(), "status": "amended"}, headers=doctor).status_code
        == 200
    )
    assert hub.delete(f"/fhir/Observation/{oid}", headers=doctor).status_code == 204
    tx = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": observation, "request": {"method": "POST", "url": "Observation"}},
            {"request": {"method": "GET", "url": "Observation/o4"}},
        ],
    }
    assert hub.post("/fhir", json=tx, headers=doctor).status_code == 200

    events = audit_events(session)
    assert Counter(subtype(e) for e in events) == {
        "read": 2,  # o1, and o4 in the transaction
        "vread": 1,
        "history-instance": 1,
        "history-type": 1,
        "search-type": 1,
        "create": 2,  # the POST, and the transaction's entry
        "update": 1,
        "delete": 1,
        "transaction": 1,
    }
    for event in events:
        assert validate_r4(event, models=True) == [], event
        assert event["outcome"] == "0"
        user = event["agent"][0]
        assert user["who"]["identifier"]["value"] == "dr-li" and user["requestor"] is True
        assert user["network"]["address"] == "127.0.0.1"
        assert {"reference": "Organization/org-a"} in [a["who"] for a in event["agent"]]
        assert event["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"
    by = {subtype(e): e for e in events}  # the first of each kind
    for event in reversed(events):
        by[subtype(event)] = event
    assert {"Observation/o1/_history/1", "Patient/p1"} <= entity_refs(by["read"])
    assert by["read"]["action"] == "R" and by["search-type"]["action"] == "E"
    assert {"Patient/p2/_history/1", "Patient/p2"} <= entity_refs(by["vread"])
    query = next(e["query"] for e in by["search-type"]["entity"] if "query" in e)
    assert base64.b64decode(query).decode() == "code=http%3A%2F%2Floinc.org%7C718-7"
    assert {"Patient/p1", "Patient/p2", "Patient/p3"} <= entity_refs(by["search-type"])
    assert by["update"]["action"] == "U" and f"Observation/{oid}/_history/2" in entity_refs(by["update"])
    assert by["delete"]["action"] == "D" and {f"Observation/{oid}", "Patient/p3"} <= entity_refs(by["delete"])
    creates = [e for e in events if subtype(e) == "create"]
    assert all(e["action"] == "C" and "Patient/p3" in entity_refs(e) for e in creates)


def test_failed_writes_leave_their_trail_and_nothing_else(hub, tokens, session) -> None:
    b = {**bearer(tokens.system("org-b", "system/*.cruds")), "Content-Type": FHIR_JSON}
    before = len(audit_events(session))
    o1 = hub.get("/fhir/Observation/o1", headers=b).json()
    assert (
        hub.put(
            "/fhir/Observation/o1", json={**o1, "status": "amended"}, headers={**b, "If-Match": 'W/"7"'}
        ).status_code
        == 412
    )
    assert hub.put("/fhir/Observation/o3", json={**o1, "id": "o3"}, headers=b).status_code == 403  # A's record
    assert hub.post("/fhir/Observation", json={"resourceType": "Observation"}, headers=b).status_code == 422
    events = audit_events(session)[before:]
    outcomes = sorted((subtype(e), e["outcome"]) for e in events)
    assert outcomes == [("create", "4"), ("read", "0"), ("update", "4"), ("update", "4")]
    assert all(e.get("outcomeDesc") for e in events if e["outcome"] != "0")
    assert hub.get("/fhir/Observation/o1", headers=b).json()["meta"]["versionId"] == "1"
    # A refused transaction is one failed "transaction" event: its entries' events were rolled back with it.
    tx = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": {**o1, "id": "o9"}, "request": {"method": "PUT", "url": "Observation/o9"}},
            {"request": {"method": "DELETE", "url": "Observation/o3"}},
        ],
    }
    before = len(audit_events(session))
    assert hub.post("/fhir", json=tx, headers=b).status_code == 403
    last = audit_events(session)[before:]
    assert [(subtype(e), e["outcome"]) for e in last] == [("transaction", "4")]
    assert {"Observation/o9", "Observation/o3"} <= entity_refs(last[0])


def test_a_patient_lists_who_accessed_their_records(hub, tokens) -> None:
    doctor = bearer(tokens("user/*.rs", role="practitioner", subject="dr-wang", organization="org-b"))
    assert hub.get("/fhir/Observation/o1", headers=doctor).status_code == 200
    assert hub.get("/fhir/Observation/o2", headers=doctor).status_code == 200
    assert hub.get("/fhir/Observation/o3", headers=doctor).status_code == 403  # refused: on the trail as well
    p1 = bearer(tokens.patient("p1"))
    trail = hub.get("/fhir/AuditEvent", params={"patient": "Patient/p1"}, headers=p1).json()
    who = {(e["resource"]["subtype"][0]["code"], e["resource"]["outcome"]) for e in trail["entry"]}
    assert who == {("read", "0"), ("read", "4")}
    agents = {a["who"].get("identifier", {}).get("value") for e in trail["entry"] for a in e["resource"]["agent"]}
    assert "dr-wang" in agents
    assert all("Observation/o2" not in str(e) for e in trail["entry"])  # p2's access is not on p1's trail
    assert ids(hub.get("/fhir/AuditEvent", params={"patient": "Patient/p2"}, headers=p1).json()) == []
    one = trail["entry"][0]["resource"]["id"]
    assert hub.get(f"/fhir/AuditEvent/{one}", headers=p1).status_code == 200
    p2 = bearer(tokens.patient("p2"))
    assert hub.get(f"/fhir/AuditEvent/{one}", headers=p2).status_code == 403
    # The patient's own accesses are on their trail as theirs (agent Patient/p1), never as disclosures of records.
    again = hub.get("/fhir/AuditEvent", params={"patient": "Patient/p1"}, headers=p1).json()
    new = [
        e["resource"]
        for e in again["entry"]
        if e["resource"]["id"] not in {x["resource"]["id"] for x in trail["entry"]}
    ]
    assert new and all(e["agent"][0]["who"]["reference"] == "Patient/p1" for e in new)
    assert all(not any(r.startswith("Observation/") for r in entity_refs(e)) for e in new)
