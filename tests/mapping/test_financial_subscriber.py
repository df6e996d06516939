"""IN1 (with IN2) → Coverage.subscriber: the patient when IN1-17 says self, else the insured as a RelatedPerson of
the patient (RelatedPersonIN1), in every message structure that maps IN1; Coverage.relationship the patient's
relationship to that subscriber."""

from __future__ import annotations

import pytest

from .conftest import convert, one, ref, resources, with_report
from .test_financial_guarantor import FT1, MOTHERS_IN2, MOTHERS_POLICY, NNCHN, PRD, PV1, RF1, message, pid, segment

SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


def test_the_insured_mother_is_the_subscriber_field_by_field(converter):
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, MOTHERS_POLICY, MOTHERS_IN2))
    patient, coverage, mother = one(bundle, "Patient"), one(bundle, "Coverage"), one(bundle, "RelatedPerson")
    assert coverage["subscriber"] == ref(mother) and coverage["beneficiary"] == ref(patient)
    assert coverage["subscriberId"] == "11010519491231002X"
    # IN1-17 MTH: the insured is the patient's mother, so the patient is the subscriber's child
    relationship = coverage["relationship"]["coding"]
    assert relationship[0] == {"system": SUBSCRIBER_RELATIONSHIP, "code": "child", "display": "Child"}
    assert relationship[1]["code"] == "MTH"
    assert mother["patient"] == ref(patient)
    assert mother["relationship"][0]["coding"][0] == {"system": ROLE_CODE, "code": "MTH", "display": "mother"}
    # IN1-49 typed NNCHN and valid: the resident identity card number
    assert mother["identifier"] == [
        {
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                        "code": "NNCHN",
                        "display": "National Person Identifier where the xxx is the ISO table 3166 3-character "
                        "(alphabetic) country code",
                    }
                ]
            },
            "system": NNCHN,
            "value": "11010519491231002X",
        }
    ]
    assert mother["name"] == [{"family": "王", "given": ["芳"], "text": "王芳"}]
    assert (mother["birthDate"], mother["gender"]) == ("1985-03-12", "female")
    assert mother["address"][0]["line"] == ["深圳市南山区科技园路1号"]
    # IN2-63 the insured's home phone
    assert mother["telecom"] == [{"system": "phone", "value": "13800138000", "use": "home"}]


def test_the_payor_is_the_insurance_companys_organization(converter):
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, MOTHERS_POLICY))
    [insurer] = [o for o in resources(bundle, "Organization") if o.get("name") == "平安健康保险股份有限公司"]
    assert one(bundle, "Coverage")["payor"] == [ref(insurer)]
    assert insurer["identifier"][0]["value"] == "INS01"
    assert insurer["type"][0]["coding"][0]["code"] == "pay"
    assert insurer["address"][0]["line"] == ["福田区益田路5033号"] and insurer["address"][0]["city"] == "深圳市"
    assert insurer["telecom"] == [{"system": "phone", "value": "95511", "use": "work"}]
    assert insurer["contact"][0]["name"]["text"] == "陈经理"
    # the same insurer of another patient (another message) is the same Organization
    sibling = pid(f3="MRN0002^^^SZRMYY^MR", f5="李小红")
    other = convert(converter, message("ADT^A01^ADT_A01", sibling, PV1, MOTHERS_POLICY, control="M0002"))
    assert one(other, "Coverage")["payor"] == [ref(insurer)]
    # an insurer named only (no IN1-3) is an Organization too; one named nowhere is an unknown payor
    by_name = MOTHERS_POLICY.replace("INS01^^^SZRMYY", "")
    named = convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, by_name))
    [insurer] = [o for o in resources(named, "Organization") if o.get("name") == "平安健康保险股份有限公司"]
    assert one(named, "Coverage")["payor"] == [ref(insurer)] and "identifier" not in insurer
    nameless = by_name.replace("平安健康保险股份有限公司", "")
    unknown = one(convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, nameless)), "Coverage")["payor"]
    assert unknown == [
        {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]}
    ]


