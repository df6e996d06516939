"""GT1 (guarantor) → Account.guarantor: the patient, a RelatedPerson (RelatedPersonGT1) or an Organization
(OrganizationGT1), in every message structure that carries GT1."""

from __future__ import annotations

import pytest

from .conftest import convert, one, ref, resources, with_report

# the sending facility by OID (MSH-4), the hospital's HIS
MSH = "MSH|^~\\&|HIS|SZRMYY^2.16.156.10011.1.5.1^ISO|HUB|CITY|20260315083000||{type}|{control}|P|2.5.1"
NNCHN = "urn:oid:2.16.156.10011.1.3"


def segment(name: str, **fields: str) -> str:
    """A segment from numbered fields: ``segment("GT1", f3="王芳", f11="MTH")``."""
    numbered = {int(key[1:]): value for key, value in fields.items()}
    return "|".join([name, *[numbered.get(i, "") for i in range(1, max(numbered) + 1)]])


def message(msg_type: str, *segments: str, control: str = "M0001") -> str:
    event = msg_type.split("^")[1]
    head = MSH.format(type=msg_type, control=control)
    return "\r".join([head, f"EVN|{event}|20260315083000", *segments]) + "\r"


def pid(**fields: str) -> str:
    # PID-3 the record number, PID-5 name, PID-7 birth date, PID-8 sex, PID-18 the account number
    base = {"f1": "1", "f3": "MRN0001^^^SZRMYY^MR", "f5": "李小明", "f7": "20150601", "f8": "M"}
    base["f18"] = "ACC0001^^^SZRMYY^AN"
    return segment("PID", **{**base, **fields})


PV1 = segment("PV1", f1="1", f2="I", f3="儿科^301^2", f19="V0001^^^SZRMYY^VN")
# the patient's mother pays: GT1-2 guarantor number, GT1-3 name, GT1-5 address, GT1-6 home phone, GT1-7 business
# phone, GT1-8 birth date, GT1-9 sex, GT1-11 relationship (MTH), GT1-12 resident identity card number,
# GT1-13/14 responsible from/to, GT1-22 billing hold flag
MOTHER = segment(
    "GT1",
    f1="1",
    f2="G001^^^SZRMYY^GN",
    f3="王芳",
    f5="深圳市南山区科技园路1号^^深圳市^广东省^518000^CHN",
    f6="13800138000^PRN^PH",
    f7="075588886666^WPN^PH",
    f8="19850312",
    f9="F",
    f11="MTH^母亲^HL70063",
    f12="11010519491231002X",
    f13="20260315",
    f14="20261231",
    f22="N",
)
# a company pays (GT1-21 organization name, XON.10 its unified social credit code)
COMPANY = segment(
    "GT1",
    f1="2",
    f3="深圳市鹏程科技有限公司",
    f7="075526660000^WPN^PH",
    f13="20260101",
    f21="深圳市鹏程科技有限公司^^^^^^^^^91440300MA5F3K7Q2E",
    f22="Y",
)
# the patient pays for themselves (GT1-11 SEL)
SELF = segment("GT1", f1="3", f3="李小明", f11="SEL^本人^HL70063")
# the child is insured under the mother's policy: IN1-16 insured's name, IN1-17 relationship (MTH), IN1-18 birth
# date, IN1-19 address, IN1-36 policy number, IN1-43 sex, IN1-49 insured's id (a resident identity card number)
# IN1-3 the insurance company's id, IN1-4 its name, IN1-5 its address, IN1-6 its contact, IN1-7 its phone
MOTHERS_POLICY = segment(
    "IN1",
    f1="1",
    f2="PLAN2^商业补充医疗保险",
    f3="INS01^^^SZRMYY",
    f4="平安健康保险股份有限公司",
    f5="福田区益田路5033号^^深圳市^广东省^518033^CHN",
    f6="陈经理",
    f7="95511^WPN^PH",
    f12="20260101",
    f13="20261231",
    f16="王芳",
    f17="MTH^母亲^HL70063",
    f18="19850312",
    f19="深圳市南山区科技园路1号^^深圳市^广东省^518000^CHN",
    f36="POL0002",
    f43="F",
    f49="11010519491231002X^^^^NNCHN",
)
# IN2-63 the insured's home phone
MOTHERS_IN2 = segment("IN2", f63="13800138000^PRN^PH")
# a DFT's charge (FT1-2 transaction id, FT1-4 date, FT1-6 type, FT1-7 code)
FT1 = segment("FT1", f1="1", f2="T-100", f4="20260316", f6="CG", f7="71045^胸部X线^C4")
PRD = "PRD|RP^Referring Provider^HL70286|王^五|||||D001^SL"
RF1 = "RF1|A^Accepted^HL70283|S^STAT^HL70280|Med^Medical^HL70281|||R-1^HIS|20260315"


