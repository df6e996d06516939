"""A patient searches every type of the R4 Patient compartment the hub stores, and finds only their own (through the
real app on a real socket, with patient and hospital tokens and the audit trail).

Before: a patient's ``GET /fhir/CarePlan`` (Composition, Goal, EpisodeOfCare, Flag, MedicationStatement …) was
refused (403: no compartment parameter indexed), though the patient read their own by id; and the compartment
types the hub did not list at all (Claim, ExplanationOfBenefit, ChargeItem — which DFT^P03 messages produce —
Invoice, Media …) were directory data: any patient token read and searched every patient's, and any hospital read
another hospital's.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from hub.config import Settings
from hub.db import get_sessionmaker
from hub.errors import InvalidInput
from hub.fhir import store
from hub.security.access import stamp_producer
from tests.support.fhir_client import Tokens, audit_events, entity_refs, ids, rest_settings, serve_hub, subtype

SZRMYY = "org-szrmyy"  # 深圳市人民医院
PKUSZ = "org-pkusz"  # 北京大学深圳医院
ZHANG = "p-zhangsan"  # 张三, 440304198001011236
LI = "p-lisi"  # 李四
SCT = "http://snomed.info/sct"


def cc(code: str, display: str, system: str = SCT) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def patient(pid: str) -> dict[str, str]:
    return {"reference": f"Patient/{pid}"}


def body(rtype: str, pid: str) -> dict[str, Any]:
    """A resource of ``rtype`` in the compartment of ``pid`` (by the type's main compartment element)."""
    who = patient(pid)
    return {
        "CarePlan": {  # 2型糖尿病管理计划
            "status": "active",
            "intent": "plan",
            "title": "2型糖尿病管理计划",
            "subject": who,
            "period": {"start": "2026-03-01"},
        },
        "Composition": {  # 出院小结
            "status": "final",
            "type": cc("18842-5", "Discharge summary", "http://loinc.org"),
            "subject": who,
            "date": "2026-03-16T10:00:00+08:00",
            "author": [{"reference": "Practitioner/dr-wangfang", "display": "王芳"}],
            "title": "出院小结",
        },
        "Goal": {  # 糖化血红蛋白 < 7%
            "lifecycleStatus": "active",
            "description": {"text": "糖化血红蛋白控制在7%以下"},
            "subject": who,
        },
        "EpisodeOfCare": {"status": "active", "patient": who, "period": {"start": "2026-01-05"}},
        "Flag": {"status": "active", "code": {"text": "青霉素过敏"}, "subject": who},
        "MedicationStatement": {
            "status": "active",
            "medicationCodeableConcept": {"text": "二甲双胍片 0.5g"},
            "subject": who,
        },
        "ChargeItem": {  # a DFT^P03 charge: 血常规
            "status": "billable",
            "code": {"text": "血常规检查"},
            "subject": who,
            "occurrenceDateTime": "2026-03-15T09:30:00+08:00",
        },
        "Claim": {  # 医保结算申请
            "status": "active",
            "type": cc("institutional", "Institutional", "http://terminology.hl7.org/CodeSystem/claim-type"),
            "use": "claim",
            "patient": who,
            "created": "2026-03-16",
            "provider": {"reference": f"Organization/{SZRMYY}"},
            "priority": cc("normal", "Normal", "http://terminology.hl7.org/CodeSystem/processpriority"),
            "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": f"Coverage/cov-{pid}"}}],
        },
        "ExplanationOfBenefit": {
            "status": "active",
            "type": cc("institutional", "Institutional", "http://terminology.hl7.org/CodeSystem/claim-type"),
            "use": "claim",
            "patient": who,
            "created": "2026-03-20",
            "outcome": "complete",
        },
        "Media": {"status": "completed", "subject": who, "content": {"contentType": "image/jpeg", "title": "皮损照片"}},
        "SupplyRequest": {  # home-care supplies delivered to the patient (R4: in the compartment by deliverTo)
            "status": "active",
            "itemCodeableConcept": {"text": "一次性胰岛素注射针头"},
            "quantity": {"value": 100},
            "authoredOn": "2026-03-16T15:00:00+08:00",
            "requester": {"reference": "Practitioner/nurse-chenjing", "display": "陈静"},
            "deliverTo": who,
        },
    }[rtype]