def test_the_patient_is_the_subscriber_when_in1_17_says_self(converter):
    own = MOTHERS_POLICY.replace("MTH^母亲^HL70063", "SEL^本人^HL70063")
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, own))
    coverage = one(bundle, "Coverage")
    assert coverage["subscriber"] == ref(one(bundle, "Patient"))
    assert coverage["relationship"]["coding"][0]["code"] == "self"
    assert resources(bundle, "RelatedPerson") == []


def _national(patient: dict) -> list[str]:
    return [i["value"] for i in patient["identifier"] if i.get("system") == NNCHN]


@pytest.mark.parametrize(
    "in1_49", ["11010519491231002X^^^^NNCHN", "11010519491231002X", "11010519491231002x^^^^身份证"]
)
def test_the_insured_patients_valid_resident_id_in_in1_49_is_the_patients(converter, in1_49):
    # IN1-17 self: IN1-49, the insured's id number, is the patient's own; a resident identity card number (declared,
    # or valid without a type) is one of the patient's identifiers as in PID-3, one with the same number there
    own = MOTHERS_POLICY.replace("MTH^母亲^HL70063", "SEL^本人^HL70063").replace("11010519491231002X^^^^NNCHN", in1_49)
    bundle, report = with_report(converter, message("ADT^A01^ADT_A01", pid(), PV1, own))
    assert _national(one(bundle, "Patient")) == ["11010519491231002X"]
    assert one(bundle, "Coverage")["subscriberId"] == in1_49.split("^")[0]
    assert report == []
    twice = pid(f3="MRN0001^^^SZRMYY^MR~11010519491231002X^^^^NNCHN")
    assert _national(one(convert(converter, message("ADT^A01^ADT_A01", twice, PV1, own)), "Patient")) == [
        "11010519491231002X"
    ]


def test_the_insured_patients_invalid_resident_id_in_in1_49_is_flagged_and_reported(converter):
    invalid = "110105194912310021"  # a wrong check character
    own = MOTHERS_POLICY.replace("MTH^母亲^HL70063", "SEL^本人^HL70063").replace("11010519491231002X", invalid)
    bundle, report = with_report(converter, message("ADT^A01^ADT_A01", pid(), PV1, own))
    patient = one(bundle, "Patient")
    assert _national(patient) == []
    kept = next(i for i in patient["identifier"] if i["value"] == invalid)
    assert kept["extension"] == [{"url": "urn:hub:fhir:StructureDefinition:resident-id-invalid", "valueBoolean": True}]
    assert {"code": "invalid-resident-id", "location": "IN1^1"} in report
    assert one(bundle, "Coverage")["subscriberId"] == invalid  # kept as sent


def test_another_id_of_the_insured_patient_stays_the_coverages(converter):
    # an untyped number that is no resident identity card number, or an id of another type: the subscriber id only
    for in1_49 in ("M123456", "110105194912310021", "A7654321^^^SZYB^MB"):
        own = MOTHERS_POLICY.replace("MTH^母亲^HL70063", "SEL^本人^HL70063").replace(
            "11010519491231002X^^^^NNCHN", in1_49
        )
        bundle, report = with_report(converter, message("ADT^A01^ADT_A01", pid(), PV1, own))
        assert [i["value"] for i in one(bundle, "Patient")["identifier"]] == ["MRN0001"], in1_49
        assert report == []


@pytest.mark.parametrize(
    ("sent", "role", "relationship"),
    [
        ("FTH^父亲", "FTH", "child"),
        ("父亲", "FTH", "child"),
        ("CHD^子女", "CHILD", "parent"),
        ("儿子", "SONC", "parent"),
        ("SPO^配偶", "SPS", "spouse"),
        ("妻子", "WIFE", "spouse"),
    ],
)
def test_the_relationship_reads_both_ways(converter, sent, role, relationship):
    # RelatedPerson.relationship: what the insured is to the patient (as IN1-17 says it); Coverage.relationship:
    # what the patient is to the insured
    policy = MOTHERS_POLICY.replace("MTH^母亲^HL70063", sent)
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, policy))
    insured = one(bundle, "RelatedPerson")
    assert insured["relationship"][0]["coding"][0]["code"] == role
    assert one(bundle, "Coverage")["relationship"]["coding"][0]["code"] == relationship


