"""A patient's search finds what a read lets the patient see: every element of the R4 Patient compartment, not the
compartment parameter alone (through the real app on a real socket, with patient tokens and the audit trail).

A parent who is the subscriber, policy holder or payor of a child's Coverage reads it by id (the compartment holds
Coverage by policy-holder, subscriber, beneficiary and payor); the parent's search finds it too, in a plain
``Coverage?`` listing and by ``Coverage?subscriber=Patient/…``; an unrelated patient finds and reads nothing of it;
each search is audited with the patients whose records it returned. The same holds for the other types whose
compartment has several elements (an allergy the parent asserted, a home measurement the parent performed, a
message the parent sent), and, for every type and element of the compartment, search and read agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from hub.config import Settings
from hub.fhir import store
from hub.security.access import Access, stamp_producer
from hub.security.compartment import COMPARTMENT, compartment_search
from hub.security.directory import StoreDirectory
from hub.security.principal import Principal
from hub.security.scopes import ScopeSet
from tests.support.fhir_client import Tokens, audit_events, entity_refs, ids, rest_settings, serve_hub, subtype

SZRMYY = "org-szrmyy"  # 深圳市人民医院
SZYB = "Organization/ins-szyb"  # 深圳市医疗保障局
PINGAN = "Organization/ins-pingan"  # 中国平安人寿保险
FATHER = "p-chenjianguo"  # 陈建国, the father: insures his daughter
DAUGHTER = "p-chenxiaoyu"  # 陈小雨, 8 years old
STRANGER = "p-liuyang"  # 刘洋, no relation
RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"


def coverage(cid: str, beneficiary: str, payor: str, policy: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Coverage",
        "id": cid,
        "identifier": [{"system": "urn:hub:id:SZYB", "value": policy}],
        "status": "active",
        "beneficiary": {"reference": f"Patient/{beneficiary}"},
        "payor": [{"reference": payor}],
        **extra,
    }


def father(role: str) -> dict[str, Any]:
    return {role: {"reference": f"Patient/{FATHER}"}}


CHILD = {"relationship": {"coding": [{"system": RELATIONSHIP, "code": "child"}]}}
COVERAGES = [
    # 少儿医保 (the city's children's basic insurance): the father subscribes and holds the policy
    coverage(
        "cov-xiaoyu-sr", DAUGHTER, SZYB, "440304201803120026", **father("subscriber"), **father("policyHolder"), **CHILD
    ),  # fmt: skip
    # a commercial children's plan the father bought: he is the policy holder only
    coverage("cov-xiaoyu-pa", DAUGHTER, PINGAN, "PA2026052000381", **father("policyHolder"), **CHILD),
    # self-pay (a patient-pay agreement): the father is the payor
    coverage("cov-xiaoyu-zf", DAUGHTER, f"Patient/{FATHER}", "ZF20260315001"),
    # the father's own basic insurance, and an unrelated patient's
    coverage("cov-jianguo-yb", FATHER, SZYB, "440304198504160031", subscriber={"reference": f"Patient/{FATHER}"}),
    coverage("cov-liuyang-yb", STRANGER, SZYB, "440305199011280015"),
]
OF_THE_DAUGHTER = ["cov-xiaoyu-pa", "cov-xiaoyu-sr", "cov-xiaoyu-zf"]

GLUCOSE = "Glucose [Mass/volume] in Blood"
# Resources of the daughter in which the father is another element of the compartment
OTHERS = [
    {  # 家长诉青霉素过敏: an allergy the father reported (asserter)
        "resourceType": "AllergyIntolerance",
        "id": "ai-xiaoyu-penicillin",
        "patient": {"reference": f"Patient/{DAUGHTER}"},
        "asserter": {"reference": f"Patient/{FATHER}"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "764146007", "display": "Penicillin"}]},
    },
    {  # a fingertip glucose the father measured at home (performer)
        "resourceType": "Observation",
        "id": "obs-xiaoyu-glucose",
        "status": "final",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose [Mass/volume] in Blood"}]
        },
        "subject": {"reference": f"Patient/{DAUGHTER}"},
        "performer": [{"reference": f"Patient/{FATHER}"}],
        "valueQuantity": {"value": 5.6, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
    },
    {  # the father's message to the paediatric clinic about her cough (sender)
        "resourceType": "Communication",
        "id": "comm-xiaoyu-cough",
        "status": "completed",
        "subject": {"reference": f"Patient/{DAUGHTER}"},
        "sender": {"reference": f"Patient/{FATHER}"},
        "payload": [{"contentString": "孩子咳嗽三天，夜间加重，需要复诊吗？"}],
    },
]


def seed(session: Session) -> None:
    for pid, name in ((FATHER, "陈建国"), (DAUGHTER, "陈小雨"), (STRANGER, "刘洋")):
        store.put(session, stamp_producer({"resourceType": "Patient", "id": pid, "name": [{"text": name}]}, SZRMYY))
    for resource in (*COVERAGES, *OTHERS):
        store.put(session, stamp_producer(resource, SZRMYY))
    session.commit()


@pytest.fixture
def hub(settings: Settings, session: Session) -> Iterator[httpx.Client]:
    seed(session)
    with serve_hub(rest_settings(settings)) as client:
        yield client


def search(hub: httpx.Client, headers: dict[str, str], rtype: str = "Coverage", **params: str) -> dict[str, Any]:
    r = hub.get(f"/fhir/{rtype}", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def readable(hub: httpx.Client, headers: dict[str, str], rtype: str, rid: str) -> bool:
    status = hub.get(f"/fhir/{rtype}/{rid}", headers=headers).status_code
    assert status in (200, 403)
    return status == 200


def test_the_subscriber_finds_the_coverage_he_reads(hub: httpx.Client, settings: Settings) -> None:
    chen = Tokens(settings).patient(FATHER)
    listing = search(hub, chen)
    assert ids(listing) == ["cov-jianguo-yb", *OF_THE_DAUGHTER]  # his own and every one he subscribes, holds, pays
    assert listing["total"] == 4
    assert ids(search(hub, chen, subscriber=f"Patient/{FATHER}")) == ["cov-jianguo-yb", "cov-xiaoyu-sr"]
    assert ids(search(hub, chen, **{"policy-holder": f"Patient/{FATHER}"})) == ["cov-xiaoyu-pa", "cov-xiaoyu-sr"]
    assert ids(search(hub, chen, payor=f"Patient/{FATHER}")) == ["cov-xiaoyu-zf"]
    assert ids(search(hub, chen, beneficiary=f"Patient/{DAUGHTER}")) == OF_THE_DAUGHTER
    assert ids(search(hub, chen, beneficiary=f"Patient/{STRANGER}")) == []
    # search and read agree on every Coverage stored
    every = [c["id"] for c in COVERAGES]
    assert sorted(c for c in every if readable(hub, chen, "Coverage", c)) == ids(listing)


def test_an_unrelated_patient_finds_nothing_of_it(hub: httpx.Client, settings: Settings) -> None:
    liu = Tokens(settings).patient(STRANGER)
    assert ids(search(hub, liu)) == ["cov-liuyang-yb"]
    assert ids(search(hub, liu, subscriber=f"Patient/{FATHER}")) == []
    assert ids(search(hub, liu, beneficiary=f"Patient/{DAUGHTER}")) == []
    assert not any(readable(hub, liu, "Coverage", c) for c in OF_THE_DAUGHTER)
    # the daughter herself: her three (the beneficiary), not her father's own
    assert ids(search(hub, Tokens(settings).patient(DAUGHTER))) == OF_THE_DAUGHTER


def test_the_search_is_audited_as_a_read_is(hub: httpx.Client, settings: Settings, session: Session) -> None:
    chen = Tokens(settings).patient(FATHER)
    search(hub, chen, subscriber=f"Patient/{FATHER}")
    assert readable(hub, chen, "Coverage", "cov-xiaoyu-sr")
    # both are on the daughter's trail (AuditEvent?patient=…), naming the Coverage and the father as the user
    trail = [e for e in audit_events(session, DAUGHTER) if subtype(e) in ("search-type", "read")]
    assert [subtype(e) for e in trail] == ["search-type", "read"]
    for event in trail:
        refs = entity_refs(event)
        assert any(r.startswith("Coverage/cov-xiaoyu-sr") for r in refs)
        assert f"Patient/{DAUGHTER}" in refs
        assert event["outcome"] == "0"
        assert any(a.get("who", {}).get("reference") == f"Patient/{FATHER}" for a in event["agent"])
    # the unrelated patient's empty search names nobody's records
    search(hub, Tokens(settings).patient(STRANGER), subscriber=f"Patient/{FATHER}")
    assert [subtype(e) for e in audit_events(session, DAUGHTER) if subtype(e) == "search-type"] == ["search-type"]


@pytest.mark.parametrize("resource", OTHERS, ids=lambda r: r["resourceType"])
def test_other_types_of_several_compartment_elements(
    hub: httpx.Client, settings: Settings, resource: dict[str, Any]
) -> None:
    rtype, rid = resource["resourceType"], resource["id"]
    chen, liu = Tokens(settings).patient(FATHER), Tokens(settings).patient(STRANGER)
    assert readable(hub, chen, rtype, rid)
    assert ids(search(hub, chen, rtype)) == [rid]
    assert ids(search(hub, Tokens(settings).patient(DAUGHTER), rtype)) == [rid]
    assert not readable(hub, liu, rtype, rid)
    assert ids(search(hub, liu, rtype)) == []


def test_a_patient_finds_the_accounts_they_read(hub: httpx.Client, settings: Settings, session: Session) -> None:
    # Account had no search parameter: a patient read their account but a search of Account was refused (403)
    account = {
        "resourceType": "Account",
        "id": "acc-xiaoyu-zy",
        "identifier": [{"system": "urn:hub:id:SZRMYY", "value": "ZY20260315001"}],
        "status": "active",
        "subject": [{"reference": f"Patient/{DAUGHTER}"}],
        "coverage": [{"coverage": {"reference": "Coverage/cov-xiaoyu-sr"}}],
    }
    store.put(session, stamp_producer(account, SZRMYY))
    session.commit()
    xiaoyu, liu = Tokens(settings).patient(DAUGHTER), Tokens(settings).patient(STRANGER)
    assert readable(hub, xiaoyu, "Account", "acc-xiaoyu-zy")
    assert ids(search(hub, xiaoyu, "Account")) == ["acc-xiaoyu-zy"]
    assert ids(search(hub, xiaoyu, "Account", identifier="ZY20260315001", status="active")) == ["acc-xiaoyu-zy"]
    assert not readable(hub, liu, "Account", "acc-xiaoyu-zy")
    assert ids(search(hub, liu, "Account")) == []
    # and the hospital finds it by the patient, as an R4 client asks
    szrmyy = Tokens(settings).system(SZRMYY, "system/*.rs")
    assert ids(search(hub, szrmyy, "Account", patient=f"Patient/{DAUGHTER}")) == ["acc-xiaoyu-zy"]


def _at(path: str, reference: dict[str, str]) -> dict[str, Any]:
    """A resource fragment holding ``reference`` at a compartment element path (``participant.actor``)."""
    head, _, rest = path.partition(".")
    return {head: [_at(rest, reference)] if rest else reference}


COMPARTMENT_ELEMENTS = [
    (rtype, path) for rtype, (_, paths) in sorted(COMPARTMENT.items()) if compartment_search(rtype) for path in paths
]


@pytest.mark.parametrize(("rtype", "path"), COMPARTMENT_ELEMENTS, ids=lambda v: str(v))
def test_every_compartment_element_is_searched_as_it_is_read(
    settings: Settings, session: Session, rtype: str, path: str
) -> None:
    """For every searchable type, a resource in the patient's compartment by any one element is found by the
    patient's search; read and search cannot disagree."""
    resource = {"resourceType": rtype, "id": "in-compartment", **_at(path, {"reference": f"Patient/{FATHER}"})}
    elsewhere = {"resourceType": rtype, "id": "elsewhere", **_at(path, {"reference": f"Patient/{STRANGER}"})}
    store.put(session, resource)
    store.put(session, elsewhere)
    principal = Principal(
        subject="u", client_id="app", role="patient", scopes=ScopeSet.parse("patient/*.rs"), patient=FATHER
    )
    access = Access(principal, settings, StoreDirectory(session))
    access.check_read(resource)
    found = store.search(session, rtype, [], scope=access.search_scope(rtype).params)
    assert [r["id"] for r in access.filter(found.resources)] == ["in-compartment"]
