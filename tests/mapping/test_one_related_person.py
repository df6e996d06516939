"""One person named by NK1, GT1 and IN1 of one message is one RelatedPerson with each segment's roles: the
patient's spouse as next of kin, guarantor and insured (mappings/README.md, "One person, many segments")."""

from __future__ import annotations

from hub.mapping.nulls import KEEP_EXTENSION_URL, NULL_EXTENSION_URL

from .conftest import convert, one, ref, resources
from .test_financial_guarantor import PV1, message, pid, segment

# the patient's wife: NK1-2 name, NK1-3 relationship, NK1-5 phone, NK1-7 contact role (N next of kin),
# NK1-15 sex, NK1-16 birth date
WIFE_NK1 = segment(
    "NK1",
    f1="1",
    f2="王芳",
    f3="SPO^配偶^HL70063",
    f4="深圳市南山区科技园路1号^^深圳市^广东省^518000^CHN",
    f5="13800138000^PRN^PH",
    f7="N^Next-of-Kin^HL70131",
    f15="F",
    f16="19850312",
)
# the same wife as guarantor: GT1-3 name, GT1-5 address, GT1-6 home phone, GT1-8 birth date, GT1-11 relationship
WIFE_GT1 = segment(
    "GT1",
    f1="1",
    f3="王芳",
    f5="深圳市南山区科技园路1号^^深圳市^广东省^518000^CHN",
    f6="13800138000^PRN^PH",
    f7="075588886666^WPN^PH",
    f8="19850312",
    f11="SPO^配偶^HL70063",
)
# and as the insured of the patient's policy: IN1-16 name, IN1-17 relationship, IN1-18 birth date, IN1-19 address
WIFE_IN1 = segment(
    "IN1",
    f1="1",
    f2="PLAN2^商业补充医疗保险",
    f3="INS01^^^SZRMYY",
    f4="平安健康保险股份有限公司",
    f16="王芳",
    f17="SPO^配偶^HL70063",
    f18="19850312",
    f19="深圳市南山区科技园路1号^^深圳市^广东省^518000^CHN",
    f36="POL0002",
)


def test_the_spouse_as_next_of_kin_guarantor_and_insured_is_one_related_person(converter):
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), WIFE_NK1, PV1, WIFE_GT1, WIFE_IN1))
    wife = one(bundle, "RelatedPerson")
    assert one(bundle, "Account")["guarantor"] == [{"party": ref(wife)}]
    assert one(bundle, "Coverage")["subscriber"] == ref(wife)
    assert wife["patient"] == ref(one(bundle, "Patient"))
    # each segment's roles: the spouse (NK1-3, GT1-11, IN1-17: one code) and the next of kin (NK1-7)
    codes = [(c["system"].rsplit("/", 1)[-1], c["code"]) for r in wife["relationship"] for c in r["coding"]]
    assert ("v3-RoleCode", "SPS") in codes and ("v2-0063", "SPO") in codes
    assert ("v2-0131", "N") in codes
    assert len(wife["relationship"]) == 2
    # what each said: the phones (the home phone once), the address once, the birth date and sex
    assert sorted(t["value"] for t in wife["telecom"]) == ["075588886666", "13800138000"]
    assert len(wife["address"]) == 1 and wife["address"][0]["city"] == "深圳市"
    assert (wife["birthDate"], wife["gender"]) == ("1985-03-12", "female")
    assert wife["name"] == [{"family": "王", "given": ["芳"], "text": "王芳"}]


def test_a_later_message_naming_the_spouse_once_gives_the_same_id(converter):
    first = convert(converter, message("ADT^A01^ADT_A01", pid(), WIFE_NK1, PV1, WIFE_GT1, WIFE_IN1))
    nk1_only = convert(converter, message("ADT^A08^ADT_A01", pid(), WIFE_NK1, PV1, control="M0002"))
    gt1_only = convert(converter, message("ADT^A08^ADT_A01", pid(), PV1, WIFE_GT1, control="M0003"))
    in1_only = convert(converter, message("ADT^A08^ADT_A01", pid(), PV1, WIFE_IN1, control="M0004"))
    wife = one(first, "RelatedPerson")["id"]
    assert one(nk1_only, "RelatedPerson")["id"] == wife
    assert one(gt1_only, "RelatedPerson")["id"] == wife
    assert one(in1_only, "RelatedPerson")["id"] == wife
    # and in a BAR (the GT1, NK1 and insurance of the visit)
    bar = convert(converter, message("BAR^P01^BAR_P01", pid(), PV1, WIFE_GT1, WIFE_NK1, WIFE_IN1, control="M0005"))
    assert one(bar, "RelatedPerson")["id"] == wife
    assert one(bar, "Account")["guarantor"] == [{"party": {"reference": f"RelatedPerson/{wife}"}}]


def test_two_children_are_never_one_person(converter):
    # two sons (CHD): different names are two people; the same name with another birth date is another person
    son = segment("NK1", f1="1", f2="李大明", f3="CHD^子女^HL70063", f16="19900101")
    other_son = segment("NK1", f1="2", f2="李二明", f3="CHD^子女^HL70063", f16="19920202")
    payer = segment("GT1", f1="1", f3="李大明", f8="19950505", f11="CHD^子女^HL70063")
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), son, other_son, PV1, payer))
    people = resources(bundle, "RelatedPerson")
    assert len({person["id"] for person in people}) == 3
    [guarantor] = [p for p in people if p.get("birthDate") == "1995-05-05"]
    assert one(bundle, "Account")["guarantor"] == [{"party": ref(guarantor)}]
    # another relationship with the same name is another person too
    father = segment("GT1", f1="1", f3="李大明", f11="FTH^父亲^HL70063")
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), son, PV1, father, control="M0002"))
    assert len({person["id"] for person in resources(bundle, "RelatedPerson")}) == 2