def test_the_insured_without_an_id_is_keyed_on_name_and_birth_date(converter):
    anonymous = MOTHERS_POLICY.replace("11010519491231002X^^^^NNCHN", "")
    first = convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, anonymous))
    again = convert(converter, message("ADT^A08^ADT_A01", pid(), PV1, anonymous, control="M0002"))
    assert one(first, "RelatedPerson")["id"] == one(again, "RelatedPerson")["id"]
    assert one(first, "Coverage")["subscriber"] == ref(one(again, "RelatedPerson"))
    # the same mother insuring a second child: a RelatedPerson of that child, not the first child's
    sibling = pid(f3="MRN0002^^^SZRMYY^MR", f5="李小红")
    other = convert(converter, message("ADT^A01^ADT_A01", sibling, PV1, anonymous, control="M0003"))
    assert one(other, "RelatedPerson")["id"] != one(first, "RelatedPerson")["id"]


def test_an_insurance_without_the_insured_named_has_no_subscriber(converter):
    # IN1-17 other than self but no IN1-16 or IN1-49: nobody to refer to (Coverage.subscriber is optional)
    bare = segment("IN1", f1="1", f2="PLAN1^城镇职工医保", f3="C001^^^SZRMYY", f4="深圳医保局", f17="MTH")
    coverage = one(convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, bare)), "Coverage")
    assert "subscriber" not in coverage and coverage["relationship"]["coding"][0]["code"] == "child"


@pytest.mark.parametrize(
    ("msg_type", "segments"),
    [
        ("ADT^A01^ADT_A01", (PV1, MOTHERS_POLICY, MOTHERS_IN2)),
        ("ADT^A03^ADT_A03", (PV1, MOTHERS_POLICY, MOTHERS_IN2)),
        ("ADT^A05^ADT_A05", (PV1, MOTHERS_POLICY, MOTHERS_IN2)),
        ("ADT^A06^ADT_A06", (PV1, MOTHERS_POLICY, MOTHERS_IN2)),
        ("ADT^A16^ADT_A16", (PV1, MOTHERS_POLICY, MOTHERS_IN2)),
        ("BAR^P01^BAR_P01", (PV1, MOTHERS_POLICY, MOTHERS_IN2)),
        ("BAR^P05^BAR_P05", (PV1, MOTHERS_POLICY, MOTHERS_IN2)),
        ("DFT^P03^DFT_P03", (PV1, FT1, MOTHERS_POLICY, MOTHERS_IN2)),
        ("DFT^P11^DFT_P11", (PV1, MOTHERS_POLICY, MOTHERS_IN2, FT1)),
    ],
)
def test_every_structure_with_in1_names_the_subscriber(converter, msg_type, segments):
    bundle = convert(converter, message(msg_type, pid(), *segments))
    mother = one(bundle, "RelatedPerson")
    assert mother["telecom"][0]["value"] == "13800138000"
    coverage = one(bundle, "Coverage")
    assert coverage["subscriber"] == ref(mother)
    [insurer] = [o for o in resources(bundle, "Organization") if o.get("name") == "平安健康保险股份有限公司"]
    assert coverage["payor"] == [ref(insurer)]


def test_a_referral_names_the_subscriber(converter):
    head = "MSH|^~\\&|HIS|SZRMYY^2.16.156.10011.1.5.1^ISO|HUB|CITY|20260315083000||REF^I12^REF_I12|R1|P|2.5.1"
    text = "\r".join([head, RF1, PRD, pid(), MOTHERS_POLICY, MOTHERS_IN2]) + "\r"
    bundle = convert(converter, text)
    assert one(bundle, "Coverage")["subscriber"] == ref(one(bundle, "RelatedPerson"))


