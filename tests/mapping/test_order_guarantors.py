"""GT1 in an order, a prescription or a vaccination message: the guarantor of the patient's account, read as
ADT_A01 and BAR_P01 read it (the HL7 v2-to-FHIR IG maps GT1 in no message yet): an Account whose guarantor is the
patient (GT1-11 self), an Organization (GT1-21) or a RelatedPerson (GT1-3). Before, the GT1 of these messages was
reported whole (unmapped-segment) and dropped. The Account is the one PID-18 names (as ADT_A01 makes it, IG segment
map PID[Account]), also without a guarantor: a rule that keys on PID-18 reads it, so it must carry it."""

from __future__ import annotations

import pytest

from .conftest import one, ref, resources, with_report
from .order_messages import message, msh, obr, orc, pid, pv1, segment

PERSON = "GT1|1||钱^七||深圳市福田区^^深圳市||13800000000||||SPO"
# GT1-11 relationship EMP (employer), GT1-21 the guarantor organization (XON: 1 name, 3 id number)
COMPANY = segment("GT1", {1: "1", 11: "EMP", 21: "深圳市某某科技有限公司^^91440300MA5F3K8Q24"})
SELF = "GT1|1||张^三||||||||SEL"
RXA = "RXA|0|1|20260315090000||08^乙肝疫苗^CVX|0.5|mL"
RXE = "RXE|^^^20260315^^R|HBV^乙肝疫苗^L|0.5||mL"


def oml(gt1: str) -> str:
    return message(msh("OML", "O21", "OML_O21", "G1"), pid(f18="A100^^^SZRMYY^AN"), pv1(), gt1, orc(), obr())


def vxu(gt1: str) -> str:
    return message(msh("VXU", "V04", "VXU_V04", "G2"), pid(), gt1, orc(f1="RE"), RXA)


def rde(gt1: str) -> str:
    return message(msh("RDE", "O11", "RDE_O11", "G3"), pid(), pv1(), gt1, orc(), RXE)


def orm(gt1: str) -> str:
    return message(msh("ORM", "O01", "ORM_O01", "G4"), pid(), pv1(), gt1, orc(), obr())


def omp(gt1: str) -> str:
    return message(msh("OMP", "O09", "OMP_O09", "G5"), pid(), pv1(), gt1, orc(), "RXO|HBV^乙肝疫苗^L|0.5||mL")


def unmapped_segments(report: list[dict]) -> list[str]:
    return [e["location"] for e in report if e["code"] == "unmapped-segment"]


@pytest.mark.parametrize("build", [oml, vxu, rde, orm, omp])
def test_a_person_guaranteeing_the_patient(converter, build):
    bundle, report = with_report(converter, build(PERSON))
    person = one(bundle, "RelatedPerson")
    assert person["name"][0]["family"] == "钱"
    account = one(bundle, "Account")
    assert account["guarantor"] == [{"party": ref(person)}]
    assert account["subject"] == [ref(one(bundle, "Patient"))]
    assert "GT1^1" not in unmapped_segments(report)


def test_an_organization_and_the_account_pid_18_names(converter):
    bundle, _report = with_report(converter, oml(COMPANY))
    company = [o for o in resources(bundle, "Organization") if o.get("name") == "深圳市某某科技有限公司"]
    assert len(company) == 1
    account = one(bundle, "Account")
    assert account["identifier"][0]["value"] == "A100"
    assert account["guarantor"] == [{"party": ref(company[0])}]


def test_the_patient_guaranteeing_their_own_account(converter):
    bundle, _report = with_report(converter, vxu(SELF))
    assert one(bundle, "Account")["guarantor"] == [{"party": ref(one(bundle, "Patient"))}]
    assert resources(bundle, "RelatedPerson") == []


def test_an_order_without_a_guarantor_nor_an_account_number_makes_no_account(converter):
    bundle, _report = with_report(converter, vxu("GT1|1"))
    assert resources(bundle, "Account") == []


def test_the_guarantor_who_is_the_insured_is_one_person(converter):
    # the spouse pays and holds the policy (IN1-16 name, IN1-17 relationship, IN1-18 birth date): one RelatedPerson,
    # the Account's guarantor and the Coverage's subscriber, with the GT1's phone and the IN1's birth date
    # (mappings/README.md, "One person, many segments")
    policy = {1: "1", 2: "P1^城镇职工", 3: "INS01", 4: "某保险公司"}
    in1 = segment("IN1", {**policy, 16: "钱^七", 17: "SPO", 18: "19820202"})
    text = message(msh("OML", "O21", "OML_O21", "G4"), pid(), pv1(), in1, PERSON, orc(), obr())
    bundle, _report = with_report(converter, text)
    person = one(bundle, "RelatedPerson")
    assert one(bundle, "Account")["guarantor"] == [{"party": ref(person)}]
    assert one(bundle, "Coverage")["subscriber"] == ref(person)
    assert person["telecom"][0]["value"] == "13800000000" and person["birthDate"] == "1982-02-02"


def test_the_account_number_alone_makes_the_account_as_in_adt(converter):
    # PID-18 (IG segment map PID[Account]): the account the order is billed to, keyed as ADT_A01 keys it
    bundle, report = with_report(converter, oml("GT1|1"))
    account = one(bundle, "Account")
    assert account["identifier"][0]["value"] == "A100"
    assert "guarantor" not in account
    assert not [e for e in report if e.get("location", "").startswith("PID^1^18")]
