"""The account of a message with several visits (BAR^P01/P05) or transactions (DFT^P11): every visit's and
every transaction's guarantors (GT1) and every insurance's Coverage on the account (scope below); no account
from a GT1 that names nobody."""

from __future__ import annotations

import pytest

from .conftest import convert, one, ref, resources
from .test_financial_guarantor import COMPANY, FT1, MOTHER, PV1, SELF, message, pid, segment

# the second visit (PV1-19 its visit number), a month later
PV1_SECOND = segment("PV1", f1="2", f2="O", f3="儿科门诊^101^1", f19="V0002^^^SZRMYY^VN")
# the father pays for a transaction (GT1-2 number, GT1-3 name, GT1-11 FTH)
FATHER = segment("GT1", f1="1", f2="G002^^^SZRMYY^GN", f3="李强", f11="FTH^父亲^HL70063")
# a GT1 that names no guarantor: no number, no name, no organization, not self (GT1-13 a date only)
NOBODY = segment("GT1", f1="1", f13="20260101")


def policy(number: str, insurer: str, name: str) -> str:
    # IN1-2 plan, IN1-3 the insurer's id, IN1-4 its name, IN1-17 SEL (the patient is the insured), IN1-36 number
    return segment("IN1", f1="1", f2="PLAN1", f3=f"{insurer}^^^SZRMYY", f4=name, f17="SEL", f36=number)


FIRST_POLICY = policy("POL-A", "INS01", "平安健康保险股份有限公司")
SECOND_POLICY = policy("POL-B", "INS02", "中国人寿保险股份有限公司")


def coverage_of(bundle: dict, number: str) -> dict:
    [found] = [c for c in resources(bundle, "Coverage") if c["identifier"][0]["value"] == number]
    return found


def company_of(bundle: dict) -> dict:
    [found] = [o for o in resources(bundle, "Organization") if o.get("name") == "深圳市鹏程科技有限公司"]
    return found


@pytest.mark.parametrize("msg_type", ["BAR^P01^BAR_P01", "BAR^P05^BAR_P05", "BAR^P05^BAR_P01"])
def test_each_visits_guarantors_and_insurances_are_the_accounts(converter, msg_type):
    # visit 1: the mother guarantees, policy A; visit 2: the company guarantees, policy B
    text = message(msg_type, pid(), PV1, MOTHER, FIRST_POLICY, PV1_SECOND, COMPANY, SECOND_POLICY)
    bundle = convert(converter, text)
    account, mother, company = one(bundle, "Account"), one(bundle, "RelatedPerson"), company_of(bundle)
    assert account["guarantor"] == [
        {"party": ref(mother), "onHold": False, "period": {"start": "2026-03-15", "end": "2026-12-31"}},
        {"party": ref(company), "onHold": True, "period": {"start": "2026-01-01"}},
    ]
    # Account.coverage: both visits' policies, in message order (was the first only)
    first, second = coverage_of(bundle, "POL-A"), coverage_of(bundle, "POL-B")
    assert account["coverage"] == [{"coverage": ref(first)}, {"coverage": ref(second)}]
    assert len(resources(bundle, "Encounter")) == 2


def test_a_guarantor_of_two_visits_is_named_once(converter):
    # the patient pays for both visits, the mother for the second too: the patient once, in message order
    text = message("BAR^P01^BAR_P01", pid(), PV1, SELF, PV1_SECOND, SELF, MOTHER)
    bundle = convert(converter, text)
    patient, mother = one(bundle, "Patient"), one(bundle, "RelatedPerson")
    assert [g["party"] for g in one(bundle, "Account")["guarantor"]] == [ref(patient), ref(mother)]


def test_the_second_visits_guarantor_alone_makes_the_patients_account(converter):
    # no PID-18; the first visit has no GT1, the second one has: the patient's own account with that guarantor
    bundle = convert(converter, message("BAR^P01^BAR_P01", pid(f18=""), PV1, PV1_SECOND, COMPANY))
    account = one(bundle, "Account")
    assert "identifier" not in account
    assert account["guarantor"] == [
        {"party": ref(company_of(bundle)), "onHold": True, "period": {"start": "2026-01-01"}}
    ]


def test_a_transactions_own_guarantor_is_the_accounts_too(converter):
    # DFT^P11: the mother guarantees the account (GT1 beside the PID), the father the transaction (GT1 in
    # FINANCIAL, after the FT1)
    bundle = convert(converter, message("DFT^P11^DFT_P11", pid(), PV1, MOTHER, FT1, FATHER))
    patient, account = one(bundle, "Patient"), one(bundle, "Account")
    people = {person["name"][0]["text"]: person for person in resources(bundle, "RelatedPerson")}
    mother, father = people["王芳"], people["李强"]
    assert father["patient"] == ref(patient) and father["identifier"][0]["value"] == "G002"
    assert father["relationship"][0]["coding"][0]["code"] == "FTH"
    assert [g["party"] for g in account["guarantor"]] == [ref(mother), ref(father)]
    assert one(bundle, "ChargeItem")["account"] == [ref(account)]


def test_a_transaction_guarantor_who_is_the_accounts_is_one_person(converter):
    # the mother guarantees the account and the transaction: one RelatedPerson, one guarantor entry
    bundle = convert(converter, message("DFT^P11^DFT_P11", pid(), PV1, MOTHER, FT1, MOTHER))
    mother = one(bundle, "RelatedPerson")
    assert [g["party"] for g in one(bundle, "Account")["guarantor"]] == [ref(mother)]


