"""Numbers as v2.7+ senders write them, and the person to contact at an organization in any version.

PID-40 beside PID-13/PID-14 (kept there for backward compatibility): one ContactPoint per number. Next of kin and
contact persons: NK1-40, NK1-41 (v2.7+) and NK1-30, NK1-31, NK1-32 (IG NK1[Patient] rows 40, 41; NK1[RelatedPerson]
rows 30, 31, 32, 40, 41). A v2.8 HIS puts the emergency contact's mobile in NK1-40 (XTN.1 is withdrawn there and
NK1-5 kept only for backward compatibility); before the fix the number reached neither Patient.contact nor the
RelatedPerson.
"""

from __future__ import annotations

from typing import Any

from .conftest import convert, resources
from .test_adt_variations import message, pid, pv1, segment


def numbers(item: dict[str, Any]) -> list[tuple[str | None, str, str | None]]:
    return [(t.get("system"), t["value"], t.get("use")) for t in item.get("telecom", [])]


def bundle_of(converter: Any, *nk1: str) -> dict[str, Any]:
    return convert(converter, message(pid(), *nk1, pv1(), event="A08", version="2.8"))


# 李娜, the patient's wife and emergency contact: her mobile in NK1-40, her office number in NK1-41 (v2.8)
SPOUSE = segment(
    "NK1",
    f1="1",
    f2="李^娜",
    f3="SPO^配偶^HL70063",
    f7="EP^紧急联系人^HL70131",
    f40="^PRN^CP^^86^^13900139000",
    f41="^WPN^PH^^86^755^26001111",
)


def test_v28_next_of_kin_telecom_nk1_40_and_41_reach_the_contact_and_the_related_person(converter):
    bundle = bundle_of(converter, SPOUSE)
    expected = [("phone", "+86 13900139000", "home"), ("phone", "+86 755 26001111", "work")]
    (contact,) = resources(bundle, "Patient")[0]["contact"]
    assert numbers(contact) == expected
    (person,) = resources(bundle, "RelatedPerson")
    assert person["name"][0]["text"] == "李娜"
    assert numbers(person) == expected


def test_a_number_sent_in_nk1_5_and_again_in_nk1_40_is_one_contact_point(converter):
    # v2.7 backward compatibility: the same mobile in the old field and the new one
    nk1 = segment("NK1", f1="1", f2="李^娜", f3="SPO", f5="^PRN^CP^^^^13900139000", f40="^PRN^CP^^^^13900139000")
    bundle = bundle_of(converter, nk1)
    assert numbers(resources(bundle, "Patient")[0]["contact"][0]) == [("phone", "13900139000", "home")]
    assert numbers(resources(bundle, "RelatedPerson")[0]) == [("phone", "13900139000", "home")]


def test_the_person_to_contact_at_an_employer_nk1_30_to_32_is_kept(converter):
    # the patient's employer (NK1-13, contact role E), its contact person 王经理 with phone and address
    employer = segment(
        "NK1",
        f1="2",
        f7="E^雇主^HL70131",
        f13="深圳市南山科技有限公司",
        f30="王^建华",
        f31="^WPN^PH^^^^075588886666",
        f32="科技园南区1栋^^深圳市^广东省^518057",
    )
    bundle = bundle_of(converter, employer)
    (contact,) = resources(bundle, "Patient")[0]["contact"]
    assert contact["organization"] == {"display": "深圳市南山科技有限公司"}
    assert contact["name"]["text"] == "王建华"
    assert numbers(contact) == [("phone", "075588886666", "work")]
    assert contact["address"]["line"] == ["科技园南区1栋"]
    (person,) = resources(bundle, "RelatedPerson")
    assert [name["text"] for name in person["name"]] == ["王建华"]
    assert numbers(person) == [("phone", "075588886666", "work")]
    assert person["address"][0]["postalCode"] == "518057"


def test_the_next_of_kin_own_name_and_address_come_before_the_contact_person(converter):
    # NK1-2 and NK1-4 are the next of kin's; NK1-30/32 only fill what they leave (Patient.contact has one name
    # and one address), while the RelatedPerson keeps both names and both addresses (IG name[2], address[2])
    nk1 = segment(
        "NK1",
        f1="1",
        f2="张^建国",
        f3="FTH^父亲",
        f4="宝安区新安街道^^深圳市",
        f30="张^小明",
        f32="福田区华强北^^深圳市",
    )
    bundle = bundle_of(converter, nk1)
    (contact,) = resources(bundle, "Patient")[0]["contact"]
    assert contact["name"]["text"] == "张建国"
    assert contact["address"]["line"] == ["宝安区新安街道"]
    (person,) = resources(bundle, "RelatedPerson")
    assert [name["text"] for name in person["name"]] == ["张建国", "张小明"]
    assert [address["line"] for address in person["address"]] == [["宝安区新安街道"], ["福田区华强北"]]


def test_v27_patient_numbers_sent_in_pid_13_14_and_again_in_pid_40_are_one_contact_point_each(converter):
    # a v2.7 HIS fills PID-13/PID-14 for backward compatibility and PID-40 as v2.7 asks: the same numbers twice
    patient = resources(
        convert(
            converter,
            message(
                pid(
                    f13="13800138000^PRN^CP",
                    f14="075526001111^WPN^PH",
                    f40="^PRN^CP^^^^13800138000~^WPN^PH^^^^075526001111~^NET^Internet^zhangsan@example.cn",
                ),
                pv1(),
                event="A08",
                version="2.7",
            ),
        ),
        "Patient",
    )[0]
    assert numbers(patient) == [
        ("phone", "13800138000", "home"),
        ("phone", "075526001111", "work"),
        ("email", "zhangsan@example.cn", None),
    ]
