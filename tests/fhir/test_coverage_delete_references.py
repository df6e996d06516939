"""A Coverage deleted through the REST API leaves the Accounts that bill it, as one an insurance list deletes does
(hub/referrers.py), in the request's transaction and on the audit trail (real app, real socket, real tokens).

Before: ``DELETE /fhir/Coverage/…`` changed no Account; the hospital's inpatient account kept naming a policy that
answers 410 Gone.
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
from tests.support.fhir_client import FHIR_JSON, Tokens, audit_events, entity_refs, rest_settings, serve_hub, subtype

SZRMYY = "org-szrmyy"  # 深圳市人民医院
PKUSZ = "org-pkusz"  # 北京大学深圳医院
ZHANG = "p-zhangwei"  # 张伟, 440304198504160031
WANG = "p-wangfang"  # 王芳
YB = "cov-zw-yb"  # 深圳市职工医保
PA = "cov-zw-pa"  # 平安商业医疗险, the policy that lapses


def coverage(cid: str, beneficiary: str, policy: str, payor: str) -> dict[str, Any]:
    return {
        "resourceType": "Coverage",
        "id": cid,
        "identifier": [{"system": "urn:hub:id:SZYB", "value": policy}],
        "status": "active",
        "beneficiary": {"reference": f"Patient/{beneficiary}"},
        "payor": [{"reference": payor}],
    }


def account(aid: str, subject: str, name: str, *coverages: str) -> dict[str, Any]:
    return {
        "resourceType": "Account",
        "id": aid,
        "status": "active",
        "name": name,
        "subject": [{"reference": f"Patient/{subject}"}],
        "coverage": [
            {"coverage": {"reference": f"Coverage/{c}"}, "priority": n} for n, c in enumerate(coverages, start=1)
        ],
    }


def seed(session: Session) -> None:
    for pid, name in ((ZHANG, "张伟"), (WANG, "王芳")):
        store.put(session, stamp_producer({"resourceType": "Patient", "id": pid, "name": [{"text": name}]}, SZRMYY))
    store.put(session, stamp_producer(coverage(YB, ZHANG, "440304198504160031", "Organization/ins-szyb"), SZRMYY))
    store.put(session, stamp_producer(coverage(PA, ZHANG, "PA2026031500172", "Organization/ins-pingan"), SZRMYY))
    store.put(session, stamp_producer(coverage("cov-other", ZHANG, "ZF2026", f"Patient/{ZHANG}"), SZRMYY))
    store.put(session, stamp_producer(account("acc-zw-zy", ZHANG, "住院 ZY20260315001", YB, PA), SZRMYY))
    store.put(session, stamp_producer(account("acc-zw-mz", ZHANG, "门诊 MZ20260301007", PA), SZRMYY))
    # another hospital's account naming the policy: theirs to correct
    store.put(session, stamp_producer(account("acc-pkusz-zw", ZHANG, "住院 B0098", PA), PKUSZ))
    # an account of the hospital whose subject is someone else (a family account): not the beneficiary's
    store.put(session, stamp_producer(account("acc-wf-mz", WANG, "门诊 MZ20260302001", PA), SZRMYY))
    session.commit()


@pytest.fixture
def hub(settings: Settings, session: Session) -> Iterator[httpx.Client]:
    seed(session)
    with serve_hub(rest_settings(settings)) as client:
        yield client


def read(hub: httpx.Client, headers: dict[str, str], ref: str) -> dict[str, Any]:
    r = hub.get(f"/fhir/{ref}", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def named(resource: dict[str, Any]) -> list[str]:
    return [c["coverage"]["reference"] for c in resource.get("coverage", [])]


def test_a_rest_delete_takes_the_coverage_out_of_the_accounts(hub: httpx.Client, settings: Settings) -> None:
    szrmyy = Tokens(settings).system(SZRMYY)
    r = hub.delete(f"/fhir/Coverage/{PA}", headers=szrmyy)
    assert r.status_code == 204, r.text
    assert hub.get(f"/fhir/Coverage/{PA}", headers=szrmyy).status_code == 410
    inpatient = read(hub, szrmyy, "Account/acc-zw-zy")
    assert named(inpatient) == [f"Coverage/{YB}"]
    assert inpatient["meta"]["versionId"] == "2"
    assert inpatient["name"] == "住院 ZY20260315001"  # the rest of the account as it was
    outpatient = read(hub, szrmyy, "Account/acc-zw-mz")
    assert "coverage" not in outpatient and outpatient["meta"]["versionId"] == "2"
    # the earlier version keeps the policy: history shows when it left the account
    assert named(read(hub, szrmyy, "Account/acc-zw-zy/_history/1")) == [f"Coverage/{YB}", f"Coverage/{PA}"]
    # another hospital's account, and the hospital's account of another person, are left as they are
    other = read(hub, Tokens(settings).system(PKUSZ), "Account/acc-pkusz-zw")
    assert named(other) == [f"Coverage/{PA}"] and other["meta"]["versionId"] == "1"
    family = read(hub, szrmyy, "Account/acc-wf-mz")
    assert named(family) == [f"Coverage/{PA}"] and family["meta"]["versionId"] == "1"


def test_each_account_written_again_is_audited(hub: httpx.Client, settings: Settings, session: Session) -> None:
    assert hub.delete(f"/fhir/Coverage/{PA}", headers=Tokens(settings).system(SZRMYY)).status_code == 204
    trail = sorted(
        (e for e in audit_events(session, ZHANG) if subtype(e) in ("delete", "update")), key=lambda e: subtype(e)
    )
    assert [subtype(e) for e in trail] == ["delete", "update", "update"]
    assert {r for e in trail for r in entity_refs(e) if not r.startswith("Patient/")} == {
        f"Coverage/{PA}",
        "Account/acc-zw-mz/_history/2",
        "Account/acc-zw-zy/_history/2",
    }
    for event in trail:
        assert event["outcome"] == "0"
        assert f"Patient/{ZHANG}" in entity_refs(event)
        client = [a for a in event["agent"] if a["who"].get("identifier", {}).get("value") == f"his-{SZRMYY}"]
        assert client, event["agent"]
    notes = [entity["description"] for event in trail[1:] for entity in event["entity"] if "description" in entity]
    assert notes == [f"references to the deleted Coverage/{PA} removed by the hub"] * 2


def test_a_refused_delete_changes_no_account(hub: httpx.Client, settings: Settings) -> None:
    # another hospital may not delete 深圳市人民医院's Coverage: nothing changes
    assert hub.delete(f"/fhir/Coverage/{PA}", headers=Tokens(settings).system(PKUSZ)).status_code == 403
    szrmyy = Tokens(settings).system(SZRMYY)
    assert read(hub, szrmyy, "Account/acc-zw-zy")["meta"]["versionId"] == "1"
    assert read(hub, szrmyy, f"Coverage/{PA}")["meta"]["versionId"] == "1"


def transaction(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def test_a_transaction_delete_too_all_or_nothing(hub: httpx.Client, settings: Settings) -> None:
    szrmyy = {**Tokens(settings).system(SZRMYY), "Content-Type": FHIR_JSON}
    delete = {"request": {"method": "DELETE", "url": f"Coverage/{PA}"}}
    # an entry that fails (If-Match of a version the Coverage is not at) undoes the deletion and the accounts
    stale = {"request": {"method": "DELETE", "url": f"Coverage/{YB}", "ifMatch": 'W/"7"'}}
    assert hub.post("/fhir", json=transaction(delete, stale), headers=szrmyy).status_code == 412
    assert read(hub, szrmyy, "Account/acc-zw-mz")["meta"]["versionId"] == "1"
    # the client writes the inpatient account itself in the same transaction: written as the client sends it
    mine = account("acc-zw-zy", ZHANG, "住院 ZY20260315001（已结算）", YB)
    put = {"resource": mine, "request": {"method": "PUT", "url": "Account/acc-zw-zy"}}
    r = hub.post("/fhir", json=transaction(delete, put), headers=szrmyy)
    assert r.status_code == 200, r.text
    assert [e["response"]["status"] for e in r.json()["entry"]] == ["204 No Content", "200 OK"]
    inpatient = read(hub, szrmyy, "Account/acc-zw-zy")
    assert (inpatient["name"], inpatient["meta"]["versionId"]) == ("住院 ZY20260315001（已结算）", "2")
    outpatient = read(hub, szrmyy, "Account/acc-zw-mz")
    assert "coverage" not in outpatient and outpatient["meta"]["versionId"] == "2"


def test_a_batch_delete_too(hub: httpx.Client, settings: Settings, session: Session) -> None:
    szrmyy = {**Tokens(settings).system(SZRMYY), "Content-Type": FHIR_JSON}
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "DELETE", "url": f"Coverage/{PA}"}}],
    }
    assert hub.post("/fhir", json=batch, headers=szrmyy).status_code == 200
    assert named(read(hub, szrmyy, "Account/acc-zw-zy")) == [f"Coverage/{YB}"]
    assert "coverage" not in read(hub, szrmyy, "Account/acc-zw-mz")
    assert sorted(subtype(e) for e in audit_events(session, ZHANG) if subtype(e) in ("delete", "update")) == [
        "delete",
        "update",
        "update",
    ]


def test_no_account_version_when_none_names_it(hub: httpx.Client, settings: Settings, session: Session) -> None:
    szrmyy = Tokens(settings).system(SZRMYY)
    assert hub.delete("/fhir/Coverage/cov-other", headers=szrmyy).status_code == 204
    assert hub.delete(f"/fhir/Coverage/{PA}", headers=szrmyy).status_code == 204
    assert hub.delete(f"/fhir/Coverage/{PA}", headers=szrmyy).status_code == 204  # already deleted: nothing more
    assert read(hub, szrmyy, "Account/acc-zw-zy")["meta"]["versionId"] == "2"
    assert read(hub, szrmyy, "Account/acc-zw-mz")["meta"]["versionId"] == "2"
    updates = [e for e in audit_events(session, ZHANG) if subtype(e) == "update"]
    assert len(updates) == 2


def outcome_text(response: httpx.Response) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return " ".join(issue.get("diagnostics", "") for issue in body["issue"])


def test_a_caller_that_may_not_write_accounts_is_refused_before_anything_changes(
    hub: httpx.Client, settings: Settings, session: Session
) -> None:
    # the hospital's insurance desk: Coverage in full, Account read-only. The hub would write 张伟's Accounts on its
    # behalf, so the deletion is refused (403) as a PUT of those Accounts would be, and nothing changes.
    desk = Tokens(settings).system(SZRMYY, scopes="system/Coverage.cruds system/Account.rs")
    r = hub.delete(f"/fhir/Coverage/{PA}", headers=desk)
    assert r.status_code == 403, r.text
    assert "Account" in outcome_text(r)
    szrmyy = Tokens(settings).system(SZRMYY)
    assert read(hub, szrmyy, f"Coverage/{PA}")["meta"]["versionId"] == "1"
    for aid in ("acc-zw-zy", "acc-zw-mz"):
        assert read(hub, szrmyy, f"Account/{aid}")["meta"]["versionId"] == "1"
    failed = [e for e in audit_events(session) if subtype(e) == "delete"]
    assert [(e["outcome"], entity_refs(e)) for e in failed] == [("4", {f"Coverage/{PA}"})]  # the refusal is audited
    assert not [e for e in audit_events(session, ZHANG) if subtype(e) == "update"]
    # a Coverage no Account names needs no Account scope
    assert hub.delete("/fhir/Coverage/cov-other", headers=desk).status_code == 204


def test_a_practitioner_without_account_update_is_refused_too(hub: httpx.Client, settings: Settings) -> None:
    clerk = Tokens(settings).practitioner(SZRMYY, scopes="user/Coverage.cruds user/Account.rs")
    r = hub.delete(f"/fhir/Coverage/{PA}", headers=clerk)
    assert r.status_code == 403, r.text
    with_update = Tokens(settings).practitioner(SZRMYY, scopes="user/Coverage.cruds user/Account.ru")
    assert hub.delete(f"/fhir/Coverage/{PA}", headers=with_update).status_code == 204
    assert "coverage" not in read(hub, Tokens(settings).system(SZRMYY), "Account/acc-zw-mz")


def test_a_refused_bundle_entry_names_the_delete(hub: httpx.Client, settings: Settings) -> None:
    desk = {
        **Tokens(settings).system(SZRMYY, scopes="system/Coverage.cruds system/Account.rs"),
        "Content-Type": FHIR_JSON,
    }
    delete = {"request": {"method": "DELETE", "url": f"Coverage/{PA}"}}
    keep = {"request": {"method": "DELETE", "url": "Coverage/cov-other"}}
    r = hub.post("/fhir", json=transaction(keep, delete), headers=desk)
    assert r.status_code == 403, r.text
    assert r.json()["issue"][0]["expression"] == ["Bundle.entry[1]"]
    szrmyy = Tokens(settings).system(SZRMYY)
    assert read(hub, szrmyy, "Coverage/cov-other")["meta"]["versionId"] == "1"  # all or nothing
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [delete, keep]}
    r = hub.post("/fhir", json=batch, headers=desk)
    assert r.status_code == 200, r.text
    assert [e["response"]["status"][:3] for e in r.json()["entry"]] == ["403", "204"]
    assert read(hub, szrmyy, f"Coverage/{PA}")["meta"]["versionId"] == "1"
    assert read(hub, szrmyy, "Account/acc-zw-mz")["meta"]["versionId"] == "1"