def guarantors(bundle: dict) -> list[dict]:
    return one(bundle, "Account")["guarantor"]


def test_a_person_as_guarantor_field_by_field(converter):
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, MOTHER))
    patient, account = one(bundle, "Patient"), one(bundle, "Account")
    mother = one(bundle, "RelatedPerson")
    assert account["identifier"][0]["value"] == "ACC0001" and account["subject"] == [ref(patient)]
    assert account["guarantor"] == [
        {"party": ref(mother), "onHold": False, "period": {"start": "2026-03-15", "end": "2026-12-31"}}
    ]
    assert mother["patient"] == ref(patient)
    number, resident_id = mother["identifier"]
    assert (number["value"], number["type"]["coding"][0]["code"]) == ("G001", "GN")
    # GT1-12: the resident identity card number, valid by GB 11643 → the national system
    assert (resident_id["system"], resident_id["value"]) == (NNCHN, "11010519491231002X")
    assert mother["name"] == [{"family": "王", "given": ["芳"], "text": "王芳"}]
    role = mother["relationship"][0]
    assert role["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
        "code": "MTH",
        "display": "mother",
    }
    assert role["coding"][1]["code"] == "MTH" and role["text"] == "母亲"
    assert mother["telecom"] == [
        {"system": "phone", "value": "13800138000", "use": "home"},
        {"system": "phone", "value": "075588886666", "use": "work"},
    ]
    assert mother["address"][0]["city"] == "深圳市" and mother["address"][0]["postalCode"] == "518000"
    assert (mother["gender"], mother["birthDate"]) == ("female", "1985-03-12")


def test_an_organization_and_the_patient_as_guarantors(converter):
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, MOTHER, COMPANY, SELF))
    patient, mother = one(bundle, "Patient"), one(bundle, "RelatedPerson")
    [company] = [o for o in resources(bundle, "Organization") if o.get("name") == "深圳市鹏程科技有限公司"]
    assert company["identifier"][0]["value"] == "91440300MA5F3K7Q2E"
    assert company["telecom"] == [{"system": "phone", "value": "075526660000", "use": "work"}]
    # GT1-22 Y: the company is not billed for now; the patient (GT1-11 SEL) pays too: in GT1 order
    assert guarantors(bundle) == [
        {"party": ref(mother), "onHold": False, "period": {"start": "2026-03-15", "end": "2026-12-31"}},
        {"party": ref(company), "onHold": True, "period": {"start": "2026-01-01"}},
        {"party": ref(patient)},
    ]
    # neither the company nor the patient is made a RelatedPerson
    assert [r["id"] for r in resources(bundle, "RelatedPerson")] == [mother["id"]]


def test_without_an_account_number_the_guarantors_are_on_the_patients_account(converter):
    bundle = convert(converter, message("ADT^A04^ADT_A01", pid(f18=""), PV1, MOTHER))
    patient, account = one(bundle, "Patient"), one(bundle, "Account")
    assert "identifier" not in account and account["subject"] == [ref(patient)]
    assert account["guarantor"][0]["party"] == ref(one(bundle, "RelatedPerson"))
    # and a message with neither an account number nor a guarantor has no account
    assert resources(convert(converter, message("ADT^A04^ADT_A01", pid(f18=""), PV1)), "Account") == []


def test_ids_do_not_collide_between_patients(converter):
    # two children of the same mother, the same guarantor number: one guarantor record per patient; the same
    # company guaranteeing both is one Organization
    first = convert(converter, message("ADT^A01^ADT_A01", pid(f18=""), PV1, MOTHER, COMPANY))
    sibling = pid(f3="MRN0002^^^SZRMYY^MR", f5="李小红", f18="")
    second = convert(converter, message("ADT^A01^ADT_A01", sibling, PV1, MOTHER, COMPANY, control="M0002"))
    assert one(first, "RelatedPerson")["id"] != one(second, "RelatedPerson")["id"]
    assert one(first, "Account")["id"] != one(second, "Account")["id"]

    def company(bundle: dict) -> str:
        return next(o["id"] for o in resources(bundle, "Organization") if o.get("name") == "深圳市鹏程科技有限公司")

    assert company(first) == company(second)


def test_the_guarantor_who_is_the_next_of_kin_is_one_record(converter):
    # the mother as next of kin (NK1) and as guarantor (GT1): one RelatedPerson (test_one_related_person.py), with
    # the next of kin's phone
    nk1 = segment("NK1", f1="1", f2="王芳", f3="MTH^母亲^HL70063", f5="13800138000")
    guarantor = segment("GT1", f1="1", f3="王芳", f11="MTH^母亲^HL70063")
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), nk1, PV1, guarantor))
    mother = one(bundle, "RelatedPerson")
    assert mother["telecom"][0]["value"] == "13800138000"
    assert guarantors(bundle) == [{"party": ref(mother)}]


