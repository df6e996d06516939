"""Snapshot mode for a patient's insurance (IN1, HL7 v2.5.1 ch. 2 and ch. 6): the IN1 an ADT or BAR sends are the
patient's insurance as that hospital knows it, through the real pipeline: inbox row → convert_message → store
(SQLite; PostgreSQL with HUB_TEST_DATABASE_URL). Mirrors tests/test_snapshot_updates.py (DG1, AL1, PR1).

A changed insurance list leaves no stale policy; a single IN1 of ``""`` deletes them all; a message without IN1
leaves them; another hospital's policies of the same person stay.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from hub.errors import Gone
from hub.fhir import store
from tests.test_conversion_semantics import convert, ids, message, pv1
from tests.test_snapshot_updates import PKUSZ, SZRMYY, adt, bar, numbered, pid


def in1(company: str, company_name: str, plan: str, policy: str) -> str:
    """An IN1 of the patient's own insurance: IN1-2 plan, IN1-3 company id, IN1-4 company name, IN1-12 effective
    date, IN1-17 relationship to the insured (SEL: self), IN1-36 policy number."""
    fields = {2: plan, 3: f"{company}^^^SZ^XX", 4: company_name, 12: "20250101", 17: "SEL", 36: policy}
    return "|".join(["IN1", "{n}", *[fields.get(i, "") for i in range(2, 37)]])


# 深圳市职工基本医疗保险 (the city's basic medical insurance, the social security card number as policy number)
BASIC = in1("SZYB", "深圳市医疗保障局", "SZ01^职工基本医疗保险一档", "440305198001011235")
# 深圳市重特大疾病补充医疗保险 (the city's supplementary insurance)
SUPPLEMENT = in1("SZYB", "深圳市医疗保障局", "SZ05^重特大疾病补充医疗保险", "SZBC2026000318")
# a commercial health insurance
PINGAN = in1("PAIC", "中国平安人寿保险股份有限公司", "PA88^平安e生保", "P2026031500017")
NULL_IN1 = 'IN1|1|""|""|""'


def policies(session: Session, patient: str) -> set[str]:
    """The policy numbers of the patient's stored Coverage."""
    found = store.search(session, "Coverage", [("beneficiary", f"Patient/{patient}")], expand_patients=False)
    return {c["identifier"][0]["value"] for c in found.resources}


def insured_with_three_policies(session: Session, settings) -> tuple[str, dict[str, str]]:
    a01 = adt("A01", "C1", *numbered(BASIC, SUPPLEMENT, PINGAN))
    convert(session, settings, a01)
    patient = ids(settings, a01)["Patient"]
    found = store.search(session, "Coverage", [("beneficiary", f"Patient/{patient}")], expand_patients=False)
    stored = {c["identifier"][0]["value"]: c["id"] for c in found.resources}
    assert set(stored) == {"440305198001011235", "SZBC2026000318", "P2026031500017"}
    return patient, stored


def test_a08_with_a_changed_insurance_list_deletes_the_stale_policies(session, settings):
    patient, stored = insured_with_three_policies(session, settings)
    # the commercial insurance lapsed, a new one was taken out
    renewed = in1("PAIC", "中国平安人寿保险股份有限公司", "PA88^平安e生保", "P2026091000233")
    convert(session, settings, adt("A08", "C2", *numbered(BASIC, renewed)))
    assert policies(session, patient) == {"440305198001011235", "P2026091000233"}
    for gone in ("SZBC2026000318", "P2026031500017"):
        with pytest.raises(Gone):
            store.read(session, "Coverage", stored[gone])
    assert store.read(session, "Coverage", stored["440305198001011235"])["status"] == "active"


def test_a08_with_one_in1_of_nulls_deletes_every_policy(session, settings):
    patient, stored = insured_with_three_policies(session, settings)
    a08 = adt("A08", "C2", NULL_IN1)
    convert(session, settings, a08)
    assert policies(session, patient) == set()
    for cid in stored.values():
        with pytest.raises(Gone):
            store.read(session, "Coverage", cid)
    made = ids(settings, a08)
    assert "Coverage" not in made  # the segment of nulls is no insurance …
    assert "RelatedPerson" not in made  # … nor an insured person


def test_a08_without_in1_leaves_the_policies(session, settings):
    patient, stored = insured_with_three_policies(session, settings)
    convert(session, settings, adt("A08", "C2"))
    assert policies(session, patient) == set(stored)


def test_another_hospitals_policies_stay(session, settings):
    patient, _ = insured_with_three_policies(session, settings)
    theirs = adt("A01", "B1", BASIC.format(n=1), facility=PKUSZ)
    convert(session, settings, theirs)
    their_patient = ids(settings, theirs)["Patient"]
    convert(session, settings, adt("A08", "C2", NULL_IN1))
    assert policies(session, patient) == set()
    assert policies(session, their_patient) == {"440305198001011235"}  # the other hospital's list is its own


def test_bar_p05_replaces_the_patients_insurance_list(session, settings):
    first = [pv1(f19="V0001^^^SZRMYY^VN"), *numbered(BASIC, PINGAN)]
    second = [pv1(f19="V0002^^^SZRMYY^VN", f2="O"), SUPPLEMENT.format(n=1)]
    p01 = bar("P01", "C1", first, second)
    convert(session, settings, p01)
    patient = ids(settings, p01)["Patient"]
    # the visits' IN1 together are the patient's insurance (the set is the patient's, not a visit's)
    assert policies(session, patient) == {"440305198001011235", "SZBC2026000318", "P2026031500017"}
    convert(session, settings, bar("P05", "C2", [pv1(f19="V0001^^^SZRMYY^VN"), BASIC.format(n=1)]))
    assert policies(session, patient) == {"440305198001011235"}


def test_a_message_structure_without_insurance_snapshot_keeps_the_list(session, settings):
    # A DFT's IN1 are the insurance of the charges it posts, not the patient's whole list: no snapshot
    patient, stored = insured_with_three_policies(session, settings)
    header = f"MSH|^~\\&|HIS|{SZRMYY}|HUB|CITY|20260316083000||DFT^P03^DFT_P03|C2|P|2.5.1"
    ft1 = "FT1|1|||20260316||CG|F0001^床位费^L|||1"
    convert(session, settings, message(header, "EVN|P03", pid(), pv1(), ft1, BASIC.format(n=1)))
    assert policies(session, patient) == set(stored)