def test_a_sex_that_differs_keeps_two_people_apart(converter):
    nk1 = segment("NK1", f1="1", f2="王芳", f3="SIB^兄弟姐妹^HL70063", f15="F")
    gt1 = segment("GT1", f1="1", f3="王芳", f9="M", f11="SIB^兄弟姐妹^HL70063")
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), nk1, PV1, gt1))
    assert len({person["id"] for person in resources(bundle, "RelatedPerson")}) == 2


def marks(bundle: dict, url: str) -> list[str]:
    [entry] = [e for e in bundle["entry"] if e["request"]["url"].startswith("RelatedPerson/")]
    return [x["valueString"] for x in entry.get("extension", []) if x["url"] == url]


def test_every_segment_keeps_its_phones_and_addresses(converter):
    # NK1, then GT1 and IN1/IN2 of the same wife, each with a phone or address of its own and one the other gave
    # already: the RelatedPerson has them all, each once (gather; a later segment adds, never replaces)
    nk1 = segment(
        "NK1",
        f1="1",
        f2="王芳",
        f3="SPO^配偶^HL70063",
        f4="深圳市南山区科技园路1号^^深圳市^广东省^518000^CHN",  # NK1-4 address A
        f5="13800138000^PRN^PH",  # NK1-5 home phone H
    )
    gt1 = segment(
        "GT1",
        f1="1",
        f3="王芳",
        f5="广州市天河区体育西路9号^^广州市^广东省^510000^CHN",  # GT1-5 address B
        f6="13800138000^PRN^PH",  # GT1-6 H again
        f7="075588886666^WPN^PH",  # GT1-7 work phone W
        f11="SPO^配偶^HL70063",
    )
    in1 = segment(
        "IN1", f1="1", f2="PLAN2", f3="INS01^^^SZRMYY", f4="平安", f16="王芳", f17="SPO^配偶^HL70063", f36="POL2"
    )
    in1 += "|||深圳市南山区科技园路1号^^深圳市^广东省^518000^CHN"  # IN1-19 address A again
    in2 = segment("IN2", f63="13900139000^PRN^PH")  # IN2-63 another home phone
    bundle = convert(converter, message("ADT^A01^ADT_A01", pid(), nk1, PV1, gt1, in1, in2))
    wife = one(bundle, "RelatedPerson")
    assert sorted(t["value"] for t in wife["telecom"]) == ["075588886666", "13800138000", "13900139000"]
    assert sorted(a["city"] for a in wife["address"]) == ["广州市", "深圳市"]
    # two NK1 of one person (a sender that sends her twice, with her mobile and her work address)
    again = segment("NK1", f1="2", f2="王芳", f3="SPO^配偶^HL70063", f4=gt1.split("|")[5], f5="13700137000^PRN^CP")
    bundle = convert(converter, message("ADT^A08^ADT_A01", pid(), nk1, again, PV1, control="M0002"))
    wife = one(bundle, "RelatedPerson")
    assert sorted(t["value"] for t in wife["telecom"]) == ["13700137000", "13800138000"]
    assert sorted(a["city"] for a in wife["address"]) == ["广州市", "深圳市"]
    # each NK1 is a Patient.contact as sent (R4 contact.address is one address: merged, one would be lost)
    assert len(one(bundle, "Patient")["contact"]) == 2


# GT1-6 home phone H given, GT1-7 (business phone) left empty: "no change" for the stored work phone
WIFE_GT1_HOME_ONLY = segment("GT1", f1="1", f3="王芳", f6="13800138000^PRN^PH", f11="SPO^配偶^HL70063")
# GT1-6 "" (delete her home phone), GT1-7 a work phone
WIFE_GT1_NO_HOME = segment("GT1", f1="1", f3="王芳", f6='""', f7="075588886666^WPN^PH", f11="SPO^配偶^HL70063")
FT1 = "FT1|1|||20260316||CG|C001^床位费||1"


def test_the_marks_are_every_segments_whatever_comes_first(converter):
    # The wife as guarantor and insured: an A08 (its GT1 rule comes before its IN1 rule) and a DFT^P03 (IN1 first)
    # mark the same: what each segment's fields say, not only the first rule's
    a08 = convert(converter, message("ADT^A08^ADT_A01", pid(), PV1, WIFE_GT1_HOME_ONLY, WIFE_IN1))
    dft = convert(converter, message("DFT^P03^DFT_P03", pid(), PV1, FT1, WIFE_GT1_HOME_ONLY, WIFE_IN1))
    for bundle in (a08, dft):
        # GT1-7 empty: the stored work phone stays (the IN1 gives no phone of any use)
        assert "telecom[use=work]" in marks(bundle, KEEP_EXTENSION_URL)
    a08 = convert(converter, message("ADT^A08^ADT_A01", pid(), PV1, WIFE_GT1_NO_HOME, WIFE_IN1, control="M0002"))
    dft = convert(converter, message("DFT^P03^DFT_P03", pid(), PV1, FT1, WIFE_GT1_NO_HOME, WIFE_IN1, control="M0003"))
    for bundle in (a08, dft):
        # GT1-6 "": her home phone goes, though the IN1 leaves IN2-63 (home phone) empty: the null says delete,
        # the empty field nothing
        assert "telecom[use=home]" in marks(bundle, NULL_EXTENSION_URL)
        assert "telecom[use=home]" not in marks(bundle, KEEP_EXTENSION_URL)