def test_an_a08_update_of_the_guarantor_keeps_its_ids(converter):
    admitted = convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, MOTHER))
    # the mother moved and has a new phone; the hospital sends A08 with the new GT1
    moved = MOTHER.replace("科技园路1号", "深南大道2号").replace("13800138000", "13900139000")
    updated = convert(converter, message("ADT^A08^ADT_A01", pid(), PV1, moved, control="M0002"))
    before, after = one(admitted, "RelatedPerson"), one(updated, "RelatedPerson")
    assert before["id"] == after["id"] and one(admitted, "Account")["id"] == one(updated, "Account")["id"]
    assert after["address"][0]["line"] == ["深圳市南山区深南大道2号"]
    assert after["telecom"][0]["value"] == "13900139000"
    assert guarantors(updated)[0]["party"] == ref(before)
    # without the guarantor number (GT1-2) the record is keyed on the name and relationship: as stable
    unnumbered = MOTHER.replace("G001^^^SZRMYY^GN", "")
    one_ = convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, unnumbered))
    # GT1-22 (the last field) now Y: on hold
    held = unnumbered[: -len("N")] + "Y"
    two = convert(converter, message("ADT^A08^ADT_A01", pid(), PV1, held, control="M0003"))
    assert guarantors(two)[0]["onHold"] is True
    assert one(one_, "RelatedPerson")["id"] == one(two, "RelatedPerson")["id"]


def test_a_gt1_without_a_name_or_number_makes_no_guarantor(converter):
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, segment("GT1", f1="1", f13="20260101")))
    assert "guarantor" not in one(bundle, "Account") and resources(bundle, "RelatedPerson") == []


def test_an_invalid_resident_id_of_the_guarantor_is_kept_and_flagged(converter):
    wrong = MOTHER.replace("11010519491231002X", "110105194912310021")
    bundle, report = with_report(converter, message("ADT^A01^ADT_A01", pid(), PV1, wrong))
    flagged = one(bundle, "RelatedPerson")["identifier"][1]
    assert flagged["value"] == "110105194912310021" and "system" not in flagged
    assert {"code": "invalid-resident-id", "location": "GT1^1"} in report


@pytest.mark.parametrize(
    ("msg_type", "segments"),
    [
        ("ADT^A01^ADT_A01", (PV1, MOTHER)),
        ("ADT^A04^ADT_A01", (PV1, MOTHER)),
        ("ADT^A08^ADT_A01", (PV1, MOTHER)),
        ("ADT^A03^ADT_A03", (PV1, MOTHER)),
        ("ADT^A05^ADT_A05", (PV1, MOTHER)),
        ("ADT^A28^ADT_A05", (PV1, MOTHER)),
        ("ADT^A06^ADT_A06", (PV1, MOTHER)),
        ("ADT^A16^ADT_A16", (PV1, MOTHER)),
        ("BAR^P01^BAR_P01", (PV1, MOTHER)),
        ("BAR^P05^BAR_P05", (PV1, MOTHER)),
        ("BAR^P05^BAR_P01", (PV1, MOTHER)),
        ("DFT^P03^DFT_P03", (PV1, FT1, MOTHER)),
        ("DFT^P11^DFT_P11", (PV1, MOTHER, FT1)),
    ],
)
def test_every_structure_with_gt1_fills_the_guarantors(converter, msg_type, segments):
    bundle = convert(converter, message(msg_type, pid(), *segments))
    mother = one(bundle, "RelatedPerson")
    assert mother["name"][0]["text"] == "王芳" and mother["patient"] == ref(one(bundle, "Patient"))
    assert guarantors(bundle)[0]["party"] == ref(mother)


def test_a_bar_visits_guarantors_are_the_accounts(converter):
    # BAR_P01/P05: GT1 belongs to the VISIT group (after the PV1), not beside the PID as in ADT
    bundle = convert(converter, message("BAR^P01^BAR_P01", pid(), PV1, MOTHER, COMPANY, SELF))
    patient, mother = one(bundle, "Patient"), one(bundle, "RelatedPerson")
    [company] = [o for o in resources(bundle, "Organization") if o.get("name") == "深圳市鹏程科技有限公司"]
    assert [g["party"] for g in guarantors(bundle)] == [ref(mother), ref(company), ref(patient)]
    assert guarantors(bundle)[1]["onHold"] is True
    # no account number: the patient's own account, as in ADT
    bundle = convert(converter, message("BAR^P01^BAR_P01", pid(f18=""), PV1, MOTHER))
    account = one(bundle, "Account")
    assert "identifier" not in account and account["guarantor"][0]["party"] == ref(one(bundle, "RelatedPerson"))