def test_a_transaction_guarantor_alone_makes_the_patients_account(converter):
    # no PID-18, no account-level GT1; the transaction's company: the patient's own account, the company its guarantor
    bundle = convert(converter, message("DFT^P11^DFT_P11", pid(f18=""), PV1, FT1, COMPANY))
    account, charge = one(bundle, "Account"), one(bundle, "ChargeItem")
    assert [g["party"] for g in account["guarantor"]] == [ref(company_of(bundle))]
    assert charge["account"] == [ref(account)]


@pytest.mark.parametrize(
    ("msg_type", "segments"),
    [
        ("ADT^A01^ADT_A01", (PV1, NOBODY)),
        ("ADT^A08^ADT_A01", (PV1, NOBODY)),
        ("ADT^A03^ADT_A03", (PV1, NOBODY)),
        ("ADT^A05^ADT_A05", (PV1, NOBODY)),
        ("ADT^A06^ADT_A06", (PV1, NOBODY)),
        ("ADT^A16^ADT_A16", (PV1, NOBODY)),
        ("BAR^P01^BAR_P01", (PV1, NOBODY)),
        ("BAR^P05^BAR_P05", (PV1, NOBODY)),
        ("DFT^P03^DFT_P03", (PV1, FT1, NOBODY)),
        ("DFT^P11^DFT_P11", (PV1, NOBODY, FT1)),
        ("DFT^P11^DFT_P11", (PV1, FT1, NOBODY)),
    ],
)
def test_a_gt1_naming_nobody_makes_no_account_without_an_account_number(converter, msg_type, segments):
    # no PID-18 and a GT1 without number, name, organization or self: nothing to say about an account
    bundle = convert(converter, message(msg_type, pid(f18=""), *segments))
    assert resources(bundle, "Account") == []
    assert "account" not in (resources(bundle, "ChargeItem") or [{}])[0]
    # with PID-18 the account is there, without guarantors
    bundle = convert(converter, message(msg_type, pid(), *segments))
    assert "guarantor" not in one(bundle, "Account")


def test_a_self_guarantor_without_a_name_still_makes_the_patients_account(converter):
    # GT1-11 SEL with no name: the patient is the guarantor, which is something to say
    self_only = segment("GT1", f1="1", f11="SEL")
    bundle = convert(converter, message("ADT^A04^ADT_A01", pid(f18=""), PV1, self_only))
    assert one(bundle, "Account")["guarantor"] == [{"party": ref(one(bundle, "Patient"))}]


def test_every_insurance_of_a_dft_is_on_the_account(converter):
    # DFT^P03 with two policies: both Coverages on the account (was the first only)
    bundle = convert(converter, message("DFT^P03^DFT_P03", pid(), PV1, FT1, FIRST_POLICY, SECOND_POLICY))
    account = one(bundle, "Account")
    first, second = coverage_of(bundle, "POL-A"), coverage_of(bundle, "POL-B")
    assert account["coverage"] == [{"coverage": ref(first)}, {"coverage": ref(second)}]


def test_the_guarantors_employee_number_names_the_employer_as_assigner(converter):
    # GT1-16 employer name (XPN), GT1-17 its address, GT1-18 its phone, GT1-19 the employee number (CX with
    # CX.4 the employer's namespace), GT1-51 the employer's organization name (XON)
    employed = MOTHER + "|||||||||||||||||||||||||||||"  # GT1-22 → GT1-51
    fields = employed.split("|")
    fields[16], fields[17], fields[18], fields[19] = (
        "深圳市鹏程科技有限公司",
        "科技园路1号^^深圳市",
        "075526660000",
        "E0042^^^SZKJ",
    )
    fields[51] = "深圳市鹏程科技有限公司(总部)^^^^^^^^^91440300MA5F3K7Q2E"
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, "|".join(fields[:52])))
    mother = one(bundle, "RelatedPerson")
    employee = [i for i in mother["identifier"] if i.get("type", {}).get("coding", [{}])[0].get("code") == "EI"]
    assert employee == [
        {
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                        "code": "EI",
                        "display": "Employee number",
                    }
                ]
            },
            "system": "urn:hub:id:SZKJ",
            "value": "E0042",
            "assigner": {"display": "深圳市鹏程科技有限公司(总部)"},
        }
    ]
    # the employer's address and phone are not the guarantor's: no place in R4 (DIFFERENCES.md)
    assert [t["value"] for t in mother["telecom"]] == ["13800138000", "075588886666"]
    assert len(mother["address"]) == 1
    # without GT1-51 the employer name of GT1-16 is the assigner; without CX.4 no system (not the hospital's)
    fields[51], fields[19] = "", "E0042"
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, "|".join(fields[:52])))
    [employee] = [i for i in one(bundle, "RelatedPerson")["identifier"] if i["value"] == "E0042"]
    assert employee["assigner"] == {"display": "深圳市鹏程科技有限公司"} and "system" not in employee
    assert employee["type"]["coding"][0]["code"] == "EI"
    # a type the sender gives in CX.5 (table 0203) is kept
    fields[19] = "E0042^^^SZKJ^EN"
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, "|".join(fields[:52])))
    [employee] = [i for i in one(bundle, "RelatedPerson")["identifier"] if i["value"] == "E0042"]
    assert employee["type"]["coding"][0]["code"] == "EN"