TYPES = [
    "CarePlan",
    "Composition",
    "Goal",
    "EpisodeOfCare",
    "Flag",
    "MedicationStatement",
    "ChargeItem",
    "Claim",
    "ExplanationOfBenefit",
    "Media",
    "SupplyRequest",
]


def rid(rtype: str, pid: str) -> str:
    return f"{rtype.lower()}-{pid.removeprefix('p-')}"


def seed(session: Session) -> None:
    for pid, name in ((ZHANG, "张三"), (LI, "李四")):
        store.put(session, stamp_producer({"resourceType": "Patient", "id": pid, "name": [{"text": name}]}, SZRMYY))
        for rtype in TYPES:
            resource = {"resourceType": rtype, "id": rid(rtype, pid), **body(rtype, pid)}
            store.put(session, stamp_producer(resource, SZRMYY))
    session.commit()


@pytest.fixture
def hub(settings: Settings, session: Session) -> Iterator[httpx.Client]:
    seed(session)
    with serve_hub(rest_settings(settings)) as client:
        yield client


def search(hub: httpx.Client, headers: dict[str, str], rtype: str, **params: str) -> dict[str, Any]:
    r = hub.get(f"/fhir/{rtype}", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def status_of_read(hub: httpx.Client, headers: dict[str, str], rtype: str, rid_: str) -> int:
    return hub.get(f"/fhir/{rtype}/{rid_}", headers=headers).status_code


@pytest.mark.parametrize("rtype", TYPES)
def test_a_patient_searches_and_reads_only_their_own(hub: httpx.Client, settings: Settings, rtype: str) -> None:
    zhang, li = Tokens(settings).patient(ZHANG), Tokens(settings).patient(LI)
    mine, theirs = rid(rtype, ZHANG), rid(rtype, LI)
    listing = search(hub, zhang, rtype)
    assert ids(listing) == [mine]
    assert listing["total"] == 1
    assert ids(search(hub, li, rtype)) == [theirs]
    # asking for the other patient's by the compartment parameter finds nothing either
    assert ids(search(hub, zhang, rtype, _id=theirs)) == []
    assert status_of_read(hub, zhang, rtype, mine) == 200
    assert status_of_read(hub, zhang, rtype, theirs) == 403


def test_searching_by_the_types_own_parameters(hub: httpx.Client, settings: Settings) -> None:
    zhang = Tokens(settings).patient(ZHANG)
    assert ids(search(hub, zhang, "CarePlan", status="active", intent="plan")) == ["careplan-zhangsan"]
    assert ids(search(hub, zhang, "CarePlan", patient=f"Patient/{LI}")) == []
    assert ids(search(hub, zhang, "Goal", **{"lifecycle-status": "active"})) == ["goal-zhangsan"]
    assert ids(search(hub, zhang, "Composition", type="http://loinc.org|18842-5")) == ["composition-zhangsan"]
    assert ids(search(hub, zhang, "Claim", use="claim", patient=f"Patient/{ZHANG}")) == ["claim-zhangsan"]
    assert ids(search(hub, zhang, "ChargeItem", occurrence="2026-03-15")) == ["chargeitem-zhangsan"]


def test_a_hospital_does_not_read_another_hospitals_charges(hub: httpx.Client, settings: Settings) -> None:
    # ChargeItem and Claim were directory data: every organisation read every other's
    pkusz = Tokens(settings).system(PKUSZ, "system/*.rs")
    for rtype in ("ChargeItem", "Claim", "CarePlan"):
        assert status_of_read(hub, pkusz, rtype, rid(rtype, ZHANG)) == 403
        assert ids(search(hub, pkusz, rtype)) == []
    szrmyy = Tokens(settings).system(SZRMYY, "system/*.rs")
    assert ids(search(hub, szrmyy, "ChargeItem", patient=f"Patient/{ZHANG}")) == ["chargeitem-zhangsan"]
    assert ids(search(hub, szrmyy, "ChargeItem")) == ["chargeitem-lisi", "chargeitem-zhangsan"]


def test_searches_and_reads_are_audited(hub: httpx.Client, settings: Settings, session: Session) -> None:
    zhang = Tokens(settings).patient(ZHANG)
    search(hub, zhang, "Goal")
    assert status_of_read(hub, zhang, "Goal", "goal-zhangsan") == 200
    assert status_of_read(hub, zhang, "Claim", "claim-lisi") == 403
    # (his trail, AuditEvent?patient=…, holds what he did too: he is the agent of each)
    trail = [e for e in audit_events(session, ZHANG) if subtype(e) in ("search-type", "read")]
    assert [(subtype(e), e["outcome"]) for e in trail] == [("search-type", "0"), ("read", "0"), ("read", "4")]
    for event in trail[:2]:
        assert any(r.startswith("Goal/goal-zhangsan") for r in entity_refs(event))
        assert any(a.get("who", {}).get("reference") == f"Patient/{ZHANG}" for a in event["agent"])
    # the refused read is on 李四's trail, as refused (outcome 4), naming the Claim and the user who asked
    refused = [e for e in audit_events(session, LI) if subtype(e) == "read"]
    assert [e["outcome"] for e in refused] == ["4"]
    assert "Claim/claim-lisi" in {r.split("/_history/")[0] for r in entity_refs(refused[0])}
    assert any(a.get("who", {}).get("reference") == f"Patient/{ZHANG}" for a in refused[0]["agent"])


def test_reindex_makes_the_types_stored_before_searchable(settings: Settings, session: Session) -> None:
    seed(session)
    # A store written before these types had search parameters holds no index rows of them: drop those rows.
    for table in ("search_token", "search_string", "search_reference", "search_date", "search_quantity"):
        session.execute(
            text(f"DELETE FROM {table} WHERE resource_type IN ('CarePlan', 'ChargeItem')")  # noqa: S608
        )
    session.commit()
    assert store.search(session, "CarePlan", [("patient", f"Patient/{ZHANG}")]).resources == []

    env = {"HUB_DATA_DIR": str(settings.data_dir), "HUB_DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "reindex", "CarePlan", "ChargeItem"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "re-indexed 4 resources of 2 types" in done.stderr
    with get_sessionmaker(settings)() as fresh:
        for rtype in ("CarePlan", "ChargeItem"):
            found = store.search(fresh, rtype, [("patient", f"Patient/{ZHANG}")])
            assert [r["id"] for r in found.resources] == [rid(rtype, ZHANG)]


def test_care_manager_finds_a_practitioner_only(settings: Settings, session: Session) -> None:
    """R4 EpisodeOfCare-care-manager is EpisodeOfCare.careManager.where(resolve() is Practitioner): an episode whose
    care manager is a PractitionerRole is not indexed under it, and asking for a PractitionerRole is an error."""
    seed(session)
    for eid, manager in (("eoc-dm-1", "Practitioner/dr-wangfang"), ("eoc-dm-2", "PractitionerRole/role-wangfang-nk")):
        episode = {
            "resourceType": "EpisodeOfCare",
            "id": eid,
            "status": "active",
            "patient": patient(ZHANG),
            "careManager": {"reference": manager, "display": "王芳"},
        }
        store.put(session, stamp_producer(episode, SZRMYY))
    session.commit()
    found = store.search(session, "EpisodeOfCare", [("care-manager", "Practitioner/dr-wangfang")])
    assert [r["id"] for r in found.resources] == ["eoc-dm-1"]
    assert store.search(session, "EpisodeOfCare", [("care-manager", "dr-wangfang")]).resources[0]["id"] == "eoc-dm-1"
    with pytest.raises(InvalidInput):
        store.search(session, "EpisodeOfCare", [("care-manager", "PractitionerRole/role-wangfang-nk")])
