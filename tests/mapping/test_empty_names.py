"""An XPN that holds nothing but its type code (XPN.7), an assembly order or dates is no name: no HumanName."""

from __future__ import annotations

from tests.mapping.conftest import convert, one, resources


def _adt(pid5: str, nk1_2: str) -> str:
    return (
        "MSH|^~\\&|HIS|SZRMYY|HUB|CITY|20260315083000||ADT^A04^ADT_A01|M1|P|2.5.1\r"
        "EVN|A04|20260315083000\r"
        f"PID|1||MRN0001^^^SZRMYY^MR||{pid5}||19800101|M\r"
        f"NK1|1|{nk1_2}|SPO^Spouse^HL70063|||||||||||||||||||||||||||||||RP001^^^SZRMYY\r"
        "PV1|1|O|门诊^^^SZRMYY||||||||||||||||V0009^^^SZRMYY^VN\r"
    )


def test_a_name_of_only_its_type_code_is_no_name(converter):
    bundle = convert(converter, _adt("^^^^^^L~张三^^^^^^D", "^^^^^^L"))
    patient = one(bundle, "Patient")
    assert patient["name"] == [{"use": "usual", "family": "张", "given": ["三"], "text": "张三"}]
    assert "name" not in patient["contact"][0]
    assert "name" not in one(bundle, "RelatedPerson")


def test_nor_one_of_only_an_assembly_order_or_dates(converter):
    bundle = convert(converter, _adt("^^^^^^L^^^^F^20200101~李四", "^^^^^^^^^^^20200101^20210101"))
    patient = one(bundle, "Patient")
    assert [n.get("text") for n in patient["name"]] == ["李四"]
    assert "name" not in one(bundle, "RelatedPerson")


def test_a_given_name_alone_is_a_name_a_prefix_alone_is_not(converter):
    bundle = convert(converter, _adt("^芳^^^^^L", "^^^^Dr.^^L"))
    assert one(bundle, "Patient")["name"] == [{"use": "official", "given": ["芳"], "text": "芳"}]
    assert "name" not in one(bundle, "RelatedPerson")


def _financial(gt1_3: str, in1_16: str) -> str:
    gt1 = [""] * 22
    gt1[1], gt1[3], gt1[11] = "1", gt1_3, "SPO"
    in1 = [""] * 50
    in1[1], in1[2], in1[3], in1[4], in1[16], in1[17] = "1", "PLAN1", "INS1^^^SZRMYY", "医保", in1_16, "SPO"
    return (
        "MSH|^~\\&|HIS|SZRMYY|HUB|CITY|20260315083000||ADT^A01^ADT_A01|M1|P|2.5.1\r"
        "EVN|A01|20260315083000\r"
        "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M||||||||||ACC1^^^SZRMYY\r"
        "PV1|1|I|病房^^^SZRMYY||||||||||||||||V0009^^^SZRMYY^VN\r"
        "GT1|" + "|".join(gt1[1:]) + "\r"
        "IN1|" + "|".join(in1[1:]) + "\r"
    )


def test_a_guarantor_or_insured_named_by_a_type_code_alone_is_nobody(converter):
    # neither a number nor a name: no RelatedPerson to key (the message is still converted)
    bundle = convert(converter, _financial("^^^^^^L", "^^^^^^L"))
    assert resources(bundle, "RelatedPerson") == []
    assert "guarantor" not in one(bundle, "Account")
    assert "subscriber" not in one(bundle, "Coverage")
    named = convert(converter, _financial("李^四^^^^^L", "^芳^^^^^L"))
    assert sorted(p["name"][0]["text"] for p in resources(named, "RelatedPerson")) == ["李四", "芳"]
