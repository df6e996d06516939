"""A policy that an insurance list update deletes (IN1 in snapshot mode) leaves no Account naming it: the sending
hospital's Accounts that listed the deleted Coverage (Account.coverage, from a BAR's IN1) are written again without
it, in the conversion's transaction (hub/referrers.py). Through the real pipeline: inbox row → convert_message →
store (SQLite; PostgreSQL with HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from hub.errors import Gone
from hub.fhir import store
from hub.security.access import stamp_producer
from tests.test_conversion_semantics import convert, ids, message, pv1
from tests.test_insurance_snapshot import BASIC, NULL_IN1, PINGAN, SUPPLEMENT, in1
from tests.test_snapshot_updates import PKUSZ, SZRMYY, numbered

INPATIENT_ACCOUNT = "ZY20260315001^^^SZRMYY^AN"  # PID-18: the inpatient stay's account
OUTPATIENT_ACCOUNT = "MZ20260302117^^^SZRMYY^AN"


def pid(account: str = "", mrn: str = "MRN0001") -> str:
    """PID-3 record number and resident id, PID-5 张三, PID-7, PID-8, PID-18 the patient account number."""
    fields = {3: f"{mrn}^^^SZRMYY^MR~440305198001011235^^^^NNCHN", 5: "张三", 7: "19800101", 8: "M", 18: account}
    return "|".join(["PID", "1", *[fields.get(i, "") for i in range(2, 19)]])


def bar_p01(control: str, account: str, *in1: str, mrn: str = "MRN0001") -> bytes:
    header = f"MSH|^~\\&|HIS|{SZRMYY}|HUB|CITY|20260320083000||BAR^P01^BAR_P01|{control}|P|2.5.1"
    return message(header, "EVN|P01", pid(account, mrn), pv1(f19="V0001^^^SZRMYY^VN"), *numbered(*in1))


def a08(control: str, *in1: str, account: str = "") -> bytes:
    header = f"MSH|^~\\&|HIS|{SZRMYY}|HUB|CITY|20260321090000||ADT^A08^ADT_A01|{control}|P|2.5.1"
    return message(header, "EVN|A08", pid(account), pv1(), *in1)


def account_coverage(session: Session, account_id: str) -> list[str]:
    """The Coverage ids the stored Account lists, in order."""
    account = store.read(session, "Account", account_id)
    return [item["coverage"]["reference"].split("/")[1] for item in account.get("coverage", [])]


def policy_ids(settings: Any, *in1: str) -> list[str]:
    """The Coverage ids (deterministic) the IN1 make, in order."""
    made = []
    for line in in1:
        bundle_ids = ids(settings, bar_p01("X", INPATIENT_ACCOUNT, line))
        made.append(bundle_ids["Coverage"])
    return made


def billed_to_three_policies(session: Session, settings: Any) -> tuple[str, list[str]]:
    p01 = bar_p01("C1", INPATIENT_ACCOUNT, BASIC, SUPPLEMENT, PINGAN)
    convert(session, settings, p01)
    account = ids(settings, p01)["Account"]
    policies = policy_ids(settings, BASIC, SUPPLEMENT, PINGAN)
    assert account_coverage(session, account) == policies
    return account, policies


@pytest.mark.parametrize("with_account", [False, True], ids=["a08-without-pid18", "a08-with-pid18"])
def test_a_dropped_policy_leaves_the_account(session, settings, with_account):
    account, (basic, supplement, pingan) = billed_to_three_policies(session, settings)
    # the commercial insurance lapsed: the A08 lists the two city policies (with PID-18 the A08 writes the Account
    # itself, merged with the stored one; without, the stored Account is found and written again)
    convert(
        session, settings, a08("C2", *numbered(BASIC, SUPPLEMENT), account=INPATIENT_ACCOUNT if with_account else "")
    )
    with pytest.raises(Gone):
        store.read(session, "Coverage", pingan)
    assert account_coverage(session, account) == [basic, supplement]
    for cid in account_coverage(session, account):  # every reference resolves
        assert store.read(session, "Coverage", cid)["status"] == "active"
    # a new version of the account; the history keeps the one that billed the lapsed policy
    stored = store.read(session, "Account", account)
    assert stored["meta"]["versionId"] == "2"
    assert stored["identifier"][0]["value"] == "ZY20260315001" and stored["status"] == "active"
    assert stored["subject"] == store.vread(session, "Account", account, 1)["subject"]
    before = store.vread(session, "Account", account, 1)
    assert [c["coverage"]["reference"] for c in before["coverage"]][-1] == f"Coverage/{pingan}"


def test_one_in1_of_nulls_leaves_the_account_without_coverage(session, settings):
    account, policies = billed_to_three_policies(session, settings)
    convert(session, settings, a08("C2", NULL_IN1))
    for cid in policies:
        with pytest.raises(Gone):
            store.read(session, "Coverage", cid)
    stored = store.read(session, "Account", account)
    assert "coverage" not in stored
    assert stored["identifier"][0]["value"] == "ZY20260315001"


def test_every_account_of_the_patient_and_only_those(session, settings):
    account, (basic, supplement, pingan) = billed_to_three_policies(session, settings)
    # an outpatient account of the same patient billed to the commercial policy too
    outpatient = bar_p01("C3", OUTPATIENT_ACCOUNT, BASIC, SUPPLEMENT, PINGAN)
    convert(session, settings, outpatient)
    clinic_account = ids(settings, outpatient)["Account"]
    # another patient's account at the same hospital, with a policy of his own
    other_policy = in1("SZYB", "深圳市医疗保障局", "SZ01^职工基本医疗保险一档", "440306197507120019")
    other = bar_p01("C4", "ZY20260316042^^^SZRMYY^AN", other_policy, mrn="MRN0002")
    convert(session, settings, other)
    other_account = ids(settings, other)["Account"]
    untouched = store.read(session, "Account", other_account)["meta"]["versionId"]

    convert(session, settings, a08("C5", *numbered(BASIC)))
    assert account_coverage(session, account) == [basic]
    assert account_coverage(session, clinic_account) == [basic]
    assert store.read(session, "Account", other_account)["meta"]["versionId"] == untouched


def test_another_organisations_account_is_not_changed(session, settings):
    account, (basic, supplement, pingan) = billed_to_three_policies(session, settings)
    patient = store.read(session, "Account", account)["subject"][0]
    # an Account another organisation stored (through its own system) naming this hospital's policy: theirs to correct
    theirs = {
        "resourceType": "Account",
        "id": "acc-pkusz-referral",
        "status": "active",
        "subject": [patient],
        "coverage": [{"coverage": {"reference": f"Coverage/{pingan}"}}],
    }
    store.put(session, stamp_producer(theirs, "org-pkusz"))
    session.commit()
    convert(session, settings, a08("C2", *numbered(BASIC, SUPPLEMENT)))
    assert account_coverage(session, account) == [basic, supplement]
    assert account_coverage(session, "acc-pkusz-referral") == [pingan]


def test_a_message_that_deletes_no_policy_writes_no_account(session, settings):
    account, policies = billed_to_three_policies(session, settings)
    convert(session, settings, a08("C2", *numbered(BASIC, SUPPLEMENT, PINGAN)))
    convert(session, settings, a08("C3"))  # no IN1: the list is not sent
    assert store.read(session, "Account", account)["meta"]["versionId"] == "1"
    assert account_coverage(session, account) == policies
    # another hospital's A08 dropping every policy of its own patient touches this hospital's account not at all
    header = f"MSH|^~\\&|HIS|{PKUSZ}|HUB|CITY|20260321100000||ADT^A08^ADT_A01|B9|P|2.5.1"
    convert(session, settings, message(header, "EVN|A08", pid(), pv1(), NULL_IN1))
    assert store.read(session, "Account", account)["meta"]["versionId"] == "1"
