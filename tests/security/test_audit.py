"""AuditEvent content for the cases the end-to-end tests do not reach, and record() in the caller's transaction."""

from __future__ import annotations

import base64

from hub.errors import Forbidden, NotFound
from hub.fhir import store
from hub.fhir.validation import validate_r4
from hub.security.audit import audited, build_event, outcome_code, record
from hub.security.deps import RequestContext
from hub.security.principal import Principal
from hub.security.scopes import ScopeSet

SYSTEM = Principal(
    subject="his-a",
    client_id="his-a",
    role="system",
    scopes=ScopeSet.parse("system/*.rs"),
    organization="org-a",
    purposes=("TREAT",),
    token_id="j1",
)
CTX = RequestContext(
    source_address="10.0.0.7", method="GET", path="/fhir/Observation", query="code=718-7", user_agent=None
)


def test_outcome_codes():
    assert outcome_code(0) == outcome_code(None) == "0"
    assert outcome_code(Forbidden("x")) == outcome_code(NotFound("x")) == "4"
    assert outcome_code(RuntimeError("boom")) == "8"


def test_unauthenticated_and_system_agents_valid():
    anonymous = build_event(
        principal=None, interaction="read", outcome=Forbidden("no"), refs=["Patient/p1"], source_address="10.0.0.9"
    )
    assert anonymous["agent"] == [
        {"who": {"display": "unauthenticated"}, "requestor": True, "network": {"address": "10.0.0.9", "type": "2"}}
    ]
    assert validate_r4(anonymous) == []
    system = build_event(principal=SYSTEM, interaction="search-type", query="code=718-7")
    assert system["agent"][0]["requestor"] is True  # the system itself asked
    assert system["agent"][0]["policy"] == ["urn:jti:j1"]
    assert validate_r4(system) == []


def test_requested_ref_and_read_version_are_one_entity():
    event = build_event(
        principal=SYSTEM,
        interaction="read",
        refs=["Observation/o1"],
        resources=[
            {
                "resourceType": "Observation",
                "id": "o1",
                "meta": {"versionId": "3"},
                "subject": {"reference": "Patient/p1"},
            }
        ],
    )
    assert [e["what"]["reference"] for e in event["entity"]] == ["Observation/o1/_history/3", "Patient/p1"]


def test_record_in_callers_transaction(session):
    store.put(
        session,
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "Patient/p1"},
        },
    )
    with audited(session, principal=SYSTEM, interaction="search-type", context=CTX) as trail:
        trail.add(store.read(session, "Observation", "o1"))
    session.rollback()  # the caller does not commit: neither the write nor its audit is kept
    assert store.search(session, "AuditEvent", [], count=10).total == 0
    assert store.search(session, "Observation", [], count=10).total == 0

    event = record(session, principal=SYSTEM, interaction="create", refs=["Observation/o9"])
    session.commit()
    stored = store.read(session, "AuditEvent", event["id"])
    assert stored["action"] == "C" and stored["meta"]["versionId"] == "1"


def test_failed_interaction_audited_alone(session):
    try:
        with audited(session, principal=SYSTEM, interaction="create", context=CTX):
            store.put(session, {"resourceType": "Observation", "id": "o2", "status": "final", "code": {"text": "x"}})
            raise Forbidden("refused after the write")
    except Forbidden:
        pass
    session.rollback()
    assert store.search(session, "Observation", [], count=10).total == 0
    [event] = store.search(session, "AuditEvent", [], count=10).resources
    assert event["outcome"] == "4" and event["outcomeDesc"] == "refused after the write"
    assert "entity" not in event or all(e.get("role", {}).get("code") != "24" for e in event["entity"])


def test_search_audit_keeps_the_query(session):
    with audited(session, principal=SYSTEM, interaction="search-type", context=CTX):
        pass
    session.commit()
    [event] = store.search(session, "AuditEvent", [], count=10).resources
    [query] = [e for e in event["entity"] if e.get("role", {}).get("code") == "24"]
    assert base64.b64decode(query["query"]) == b"code=718-7"
