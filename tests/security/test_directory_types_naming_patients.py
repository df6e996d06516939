"""Resources outside the R4 Patient compartment that still name a patient, and a Group's other members (real app on
a socket, real tokens).

Before: a Device or Contract was directory data whatever it named, so any token holding ``patient/*.rs`` read every
patient's implanted devices (``GET /fhir/Device?patient=…`` of another patient listed them); and a patient who was a
member of a Group read its whole member list (who else is in a cohort). Now a Device or Contract that names a Patient
is that patient's data (compartment, organisation isolation, consent), one that names none stays directory data, and
a patient context reads only a Group whose patients are all its own records.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from hub.config import Settings
from hub.fhir import store
from hub.security.access import stamp_producer
from tests.support.fhir_client import Tokens, audit_events, entity_refs, ids, rest_settings, serve_hub

SZRMYY = "org-szrmyy"  # 深圳市人民医院
PKUSZ = "org-pkusz"  # 北京大学深圳医院
ZHANG = "p-zhangwei"  # 张伟, 440304198504160033
LI = "p-lina"  # 李娜, 440306199003070029
GB_IDS = {ZHANG: "440304198504160033", LI: "440306199003070029"}


def device(did: str, name: str, patient: str | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Device",
        "id": did,
        "status": "active",
        "deviceName": [{"name": name, "type": "user-friendly-name"}],
    }
    if patient is not None:
        resource["patient"] = {"reference": f"Patient/{patient}"}
    return resource


def group(gid: str, name: str, *members: str) -> dict[str, Any]:
    return {
        "resourceType": "Group",
        "id": gid,
        "type": "person",
        "actual": True,
        "name": name,
        "member": [{"entity": {"reference": f"Patient/{m}"}} for m in members],
    }


def seed(session: Session) -> None:
    for pid, name in ((ZHANG, "张伟"), (LI, "李娜")):
        patient = {
            "resourceType": "Patient",
            "id": pid,
            "name": [{"text": name}],
            "identifier": [{"system": "urn:oid:1.2.156.112604.1.2.1", "value": GB_IDS[pid]}],
        }
        store.put(session, stamp_producer(patient, SZRMYY))
    store.put(session, stamp_producer(device("dev-pm-zw", "心脏起搏器 美敦力 Azure XT DR", ZHANG), SZRMYY))
    store.put(session, stamp_producer(device("dev-icd-ln", "植入式心律转复除颤器", LI), SZRMYY))
    store.put(session, stamp_producer(device("dev-pump-icu3", "输液泵 ICU 3 床", None), SZRMYY))
    store.put(session, stamp_producer(group("grp-hiv", "HIV 随访队列 2026", ZHANG, LI), SZRMYY))
    store.put(session, stamp_producer(group("grp-zw", "张伟 家庭医生签约", ZHANG), SZRMYY))
    session.commit()


@pytest.fixture
def hub(settings: Settings, session: Session) -> Iterator[httpx.Client]:
    seed(session)
    with serve_hub(rest_settings(settings)) as client:
        yield client


def test_a_patient_reads_its_own_device_and_the_ward_pump_not_another_patients_implant(
    hub: httpx.Client, settings: Settings, session: Session
) -> None:
    zhang = Tokens(settings).patient(ZHANG, scopes="patient/*.rs")
    assert hub.get("/fhir/Device/dev-pm-zw", headers=zhang).status_code == 200
    assert hub.get("/fhir/Device/dev-pump-icu3", headers=zhang).status_code == 200  # names no patient
    r = hub.get("/fhir/Device/dev-icd-ln", headers=zhang)
    assert r.status_code == 403, r.text
    every = hub.get("/fhir/Device", headers=zhang).json()
    assert sorted(ids(every)) == ["dev-pm-zw", "dev-pump-icu3"] and every["total"] == 2
    hers = hub.get(f"/fhir/Device?patient=Patient/{LI}", headers=zhang).json()
    assert ids(hers) == [] and hers["total"] == 0
    # the read of the pacemaker is on 张伟's audit trail
    reads = [e for e in audit_events(session, ZHANG) if "Device/dev-pm-zw/_history/1" in entity_refs(e)]
    assert reads


def test_another_hospital_reads_a_patients_device_only_under_a_purpose(hub: httpx.Client, settings: Settings) -> None:
    pkusz = Tokens(settings).system(PKUSZ, scopes="system/Device.rs")
    assert hub.get("/fhir/Device/dev-pm-zw", headers=pkusz).status_code == 403
    assert hub.get("/fhir/Device/dev-pump-icu3", headers=pkusz).status_code == 200
    listed = hub.get("/fhir/Device", headers=pkusz).json()
    assert ids(listed) == ["dev-pump-icu3"] and listed["total"] == 1
    treating = Tokens(settings).system(PKUSZ, scopes="system/Device.rs", purposes=("TREAT",))
    assert hub.get("/fhir/Device/dev-pm-zw", headers=treating).status_code == 200
    own = Tokens(settings).system(SZRMYY, scopes="system/Device.rs")
    assert len(ids(hub.get("/fhir/Device", headers=own).json())) == 3


def test_a_patient_does_not_read_a_group_that_lists_other_patients(hub: httpx.Client, settings: Settings) -> None:
    zhang = Tokens(settings).patient(ZHANG, scopes="patient/*.rs")
    r = hub.get("/fhir/Group/grp-hiv", headers=zhang)
    assert r.status_code == 403, r.text
    assert hub.get("/fhir/Group/grp-zw", headers=zhang).status_code == 200
    found = hub.get(f"/fhir/Group?member=Patient/{ZHANG}", headers=zhang).json()
    assert ids(found) == ["grp-zw"] and found["total"] == 1
    # the hospital that keeps the cohort reads it whole
    hospital = Tokens(settings).system(SZRMYY, scopes="system/Group.rs")
    assert hub.get("/fhir/Group/grp-hiv", headers=hospital).status_code == 200


def test_a_patient_does_not_write_a_group_that_lists_other_patients(hub: httpx.Client, settings: Settings) -> None:
    # Groups a hub operator keeps (no producer tag, so a patient context with a Group write scope may write them): a
    # write answers with the Group as stored, so a patient who may not read the family's Group may not write it either
    operator = {**Tokens(settings).operator(), "Content-Type": "application/fhir+json"}
    family = group("grp-family-bed", "家庭病床 福田区 2026-03", ZHANG, LI)
    assert hub.put("/fhir/Group/grp-family-bed", json=family, headers=operator).status_code == 201
    own = group("grp-zw-followup", "张伟 随访", ZHANG)
    assert hub.put("/fhir/Group/grp-zw-followup", json=own, headers=operator).status_code == 201

    zhang = Tokens(settings).patient(ZHANG, scopes="patient/Group.cruds")
    rename = [{"op": "replace", "path": "/name", "value": "我的随访"}]
    patch = {**zhang, "Content-Type": "application/json-patch+json"}
    r = hub.patch("/fhir/Group/grp-family-bed", json=rename, headers=patch)
    assert r.status_code == 403, r.text
    assert LI not in r.text
    put = {**zhang, "Content-Type": "application/fhir+json"}
    assert hub.put("/fhir/Group/grp-family-bed", json={**family, "name": "我的"}, headers=put).status_code == 403
    assert hub.patch("/fhir/Group/grp-zw-followup", json=rename, headers=patch).status_code == 200
    kept = hub.get("/fhir/Group/grp-family-bed", headers=operator).json()
    assert kept["name"] == "家庭病床 福田区 2026-03" and kept["meta"]["versionId"] == "1"