def test_a_transactions_own_insurance_names_its_subscriber(converter):
    # DFT^P11: an insurance of one financial transaction (FINANCIAL_INSURANCE, after the FT1)
    bundle = convert(converter, message("DFT^P11^DFT_P11", pid(), PV1, FT1, MOTHERS_POLICY))
    coverage = one(bundle, "Coverage")
    assert coverage["subscriber"] == ref(one(bundle, "RelatedPerson"))
    [insurer] = [o for o in resources(bundle, "Organization") if o.get("name") == "平安健康保险股份有限公司"]
    assert coverage["payor"] == [ref(insurer)]


def test_the_coordination_of_benefits_priority_orders_the_coverages(converter):
    # IN1-22: the basic medical insurance pays first, the commercial one second
    basic = segment("IN1", f1="1", f2="P1^城镇职工医保", f3="C001^^^SZRMYY", f4="深圳医保局", f17="SEL", f22="1")
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, basic, MOTHERS_POLICY))
    orders = {c["class"][0]["name"]: c.get("order") for c in resources(bundle, "Coverage")}
    assert orders == {"城镇职工医保": 1, "商业补充医疗保险": None}
    second = segment("IN1", f1="2", f2="P2^商业保险", f3="C002^^^SZRMYY", f4="平安", f17="SEL", f22="2")
    assert one(convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, second)), "Coverage")["order"] == 2
    # a priority that is no number is left out (and reported), the coverage kept
    words = segment("IN1", f1="2", f2="P2^商业保险", f3="C002^^^SZRMYY", f4="平安", f17="SEL", f22="第二")
    bundle, report = with_report(converter, message("ADT^A01^ADT_A01", pid(), PV1, words))
    assert "order" not in one(bundle, "Coverage")
    assert [r["location"] for r in report if r["code"] == "invalid-value"] == ["IN1^1^22"]


def test_two_policies_of_one_insured_with_one_insurer_name_one_person_and_one_organization(converter):
    # the mother's two policies with the same insurer, both covering the child: one insured, one payor
    second = MOTHERS_POLICY.replace("IN1|1|PLAN2^商业补充医疗保险", "IN1|2|PLAN3^重大疾病保险").replace(
        "POL0002", "POL0003"
    )
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, MOTHERS_POLICY, MOTHERS_IN2, second))
    mother = one(bundle, "RelatedPerson")
    [insurer] = [o for o in resources(bundle, "Organization") if o.get("name") == "平安健康保险股份有限公司"]
    coverages = resources(bundle, "Coverage")
    assert [c["identifier"][0]["value"] for c in coverages] == ["POL0002", "POL0003"]
    assert all(c["subscriber"] == ref(mother) and c["payor"] == [ref(insurer)] for c in coverages)
    # the person is the first IN1's (with its IN2 phone)
    assert mother["telecom"][0]["value"] == "13800138000"
    # a DFT^P11 naming the policy for the account and again for one transaction: the same two parties
    bundle = convert(converter, message("DFT^P11^DFT_P11", pid(), PV1, MOTHERS_POLICY, FT1, MOTHERS_POLICY))
    mother = one(bundle, "RelatedPerson")
    assert all(c["subscriber"] == ref(mother) for c in resources(bundle, "Coverage"))
    payors = {c["payor"][0]["reference"] for c in resources(bundle, "Coverage")}
    assert len(payors) == 1 and len([o for o in resources(bundle, "Organization") if o.get("type")]) == 1


def test_two_children_on_one_policy_have_a_coverage_each(converter):
    # the mother's policy POL0002 covers both children: FHIR's Coverage is one beneficiary's
    first = convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, MOTHERS_POLICY))
    sibling = pid(f3="MRN0002^^^SZRMYY^MR", f5="李小红")
    second = convert(converter, message("ADT^A01^ADT_A01", sibling, PV1, MOTHERS_POLICY, control="M0002"))
    one_, two = one(first, "Coverage"), one(second, "Coverage")
    assert one_["id"] != two["id"]
    assert (one_["beneficiary"], two["beneficiary"]) == (ref(one(first, "Patient")), ref(one(second, "Patient")))
    # the same child's policy sent again is the same Coverage
    again = convert(converter, message("ADT^A08^ADT_A01", pid(), PV1, MOTHERS_POLICY, control="M0003"))
    assert one(again, "Coverage")["id"] == one_["id"]


