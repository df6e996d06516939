"""Coverage search (FHIR R4 Coverage search parameters) through the real app on a real socket, with the access policy:
a hospital finds its patients' insurance by beneficiary, patient, payor, identifier, status …; a clinic without
access to the patient finds nothing; the CapabilityStatement lists the parameters; Coverage stored before they
existed is found after ``hub reindex Coverage`` (the real command)."""

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
from hub.fhir import store
from hub.security.access import stamp_producer
from tests.support.fhir_client import Tokens, ids, rest_settings, serve_hub

SZRMYY = "org-szrmyy"  # 深圳市人民医院
PKUSZ = "org-pkusz"  # 北京大学深圳医院
CLINIC = "org-lianhua-clinic"  # 莲花社区健康服务中心: no record of these patients
SZYB = "Organization/ins-szyb"  # 深圳市医疗保障局 (city basic medical insurance)
PINGAN = "Organization/ins-pingan"  # 中国平安 (a commercial insurer)
POLICY_SYSTEM = "urn:hub:id:SZYB"
COVERAGE_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def coverage(cid: str, patient: str, payor: str, policy: str, status: str = "active", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Coverage",
        "id": cid,
        "identifier": [{"system": POLICY_SYSTEM, "value": policy}],
        "status": status,
        "beneficiary": {"reference": f"Patient/{patient}"},
        "payor": [{"reference": payor}],
        **extra,
    }


def seed(session: Session) -> None:
    """张伟 (p-zhangwei) and 李娜 (p-lina) of 深圳市人民医院, 王芳 (p-wangfang) of 北京大学深圳医院, each with insurance
    their hospital recorded."""
    for pid, org, name in (("p-zhangwei", SZRMYY, "张伟"), ("p-lina", SZRMYY, "李娜"), ("p-wangfang", PKUSZ, "王芳")):
        store.put(session, stamp_producer({"resourceType": "Patient", "id": pid, "name": [{"text": name}]}, org))
    for oid, name in (("ins-szyb", "深圳市医疗保障局"), ("ins-pingan", "中国平安人寿保险")):
        store.put(session, {"resourceType": "Organization", "id": oid, "name": name})
    zhang_basic = coverage(
        "cov-zhang-yb",
        "p-zhangwei",
        SZYB,
        "440305198001011235",
        type={"coding": [{"system": COVERAGE_TYPE, "code": "PUBLICPOL"}]},
        subscriber={"reference": "Patient/p-zhangwei"},
        **{"class": [{"type": {"coding": [{"code": "plan"}]}, "value": "职工医保一档"}]},
    )
    zhang_private = coverage("cov-zhang-pa", "p-zhangwei", PINGAN, "PA2026031500017", status="cancelled")
    lina = coverage("cov-lina-yb", "p-lina", SZYB, "440304199203150021")
    wang = coverage("cov-wang-yb", "p-wangfang", SZYB, "440306198507230048")
    for resource, org in ((zhang_basic, SZRMYY), (zhang_private, SZRMYY), (lina, SZRMYY), (wang, PKUSZ)):
        store.put(session, stamp_producer(resource, org))
    session.commit()


@pytest.fixture
def hub(settings: Settings, session: Session) -> Iterator[httpx.Client]:
    seed(session)
    with serve_hub(rest_settings(settings)) as client:
        yield client