ORC = "ORC|NW|P1001^HIS||||||||||D001^王^五"
OBR = "OBR|1|P1001^HIS||2345-7^血糖^LN"


@pytest.mark.parametrize(
    ("msg_type", "after"),
    [
        ("ORM^O01^ORM_O01", (ORC, OBR)),
        ("OML^O21^OML_O21", (ORC, OBR)),
        ("OMG^O19^OMG_O19", (ORC, OBR)),
        ("OMI^O23^OMI_O23", (ORC, OBR)),
        ("OMP^O09^OMP_O09", (ORC, "RXO|860975^二甲双胍片^RXNORM|500||mg")),
        ("RDE^O11^RDE_O11", (ORC, "RXE|^BID|860975^二甲双胍片^RXNORM|500||mg")),
        ("RDE^O25^RDE_O25", (ORC, "RXE|^BID|860975^二甲双胍片^RXNORM|500||mg")),
        ("VXU^V04^VXU_V04", (ORC, "RXA|0|1|20260315||08^乙肝疫苗^CVX|1|mL")),
    ],
)
def test_an_orders_insurance_is_a_coverage_too(converter, msg_type, after):
    # IG OML_O21 row 5.9.1 (and VXU_V04 row 10.1): each IN1 of the INSURANCE group is a Coverage
    head = f"MSH|^~\\&|HIS|SZRMYY^2.16.156.10011.1.5.1^ISO|HUB|CITY|20260315083000||{msg_type}|O1|P|2.5.1"
    text = "\r".join([head, pid(), PV1, MOTHERS_POLICY, MOTHERS_IN2, *after]) + "\r"
    bundle = convert(converter, text)
    coverage, mother = one(bundle, "Coverage"), one(bundle, "RelatedPerson")
    assert coverage["beneficiary"] == ref(one(bundle, "Patient")) and coverage["subscriber"] == ref(mother)
    [insurer] = [o for o in resources(bundle, "Organization") if o.get("name") == "平安健康保险股份有限公司"]
    assert coverage["payor"] == [ref(insurer)] and mother["telecom"][0]["value"] == "13800138000"


@pytest.mark.parametrize(
    ("plan_type", "system", "code"),
    [
        ("城镇职工基本医疗保险", "http://terminology.hl7.org/CodeSystem/v3-ActCode", "PUBLICPOL"),
        ("新农合", "http://terminology.hl7.org/CodeSystem/v3-ActCode", "PUBLICPOL"),
        ("商业健康保险", "http://terminology.hl7.org/CodeSystem/v3-ActCode", "HIP"),
        ("工伤保险", "http://terminology.hl7.org/CodeSystem/v3-ActCode", "WCBPOL"),
        ("全自费", "http://terminology.hl7.org/CodeSystem/coverage-selfpay", "pay"),
    ],
)
def test_the_plan_type_in_words_is_a_coverage_type(converter, plan_type, system, code):
    # IN1-15 plan type as Chinese HIS write it: translated, the sender's word kept beside
    policy = segment("IN1", f1="1", f2="P1", f3="C001^^^SZRMYY", f4="深圳医保局", f15=plan_type, f17="SEL")
    coverage = one(convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, policy)), "Coverage")
    translated, sent = coverage["type"]["coding"]
    assert (translated["system"], translated["code"]) == (system, code)
    assert sent == {"code": plan_type}


def test_a_plan_type_the_table_does_not_know_is_kept_as_sent(converter):
    policy = segment("IN1", f1="1", f2="P1", f3="C001^^^SZRMYY", f4="深圳医保局", f15="HMO^健康维护组织", f17="SEL")
    coverage = one(convert(converter, message("ADT^A01^ADT_A01", pid(), PV1, policy)), "Coverage")
    assert coverage["type"]["coding"] == [{"code": "HMO", "display": "健康维护组织"}]