def found(hub: httpx.Client, headers: dict[str, str], **params: str) -> list[str]:
    r = hub.get("/fhir/Coverage", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return ids(r.json())


def test_a_hospital_finds_its_patients_insurance(hub: httpx.Client, settings: Settings) -> None:
    szrmyy = Tokens(settings).system(SZRMYY, "system/*.rs")
    assert found(hub, szrmyy, beneficiary="Patient/p-zhangwei") == ["cov-zhang-pa", "cov-zhang-yb"]
    assert found(hub, szrmyy, patient="p-zhangwei") == ["cov-zhang-pa", "cov-zhang-yb"]
    assert found(hub, szrmyy, payor=SZYB) == ["cov-lina-yb", "cov-zhang-yb"]  # not 王芳's: another hospital's
    assert found(hub, szrmyy, identifier=f"{POLICY_SYSTEM}|440304199203150021") == ["cov-lina-yb"]
    assert found(hub, szrmyy, identifier="PA2026031500017") == ["cov-zhang-pa"]
    assert found(hub, szrmyy, beneficiary="Patient/p-zhangwei", status="active") == ["cov-zhang-yb"]
    assert found(hub, szrmyy, type=f"{COVERAGE_TYPE}|PUBLICPOL") == ["cov-zhang-yb"]
    assert found(hub, szrmyy, subscriber="Patient/p-zhangwei") == ["cov-zhang-yb"]
    assert found(hub, szrmyy, **{"class-value": "职工医保"}) == ["cov-zhang-yb"]  # string: starts with
    included = hub.get(
        "/fhir/Coverage", params={"_id": "cov-zhang-pa", "_include": "Coverage:payor"}, headers=szrmyy
    ).json()
    assert ids(included, "include") == ["ins-pingan"]


def test_no_access_to_the_patient_finds_nothing(hub: httpx.Client, settings: Settings) -> None:
    tokens = Tokens(settings)
    # a community clinic that holds no record of 张伟: isolation keeps the hospital's Coverage from it
    clinic = tokens.system(CLINIC, "system/*.rs")
    assert found(hub, clinic, beneficiary="Patient/p-zhangwei") == []
    assert found(hub, clinic, payor=SZYB) == []
    assert hub.get("/fhir/Coverage/cov-zhang-yb", headers=clinic).status_code == 403
    # the other hospital sees its own patient's insurance only
    pkusz = tokens.system(PKUSZ, "system/*.rs")
    assert found(hub, pkusz, payor=SZYB) == ["cov-wang-yb"]
    # a patient: their own insurance (the compartment is their beneficiary's), nobody else's
    lina = tokens.patient("p-lina")
    assert found(hub, lina) == ["cov-lina-yb"]
    assert found(hub, lina, beneficiary="Patient/p-zhangwei") == []
    assert hub.get("/fhir/Coverage/cov-zhang-yb", headers=lina).status_code == 403


def test_the_capability_statement_lists_the_coverage_parameters(hub: httpx.Client) -> None:
    statement = hub.get("/fhir/metadata").json()
    (entry,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Coverage"]
    params = {p["name"]: p for p in entry["searchParam"]}
    expected = {
        "beneficiary": "reference",
        "patient": "reference",
        "payor": "reference",
        "policy-holder": "reference",
        "subscriber": "reference",
        "identifier": "token",
        "status": "token",
        "type": "token",
        "class-type": "token",
        "class-value": "string",
        "dependent": "string",
    }
    assert {name: params[name]["type"] for name in expected if name in params} == expected
    assert params["beneficiary"]["definition"] == "http://hl7.org/fhir/SearchParameter/Coverage-beneficiary"
    assert "Coverage:beneficiary" in entry["searchInclude"]


def test_reindex_makes_coverage_stored_before_findable(settings: Settings, session: Session) -> None:
    seed(session)
    # A store written before Coverage had search parameters holds no index rows of them: drop those rows.
    for table in ("search_token", "search_string", "search_reference", "search_date", "search_quantity"):
        session.execute(text(f"DELETE FROM {table} WHERE resource_type = 'Coverage'"))  # noqa: S608
    session.commit()
    assert store.search(session, "Coverage", [("beneficiary", "Patient/p-zhangwei")]).resources == []

    env = {"HUB_DATA_DIR": str(settings.data_dir), "HUB_DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "reindex", "Coverage"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "re-indexed 4 resources of 1 types" in done.stderr

    with get_sessionmaker(settings)() as fresh:
        beneficiary = store.search(fresh, "Coverage", [("beneficiary", "Patient/p-zhangwei")])
        assert sorted(r["id"] for r in beneficiary.resources) == ["cov-zhang-pa", "cov-zhang-yb"]
        tagged = store.search(fresh, "Coverage", [("_tag", f"urn:hub:producer|{PKUSZ}"), ("status", "active")])
        assert [r["id"] for r in tagged.resources] == ["cov-wang-yb"]
